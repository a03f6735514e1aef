import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { parseConfig, type Config } from '../src/config.js';
import { type RunningGateway, startGateway } from '../src/server.js';
import { LOCAL_UPSTREAM_CREDENTIALS, startLocalUpstream } from '../src/upstream/local-upstream.js';
import { CountingFront } from './counting-front.js';

export interface Harness {
  falcon: RunningGateway;
  front: CountingFront;
  /** An SDK client pointed at Falcon. */
  s3: S3Client;
  upstreamEndpoint: URL;
  close(): Promise<void>;
}

export interface HarnessOptions {
  buckets?: string[];
  /** Extra Falcon flags, e.g. ['--max-object-size', '1']. */
  flags?: string[];
  /** Accept unsigned requests (default true, so tests can use plain fetch). */
  anonymous?: boolean;
}

export function testConfig(flags: string[]): Config {
  const parsed = parseConfig(flags, {});
  if (parsed.kind !== 'config') throw new Error(`bad test flags: ${JSON.stringify(parsed)}`);
  return parsed.config;
}

/** A real S3 server (s3rver) behind a counting front, and a Falcon node in front of both, on loopback ports. */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-test-'));
  const upstream = await startLocalUpstream(dir, options.buckets ?? ['test']);
  const front = await new CountingFront(upstream.endpoint).start();
  const stopSupport = async (): Promise<void> => {
    await front.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  };
  let falcon: RunningGateway;
  try {
    falcon = await startFalcon(front, options);
  } catch (err) {
    // Bad flags or a failed start must not leave the upstream and the front holding the test process open.
    await stopSupport();
    throw err;
  }
  const s3 = sdkClient(falcon.url);
  return {
    falcon,
    front,
    s3,
    upstreamEndpoint: upstream.endpoint,
    async close() {
      s3.destroy();
      await falcon.close();
      await stopSupport();
    },
  };
}

async function startFalcon(front: CountingFront, options: HarnessOptions): Promise<RunningGateway> {
  const config = testConfig([
    '--host', '127.0.0.1',
    '--port', '0',
    '--s3-endpoint', front.url,
    '--s3-force-path-style',
    '--timeout', '2000',
    // s3rver cannot read aws-chunked bodies.
    '--s3-checksum-trailers', 'false',
    ...(options.anonymous === false ? CLIENT_AUTH_FLAGS.filter((f) => f !== '--anonymous') : CLIENT_AUTH_FLAGS),
    ...(options.flags ?? []),
  ]);
  return startGateway(config, pino({ level: 'silent' }), {
    credentials: async () => LOCAL_UPSTREAM_CREDENTIALS,
  });
}

export const CLIENT_CREDENTIALS = { accessKeyId: 'falcon', secretAccessKey: 'falcon-secret' } as const;
/** Tests sign with CLIENT_CREDENTIALS; plain fetches without a signature are allowed with --anonymous. */
export const CLIENT_AUTH_FLAGS = ['--access-key', CLIENT_CREDENTIALS.accessKeyId, '--secret-key', CLIENT_CREDENTIALS.secretAccessKey, '--anonymous'];

export function sdkClient(endpoint: string, credentials: { accessKeyId: string; secretAccessKey: string } = CLIENT_CREDENTIALS): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
}

/** An SDK client talking to the upstream directly, to seed and inspect objects behind Falcon's back. */
export function upstreamClient(h: Harness): S3Client {
  return sdkClient(h.upstreamEndpoint.origin, LOCAL_UPSTREAM_CREDENTIALS);
}

/** An object's bytes read with an SDK client (through Falcon or straight from the upstream). */
export async function getObjectBytes(client: S3Client, bucket: string, key: string, range?: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
  return Buffer.from(await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
}

/** Bytes the budget of the node at `baseUrl` counts now (its /_falcon/status). */
export async function budgetUsed(baseUrl: string): Promise<number> {
  const status = (await (await fetch(`${baseUrl}/_falcon/status`)).json()) as { memory: { usedBytes: number } };
  return status.memory.usedBytes;
}

/** The budget's use once it came back to `expected`, or what it is after two seconds of waiting for that. */
export async function budgetUsedOnceSettled(baseUrl: string, expected: number): Promise<number> {
  let used = await budgetUsed(baseUrl);
  for (let i = 0; i < 100 && used !== expected; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    used = await budgetUsed(baseUrl);
  }
  return used;
}

/** A harness of the test's own, closed when the test ends. */
export async function testHarness(t: TestContext, options: HarnessOptions = {}): Promise<Harness> {
  const h = await startHarness(options);
  t.after(() => h.close());
  return h;
}

/** Stores an object at the upstream directly, as another writer would, in the bucket `test`. */
export async function seedUpstream(h: Harness, key: string, body: Buffer | string): Promise<void> {
  const direct = upstreamClient(h);
  await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: body }));
  direct.destroy();
}
