import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { BigObject, GIB, bigObjectsDirectory, storeBigObject } from '../test-support/big-object.js';
import { awsCliEnv, type FalconProcess, startFalconProcess } from '../test-support/falcon-process.js';
import { LOCAL_UPSTREAM_CREDENTIALS, type LocalUpstream, startLocalUpstream } from '../src/upstream/local-upstream.js';

const run = promisify(execFile);
const BUCKET = 'large';
const KEY = 'datasets/one-gib.bin';
const KEYS = { accessKeyId: 'large-client', secretAccessKey: 'large-secret-0123456789' };
const BOTO3_SCRIPT = fileURLToPath(new URL('./clients/boto3_client.py', import.meta.url));
/** 1 GiB and a short last part. */
const OBJECT = new BigObject(KEY, GIB + 12_345);

let dir: string;
let upstream: LocalUpstream;
let expectedSha256: string;

before(async () => {
  // The object, a download of it, and the node's cache of it.
  dir = await bigObjectsDirectory('falcon-large-downloads-', 3 * OBJECT.size);
  upstream = await startLocalUpstream(join(dir, 'data'), [BUCKET]);
  expectedSha256 = (await storeBigObject(join(dir, 'data'), BUCKET, KEY, OBJECT)).sha256;
});

after(async () => {
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
});

/** A node with room for the whole object, in front of the upstream holding it. */
function startNode(): Promise<FalconProcess> {
  return startFalconProcess(
    [
      '--host', '127.0.0.1',
      '--port', '0',
      '--s3-endpoint', upstream.endpoint.origin,
      '--s3-force-path-style',
      '--s3-checksum-trailers', 'false',
      '--max-cache-size', '2048',
      '--access-key', KEYS.accessKeyId,
      '--secret-key', KEYS.secretAccessKey,
      '--timeout', '60000',
    ],
    { AWS_ACCESS_KEY_ID: LOCAL_UPSTREAM_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_UPSTREAM_CREDENTIALS.secretAccessKey },
  );
}

/** Every request the node has sent upstream, of any method, from its metrics. */
async function upstreamRequests(falconUrl: string): Promise<number> {
  const text = await (await fetch(`${falconUrl}/_falcon/metrics`)).text();
  let total = 0;
  for (const match of text.matchAll(/^falcon_upstream_requests_total\{method="[A-Z]+"\} (\d+)$/gm)) total += Number(match[1]);
  return total;
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function exec(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  await run(file, args, { env: { PATH: process.env.PATH, HOME: dir, ...env }, maxBuffer: 16 * 1024 * 1024 });
}

/** A real client downloading s3://BUCKET/KEY to a file, the way its users do. */
interface Downloader {
  name: string;
  /** How the client fetches a large object, for the test's name. */
  how: string;
  download(falconUrl: string, file: string): Promise<void>;
}

const DOWNLOADERS: Downloader[] = [
  {
    name: 'aws s3 cp',
    how: 'a HEAD, then parallel 8 MiB ranged GETs',
    download: (falconUrl, file) =>
      exec('/usr/bin/aws', ['--endpoint-url', falconUrl, 's3', 'cp', '--only-show-errors', `s3://${BUCKET}/${KEY}`, file], awsCliEnv(dir, KEYS)),
  },
  {
    name: 'boto3 download_file',
    how: 'a HEAD, then threaded 8 MiB ranged GETs',
    download: (falconUrl, file) => exec('/usr/bin/python3', [BOTO3_SCRIPT, falconUrl, KEYS.accessKeyId, KEYS.secretAccessKey, 'get', BUCKET, KEY, file], {}),
  },
  {
    name: 'rclone copyto',
    how: 'a HEAD, then multi-thread ranged GETs',
    // An S3 remote made on the fly from the environment: nothing of the machine's rclone configuration.
    download: (falconUrl, file) =>
      exec('/usr/bin/rclone', ['copyto', `:s3:${BUCKET}/${KEY}`, file], {
        RCLONE_CONFIG: join(dir, 'rclone.conf'),
        RCLONE_S3_PROVIDER: 'Other',
        RCLONE_S3_ENV_AUTH: 'false',
        RCLONE_S3_ACCESS_KEY_ID: KEYS.accessKeyId,
        RCLONE_S3_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
        RCLONE_S3_ENDPOINT: falconUrl,
        RCLONE_S3_REGION: 'us-east-1',
        RCLONE_S3_FORCE_PATH_STYLE: 'true',
      }),
  },
];

describe('a 1 GiB object downloaded twice through a --max-cache-size 2048 node', () => {
  for (const client of DOWNLOADERS) {
    test(`${client.name} (${client.how}) gets identical bytes both times, the second time without reaching the upstream`, async (t) => {
      const falcon = await startNode();
      t.after(() => falcon.stop());
      const file = join(dir, `${client.name.replaceAll(' ', '-')}.bin`);
      t.after(() => rm(file, { force: true }));

      await client.download(falcon.url, file);
      assert.equal(await fileSha256(file), expectedSha256, 'first download');
      await rm(file);
      const afterFirst = await upstreamRequests(falcon.url);
      assert.ok(afterFirst > 0, 'the first download read the object from the upstream');

      await client.download(falcon.url, file);
      assert.equal(await fileSha256(file), expectedSha256, 'second download');
      assert.equal(await upstreamRequests(falcon.url), afterFirst, 'the second download reached the upstream');
    });
  }
});
