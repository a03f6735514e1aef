import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateMultipartUploadCommand, PutObjectCommand, S3Client, UploadPartCommand } from '@aws-sdk/client-s3';
import { PeerAuth } from '../../src/cluster/peer-auth.js';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../../src/upstream/local-upstream.js';
import { freePorts } from '../cluster.js';
import { FuzzedNode } from './fuzzed-node.js';
import { MarkingFront } from './marking-front.js';
import { ReferenceParser } from './reference-parser.js';
import { type FuzzFixtures, STABLE_OBJECTS } from './seeds.js';
import { UpstreamProcess } from './upstream-process.js';

export const FUZZ_BUCKET = 'fuzz';
const CLIENT_KEY = { accessKeyId: 'fuzzer', secretAccessKey: 'fuzzer-secret-key' };
const CLUSTER_SECRET = 'fuzz-cluster-secret-0123456789';
const LEGACY_TOKEN = 'fuzz-legacy-token';
const OPEN_UPLOADS = 12;
const MIB = 1024 * 1024;

export interface FuzzTargets {
  /** Requires a signature on every S3 request; the legacy routes take a signature or the bearer token. */
  signedNode: FuzzedNode;
  /** Also takes unsigned requests, so mutated unsigned ones get past authentication. */
  anonymousNode: FuzzedNode;
  front: MarkingFront;
  upstream: UpstreamProcess;
  reference: ReferenceParser;
  fixtures: FuzzFixtures;
  close(): Promise<void>;
}

/**
 * Two Falcon nodes in one cluster, each a child process running the CLI, in front of s3rver in
 * a child process of its own, with a marking front in between; and the objects and open multipart
 * uploads the recorded requests refer to.
 */
export async function startFuzzTargets(): Promise<FuzzTargets> {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-fuzz-'));
  const front = await new MarkingFront().start();
  const upstream = new UpstreamProcess(join(dir, 'upstream'), [FUZZ_BUCKET], (endpoint) => front.setTarget(endpoint));
  await upstream.start();
  const [signedPort, anonymousPort] = (await freePorts(2)) as [number, number];
  const peers = [signedPort, anonymousPort].map((p) => `http://127.0.0.1:${p}`).join(',');
  const common = (port: number): string[] => [
    '--host', '127.0.0.1',
    '--port', String(port),
    '--peers', peers,
    '--cluster-secret', CLUSTER_SECRET,
    '--peer-timeout', '2000',
    '--s3-endpoint', front.url,
    '--s3-force-path-style',
    // s3rver cannot read aws-chunked bodies.
    '--s3-checksum-trailers', 'false',
    '--access-key', CLIENT_KEY.accessKeyId,
    '--secret-key', CLIENT_KEY.secretAccessKey,
    '--max-cache-size', '32',
    '--max-object-size', '1',
    '--max-multipart-memory', '1',
  ];
  const env: NodeJS.ProcessEnv = {
    AWS_ACCESS_KEY_ID: LOCAL_UPSTREAM_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_UPSTREAM_CREDENTIALS.secretAccessKey,
    AWS_SESSION_TOKEN: undefined,
    AWS_PROFILE: undefined,
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  const signedNode = new FuzzedNode('signed', signedPort, [...common(signedPort), '--legacy-token', LEGACY_TOKEN], env);
  const anonymousNode = new FuzzedNode('anonymous', anonymousPort, [...common(anonymousPort), '--anonymous'], env);
  await Promise.all([signedNode.start(), anonymousNode.start()]);
  const reference = await ReferenceParser.start();
  const fixtures = await createFixtures(front.url);
  return {
    signedNode,
    anonymousNode,
    front,
    upstream,
    reference,
    fixtures,
    async close() {
      await Promise.allSettled([signedNode.stop(), anonymousNode.stop()]);
      await reference.close();
      await upstream.close();
      await front.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function createFixtures(upstreamUrl: string): Promise<FuzzFixtures> {
  const s3 = new S3Client({
    endpoint: upstreamUrl,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: LOCAL_UPSTREAM_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  try {
    const small = await s3.send(new PutObjectCommand({ Bucket: FUZZ_BUCKET, Key: STABLE_OBJECTS.small, Body: 'small object body '.repeat(6) }));
    await s3.send(new PutObjectCommand({ Bucket: FUZZ_BUCKET, Key: STABLE_OBJECTS.noStore, Body: 'never cached '.repeat(16), CacheControl: 'no-store' }));
    await s3.send(new PutObjectCommand({ Bucket: FUZZ_BUCKET, Key: STABLE_OBJECTS.big, Body: Buffer.alloc(MIB + 200 * 1024, 'b') }));
    const uploads: Array<{ key: string; uploadId: string; partEtag: string }> = [];
    for (let i = 0; i < OPEN_UPLOADS; i++) {
      const key = `scratch/open-upload-${i}`;
      const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: FUZZ_BUCKET, Key: key }));
      const uploadId = created.UploadId as string;
      const part = await s3.send(new UploadPartCommand({ Bucket: FUZZ_BUCKET, Key: key, UploadId: uploadId, PartNumber: 1, Body: 'part one '.repeat(20) }));
      uploads.push({ key, uploadId, partEtag: part.ETag as string });
    }
    return {
      bucket: FUZZ_BUCKET,
      clientKey: CLIENT_KEY,
      peerAuth: new PeerAuth(CLUSTER_SECRET),
      legacyToken: LEGACY_TOKEN,
      smallEtag: small.ETag as string,
      uploads,
    };
  } finally {
    s3.destroy();
  }
}
