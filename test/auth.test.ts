import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import aws4 from 'aws4';
import { pino } from 'pino';
import { request } from 'undici';
import { parseConfig } from '../src/config.js';
import { startGateway } from '../src/server.js';
import { LOCAL_UPSTREAM_CREDENTIALS, startLocalUpstream } from '../src/upstream/local-upstream.js';
import { uniqueKey } from '../test-support/bytes.js';
import { CountingFront } from '../test-support/counting-front.js';
import { CLIENT_CREDENTIALS, getObjectBytes, type Harness, sdkClient, startHarness, testConfig, upstreamClient } from '../test-support/harness.js';
import { VerifyingFront } from '../test-support/verifying-front.js';

let h: Harness;
let direct: S3Client;

// Each test gets its own node and upstream: nothing cached, counted or configured carries over.
beforeEach(async () => {
  // Authentication as shipped: no --anonymous.
  h = await startHarness({ anonymous: false });
  direct = upstreamClient(h);
});
afterEach(async () => {
  direct.destroy();
  await h.close();
});

interface SignOptions {
  method?: string;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Sent as they are, after signing: not covered by the signature. */
  unsignedHeaders?: Record<string, string>;
  secret?: string;
  accessKeyId?: string;
  region?: string;
  baseUrl?: string;
}

/** Sends a request signed by aws4, an implementation independent of Falcon's verifier. */
async function signed(path: string, options: SignOptions = {}) {
  const baseUrl = options.baseUrl ?? h.falcon.url;
  const host = new URL(baseUrl).host;
  const opts = aws4.sign(
    { host, path, method: options.method ?? 'GET', service: 's3', region: options.region ?? 'us-east-1', headers: { ...options.headers }, body: options.body },
    { accessKeyId: options.accessKeyId ?? CLIENT_CREDENTIALS.accessKeyId, secretAccessKey: options.secret ?? CLIENT_CREDENTIALS.secretAccessKey },
  );
  const headers = Object.fromEntries(Object.entries(opts.headers ?? {}).filter(([k]) => k.toLowerCase() !== 'host').map(([k, v]) => [k, String(v)]));
  const res = await request(`${baseUrl}${opts.path}`, { method: opts.method as 'GET', headers: { ...headers, ...options.unsignedHeaders }, body: options.body });
  return { status: res.statusCode, text: await res.body.text() };
}

async function stored(key: string): Promise<string | undefined> {
  try {
    return (await getObjectBytes(direct, 'test', key)).toString();
  } catch (err) {
    if ((err as S3ServiceException).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

describe('client authentication', () => {
  test('refuses unsigned requests without --anonymous, before reaching the upstream', async () => {
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const res = await request(`${h.falcon.url}/test/${uniqueKey()}`, { method: method as 'GET', body: method === 'PUT' ? 'x' : undefined });
      assert.equal(res.statusCode, 403);
      assert.match(await res.body.text(), /<Code>AccessDenied<\/Code>.*<RequestId>/s);
    }
    assert.equal(h.front.requests.length, 0);
  });

  test('accepts requests signed by the SDK and by aws4', async () => {
    const key = uniqueKey('signed');
    await h.s3.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'signed body' }));
    const res = await signed(`/test/${key}`);
    assert.equal(res.status, 200);
    assert.equal(res.text, 'signed body');
    const put = await signed(`/test/${key}-2`, { method: 'PUT', body: 'by aws4' });
    assert.equal(put.status, 200);
    assert.equal(await stored(`${key}-2`), 'by aws4');
  });

  test('answers a wrong secret with SignatureDoesNotMatch and stores nothing', async () => {
    const key = uniqueKey('badsig');
    const res = await signed(`/test/${key}`, { method: 'PUT', body: 'nope', secret: 'wrong' });
    assert.equal(res.status, 403);
    assert.match(res.text, /<Code>SignatureDoesNotMatch<\/Code>/);
    assert.match(res.text, /<StringToSign>AWS4-HMAC-SHA256\n/);
    assert.match(res.text, /<CanonicalRequest>PUT\n\/test\//);
    const sdk = new S3Client({ endpoint: h.falcon.url, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: CLIENT_CREDENTIALS.accessKeyId, secretAccessKey: 'wrong' } });
    await assert.rejects(sdk.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'nope' })), { name: 'SignatureDoesNotMatch' });
    sdk.destroy();
    assert.equal(h.front.count('PUT'), 0);
    assert.equal(await stored(key), undefined);
  });

  test('answers "Expect: 100-continue" uploads after authenticating them, so a rejected body is never sent', async () => {
    const { request: httpRequest } = await import('node:http');
    const send = (secret: string) =>
      new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
        const key = uniqueKey('expect');
        const host = new URL(h.falcon.url).host;
        const body = 'expected body';
        const opts = aws4.sign(
          { host, path: `/test/${key}`, method: 'PUT', service: 's3', region: 'us-east-1', headers: { Expect: '100-continue', 'Content-Length': String(body.length) }, body },
          { accessKeyId: CLIENT_CREDENTIALS.accessKeyId, secretAccessKey: secret },
        );
        let continued = false;
        const req = httpRequest(`${h.falcon.url}${opts.path}`, { method: 'PUT', headers: opts.headers as Record<string, string> });
        req.on('continue', () => {
          continued = true;
          req.end(body);
        });
        req.on('response', (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, continued }));
          if (!continued) req.destroy();
        });
        req.on('error', (err) => (continued ? reject(err) : undefined));
        req.flushHeaders();
      });
    assert.deepEqual(await send(CLIENT_CREDENTIALS.secretAccessKey), { status: 200, continued: true });
    assert.deepEqual(await send('wrong-secret'), { status: 403, continued: false });
  });

  test('answers an unknown key with InvalidAccessKeyId', async () => {
    const res = await signed('/test/x', { accessKeyId: 'AKIDUNKNOWN' });
    assert.equal(res.status, 403);
    assert.match(res.text, /<Code>InvalidAccessKeyId<\/Code>/);
  });

  test('answers a request signed 20 minutes ago with RequestTimeTooSkewed', async () => {
    const old = new Date(Date.now() - 20 * 60_000).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
    const res = await signed('/test/x', { headers: { 'X-Amz-Date': old } });
    assert.equal(res.status, 403);
    assert.match(res.text, /<Code>RequestTimeTooSkewed<\/Code>/);
  });

  test('serves presigned URLs and refuses expired ones', async () => {
    const key = uniqueKey('presign');
    await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'presigned bytes' }));
    const url = await getSignedUrl(h.s3, new GetObjectCommand({ Bucket: 'test', Key: key }), { expiresIn: 300 });
    for (const cache of ['MISS', 'HIT']) {
      const ok = await request(url);
      assert.equal(ok.statusCode, 200);
      assert.equal(ok.headers['x-cache'], cache, 'presigned reads use the cache');
      assert.equal(await ok.body.text(), 'presigned bytes');
    }
    const expired = await getSignedUrl(h.s3, new GetObjectCommand({ Bucket: 'test', Key: key }), { expiresIn: 60, signingDate: new Date(Date.now() - 3_600_000) });
    const res = await request(expired);
    assert.equal(res.statusCode, 403);
    assert.match(await res.body.text(), /<Code>AccessDenied<\/Code><Message>Request has expired<\/Message>/);
    const tampered = await request(url.replace(/X-Amz-Signature=[0-9a-f]{4}/, 'X-Amz-Signature=0000'));
    assert.equal(tampered.statusCode, 403);
    await tampered.body.dump();
    const put = await getSignedUrl(h.s3, new PutObjectCommand({ Bucket: 'test', Key: `${key}-up` }), { expiresIn: 300 });
    const up = await request(put, { method: 'PUT', body: 'uploaded by URL' });
    assert.equal(up.statusCode, 200);
    await up.body.dump();
    assert.equal(await stored(`${key}-up`), 'uploaded by URL');
  });

  test('rejects a body that does not match its signed hash, Content-MD5 or checksum, and stores nothing', async () => {
    const cases: Array<[Record<string, string>, number, string]> = [
      [{ 'X-Amz-Content-Sha256': createHash('sha256').update('other bytes').digest('hex') }, 400, 'XAmzContentSHA256Mismatch'],
      [{ 'Content-MD5': createHash('md5').update('other bytes').digest('base64') }, 400, 'BadDigest'],
      [{ 'Content-MD5': 'not-md5' }, 400, 'InvalidDigest'],
      [{ 'x-amz-checksum-sha256': createHash('sha256').update('other bytes').digest('base64') }, 400, 'BadDigest'],
      [{ 'x-amz-checksum-crc32': 'AAAAAA==' }, 400, 'BadDigest'],
    ];
    for (const [headers, status, code] of cases) {
      const key = uniqueKey('digest');
      const res = await signed(`/test/${key}`, { method: 'PUT', body: 'the real bytes'.repeat(10_000), headers });
      assert.equal(res.status, status, code);
      assert.match(res.text, new RegExp(`<Code>${code}</Code>`));
      assert.equal(await stored(key), undefined, code);
    }
  });

  test('verifies each chunk signature of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload', async () => {
    const upload = async (key: string, tamper: boolean) => {
      const chunks = [Buffer.alloc(70_000, 'x'), Buffer.alloc(1000, 'y')];
      const decoded = chunks.reduce((n, c) => n + c.length, 0);
      const host = new URL(h.falcon.url).host;
      const headers = {
        'Content-Encoding': 'aws-chunked',
        'X-Amz-Content-Sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'X-Amz-Decoded-Content-Length': String(decoded),
      };
      const opts = aws4.sign({ host, path: `/test/${key}`, method: 'PUT', service: 's3', region: 'us-east-1', headers }, CLIENT_CREDENTIALS);
      const auth = String(opts.headers?.Authorization);
      const amzDate = String(opts.headers?.['X-Amz-Date']);
      const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`;
      const hmac = (k: Buffer | string, d: string) => createHmac('sha256', k).update(d).digest();
      const signingKey = hmac(hmac(hmac(hmac(`AWS4${CLIENT_CREDENTIALS.secretAccessKey}`, amzDate.slice(0, 8)), 'us-east-1'), 's3'), 'aws4_request');
      let previous = /Signature=([0-9a-f]+)/.exec(auth)?.[1] ?? '';
      const parts: Buffer[] = [];
      for (const data of [...chunks, Buffer.alloc(0)]) {
        const sts = ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scope, previous, createHash('sha256').update('').digest('hex'), createHash('sha256').update(data).digest('hex')].join('\n');
        previous = createHmac('sha256', signingKey).update(sts).digest('hex');
        const sent = tamper && data.length === 1000 ? Buffer.alloc(1000, 'z') : data;
        parts.push(Buffer.from(`${data.length.toString(16)};chunk-signature=${previous}\r\n`), sent, Buffer.from('\r\n'));
      }
      const body = Buffer.concat(parts);
      const sendHeaders = Object.fromEntries(Object.entries(opts.headers ?? {}).filter(([k]) => k !== 'Host').map(([k, v]) => [k, String(v)]));
      const res = await request(`${h.falcon.url}/test/${key}`, { method: 'PUT', headers: { ...sendHeaders, 'content-length': String(body.length) }, body });
      return { status: res.statusCode, text: await res.body.text() };
    };
    const good = uniqueKey('chain');
    assert.equal((await upload(good, false)).status, 200);
    assert.equal(await stored(good), 'x'.repeat(70_000) + 'y'.repeat(1000));
    const bad = uniqueKey('chain-bad');
    const res = await upload(bad, true);
    assert.equal(res.status, 403);
    assert.match(res.text, /<Code>SignatureDoesNotMatch<\/Code>/);
    assert.equal(await stored(bad), undefined);
  });

  test('verifies trailing checksums of STREAMING-UNSIGNED-PAYLOAD-TRAILER uploads', async () => {
    const send = async (key: string, crc: string) => {
      const data = Buffer.from('hello trailer');
      const body = Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from(`\r\n0\r\nx-amz-checksum-crc32:${crc}\r\n\r\n`)]);
      const host = new URL(h.falcon.url).host;
      const headers = {
        'Content-Encoding': 'aws-chunked',
        'X-Amz-Content-Sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        'X-Amz-Decoded-Content-Length': String(data.length),
        'X-Amz-Trailer': 'x-amz-checksum-crc32',
      };
      const opts = aws4.sign({ host, path: `/test/${key}`, method: 'PUT', service: 's3', region: 'us-east-1', headers }, CLIENT_CREDENTIALS);
      const sendHeaders = Object.fromEntries(Object.entries(opts.headers ?? {}).filter(([k]) => k !== 'Host').map(([k, v]) => [k, String(v)]));
      const res = await request(`${h.falcon.url}/test/${key}`, { method: 'PUT', headers: { ...sendHeaders, 'content-length': String(body.length) }, body });
      return { status: res.statusCode, text: await res.body.text() };
    };
    const { Crc32 } = await import('@aws-sdk/checksums/crc');
    const crc = new Crc32();
    crc.update(Buffer.from('hello trailer'));
    const good = uniqueKey('trailer');
    assert.equal((await send(good, Buffer.from(await crc.digest()).toString('base64'))).status, 200);
    assert.equal(await stored(good), 'hello trailer');
    const bad = uniqueKey('trailer-bad');
    const res = await send(bad, 'AAAAAA==');
    assert.equal(res.status, 400);
    assert.match(res.text, /<Code>BadDigest<\/Code>/);
    assert.equal(await stored(bad), undefined);
  });
});

describe('signed headers and regions', () => {
  test('refuses a signed PUT with unsigned x-amz-meta-*, x-amz-acl or x-amz-tagging headers, naming them, and stores nothing', async () => {
    const cases: Array<Record<string, string>> = [
      { 'x-amz-meta-owner': 'mallory' },
      { 'x-amz-acl': 'public-read' },
      { 'x-amz-tagging': 'a=b', 'X-Amz-Meta-Two': '2' },
    ];
    for (const unsignedHeaders of cases) {
      const key = uniqueKey('unsigned');
      const res = await signed(`/test/${key}`, { method: 'PUT', body: 'x', unsignedHeaders });
      assert.equal(res.status, 403, JSON.stringify(unsignedHeaders));
      assert.match(res.text, /<Code>AccessDenied<\/Code><Message>There were headers present in the request which were not signed<\/Message>/);
      const names = Object.keys(unsignedHeaders).map((n) => n.toLowerCase()).sort().join(', ');
      assert.match(res.text, new RegExp(`<HeadersNotSigned>${names}</HeadersNotSigned>`));
      assert.equal(await stored(key), undefined);
    }
    assert.equal(h.front.requests.length, 0);
    const signedMeta = uniqueKey('signed-meta');
    assert.equal((await signed(`/test/${signedMeta}`, { method: 'PUT', body: 'x', headers: { 'x-amz-meta-owner': 'alice' } })).status, 200);
  });

  test('refuses a presigned URL sent with x-amz-* headers it did not sign, also after the same URL verified', async () => {
    const key = uniqueKey('presign-unsigned');
    await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'presigned' }));
    const url = await getSignedUrl(h.s3, new GetObjectCommand({ Bucket: 'test', Key: key }), { expiresIn: 300 });
    const ok = await request(url);
    assert.equal(ok.statusCode, 200);
    await ok.body.dump();
    const res = await request(url, { headers: { 'x-amz-request-payer': 'requester' } });
    assert.equal(res.statusCode, 403);
    assert.match(await res.body.text(), /<Code>AccessDenied<\/Code>.*<HeadersNotSigned>x-amz-request-payer<\/HeadersNotSigned>/s);
    const put = await getSignedUrl(h.s3, new PutObjectCommand({ Bucket: 'test', Key: `${key}-up` }), { expiresIn: 300 });
    const up = await request(put, { method: 'PUT', body: 'public?', headers: { 'x-amz-acl': 'public-read' } });
    assert.equal(up.statusCode, 403);
    assert.match(await up.body.text(), /<HeadersNotSigned>x-amz-acl<\/HeadersNotSigned>/);
    assert.equal(await stored(`${key}-up`), undefined);
  });

  test('answers a credential scope for another region with the region Falcon expects', async () => {
    const res = await signed('/test/x', { region: 'eu-west-1' });
    assert.equal(res.status, 400);
    assert.match(res.text, /<Code>AuthorizationHeaderMalformed<\/Code><Message>The authorization header is malformed; the region &apos;eu-west-1&apos; is wrong; expecting &apos;us-east-1&apos;<\/Message>/);
    assert.match(res.text, /<Region>us-east-1<\/Region>/);
    const eu = new S3Client({ endpoint: h.falcon.url, region: 'eu-west-1', forcePathStyle: true, credentials: CLIENT_CREDENTIALS });
    const url = await getSignedUrl(eu, new GetObjectCommand({ Bucket: 'test', Key: 'x' }), { expiresIn: 300 });
    eu.destroy();
    const presigned = await request(url);
    assert.equal(presigned.statusCode, 400);
    const text = await presigned.body.text();
    assert.match(text, /<Code>AuthorizationQueryParametersError<\/Code><Message>Error parsing the X-Amz-Credential parameter; the region &apos;eu-west-1&apos; is wrong; expecting &apos;us-east-1&apos;<\/Message>/);
    assert.match(text, /<Region>us-east-1<\/Region>/);
    assert.equal(h.front.requests.length, 0);
  });

  test('--client-regions lists the regions clients may sign for, and * accepts any', async () => {
    const listed = await startHarness({ anonymous: false, flags: ['--client-regions', 'eu-west-1, us-east-1'] });
    const any = await startHarness({ anonymous: false, flags: ['--client-regions', '*'] });
    try {
      assert.equal((await signed('/test/none', { region: 'eu-west-1', baseUrl: listed.falcon.url })).status, 404);
      assert.equal((await signed('/test/none', { region: 'us-east-1', baseUrl: listed.falcon.url })).status, 404);
      const wrong = await signed('/test/none', { region: 'ap-south-1', baseUrl: listed.falcon.url });
      assert.equal(wrong.status, 400);
      assert.match(wrong.text, /expecting &apos;eu-west-1&apos;.*<Region>eu-west-1<\/Region>/s);
      assert.equal((await signed('/test/none', { region: 'ap-south-1', baseUrl: any.falcon.url })).status, 404);
    } finally {
      await listed.close();
      await any.close();
    }
  });

  test('answers a Signature Version 2 presigned URL with InvalidRequest, as for a SigV2 header', async () => {
    const expires = Math.floor(Date.now() / 1000) + 300;
    const res = await request(`${h.falcon.url}/test/x?AWSAccessKeyId=${CLIENT_CREDENTIALS.accessKeyId}&Expires=${expires}&Signature=abcd%3D`);
    assert.equal(res.statusCode, 400);
    assert.match(await res.body.text(), /<Code>InvalidRequest<\/Code><Message>The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.<\/Message>/);
    const anonymous = await startHarness();
    try {
      const open = await request(`${anonymous.falcon.url}/test/x?AWSAccessKeyId=${CLIENT_CREDENTIALS.accessKeyId}&Expires=${expires}&Signature=abcd%3D`);
      assert.equal(open.statusCode, 400, 'with --anonymous too: a signature is never ignored');
      await open.body.dump();
      assert.equal(anonymous.front.requests.length, 0);
    } finally {
      await anonymous.close();
    }
  });
});

describe('key configuration', () => {
  test('--credentials-file accepts every pair it lists', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'falcon-keys-'));
    const file = join(dir, 'keys');
    await writeFile(file, '# client keys\n[team-a]\naws_access_key_id = TEAMA\naws_secret_access_key = secret-a\n\n[team-b]\naws_access_key_id=TEAMB\naws_secret_access_key=secret-b\n');
    const t = await startHarness({ anonymous: false, flags: ['--credentials-file', file] });
    try {
      for (const [accessKeyId, secretAccessKey] of [['TEAMA', 'secret-a'], ['TEAMB', 'secret-b']] as const) {
        const client = sdkClient(t.falcon.url, { accessKeyId, secretAccessKey });
        await client.send(new PutObjectCommand({ Bucket: 'test', Key: `by-${accessKeyId}`, Body: accessKeyId }));
        client.destroy();
      }
      const wrong = sdkClient(t.falcon.url, { accessKeyId: 'TEAMA', secretAccessKey: 'secret-b' });
      await assert.rejects(wrong.send(new PutObjectCommand({ Bucket: 'test', Key: 'x', Body: 'x' })), { name: 'SignatureDoesNotMatch' });
      wrong.destroy();
    } finally {
      await t.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('per-key bucket access', () => {
  let t: Harness;
  let dir: string;
  let upstream: S3Client;
  const PHOTOS = { accessKeyId: 'PHOTOS', secretAccessKey: 'photos-secret' };
  const READER = { accessKeyId: 'READER', secretAccessKey: 'reader-secret' };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'falcon-access-'));
    const file = join(dir, 'keys');
    await writeFile(
      file,
      `[photos]\naws_access_key_id = ${PHOTOS.accessKeyId}\naws_secret_access_key = ${PHOTOS.secretAccessKey}\nfalcon_buckets = test, unused\n` +
        `[reader]\naws_access_key_id = ${READER.accessKeyId}\naws_secret_access_key = ${READER.secretAccessKey}\nfalcon_read_only = true\n`,
    );
    t = await startHarness({ anonymous: false, buckets: ['test', 'other'], flags: ['--credentials-file', file] });
    upstream = upstreamClient(t);
  });
  afterEach(async () => {
    upstream.destroy();
    await t.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('a key limited to some buckets uses them and gets AccessDenied elsewhere, before the cache is consulted', async () => {
    await upstream.send(new PutObjectCommand({ Bucket: 'other', Key: 'secret', Body: 'not for photos' }));
    await getObjectBytes(t.s3, 'other', 'secret');
    t.front.reset();
    const photos = sdkClient(t.falcon.url, PHOTOS);
    try {
      const denied = [
        () => photos.send(new GetObjectCommand({ Bucket: 'other', Key: 'secret' })),
        () => photos.send(new HeadObjectCommand({ Bucket: 'other', Key: 'secret' })),
        () => photos.send(new PutObjectCommand({ Bucket: 'other', Key: 'new', Body: 'x' })),
        () => photos.send(new DeleteObjectCommand({ Bucket: 'other', Key: 'secret' })),
        () => photos.send(new ListObjectsV2Command({ Bucket: 'other' })),
        () => photos.send(new ListBucketsCommand({})),
        () => photos.send(new CopyObjectCommand({ Bucket: 'test', Key: 'copied', CopySource: 'other/secret' })),
      ];
      for (const [i, attempt] of denied.entries()) {
        await assert.rejects(attempt(), (err: S3ServiceException) => err.$metadata.httpStatusCode === 403 && (i === 1 || err.name === 'AccessDenied'), `attempt ${i}`);
      }
      assert.equal(t.front.requests.length, 0, 'refused before the cache and the upstream');
      assert.equal((await getObjectBytes(upstream, 'test', 'copied').catch(() => undefined)), undefined);
      await photos.send(new PutObjectCommand({ Bucket: 'test', Key: 'mine', Body: 'photo' }));
      assert.equal((await getObjectBytes(photos, 'test', 'mine')).toString(), 'photo');
      assert.equal((await getObjectBytes(upstream, 'other', 'secret')).toString(), 'not for photos');
    } finally {
      photos.destroy();
    }
  });

  test('a read-only key reads but cannot write or delete', async () => {
    await upstream.send(new PutObjectCommand({ Bucket: 'other', Key: 'kept', Body: 'kept' }));
    const reader = sdkClient(t.falcon.url, READER);
    try {
      assert.equal((await getObjectBytes(reader, 'other', 'kept')).toString(), 'kept');
      assert.ok(((await reader.send(new ListBucketsCommand({}))).Buckets ?? []).length >= 2);
      t.front.reset();
      await assert.rejects(reader.send(new PutObjectCommand({ Bucket: 'other', Key: 'kept', Body: 'changed' })), { name: 'AccessDenied' });
      await assert.rejects(reader.send(new DeleteObjectCommand({ Bucket: 'other', Key: 'kept' })), { name: 'AccessDenied' });
      await assert.rejects(reader.send(new DeleteObjectsCommand({ Bucket: 'other', Delete: { Objects: [{ Key: 'kept' }] } })), { name: 'AccessDenied' });
      assert.equal(t.front.requests.length, 0);
      assert.equal((await getObjectBytes(upstream, 'other', 'kept')).toString(), 'kept');
    } finally {
      reader.destroy();
    }
  });

  test('a credentials file with a bad falcon_read_only value is refused at start', async () => {
    const file = join(dir, 'bad-keys');
    await writeFile(file, '[x]\naws_access_key_id = X\naws_secret_access_key = y\nfalcon_read_only = maybe\n');
    const parsed = parseConfig(['--credentials-file', file], {});
    assert.equal(parsed.kind, 'error');
    assert.match(JSON.stringify(parsed), /falcon_read_only: expected true or false/);
  });
});

describe('legacy routes and authentication', () => {
  test('--legacy-token requires the bearer token; /healthz stays open', async () => {
    const t = await startHarness({ flags: ['--legacy-token', 'tok-123'] });
    try {
      assert.equal((await request(`${t.falcon.url}/get?bucket=test&key=x`)).statusCode, 401);
      const ok = await request(`${t.falcon.url}/get?bucket=test&key=x`, { headers: { authorization: 'Bearer tok-123' } });
      assert.equal(ok.statusCode, 404, 'authorised: the object does not exist');
      await ok.body.dump();
      assert.equal((await request(`${t.falcon.url}/invalidate?bucket=test&key=x`, { method: 'POST', headers: { authorization: 'Bearer nope' } })).statusCode, 401);
      assert.equal((await request(`${t.falcon.url}/healthz`)).statusCode, 200);
    } finally {
      await t.close();
    }
  });

  test('--no-legacy turns the routes off: /get is an S3 request again', async () => {
    const t = await startHarness({ flags: ['--no-legacy'] });
    try {
      const res = await request(`${t.falcon.url}/get?bucket=test&key=x`);
      assert.equal(res.statusCode, 404);
      assert.match(await res.body.text(), /<Code>NoSuchBucket<\/Code>/);
    } finally {
      await t.close();
    }
  });
});

describe('re-signing for an upstream that checks signatures', () => {
  async function throughVerifyingFront(
    upstreamSecret: string,
    run: (client: S3Client, front: VerifyingFront, falconUrl: string) => Promise<void>,
  ): Promise<number> {
    const dir = await mkdtemp(join(tmpdir(), 'falcon-resign-'));
    const upstream = await startLocalUpstream(dir, ['test']);
    const verifying = await new VerifyingFront(upstream.endpoint).start();
    const counting = await new CountingFront(new URL(verifying.url)).start();
    const falcon = await startGateway(
      testConfig(['--host', '127.0.0.1', '--port', '0', '--s3-endpoint', counting.url, '--s3-force-path-style', '--s3-checksum-trailers', 'true', '--access-key', CLIENT_CREDENTIALS.accessKeyId, '--secret-key', CLIENT_CREDENTIALS.secretAccessKey]),
      pino({ level: 'silent' }),
      { credentials: async () => ({ accessKeyId: LOCAL_UPSTREAM_CREDENTIALS.accessKeyId, secretAccessKey: upstreamSecret }) },
    );
    const client = sdkClient(falcon.url);
    try {
      await run(client, verifying, falcon.url);
      return verifying.rejected;
    } finally {
      client.destroy();
      await falcon.close();
      await counting.close();
      await verifying.close();
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    }
  }

  test('writes and reads pass an upstream that verifies Falcon\'s signatures, streamed bodies included', async () => {
    const { Upload } = await import('@aws-sdk/lib-storage');
    const { Readable } = await import('node:stream');
    const rejected = await throughVerifyingFront(LOCAL_UPSTREAM_CREDENTIALS.secretAccessKey, async (client) => {
      await client.send(new PutObjectCommand({ Bucket: 'test', Key: 'a b+c', Body: 'resigned' }));
      const big = Buffer.alloc(6 * 1024 * 1024, 'q');
      await new Upload({ client, params: { Bucket: 'test', Key: 'streamed', Body: Readable.from([big]) }, partSize: 5 * 1024 * 1024 }).done();
      const out = await client.send(new GetObjectCommand({ Bucket: 'test', Key: 'a b+c' }));
      assert.equal(await (out.Body as { transformToString(): Promise<string> }).transformToString(), 'resigned');
      const streamed = await client.send(new GetObjectCommand({ Bucket: 'test', Key: 'streamed' }));
      assert.equal((await (streamed.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).length, big.length);
    });
    assert.equal(rejected, 0);
  });

  test("the client's checksums reach the upstream, as headers and as re-framed trailers", async () => {
    const { Crc32 } = await import('@aws-sdk/checksums/crc');
    const { Readable } = await import('node:stream');
    const body = Buffer.alloc(300_000, 'c');
    const crc = new Crc32();
    crc.update(body);
    const expected = Buffer.from(await crc.digest()).toString('base64');
    await throughVerifyingFront(LOCAL_UPSTREAM_CREDENTIALS.secretAccessKey, async (client, front, falconUrl) => {
      // A Buffer body: the SDK sends an x-amz-checksum-crc32 header.
      await client.send(new PutObjectCommand({ Bucket: 'test', Key: 'as-header', Body: body, ChecksumAlgorithm: 'CRC32' }));
      assert.equal(front.checksums.get('/test/as-header')?.['x-amz-checksum-crc32'], expected);
      // A stream: the SDK sends aws-chunked with a CRC32 trailer, which Falcon verifies and re-frames.
      await client.send(new PutObjectCommand({ Bucket: 'test', Key: 'as-trailer', Body: Readable.from([body]), ContentLength: body.length }));
      assert.equal(front.checksums.get('/test/as-trailer')?.['x-amz-checksum-crc32'], expected);
      // Read back with checksum mode: a miss, then a hit, both carry the stored checksum, which the SDK validates.
      for (const expectCache of ['MISS', 'HIT']) {
        const out = await client.send(new GetObjectCommand({ Bucket: 'test', Key: 'as-trailer', ChecksumMode: 'ENABLED' }));
        const length = (await (out.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).length;
        assert.equal(out.ChecksumCRC32, expected, expectCache);
        assert.equal(length, body.length);
      }
      // The SDK asks for checksums by default; one configured not to gets none.
      const noChecksums = new S3Client({
        endpoint: falconUrl,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: CLIENT_CREDENTIALS,
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      const plain = await noChecksums.send(new GetObjectCommand({ Bucket: 'test', Key: 'as-trailer' }));
      await plain.Body?.transformToByteArray();
      noChecksums.destroy();
      assert.equal(plain.ChecksumCRC32, undefined, 'checksums only when asked for');
    });
  });

  test('a wrong upstream secret makes writes fail', async () => {
    const rejected = await throughVerifyingFront('not-the-upstream-secret', async (client) => {
      await assert.rejects(client.send(new PutObjectCommand({ Bucket: 'test', Key: 'k', Body: 'x' })), { name: 'SignatureDoesNotMatch' });
    });
    assert.ok(rejected >= 1);
  });
});
