import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import * as Minio from 'minio';
import { randomBody, sha256 } from '../test-support/bytes.js';
import { getObjectBytes } from '../test-support/harness.js';
import { awsCliEnv, type FalconProcess, startLocalFalcon, upstreamRequestCount } from '../test-support/falcon-process.js';

const run = promisify(execFile);
const BUCKET = 'matrix';
const KEYS = { accessKeyId: 'matrix-client', secretAccessKey: 'matrix-secret-0123456789' };
const BOTO3_SCRIPT = fileURLToPath(new URL('./clients/boto3_client.py', import.meta.url));

/** One S3 client, driven through its own API or command line. Operations a client cannot do are absent. */
interface Driver {
  name: string;
  put(key: string, file: string): Promise<void>;
  multipart(key: string, file: string): Promise<void>;
  get(key: string, file: string): Promise<void>;
  head(key: string): Promise<number>;
  range?(key: string): Promise<Buffer>;
  list(prefix: string): Promise<string[]>;
  presign?(key: string): Promise<string>;
  delete(key: string): Promise<void>;
}

let falcon: FalconProcess;
let dir: string;
let sdk: S3Client;
const results: Array<[string, boolean]> = [];

async function exec(file: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const { stdout } = await run(file, args, { env: { PATH: process.env.PATH, HOME: dir, ...env }, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

const upstreamPosts = (): Promise<number> => upstreamRequestCount(falcon.url, 'POST');

function awsCli(): Driver {
  const env = awsCliEnv(dir, KEYS);
  const aws = (...args: string[]) => exec('/usr/bin/aws', ['--endpoint-url', falcon.url, ...args], env);
  return {
    name: 'aws-cli',
    put: async (key, file) => void (await aws('s3', 'cp', file, `s3://${BUCKET}/${key}`)),
    multipart: async (key, file) => void (await aws('s3', 'cp', file, `s3://${BUCKET}/${key}`)),
    get: async (key, file) => void (await aws('s3', 'cp', `s3://${BUCKET}/${key}`, file)),
    head: async (key) => (JSON.parse(await aws('s3api', 'head-object', '--bucket', BUCKET, '--key', key)) as { ContentLength: number }).ContentLength,
    range: async (key) => {
      const out = join(dir, 'aws-range.bin');
      await aws('s3api', 'get-object', '--bucket', BUCKET, '--key', key, '--range', 'bytes=100-199', out);
      return readFile(out);
    },
    list: async (prefix) =>
      ((JSON.parse(await aws('s3api', 'list-objects-v2', '--bucket', BUCKET, '--prefix', prefix)) as { Contents?: Array<{ Key: string }> }).Contents ?? []).map((c) => c.Key),
    presign: async (key) => (await aws('s3', 'presign', `s3://${BUCKET}/${key}`, '--expires-in', '300')).trim(),
    delete: async (key) => void (await aws('s3', 'rm', `s3://${BUCKET}/${key}`)),
  };
}

function boto3(): Driver {
  const py = (op: string, key: string, file?: string) =>
    exec('/usr/bin/python3', [BOTO3_SCRIPT, falcon.url, KEYS.accessKeyId, KEYS.secretAccessKey, op, BUCKET, key, ...(file ? [file] : [])]);
  return {
    name: 'boto3',
    put: async (key, file) => void (await py('put', key, file)),
    multipart: async (key, file) => void (await py('multipart', key, file)),
    get: async (key, file) => void (await py('get', key, file)),
    head: async (key) => Number((await py('head', key)).trim()),
    range: async (key) => {
      const out = join(dir, 'boto3-range.bin');
      await py('range', key, out);
      return readFile(out);
    },
    list: async (prefix) => (await py('list', prefix)).split('\n').filter(Boolean),
    presign: async (key) => (await py('presign', key)).trim(),
    delete: async (key) => void (await py('delete', key)),
  };
}

function awsSdk(): Driver {
  const bytes = (key: string, range?: string) => getObjectBytes(sdk, BUCKET, key, range);
  return {
    name: 'aws-sdk-js-v3',
    // A file stream: the SDK sends it aws-chunked with a CRC32 trailer.
    put: async (key, file) => void (await sdk.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: createReadStream(file) }))),
    multipart: async (key, file) => {
      await new Upload({ client: sdk, params: { Bucket: BUCKET, Key: key, Body: createReadStream(file) }, partSize: 5 * 1024 * 1024 }).done();
    },
    get: async (key, file) => writeFile(file, await bytes(key)),
    head: async (key) => (await sdk.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }))).ContentLength ?? -1,
    range: (key) => bytes(key, 'bytes=100-199'),
    list: async (prefix) => ((await sdk.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map((c) => c.Key ?? ''),
    presign: (key) => getSignedUrl(sdk, new GetObjectCommand({ Bucket: BUCKET, Key: key }), { expiresIn: 300 }),
    delete: async (key) => void (await sdk.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }))),
  };
}

function minio(): Driver {
  const url = new URL(falcon.url);
  const client = new Minio.Client({
    endPoint: url.hostname,
    port: Number(url.port),
    useSSL: false,
    accessKey: KEYS.accessKeyId,
    secretKey: KEYS.secretAccessKey,
    region: 'us-east-1',
    pathStyle: true,
    partSize: 5 * 1024 * 1024,
  });
  return {
    name: 'minio-js',
    put: async (key, file) => void (await client.fPutObject(BUCKET, key, file)),
    multipart: async (key, file) => void (await client.fPutObject(BUCKET, key, file)),
    get: (key, file) => client.fGetObject(BUCKET, key, file),
    head: async (key) => (await client.statObject(BUCKET, key)).size,
    range: async (key) => buffer(await client.getPartialObject(BUCKET, key, 100, 100)),
    list: async (prefix) => {
      const names: string[] = [];
      for await (const item of client.listObjectsV2(BUCKET, prefix, true) as AsyncIterable<{ name?: string }>) names.push(item.name ?? '');
      return names;
    },
    presign: (key) => client.presignedGetObject(BUCKET, key, 300),
    delete: (key) => client.removeObject(BUCKET, key),
  };
}

function rclone(): Driver {
  const env = {
    RCLONE_CONFIG: join(dir, 'rclone.conf'),
    RCLONE_CONFIG_FALCON_TYPE: 's3',
    RCLONE_CONFIG_FALCON_PROVIDER: 'Other',
    RCLONE_CONFIG_FALCON_ACCESS_KEY_ID: KEYS.accessKeyId,
    RCLONE_CONFIG_FALCON_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
    RCLONE_CONFIG_FALCON_ENDPOINT: falcon.url,
    RCLONE_CONFIG_FALCON_REGION: 'us-east-1',
    RCLONE_CONFIG_FALCON_FORCE_PATH_STYLE: 'true',
  };
  const rc = (...args: string[]) => exec('/usr/bin/rclone', ['--s3-no-check-bucket', ...args], env);
  return {
    name: 'rclone',
    put: async (key, file) => void (await rc('copyto', file, `falcon:${BUCKET}/${key}`)),
    multipart: async (key, file) => void (await rc('copyto', '--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M', file, `falcon:${BUCKET}/${key}`)),
    get: async (key, file) => void (await rc('copyto', `falcon:${BUCKET}/${key}`, file)),
    head: async (key) => (JSON.parse(await rc('lsjson', `falcon:${BUCKET}/${key}`)) as Array<{ Size: number }>)[0]?.Size ?? -1,
    range: async (key) => {
      const { stdout } = await run('/usr/bin/rclone', ['cat', '--offset', '100', '--count', '100', `falcon:${BUCKET}/${key}`], {
        env: { PATH: process.env.PATH, HOME: dir, ...env },
        encoding: 'buffer',
      });
      return stdout;
    },
    list: async (prefix) => (await rc('lsf', '-R', `falcon:${BUCKET}/${prefix}`)).split('\n').filter(Boolean).map((name) => `${prefix}${name}`),
    presign: async (key) => (await rc('link', '--expire', '5m', `falcon:${BUCKET}/${key}`)).trim(),
    delete: async (key) => void (await rc('deletefile', `falcon:${BUCKET}/${key}`)),
  };
}

function s3cmd(): Driver {
  const config = join(dir, 's3cmd.cfg');
  const host = new URL(falcon.url).host;
  const ready = writeFile(
    config,
    [
      '[default]',
      `access_key = ${KEYS.accessKeyId}`,
      `secret_key = ${KEYS.secretAccessKey}`,
      `host_base = ${host}`,
      `host_bucket = ${host}`,
      'use_https = False',
      'signature_v2 = False',
      'bucket_location = us-east-1',
      '',
    ].join('\n'),
  );
  const cmd = async (...args: string[]) => {
    await ready;
    return exec('/usr/bin/s3cmd', ['-c', config, ...args]);
  };
  // s3cmd has no ranged download, and presigns only with Signature Version 2 (signurl).
  return {
    name: 's3cmd',
    put: async (key, file) => void (await cmd('put', file, `s3://${BUCKET}/${key}`)),
    multipart: async (key, file) => void (await cmd('put', '--multipart-chunk-size-mb=5', file, `s3://${BUCKET}/${key}`)),
    get: async (key, file) => void (await cmd('get', '--force', `s3://${BUCKET}/${key}`, file)),
    head: async (key) => Number(/File size:\s*(\d+)/.exec(await cmd('info', `s3://${BUCKET}/${key}`))?.[1] ?? -1),
    list: async (prefix) =>
      (await cmd('ls', '-r', `s3://${BUCKET}/${prefix}`))
        .split('\n')
        .map((line) => /s3:\/\/[^/]+\/(.*)$/.exec(line.trim())?.[1])
        .filter((k): k is string => k !== undefined),
    delete: async (key) => void (await cmd('del', `s3://${BUCKET}/${key}`)),
  };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'falcon-matrix-'));
  falcon = await startLocalFalcon(dir, KEYS);
  sdk = new S3Client({ endpoint: falcon.url, region: 'us-east-1', forcePathStyle: true, credentials: KEYS });
  await sdk.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

after(async () => {
  sdk.destroy();
  await falcon.stop();
  await rm(dir, { recursive: true, force: true });
  const passed = results.filter(([, ok]) => ok).length;
  console.log(`${passed} passed, ${results.length - passed} failed`);
});

const small = randomBody(1024 * 1024 + 3);
const large = randomBody(21 * 1024 * 1024 + 5);

for (const makeDriver of [awsCli, boto3, awsSdk, minio, rclone, s3cmd]) {
  describe(makeDriver.name, () => {
    let d: Driver;
    let prefix: string;
    const op = (name: string, body: () => Promise<void>, available = true): void => {
      if (!available) {
        console.log(`${makeDriver.name} ${name}: not offered by the client`);
        return;
      }
      test(`${name}`, async () => {
        try {
          await body();
          results.push([`${d.name} ${name}`, true]);
          console.log(`${d.name} ${name}: ok`);
        } catch (err) {
          results.push([`${d.name} ${name}`, false]);
          console.log(`${d.name} ${name}: FAILED`);
          throw err;
        }
      });
    };
    before(async () => {
      d = makeDriver();
      prefix = `${d.name}/`;
      await writeFile(join(dir, `${d.name}-small.bin`), small);
      await writeFile(join(dir, `${d.name}-large.bin`), large);
    });
    const smallKey = () => `${prefix}small file.bin`;
    op('put', () => d.put(smallKey(), join(dir, `${d.name}-small.bin`)));
    op('get', async () => {
      const out = join(dir, `${d.name}-down.bin`);
      await d.get(smallKey(), out);
      assert.equal(sha256(await readFile(out)), sha256(small));
    });
    op('head', async () => assert.equal(await d.head(smallKey()), small.length));
    const driverProbe = makeDriverShape(makeDriver);
    op('ranged get', async () => assert.deepEqual(await d.range?.(smallKey()), small.subarray(100, 200)), driverProbe.range);
    op('list', async () => assert.ok((await d.list(prefix)).includes(smallKey())));
    op('multipart upload (21 MiB)', async () => {
      const before = await upstreamPosts();
      await d.multipart(`${prefix}large.bin`, join(dir, `${d.name}-large.bin`));
      assert.ok((await upstreamPosts()) - before >= 2, 'CreateMultipartUpload and CompleteMultipartUpload reached the upstream');
      const out = await sdk.send(new GetObjectCommand({ Bucket: BUCKET, Key: `${prefix}large.bin` }));
      assert.equal(sha256(await buffer(out.Body as Readable)), sha256(large));
    });
    op(
      'presigned get',
      async () => {
        const url = (await d.presign?.(smallKey())) ?? '';
        assert.match(url, /X-Amz-Signature=/);
        const res = await fetch(url);
        assert.equal(res.status, 200);
        assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(small));
      },
      driverProbe.presign,
    );
    op('delete', async () => {
      await d.delete(smallKey());
      await assert.rejects(sdk.send(new HeadObjectCommand({ Bucket: BUCKET, Key: smallKey() })));
    });
  });
}

/** Which optional operations a driver offers, known before the falcon node is up. */
function makeDriverShape(makeDriver: () => Driver): { range: boolean; presign: boolean } {
  return makeDriver === s3cmd ? { range: false, presign: false } : { range: true, presign: true };
}
