import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { CreateBucketCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { uniqueKey } from '../test-support/bytes.js';
import { startFalconProcess } from '../test-support/falcon-process.js';
import { CLIENT_CREDENTIALS, type Harness, sdkClient, seedUpstream, testHarness } from '../test-support/harness.js';
import { rawRequest } from '../test-support/raw-http.js';

function harness(t: TestContext): Promise<Harness> {
  return testHarness(t);
}

test("a client's Date header is not taken for the time Falcon signs upstream requests with", async (t) => {
  const h = await harness(t);
  const key = uniqueKey('date');
  await seedUpstream(h, key, 'dated');
  for (const date of ['garbage', new Date(Date.now() - 3_600_000).toUTCString()]) {
    const head = await rawRequest(h.falcon.url, { method: 'HEAD', path: `/test/${key}`, headers: { date, connection: 'close' }, body: [] });
    assert.equal(head.status, 200, `HEAD with Date: ${date}`);
    const put = await rawRequest(h.falcon.url, {
      method: 'PUT',
      path: `/test/${key}-put`,
      headers: { date, 'content-length': '3', connection: 'close' },
      body: [Buffer.from('abc')],
    });
    assert.equal(put.status, 200, `PUT with Date: ${date}: ${put.body}`);
  }
});

test('a response-* override that is not a valid header value gets 400 InvalidArgument, without the object headers', async (t) => {
  const h = await harness(t);
  const key = uniqueKey('override');
  await seedUpstream(h, key, 'bytes');
  for (const cached of [false, true]) {
    const res = await fetch(`${h.falcon.url}/test/${key}?response-content-disposition=%0d%0aX-Injected:%201`);
    assert.equal(res.status, 400, `cached: ${cached}`);
    assert.match(await res.text(), /<Code>InvalidArgument<\/Code>[\s\S]*<ArgumentName>response-content-disposition<\/ArgumentName>/);
    assert.equal(res.headers.get('etag'), null);
    assert.equal(res.headers.get('x-injected'), null);
    await (await fetch(`${h.falcon.url}/test/${key}`)).arrayBuffer();
  }
});

test('keys over 1,024 bytes get KeyTooLongError and invalid part numbers InvalidArgument, before the upstream', async (t) => {
  const h = await harness(t);
  const long = await fetch(`${h.falcon.url}/test/${'k'.repeat(1025)}`, { method: 'PUT', body: 'x' });
  assert.equal(long.status, 400);
  assert.match(await long.text(), /<Code>KeyTooLongError<\/Code>/);
  for (const partNumber of ['', '0', '10001', 'x', '1.5']) {
    const res = await fetch(`${h.falcon.url}/test/part?partNumber=${partNumber}&uploadId=abc`, { method: 'PUT', body: 'x' });
    assert.equal(res.status, 400, `partNumber=${partNumber}`);
    assert.match(await res.text(), /<Code>InvalidArgument<\/Code>/);
  }
  assert.equal(h.front.requests.length, 0);
});

test('a multipart form whose header is malformed is answered, however its bytes arrive', async (t) => {
  const h = await harness(t);
  const body = Buffer.from(
    '--B\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\nContent-Type text/plain\r\n\r\naaaa\r\n' +
      '--B\r\nContent-Disposition: form-data; name="files"; filename="b.txt"\r\n\r\nbbbbbbbbbb\r\n--B--\r\n',
  );
  for (const split of [body.length, 176]) {
    const res = await rawRequest(h.falcon.url, {
      method: 'POST',
      path: '/upload?bucket=test',
      headers: { 'content-type': 'multipart/form-data; boundary=B', 'content-length': String(body.length), connection: 'close' },
      body: [body.subarray(0, split), body.subarray(split)].filter((piece) => piece.length > 0),
      gapMs: 3,
    });
    assert.equal(res.status, 400, `split at ${split}: ${res.body}`);
  }
  assert.equal(h.front.count('PUT'), 0);
});

test('the embedded upstream refuses a key its files cannot hold instead of failing inside', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-wire-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const falcon = await startFalconProcess([
    '--host', '127.0.0.1', '--port', '0', '--local-upstream', join(dir, 'data'),
    '--access-key', CLIENT_CREDENTIALS.accessKeyId, '--secret-key', CLIENT_CREDENTIALS.secretAccessKey,
  ]);
  t.after(() => falcon.stop());
  const s3 = sdkClient(falcon.url);
  t.after(() => s3.destroy());
  await s3.send(new CreateBucketCommand({ Bucket: 'names' }));
  try {
    await s3.send(new PutObjectCommand({ Bucket: 'names', Key: `dir/${'n'.repeat(300)}`, Body: 'x' }));
    assert.fail('expected KeyTooLongError');
  } catch (err) {
    assert.ok(err instanceof S3ServiceException, String(err));
    assert.equal(err.name, 'KeyTooLongError');
  }
  await s3.send(new PutObjectCommand({ Bucket: 'names', Key: `dir/${'n'.repeat(200)}`, Body: 'fits' }));
  assert.equal(falcon.child.exitCode, null);
  assert.doesNotMatch(falcon.output(), /embedded upstream died/);
});

test('a request whose body can be sent again is retried once when the upstream connection drops before any answer', async (t) => {
  const h = await harness(t);
  const key = uniqueKey('reset');
  await seedUpstream(h, key, 'still here');
  h.front.inject({ method: 'GET', path: `/test/${key}`, fault: { kind: 'reset' }, times: 1 });
  const res = await fetch(`${h.falcon.url}/test/${key}`);
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'still here');
  assert.equal(h.front.count('GET', `/test/${key}`), 2);

  // A streamed body is gone once sent: the client gets the failure and retries itself.
  h.front.inject({ method: 'PUT', path: `/test/${key}`, fault: { kind: 'reset' }, times: 2 });
  const put = await fetch(`${h.falcon.url}/test/${key}`, {
    method: 'PUT',
    body: new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('streamed'));
        controller.close();
      },
    }),
    duplex: 'half',
  } as RequestInit);
  assert.equal(put.status, 503);
  assert.match(await put.text(), /<Code>ServiceUnavailable<\/Code>/);
  assert.equal(h.front.count('PUT', `/test/${key}`), 1);
});
