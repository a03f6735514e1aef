import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { randomBody, sha256, uniqueKey } from '../test-support/bytes.js';
import { getObjectBytes, type Harness, startHarness, upstreamClient } from '../test-support/harness.js';

let h: Harness;
let direct: S3Client;

// Each test gets its own node and upstream: nothing cached, counted or configured carries over.
beforeEach(async () => {
  h = await startHarness({ buckets: ['test', 'other'] });
  direct = upstreamClient(h);
});
afterEach(async () => {
  direct.destroy();
  await h.close();
});

function read(client: S3Client, key: string): Promise<Buffer> {
  return getObjectBytes(client, 'test', key);
}

async function listKeys(client: S3Client, prefix: string): Promise<string[]> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: 'test', Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key ?? '').sort();
}

describe('forwarded requests', () => {
  test('round-trips awkward keys through put, get and list unchanged', async () => {
    const prefix = `${uniqueKey('keys')}/`;
    const longKey = `${prefix}${Array.from({ length: 9 }, (_, i) => `${String(i).repeat(100)}`).join('/')}`.padEnd(1024, 'z');
    assert.equal(Buffer.byteLength(longKey), 1024);
    const keys = [
      `${prefix}with space`,
      `${prefix}plus+sign`,
      `${prefix}literal%2Fpercent`,
      `${prefix}unicodé/日本語/🚀`,
      `${prefix}trailing/`,
      `${prefix}equals=and&amp;?`,
      `${prefix}tilde~star*(paren)'quote!`,
      longKey,
    ];
    for (const key of keys) {
      await h.s3.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: `body of ${key}` }));
      assert.ok(h.front.requests.some((r) => r.method === 'PUT' && r.path === `/test/${key}`), `upstream saw ${key}`);
    }
    for (const key of keys) {
      assert.equal((await read(h.s3, key)).toString(), `body of ${key}`, key);
      assert.equal((await read(direct, key)).toString(), `body of ${key}`, key);
    }
    assert.deepEqual(await listKeys(h.s3, prefix), [...keys].sort());
    assert.deepEqual(await listKeys(direct, prefix), [...keys].sort());
  });

  test('sends a key with a double slash to the upstream exactly as named', async () => {
    // s3rver's router cannot store such keys, so this checks the wire: the upstream is asked for "a//b".
    const key = `${uniqueKey('dbl')}/double//slash`;
    const res = await fetch(`${h.falcon.url}/test/${key}`, { method: 'PUT', body: 'x' });
    await res.arrayBuffer();
    assert.ok(h.front.requests.some((r) => r.method === 'PUT' && r.path === `/test/${key}`));
  });

  test('decodes %2F in a path as a slash, as S3 does', async () => {
    const key = `${uniqueKey('enc')}/inner`;
    await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'slash' }));
    const res = await fetch(`${h.falcon.url}/test/${key.replace('/', '%2F')}`);
    assert.equal(await res.text(), 'slash');
  });

  test('streams a multipart upload through and invalidates the completed object', async () => {
    const key = uniqueKey('mpu');
    await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'before' }));
    assert.equal((await read(h.s3, key)).toString(), 'before');
    const body = randomBody(12 * 1024 * 1024 + 123);
    await new Upload({ client: h.s3, params: { Bucket: 'test', Key: key, Body: body }, partSize: 5 * 1024 * 1024 }).done();
    assert.equal(h.front.count('POST', `/test/${key}`), 2, 'create and complete');
    assert.equal(h.front.count('PUT', `/test/${key}`), 3, 'three parts');
    assert.equal(sha256(await read(h.s3, key)), sha256(body));
    assert.equal(sha256(await read(direct, key)), sha256(body));
  });

  test('streams an upload body from a stream in aws-chunked encoding', async () => {
    const key = uniqueKey('chunked');
    const body = randomBody(6 * 1024 * 1024 + 7);
    const { Readable } = await import('node:stream');
    await new Upload({
      client: h.s3,
      params: { Bucket: 'test', Key: key, Body: Readable.from([body.subarray(0, 1_000_000), body.subarray(1_000_000)]) },
      partSize: 5 * 1024 * 1024,
    }).done();
    assert.equal(sha256(await read(direct, key)), sha256(body));
  });

  test('drops the destination of CopyObject from the cache', async () => {
    const source = uniqueKey('src');
    const target = uniqueKey('dst');
    await direct.send(new PutObjectCommand({ Bucket: 'test', Key: source, Body: 'source bytes' }));
    await direct.send(new PutObjectCommand({ Bucket: 'test', Key: target, Body: 'old target' }));
    assert.equal((await read(h.s3, target)).toString(), 'old target');
    await h.s3.send(new CopyObjectCommand({ Bucket: 'test', Key: target, CopySource: `test/${source}` }));
    assert.equal((await read(h.s3, target)).toString(), 'source bytes');
  });

  test('drops deleted objects from the cache, one by one and in batches', async () => {
    const single = uniqueKey('del');
    const batch = [uniqueKey('batch'), uniqueKey('batch'), `${uniqueKey('batch')} &<odd>`];
    for (const key of [single, ...batch]) {
      await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'doomed' }));
      assert.equal((await read(h.s3, key)).toString(), 'doomed');
    }
    await h.s3.send(new DeleteObjectCommand({ Bucket: 'test', Key: single }));
    await assert.rejects(read(h.s3, single), { name: 'NoSuchKey' });
    const out = await h.s3.send(new DeleteObjectsCommand({ Bucket: 'test', Delete: { Objects: batch.map((Key) => ({ Key })) } }));
    assert.equal(out.Deleted?.length, 3);
    for (const key of batch) await assert.rejects(read(h.s3, key), { name: 'NoSuchKey' });
  });

  test('answers a malformed DeleteObjects body with MalformedXML before reaching the upstream', async () => {
    const res = await fetch(`${h.falcon.url}/test?delete`, { method: 'POST', body: '<Delete><Object><Key>a', headers: { 'content-type': 'application/xml' } });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /<Code>MalformedXML<\/Code>/);
    assert.equal(h.front.count('POST'), 0);
  });

  test('forwards bucket and listing operations', async () => {
    await h.s3.send(new CreateBucketCommand({ Bucket: 'created-through-falcon' }));
    await h.s3.send(new HeadBucketCommand({ Bucket: 'created-through-falcon' }));
    const buckets = await h.s3.send(new ListBucketsCommand({}));
    assert.ok(buckets.Buckets?.some((b) => b.Name === 'created-through-falcon'));
    const prefix = `${uniqueKey('list')}/`;
    for (const name of ['a', 'b', 'c/d']) {
      await h.s3.send(new PutObjectCommand({ Bucket: 'test', Key: `${prefix}${name}`, Body: name }));
    }
    const v2 = await h.s3.send(new ListObjectsV2Command({ Bucket: 'test', Prefix: prefix, Delimiter: '/' }));
    assert.deepEqual((v2.Contents ?? []).map((o) => o.Key), [`${prefix}a`, `${prefix}b`]);
    assert.deepEqual((v2.CommonPrefixes ?? []).map((p) => p.Prefix), [`${prefix}c/`]);
    const v1 = await h.s3.send(new ListObjectsCommand({ Bucket: 'test', Prefix: prefix }));
    assert.equal(v1.Contents?.length, 3);
    assert.ok(h.front.count('GET') >= 3);
  });

  test('returns success for a write only after the upstream stored it', async () => {
    const key = uniqueKey('ack');
    h.front.inject({ method: 'PUT', path: `/test/${key}`, fault: { kind: 'status', statusCode: 500, code: 'InternalError' } });
    const res = await fetch(`${h.falcon.url}/test/${key}`, { method: 'PUT', body: 'lost?' });
    assert.equal(res.status, 500);
    assert.match(await res.text(), /<Code>InternalError<\/Code>/);
    await assert.rejects(read(direct, key), { name: 'NoSuchKey' });
  });

  test('serves virtual-hosted-style requests under --domain', async () => {
    const vh = await startHarness({ buckets: ['vhost'], flags: ['--domain', 'falcon.test'] });
    try {
      const port = new URL(vh.falcon.url).port;
      const { request } = await import('undici');
      const put = await request(`http://127.0.0.1:${port}/dir/file.txt`, { method: 'PUT', body: 'virtual', headers: { host: `vhost.falcon.test:${port}` } });
      assert.equal(put.statusCode, 200);
      await put.body.resume();
      const get = await request(`http://127.0.0.1:${port}/dir/file.txt`, { headers: { host: `vhost.falcon.test:${port}` } });
      assert.equal(await get.body.text(), 'virtual');
      const pathStyle = await fetch(`${vh.falcon.url}/vhost/dir/file.txt`);
      assert.equal(await pathStyle.text(), 'virtual');
      assert.equal(pathStyle.headers.get('x-cache'), 'HIT');
    } finally {
      await vh.close();
    }
  });
});
