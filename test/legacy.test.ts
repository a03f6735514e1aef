import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBody, sha256, uniqueKey } from '../test-support/bytes.js';
import { type FalconProcess, startFalconProcess } from '../test-support/falcon-process.js';
import { getObjectBytes, type Harness, startHarness, upstreamClient } from '../test-support/harness.js';

let h: Harness;
let direct: S3Client;

// Each test gets its own node and upstream: nothing cached, counted or configured carries over.
beforeEach(async () => {
  h = await startHarness({ flags: ['--max-multipart-memory', '1', '--max-upload-files', '20'] });
  direct = upstreamClient(h);
});
afterEach(async () => {
  direct.destroy();
  await h.close();
});

function upstreamBytes(key: string): Promise<Buffer> {
  return getObjectBytes(direct, 'test', key);
}

function form(files: Array<[string, Buffer | string]>, field = 'files'): FormData {
  const data = new FormData();
  for (const [name, body] of files) data.append(field, new Blob([body]), name);
  return data;
}

describe('legacy routes', () => {
  test('GET /get returns the object through the cache as an attachment', async () => {
    const key = `${uniqueKey('legacy')}/report.bin`;
    const body = randomBody(70_000);
    await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: body, ContentType: 'text/plain' }));
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${h.falcon.url}/get?bucket=test&key=${encodeURIComponent(key)}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/octet-stream');
      assert.equal(res.headers.get('content-length'), '70000');
      assert.equal(res.headers.get('content-disposition'), `attachment; filename="${key}"`);
      assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(body));
    }
    assert.equal(h.front.count('GET', `/test/${key}`), 1);
  });

  test('GET /get answers missing parameters and objects with JSON errors', async () => {
    const cases: Array<[string, number, string]> = [
      ['/get?key=a', 400, "'bucket' not found in querystring parameters"],
      ['/get?bucket=test&key=%20', 400, "'key' not found in querystring parameters"],
      ['/get?bucket=test&key=nope', 404, "Blob 'test#nope' not found"],
    ];
    for (const [path, status, message] of cases) {
      const res = await fetch(`${h.falcon.url}${path}`);
      assert.equal(res.status, status, path);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.deepEqual(await res.json(), { error: message });
    }
  });

  test('POST /upload stores each file under the path and drops cached copies', async () => {
    const dir = uniqueKey('up');
    const small = Buffer.from('small file');
    const large = randomBody(3 * 1024 * 1024);
    await direct.send(new PutObjectCommand({ Bucket: 'test', Key: `${dir}/small.txt`, Body: 'stale' }));
    await (await fetch(`${h.falcon.url}/get?bucket=test&key=${dir}/small.txt`)).arrayBuffer();
    const res = await fetch(`${h.falcon.url}/upload?bucket=test&path=${dir}`, {
      method: 'POST',
      body: form([
        ['small.txt', small],
        ['large.bin', large],
      ]),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { error: '', message: "Uploaded 2 object(s) to S3 bucket 'test'" });
    assert.deepEqual(await upstreamBytes(`${dir}/small.txt`), small);
    assert.equal(sha256(await upstreamBytes(`${dir}/large.bin`)), sha256(large));
    const fresh = await fetch(`${h.falcon.url}/get?bucket=test&key=${dir}/small.txt`);
    assert.equal(await fresh.text(), 'small file');
  });

  test('POST /upload without a path stores files at their names', async () => {
    const name = `${uniqueKey('top')}.txt`;
    const res = await fetch(`${h.falcon.url}/upload?bucket=test`, { method: 'POST', body: form([[name, 'top level']]) });
    assert.equal(res.status, 200);
    assert.equal((await upstreamBytes(name)).toString(), 'top level');
  });

  test('POST /upload rejects bad requests in the original order', async () => {
    const notForm = await fetch(`${h.falcon.url}/upload?bucket=test`, { method: 'POST', body: 'plain', headers: { 'content-type': 'text/plain' } });
    assert.equal(notForm.status, 400);
    assert.deepEqual(await notForm.json(), { error: 'Expecting a multipart form' });
    const noFiles = await fetch(`${h.falcon.url}/upload?bucket=test`, { method: 'POST', body: form([['a.txt', 'a']], 'other') });
    assert.equal(noFiles.status, 400);
    assert.deepEqual(await noFiles.json(), { error: "'files' not found in multipart form" });
    const noBucket = await fetch(`${h.falcon.url}/upload`, { method: 'POST', body: form([['a.txt', 'a']]) });
    assert.equal(noBucket.status, 400);
    assert.deepEqual(await noBucket.json(), { error: "'bucket' not found in querystring parameters" });
    assert.equal(h.front.count('PUT'), 0);
  });

  test('POST /upload reports the keys that failed with 500', async () => {
    const dir = uniqueKey('fail');
    h.front.inject({ method: 'PUT', path: `/test/${dir}/bad.txt`, fault: { kind: 'status', statusCode: 500, code: 'InternalError' } });
    const res = await fetch(`${h.falcon.url}/upload?bucket=test&path=${dir}/`, {
      method: 'POST',
      body: form([
        ['good.txt', 'good'],
        ['bad.txt', 'bad'],
      ]),
    });
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: 'Failed to upload some blobs', uploadsFailed: [`${dir}/bad.txt`] });
    assert.equal((await upstreamBytes(`${dir}/good.txt`)).toString(), 'good');
  });

  test('POST /invalidate drops the cached copy', async () => {
    const key = uniqueKey('inv');
    await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'v1' }));
    assert.equal(await (await fetch(`${h.falcon.url}/get?bucket=test&key=${key}`)).text(), 'v1');
    await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'v2' }));
    assert.equal(await (await fetch(`${h.falcon.url}/get?bucket=test&key=${key}`)).text(), 'v1');
    const res = await fetch(`${h.falcon.url}/invalidate?bucket=test&key=${key}`, { method: 'POST' });
    assert.deepEqual(await res.json(), { error: '', message: `'test#${key}' invalidated from cache` });
    assert.equal(await (await fetch(`${h.falcon.url}/get?bucket=test&key=${key}`)).text(), 'v2');
    const missing = await fetch(`${h.falcon.url}/invalidate?bucket=test`, { method: 'POST' });
    assert.equal(missing.status, 400);
  });

  test('POST /upload refuses a form with more files than --max-upload-files with 413 and stores none of them', async () => {
    const dir = uniqueKey('many');
    const files: Array<[string, string]> = Array.from({ length: 21 }, (_, i) => [`f${i}.txt`, `file ${i}`]);
    const res = await fetch(`${h.falcon.url}/upload?bucket=test&path=${dir}`, { method: 'POST', body: form(files) });
    assert.equal(res.status, 413);
    assert.deepEqual(await res.json(), { error: 'Too many files in the multipart form: at most 20' });
    assert.equal(h.front.count('PUT'), 0);
    assert.equal((await fetch(`${h.falcon.url}/healthz`)).status, 200);
  });

  test('POST /upload sends at most four files upstream at a time', async () => {
    const dir = uniqueKey('pool');
    h.front.inject({ method: 'PUT', fault: { kind: 'delay', ms: 100 } });
    const files: Array<[string, string]> = Array.from({ length: 20 }, (_, i) => [`f${i}.txt`, `file ${i}`]);
    const res = await fetch(`${h.falcon.url}/upload?bucket=test&path=${dir}`, { method: 'POST', body: form(files) });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { error: '', message: "Uploaded 20 object(s) to S3 bucket 'test'" });
    assert.equal(h.front.count('PUT'), 20);
    const peak = h.front.peakInFlight.get('PUT') ?? 0;
    assert.ok(peak >= 2 && peak <= 4, `peak of ${peak} uploads at once`);
    assert.equal((await upstreamBytes(`${dir}/f19.txt`)).toString(), 'file 19');
  });

  test('refuses keys and paths with . or .. segments, which a normalising upstream would move to another bucket', async () => {
    const upload = await fetch(`${h.falcon.url}/upload?bucket=test&path=../other`, { method: 'POST', body: form([['x.txt', 'x']]) });
    assert.equal(upload.status, 400);
    assert.deepEqual(await upload.json(), { error: "Object keys with '.' or '..' path segments are not supported.", code: 'InvalidArgument' });
    for (const key of ['../other/x', 'a/./b', 'a/..']) {
      const get = await fetch(`${h.falcon.url}/get?bucket=test&key=${encodeURIComponent(key)}`);
      assert.equal(get.status, 400, key);
      await get.body?.cancel();
    }
    assert.equal(h.front.requests.length, 0);
  });

  test('GET /healthz answers 200 with the version', async () => {
    const res = await fetch(`${h.falcon.url}/healthz`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^Version: \d+\.\d+\.\d+/);
  });
});

// A crash must show as a dead node, not as an error the test runner catches: these run Falcon in its own process.
describe('legacy /upload with broken forms, in a node of its own', () => {
  let node: FalconProcess;
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'falcon-forms-'));
    node = await startFalconProcess(['--host', '127.0.0.1', '--port', '0', '--local-upstream', join(dir, 'data'), '--anonymous']);
  });
  afterEach(async () => {
    await node.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const truncatedForm = (field: string): string =>
    `--falconboundary\r\ncontent-disposition: form-data; name="${field}"; filename="a.txt"\r\ncontent-type: text/plain\r\n\r\npartial data that never ends`;

  for (const field of ['other', 'files']) {
    test(`answers 400 to a form that ends inside a file part named ${field}, and keeps serving`, async () => {
      const res = await fetch(`${node.url}/upload?bucket=test`, {
        method: 'POST',
        body: truncatedForm(field),
        headers: { 'content-type': 'multipart/form-data; boundary=falconboundary' },
      });
      assert.equal(res.status, 400);
      assert.deepEqual(await res.json(), { error: 'Expecting a multipart form' });
      assert.equal((await fetch(`${node.url}/healthz`)).status, 200);
    });
  }
});
