import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, test } from 'node:test';
import {
  CreateMultipartUploadCommand,
  PutObjectCommand,
  S3Client,
  type S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Crc32 } from '@aws-sdk/checksums/crc';
import { pino } from 'pino';
import { request } from 'undici';
import { type RunningGateway, startGateway } from '../src/server.js';
import { LOCAL_UPSTREAM_CREDENTIALS, type LocalUpstream, startLocalUpstream } from '../src/upstream/local-upstream.js';
import { randomBody, sha256, uniqueKey } from '../test-support/bytes.js';
import { CountingFront } from '../test-support/counting-front.js';
import { CLIENT_AUTH_FLAGS, CLIENT_CREDENTIALS, getObjectBytes, sdkClient, testConfig } from '../test-support/harness.js';
import { VerifyingFront } from '../test-support/verifying-front.js';

const MIB = 1024 * 1024;

// s3rver cannot read aws-chunked: fed a framed body, it stores the framing as part of the object,
// as an S3-compatible store without trailer support does.
let dir: string;
let upstream: LocalUpstream;
let front: CountingFront;
let direct: S3Client;
const nodes: RunningGateway[] = [];
const clients: S3Client[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'falcon-integrity-'));
  upstream = await startLocalUpstream(dir, ['test']);
  front = await new CountingFront(upstream.endpoint).start();
  direct = sdkClient(upstream.endpoint.origin, LOCAL_UPSTREAM_CREDENTIALS);
});
after(async () => {
  for (const client of clients) client.destroy();
  for (const node of nodes) await node.close();
  direct.destroy();
  await front.close();
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => front.reset());

/** A Falcon node before `endpoint` (the counting front by default), and an SDK client that does not retry. */
async function node(flags: string[], endpoint = front.url): Promise<{ falcon: RunningGateway; client: S3Client }> {
  const falcon = await startGateway(
    testConfig(['--host', '127.0.0.1', '--port', '0', '--s3-endpoint', endpoint, '--s3-force-path-style', ...CLIENT_AUTH_FLAGS, ...flags]),
    pino({ level: 'silent' }),
    { credentials: async () => LOCAL_UPSTREAM_CREDENTIALS },
  );
  nodes.push(falcon);
  const client = new S3Client({ endpoint: falcon.url, region: 'us-east-1', forcePathStyle: true, credentials: CLIENT_CREDENTIALS, maxAttempts: 1 });
  clients.push(client);
  return { falcon, client };
}

async function crc32(body: Buffer): Promise<string> {
  const crc = new Crc32();
  crc.update(body);
  return Buffer.from(await crc.digest()).toString('base64');
}

/** A PutObject from a stream: the SDK sends it aws-chunked with a CRC32 trailer. */
function putStream(client: S3Client, key: string, body: Buffer): Promise<unknown> {
  return client.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: Readable.from([body]), ContentLength: body.length }));
}

describe('trailing checksums and upstreams without trailer support', () => {
  let trailers: { falcon: RunningGateway; client: S3Client };
  let byDefault: { falcon: RunningGateway; client: S3Client };

  before(async () => {
    trailers = await node(['--s3-checksum-trailers', 'true']);
    byDefault = await node([]);
  });

  test('with trailers forced on, an upstream that keeps the framing makes the upload fail, not succeed', async () => {
    const key = uniqueKey('framed');
    const body = randomBody(3 * MIB);
    await assert.rejects(putStream(trailers.client, key, body), (err: S3ServiceException) => {
      assert.equal(err.$metadata.httpStatusCode, 502);
      assert.equal(err.name, 'BadGateway');
      assert.match(err.message, /ETag/);
      return true;
    });
    // What the store kept is the framed body: longer than what the client sent.
    const kept = await getObjectBytes(direct, 'test', key);
    assert.ok(kept.length > body.length, `kept ${kept.length} bytes of ${body.length}`);
  });

  test('the failed upload drops the cached copy of the key', async () => {
    const key = uniqueKey('framed-cached');
    const first = randomBody(1000);
    // A buffered body goes as plain bytes with a checksum header, which the store reads.
    await trailers.client.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: first }));
    const url = `${trailers.falcon.url}/test/${key}`;
    await (await request(url)).body.arrayBuffer();
    const cached = await request(url);
    assert.equal(cached.headers['x-cache'], 'HIT');
    await cached.body.arrayBuffer();
    await assert.rejects(putStream(trailers.client, key, randomBody(100_000)), { name: 'BadGateway' });
    const after = await request(url);
    assert.notEqual(after.headers['x-cache'], 'HIT');
    assert.notDeepEqual(Buffer.from(await after.body.arrayBuffer()), first);
  });

  test('by default the same upload is stored byte for byte', async () => {
    const key = uniqueKey('auto');
    const body = randomBody(3 * MIB);
    await putStream(byDefault.client, key, body);
    assert.equal(sha256(await getObjectBytes(direct, 'test', key)), sha256(body));
  });

  test('by default a body larger than 8 MiB is stored byte for byte too', async () => {
    const key = uniqueKey('auto-large');
    const body = randomBody(9 * MIB);
    await putStream(byDefault.client, key, body);
    assert.equal(sha256(await getObjectBytes(direct, 'test', key)), sha256(body));
  });
});

describe('trailing checksums reach an upstream without trailer support as headers', () => {
  test('a small streamed upload carries its checksum as a header; a large one none, and both are stored exactly', async () => {
    const verifying = await new VerifyingFront(upstream.endpoint).start();
    try {
      const { client } = await node([], verifying.url);
      const small = randomBody(300_000);
      await putStream(client, 'as-header', small);
      assert.equal(verifying.checksums.get('/test/as-header')?.['x-amz-checksum-crc32'], await crc32(small));
      const large = randomBody(9 * MIB);
      await putStream(client, 'too-large-for-header', large);
      assert.deepEqual(verifying.checksums.get('/test/too-large-for-header'), {});
      assert.equal(sha256(await getObjectBytes(direct, 'test', 'as-header')), sha256(small));
      assert.equal(sha256(await getObjectBytes(direct, 'test', 'too-large-for-header')), sha256(large));
      assert.equal(verifying.rejected, 0);
    } finally {
      await verifying.close();
    }
  });
});

describe("the upstream's answer to an upload is checked against the bytes sent", () => {
  let plain: { falcon: RunningGateway; client: S3Client };

  before(async () => {
    plain = await node(['--s3-checksum-trailers', 'false']);
  });

  const WRONG_ETAG = '"0123456789abcdef0123456789abcdef"';

  test('a PutObject answered with an ETag that is not the MD5 of the bytes sent fails with 502', async () => {
    const key = uniqueKey('etag');
    front.inject({ method: 'PUT', path: `/test/${key}`, fault: { kind: 'response-headers', headers: { etag: WRONG_ETAG } }, times: 1 });
    await assert.rejects(plain.client.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'some bytes' })), (err: S3ServiceException) => {
      assert.equal(err.$metadata.httpStatusCode, 502);
      assert.equal(err.name, 'BadGateway');
      return true;
    });
  });

  test('an UploadPart answered with a wrong ETag fails with 502', async () => {
    const key = uniqueKey('part-etag');
    const { UploadId } = await plain.client.send(new CreateMultipartUploadCommand({ Bucket: 'test', Key: key }));
    front.inject({ method: 'PUT', path: `/test/${key}`, fault: { kind: 'response-headers', headers: { etag: WRONG_ETAG } }, times: 1 });
    await assert.rejects(
      plain.client.send(new UploadPartCommand({ Bucket: 'test', Key: key, UploadId, PartNumber: 1, Body: randomBody(5 * MIB) })),
      { name: 'BadGateway' },
    );
  });

  test('a returned checksum that differs from the one sent fails with 502', async () => {
    const key = uniqueKey('checksum');
    front.inject({ method: 'PUT', path: `/test/${key}`, fault: { kind: 'response-headers', headers: { 'x-amz-checksum-crc32': 'AAAAAA==' } }, times: 1 });
    await assert.rejects(
      plain.client.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'checked bytes', ChecksumAlgorithm: 'CRC32' })),
      { name: 'BadGateway' },
    );
  });

  test('an ETag that is not an MD5 by design (SSE-KMS, SSE-C) is not checked', async () => {
    const answers: Array<Record<string, string>> = [
      { etag: WRONG_ETAG, 'x-amz-server-side-encryption': 'aws:kms' },
      { etag: WRONG_ETAG, 'x-amz-server-side-encryption-customer-algorithm': 'AES256' },
      { etag: '"not-an-md5-etag"' },
    ];
    for (const headers of answers) {
      const key = uniqueKey('kms');
      front.inject({ method: 'PUT', path: `/test/${key}`, fault: { kind: 'response-headers', headers }, times: 1 });
      await plain.client.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'encrypted upstream' }));
    }
  });

  test('the matching answers of an ordinary upstream pass', async () => {
    const key = uniqueKey('ordinary');
    const body = randomBody(200_000);
    await plain.client.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: body, ChecksumAlgorithm: 'CRC32' }));
    assert.equal(sha256(await getObjectBytes(direct, 'test', key)), sha256(body));
  });

  test('--s3-verify-writes false turns the check off', async () => {
    const { client } = await node(['--s3-verify-writes', 'false']);
    const key = uniqueKey('unchecked');
    front.inject({ method: 'PUT', path: `/test/${key}`, fault: { kind: 'response-headers', headers: { etag: WRONG_ETAG } }, times: 1 });
    await client.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'unchecked' }));
  });
});
