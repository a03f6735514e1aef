import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { randomBody, sha256, uniqueKey } from '../test-support/bytes.js';
import { getObjectBytes, type Harness, startHarness, upstreamClient } from '../test-support/harness.js';

let h: Harness;
let direct: S3Client;

before(async () => {
  h = await startHarness({ flags: ['--max-object-size', '1'] });
  direct = upstreamClient(h);
});
after(async () => {
  direct.destroy();
  await h.close();
});
beforeEach(() => h.front.reset());

async function seed(key: string, body: Buffer, extra: Partial<ConstructorParameters<typeof PutObjectCommand>[0]> = {}): Promise<void> {
  await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: body, ...extra }));
}

function url(key: string, query = ''): string {
  return `${h.falcon.url}/test/${encodeURIComponent(key)}${query}`;
}

function getBytes(key: string): Promise<Buffer> {
  return getObjectBytes(h.s3, 'test', key);
}

describe('cached reads', () => {
  test('serves the second GET from cache without reaching the upstream', async () => {
    const key = uniqueKey();
    const body = randomBody(100_000);
    await seed(key, body);
    assert.equal(sha256(await getBytes(key)), sha256(body));
    assert.equal(h.front.count('GET', `/test/${key}`), 1);
    assert.equal(sha256(await getBytes(key)), sha256(body));
    assert.equal(h.front.count('GET', `/test/${key}`), 1);
    const res = await fetch(url(key));
    assert.equal(res.headers.get('x-cache'), 'HIT');
    assert.equal(sha256(Buffer.from(await res.arrayBuffer())), sha256(body));
    assert.equal(h.front.count('GET'), 1);
  });

  test('replays the upstream object headers and metadata on hits', async () => {
    const key = uniqueKey();
    await seed(key, Buffer.from('hello headers'), {
      ContentType: 'text/x-test',
      CacheControl: 'max-age=60',
      ContentDisposition: 'inline; filename="h.txt"',
      ContentEncoding: 'identity',
      ContentLanguage: 'en-GB',
      Expires: new Date('2030-01-01T00:00:00Z'),
      Metadata: { colour: 'blue', 'two-words': 'a b' },
    });
    const upstreamHead = await fetch(`${h.upstreamEndpoint.origin}/test/${key}`, { method: 'HEAD' });
    const miss = await fetch(url(key));
    await miss.arrayBuffer();
    const hit = await fetch(url(key));
    assert.equal(await hit.text(), 'hello headers');
    assert.equal(miss.headers.get('x-cache'), 'MISS');
    assert.equal(hit.headers.get('x-cache'), 'HIT');
    for (const name of ['etag', 'content-type', 'content-length', 'last-modified', 'cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires', 'x-amz-meta-colour', 'x-amz-meta-two-words']) {
      assert.ok(upstreamHead.headers.get(name) !== null, `upstream sent ${name}`);
      assert.equal(hit.headers.get(name), upstreamHead.headers.get(name), name);
      assert.equal(miss.headers.get(name), upstreamHead.headers.get(name), name);
    }
    assert.equal(hit.headers.get('accept-ranges'), 'bytes');
    assert.ok(hit.headers.get('x-amz-request-id'));
    const head = await h.s3.send(new HeadObjectCommand({ Bucket: 'test', Key: key }));
    assert.deepEqual(head.Metadata, { colour: 'blue', 'two-words': 'a b' });
    assert.equal(h.front.count('GET'), 1);
    assert.equal(h.front.count('HEAD'), 0);
  });

  test('every answer carries one request id of its own, hits and misses, errors and forwarded requests alike', async () => {
    const key = uniqueKey();
    await seed(key, Buffer.from('request ids'));
    await (await fetch(url(key))).arrayBuffer();
    const etag = (await fetch(url(key), { method: 'HEAD' })).headers.get('etag') ?? '';
    const answers = [
      await fetch(url(key)),
      await fetch(url(key), { method: 'HEAD' }),
      await fetch(url(key), { headers: { range: 'bytes=0-3' } }),
      await fetch(url(key), { headers: { 'if-none-match': etag } }),
      await fetch(url(key), { headers: { origin: 'https://app.example' } }),
      await fetch(url(uniqueKey())),
      await fetch(`${h.falcon.url}/test?list-type=2`),
      await fetch(`${h.falcon.url}/_falcon/status`),
    ];
    const ids: string[] = [];
    for (const answer of answers) {
      await answer.arrayBuffer();
      const id = answer.headers.get('x-amz-request-id') ?? '';
      assert.match(id, /^[0-9A-F]{16}$/, `one request id on the ${answer.status} answer to ${answer.url}`);
      ids.push(id);
    }
    assert.equal(new Set(ids).size, ids.length);
  });

  test('answers ranges from cached bytes with 206 and Content-Range', async () => {
    const key = uniqueKey();
    const body = randomBody(1000);
    await seed(key, body);
    await (await fetch(url(key))).arrayBuffer();
    const cases: Array<[string, number, number]> = [
      ['bytes=0-9', 0, 10],
      ['bytes=990-', 990, 1000],
      ['bytes=-5', 995, 1000],
      ['bytes=500-5000', 500, 1000],
    ];
    for (const [range, start, end] of cases) {
      const res = await fetch(url(key), { headers: { range } });
      assert.equal(res.status, 206, range);
      assert.equal(res.headers.get('content-range'), `bytes ${start}-${end - 1}/1000`);
      assert.equal(res.headers.get('content-length'), String(end - start));
      assert.deepEqual(Buffer.from(await res.arrayBuffer()), body.subarray(start, end));
    }
    const head = await fetch(url(key), { method: 'HEAD', headers: { range: 'bytes=0-9' } });
    assert.equal(head.status, 206);
    assert.equal(head.headers.get('content-length'), '10');
    const malformed = await fetch(url(key), { headers: { range: 'bytes=9-1' } });
    assert.equal(malformed.status, 200);
    assert.equal((await malformed.arrayBuffer()).byteLength, 1000);
    assert.equal(h.front.count('GET'), 1);
  });

  test('answers an unsatisfiable range with 416 InvalidRange', async () => {
    const key = uniqueKey();
    await seed(key, randomBody(100));
    for (let i = 0; i < 2; i++) {
      const res = await fetch(url(key), { headers: { range: 'bytes=100-200' } });
      assert.equal(res.status, 416);
      const xml = await res.text();
      assert.match(xml, /<Code>InvalidRange<\/Code>/);
      assert.match(xml, /<ActualObjectSize>100<\/ActualObjectSize>/);
      assert.match(xml, /<RequestId>[0-9A-F]+<\/RequestId>/);
    }
  });

  test('serves a range on a miss from the fill and caches the whole object', async () => {
    const key = uniqueKey();
    const body = randomBody(300_000);
    await seed(key, body);
    const res = await fetch(url(key), { headers: { range: 'bytes=100000-100099' } });
    assert.equal(res.status, 206);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), body.subarray(100000, 100100));
    assert.equal(sha256(await getBytes(key)), sha256(body));
    assert.equal(h.front.count('GET'), 1);
  });

  test('evaluates conditional headers with S3 precedence', async () => {
    const key = uniqueKey();
    await seed(key, Buffer.from('conditional'));
    const first = await fetch(url(key));
    await first.arrayBuffer();
    const etag = first.headers.get('etag') ?? '';
    const lastModified = new Date(first.headers.get('last-modified') ?? '');
    const past = new Date(lastModified.getTime() - 3_600_000).toUTCString();
    const future = new Date(lastModified.getTime() + 3_600_000).toUTCString();
    const expect = async (headers: Record<string, string>, status: number, code?: string): Promise<void> => {
      const res = await fetch(url(key), { headers });
      assert.equal(res.status, status, JSON.stringify(headers));
      const text = await res.text();
      if (code) assert.match(text, new RegExp(`<Code>${code}</Code>`));
    };
    await expect({ 'if-none-match': etag }, 304);
    await expect({ 'if-none-match': '"other"' }, 200);
    await expect({ 'if-match': etag }, 200);
    await expect({ 'if-match': '"other"' }, 412, 'PreconditionFailed');
    await expect({ 'if-modified-since': future }, 304);
    await expect({ 'if-modified-since': past }, 200);
    await expect({ 'if-unmodified-since': past }, 412, 'PreconditionFailed');
    await expect({ 'if-unmodified-since': future }, 200);
    // If-Match true wins over a failing If-Unmodified-Since; If-None-Match false overrides If-Modified-Since.
    await expect({ 'if-match': etag, 'if-unmodified-since': past }, 200);
    await expect({ 'if-none-match': '"other"', 'if-modified-since': future }, 200);
    await expect({ 'if-range': '"other"', range: 'bytes=0-1' }, 200);
    await expect({ 'if-range': etag, range: 'bytes=0-1' }, 206);
    assert.equal(h.front.count('GET'), 1);
  });

  test('applies response-* overrides to cached responses', async () => {
    const key = uniqueKey();
    await seed(key, Buffer.from('override'), { ContentType: 'text/plain' });
    await (await fetch(url(key))).arrayBuffer();
    const res = await fetch(url(key, '?response-content-type=application%2Fx-custom&response-content-disposition=attachment'));
    assert.equal(res.headers.get('x-cache'), 'HIT');
    assert.equal(res.headers.get('content-type'), 'application/x-custom');
    assert.equal(res.headers.get('content-disposition'), 'attachment');
    assert.equal(await res.text(), 'override');
    assert.equal(h.front.count('GET'), 1);
  });

  test('shares one upstream GET among concurrent misses', async () => {
    const key = uniqueKey();
    const body = randomBody(200_000);
    await seed(key, body);
    h.front.inject({ method: 'GET', path: `/test/${key}`, fault: { kind: 'delay', ms: 300 } });
    const results = await Promise.all(Array.from({ length: 25 }, () => getBytes(key)));
    for (const result of results) assert.equal(sha256(result), sha256(body));
    assert.equal(h.front.count('GET', `/test/${key}`), 1);
  });

  test('streams a miss to the client before the upstream has finished sending', async () => {
    const key = uniqueKey();
    const body = randomBody(500_000);
    await seed(key, body);
    h.front.inject({ method: 'GET', path: `/test/${key}`, fault: { kind: 'slow-body', pieces: 5, gapMs: 250 } });
    const res = await fetch(url(key));
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    assert.ok(first.value && first.value.length > 0);
    assert.equal(h.front.slowBodyInProgress, true, 'first bytes arrived while the upstream was still sending');
    const chunks = [Buffer.from(first.value)];
    for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(Buffer.from(r.value));
    assert.equal(sha256(Buffer.concat(chunks)), sha256(body));
  });

  test('streams objects larger than --max-object-size through without caching them', async () => {
    const key = uniqueKey();
    const body = randomBody(2 * 1024 * 1024 + 5);
    await seed(key, body);
    assert.equal(sha256(await getBytes(key)), sha256(body));
    assert.equal(sha256(await getBytes(key)), sha256(body));
    assert.equal(h.front.count('GET', `/test/${key}`), 2);
    const res = await fetch(url(key), { headers: { range: 'bytes=1048576-1048585' } });
    assert.equal(res.status, 206);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), body.subarray(1048576, 1048586));
  });

  test('caches an object of exactly --max-object-size', async () => {
    const key = uniqueKey();
    const body = randomBody(1024 * 1024);
    await seed(key, body);
    assert.equal(sha256(await getBytes(key)), sha256(body));
    assert.equal(sha256(await getBytes(key)), sha256(body));
    assert.equal(h.front.count('GET', `/test/${key}`), 1);
  });

  test('never completes or caches a body the upstream cut short', async () => {
    const key = uniqueKey();
    const body = randomBody(200_000);
    await seed(key, body);
    h.front.inject({ method: 'GET', path: `/test/${key}`, fault: { kind: 'truncate', bytes: 50_000 }, times: 1 });
    await assert.rejects(async () => {
      const res = await fetch(url(key));
      await res.arrayBuffer();
    });
    assert.equal(sha256(await getBytes(key)), sha256(body));
    assert.equal(h.front.count('GET', `/test/${key}`), 2);
    assert.equal(sha256(await getBytes(key)), sha256(body));
    assert.equal(h.front.count('GET', `/test/${key}`), 2);
  });

  test('relays upstream errors as sent and does not cache them', async () => {
    const key = uniqueKey();
    await assert.rejects(h.s3.send(new GetObjectCommand({ Bucket: 'test', Key: key })), NoSuchKey);
    const res = await fetch(url(key));
    assert.equal(res.status, 404);
    assert.match(await res.text(), /<Code>NoSuchKey<\/Code>/);
    assert.equal(h.front.count('GET', `/test/${key}`), 2);
    const noBucket = await fetch(`${h.falcon.url}/no-such-bucket/x`);
    assert.equal(noBucket.status, 404);
    assert.match(await noBucket.text(), /<Code>NoSuchBucket<\/Code>/);
    h.front.inject({ method: 'GET', path: `/test/${key}`, fault: { kind: 'status', statusCode: 403, code: 'AccessDenied' } });
    const denied = await fetch(url(key));
    assert.equal(denied.status, 403);
    assert.match(await denied.text(), /<Code>AccessDenied<\/Code>/);
  });

  test('answers 504 GatewayTimeout when the upstream is slower than --timeout', async () => {
    const key = uniqueKey();
    await seed(key, Buffer.from('slow'));
    h.front.inject({ method: 'GET', path: `/test/${key}`, fault: { kind: 'delay', ms: 3500 }, times: 1 });
    const res = await fetch(url(key));
    assert.equal(res.status, 504);
    assert.match(await res.text(), /<Code>GatewayTimeout<\/Code>/);
  });

  test('sends versionId, partNumber and SSE-C reads straight to the upstream', async () => {
    const key = uniqueKey();
    await seed(key, Buffer.from('versions'));
    await (await fetch(url(key))).arrayBuffer();
    await (await fetch(url(key, '?versionId=null'))).arrayBuffer();
    await (await fetch(url(key, '?partNumber=1'))).arrayBuffer();
    await (await fetch(url(key), { headers: { 'x-amz-server-side-encryption-customer-algorithm': 'AES256' } })).arrayBuffer();
    await (await fetch(url(key, '?tagging'))).arrayBuffer();
    assert.equal(h.front.count('GET', `/test/${key}`), 5);
    const bypass = await fetch(url(key, '?versionId=null'));
    assert.equal(bypass.headers.get('x-cache'), 'BYPASS');
    await bypass.arrayBuffer();
  });

  test('drops the cached copy when an object is overwritten through Falcon', async () => {
    const key = uniqueKey();
    await seed(key, Buffer.from('old bytes'));
    assert.equal((await getBytes(key)).toString(), 'old bytes');
    await h.s3.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: 'new bytes' }));
    assert.equal((await getBytes(key)).toString(), 'new bytes');
    assert.equal(h.front.count('GET', `/test/${key}`), 2);
  });
});

test('answers 503 ServiceUnavailable when the upstream cannot be reached', async () => {
  const { testConfig, CLIENT_AUTH_FLAGS } = await import('../test-support/harness.js');
  const { startGateway } = await import('../src/server.js');
  const { pino } = await import('pino');
  const { CountingFront } = await import('../test-support/counting-front.js');
  const front = await new CountingFront(new URL('http://127.0.0.1:1')).start();
  const deadUrl = front.url;
  await front.close();
  const falcon = await startGateway(
    testConfig(['--host', '127.0.0.1', '--port', '0', '--s3-endpoint', deadUrl, '--s3-force-path-style', '--timeout', '1000', ...CLIENT_AUTH_FLAGS]),
    pino({ level: 'silent' }),
    { credentials: async () => ({ accessKeyId: 'a', secretAccessKey: 'b' }) },
  );
  try {
    const res = await fetch(`${falcon.url}/test/key`);
    assert.equal(res.status, 503);
    assert.match(await res.text(), /<Code>ServiceUnavailable<\/Code>/);
    const put = await fetch(`${falcon.url}/test/key`, { method: 'PUT', body: 'x' });
    assert.equal(put.status, 503);
  } finally {
    await falcon.close();
  }
});
