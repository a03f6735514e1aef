import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, beforeEach, describe, test } from 'node:test';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import aws4 from 'aws4';
import { request } from 'undici';
import { uniqueKey } from '../test-support/bytes.js';
import { CLIENT_CREDENTIALS, getObjectBytes, type Harness, startHarness, upstreamClient } from '../test-support/harness.js';

const run = promisify(execFile);
/** The curl of Debian's package: `--aws-sigv4` is how scripts sign legacy requests. */
const CURL = '/usr/bin/curl';
const TOKEN = 'legacy-token-0123';
const PHOTOS = { accessKeyId: 'PHOTOS', secretAccessKey: 'photos-secret' };

let h: Harness;
let dir: string;
let direct: S3Client;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'falcon-legacy-auth-'));
  const keys = join(dir, 'keys');
  await writeFile(keys, `[photos]\naws_access_key_id = ${PHOTOS.accessKeyId}\naws_secret_access_key = ${PHOTOS.secretAccessKey}\nfalcon_buckets = test\n`);
  // Authentication as shipped (no --anonymous), a bearer token, and one key limited to the bucket "test".
  h = await startHarness({ anonymous: false, buckets: ['test', 'other'], flags: ['--legacy-token', TOKEN, '--credentials-file', keys] });
  direct = upstreamClient(h);
});
after(async () => {
  direct.destroy();
  await h.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => h.front.reset());

/** Runs curl signing with SigV4 as the README shows, and returns the status and body. */
async function curl(args: string[], keys: { accessKeyId: string; secretAccessKey: string } = CLIENT_CREDENTIALS) {
  const { stdout } = await run(CURL, ['-s', '-w', '\n%{http_code}', '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${keys.accessKeyId}:${keys.secretAccessKey}`, ...args]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/** A request signed by aws4, in the Authorization header or (signQuery) as a presigned URL. */
async function signed(path: string, options: { method?: string; body?: string; headers?: Record<string, string>; signQuery?: boolean; keys?: typeof PHOTOS; sendBody?: string } = {}) {
  const host = new URL(h.falcon.url).host;
  const opts = aws4.sign(
    { host, path, method: options.method ?? 'GET', service: 's3', region: 'us-east-1', headers: { ...options.headers }, body: options.body, signQuery: options.signQuery },
    options.keys ?? CLIENT_CREDENTIALS,
  );
  const headers = Object.fromEntries(Object.entries(opts.headers ?? {}).filter(([k]) => k.toLowerCase() !== 'host').map(([k, v]) => [k, String(v)]));
  const res = await request(`${h.falcon.url}${opts.path}`, { method: opts.method as 'GET', headers, body: options.sendBody ?? options.body });
  return { status: res.statusCode, text: await res.body.text() };
}

function multipart(boundary: string, files: Array<[string, string]>): string {
  return `${files.map(([name, body]) => `--${boundary}\r\ncontent-disposition: form-data; name="files"; filename="${name}"\r\ncontent-type: text/plain\r\n\r\n${body}\r\n`).join('')}--${boundary}--\r\n`;
}

describe('legacy routes require credentials by default', () => {
  test('refuse requests without credentials with 401 and a JSON error, before reaching the upstream; /healthz stays open', async () => {
    const form = new FormData();
    form.append('files', new Blob(['x']), 'x.txt');
    const attempts = [
      fetch(`${h.falcon.url}/get?bucket=test&key=x`),
      fetch(`${h.falcon.url}/upload?bucket=test`, { method: 'POST', body: form }),
      fetch(`${h.falcon.url}/invalidate?bucket=test&key=x`, { method: 'POST' }),
    ];
    for (const res of await Promise.all(attempts)) {
      assert.equal(res.status, 401, res.url);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.deepEqual(await res.json(), { error: 'Authentication required: sign the request with AWS Signature Version 4 or send Authorization: Bearer <token>' });
    }
    assert.equal(h.front.requests.length, 0);
    assert.equal((await fetch(`${h.falcon.url}/healthz`)).status, 200);
  });

  test('curl --aws-sigv4 works for /upload, /get and /invalidate', async () => {
    const path = uniqueKey('curl');
    const file = join(dir, 'report 1.txt');
    await writeFile(file, 'uploaded with curl');
    const upload = await curl(['-F', `files=@${file}`, `${h.falcon.url}/upload?bucket=test&path=${path}`]);
    assert.equal(upload.status, 200, upload.body);
    assert.deepEqual(JSON.parse(upload.body), { error: '', message: "Uploaded 1 object(s) to S3 bucket 'test'" });
    assert.equal((await getObjectBytes(direct, 'test', `${path}/report 1.txt`)).toString(), 'uploaded with curl');

    const key = encodeURIComponent(`${path}/report 1.txt`);
    const get = await curl([`${h.falcon.url}/get?bucket=test&key=${key}`]);
    assert.equal(get.status, 200, get.body);
    assert.equal(get.body, 'uploaded with curl');
    // As typed in a shell: the slash unencoded, which curl signs as it is.
    const typed = await curl([`${h.falcon.url}/get?bucket=test&key=${path}/report%201.txt`]);
    assert.equal(typed.status, 200, typed.body);
    const invalidate = await curl(['-X', 'POST', `${h.falcon.url}/invalidate?bucket=test&key=${key}`]);
    assert.equal(invalidate.status, 200, invalidate.body);
    assert.deepEqual(JSON.parse(invalidate.body), { error: '', message: `'test#${path}/report 1.txt' invalidated from cache` });

    const wrong = await curl([`${h.falcon.url}/get?bucket=test&key=${key}`], { accessKeyId: CLIENT_CREDENTIALS.accessKeyId, secretAccessKey: 'wrong' });
    assert.equal(wrong.status, 403);
    assert.equal(JSON.parse(wrong.body).code, 'SignatureDoesNotMatch');
  });

  test('a large curl upload gets 100 Continue only once its signature verified', async () => {
    const file = join(dir, 'large.bin');
    await writeFile(file, Buffer.alloc(2 * 1024 * 1024, 'L'));
    const upload = async (secret: string) => {
      const { stdout, stderr } = await run(CURL, ['-s', '-v', '-w', '\n%{http_code}', '--aws-sigv4', 'aws:amz:us-east-1:s3', '--user', `${CLIENT_CREDENTIALS.accessKeyId}:${secret}`, '-F', `files=@${file}`, `${h.falcon.url}/upload?bucket=test&path=${uniqueKey('large')}`]);
      return { status: Number(stdout.slice(stdout.lastIndexOf('\n') + 1)), continued: /< HTTP\/1\.1 100 Continue/.test(stderr), expected: /> Expect: 100-continue/i.test(stderr) };
    };
    assert.deepEqual(await upload(CLIENT_CREDENTIALS.secretAccessKey), { status: 200, continued: true, expected: true });
    assert.deepEqual(await upload('wrong'), { status: 403, continued: false, expected: true });
  });

  test('accept header-signed and presigned requests and the bearer token', async () => {
    const key = uniqueKey('signed');
    await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'legacy bytes' }));
    const header = await signed(`/get?bucket=test&key=${key}`);
    assert.equal(header.status, 200);
    assert.equal(header.text, 'legacy bytes');
    const presigned = await signed(`/get?bucket=test&key=${key}`, { signQuery: true });
    assert.equal(presigned.status, 200);
    assert.equal(presigned.text, 'legacy bytes');
    const bearer = await request(`${h.falcon.url}/get?bucket=test&key=${key}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(bearer.statusCode, 200);
    assert.equal(await bearer.body.text(), 'legacy bytes');
    const wrongToken = await request(`${h.falcon.url}/get?bucket=test&key=${key}`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrongToken.statusCode, 401);
    assert.deepEqual(await wrongToken.body.json(), { error: 'Missing or invalid bearer token' });
  });

  test('a signed /upload whose body differs from its signed hash stores nothing', async () => {
    const boundary = 'falconboundary';
    const path = uniqueKey('tampered');
    const body = multipart(boundary, [['a.txt', 'the signed bytes']]);
    const other = multipart(boundary, [['a.txt', 'other bytes here']]);
    assert.equal(body.length, other.length);
    const headers = { 'content-type': `multipart/form-data; boundary=${boundary}`, 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex') };
    const res = await signed(`/upload?bucket=test&path=${path}`, { method: 'POST', body, headers, sendBody: other });
    assert.equal(res.status, 400);
    assert.equal(JSON.parse(res.text).code, 'XAmzContentSHA256Mismatch');
    assert.equal(h.front.count('PUT'), 0);
    const good = await signed(`/upload?bucket=test&path=${path}`, { method: 'POST', body, headers });
    assert.equal(good.status, 200, good.text);
    assert.equal((await getObjectBytes(direct, 'test', `${path}/a.txt`)).toString(), 'the signed bytes');
  });

  test('a key limited to some buckets is refused elsewhere with AccessDenied', async () => {
    await direct.send(new PutObjectCommand({ Bucket: 'other', Key: 'secret', Body: 'not for photos' }));
    h.front.reset();
    const get = await signed('/get?bucket=other&key=secret', { keys: PHOTOS });
    assert.equal(get.status, 403);
    assert.deepEqual(JSON.parse(get.text), { error: 'Access Denied', code: 'AccessDenied' });
    const body = multipart('b0undary', [['x.txt', 'x']]);
    const upload = await signed('/upload?bucket=other', { method: 'POST', body, headers: { 'content-type': 'multipart/form-data; boundary=b0undary' }, keys: PHOTOS });
    assert.equal(upload.status, 403);
    const invalidate = await signed('/invalidate?bucket=other&key=secret', { method: 'POST', keys: PHOTOS });
    assert.equal(invalidate.status, 403);
    assert.equal(h.front.requests.length, 0);
    const own = await curl([`${h.falcon.url}/get?bucket=test&key=missing`], PHOTOS);
    assert.equal(own.status, 404);
  });
});
