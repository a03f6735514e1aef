import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { type TestContext, test } from 'node:test';
import { randomBody, uniqueKey } from '../test-support/bytes.js';
import { type Answer, type AnswerReader, openReader, signedHead as signedHeadFor } from '../test-support/answer-reader.js';
import { budgetUsed, type Harness, seedUpstream, testHarness } from '../test-support/harness.js';

/**
 * The direct hit path (src/http/hit-lane.ts): plain hits answered off the socket, everything else by node:http
 * on the same connection, in order.
 */

function harness(t: TestContext): Promise<Harness> {
  return testHarness(t, { anonymous: false });
}

async function directHits(h: Harness): Promise<number> {
  return (await h.falcon.metrics.directHits.get()).values[0]?.value ?? 0;
}

function signedHead(h: Harness, method: string, path: string, extra: Record<string, string> = {}, body?: Buffer): string {
  return signedHeadFor(h.falcon.url, method, path, extra, body);
}

function open(h: Harness): Promise<AnswerReader> {
  return openReader(h.falcon.url);
}

test('a plain hit is answered off the socket with the status, headers and bytes node:http answers it with', async (t) => {
  const h = await harness(t);
  const key = uniqueKey('lane');
  const body = randomBody(3000);
  await seedUpstream(h, key, body);
  const reader = await open(h);
  t.after(() => reader.socket.destroy());
  // The first read is a miss (node:http answers it); with "Connection: close" a hit is node's too.
  reader.socket.write(signedHead(h, 'GET', `/test/${key}`));
  const miss = await reader.next('GET');
  assert.equal(miss.headers['x-cache'], 'MISS');
  const before = await directHits(h);
  reader.socket.write(signedHead(h, 'GET', `/test/${key}`));
  const direct = await reader.next('GET');
  assert.equal(await directHits(h), before + 1, 'answered by the lane');
  reader.socket.write(signedHead(h, 'GET', `/test/${key}`, { connection: 'close' }));
  const byNode = await reader.next('GET');
  assert.equal(await directHits(h), before + 1, 'answered by node:http');

  assert.equal(direct.status, 200);
  assert.deepEqual(direct.body, body);
  assert.deepEqual(byNode.body, body);
  const comparable = (a: Answer): Record<string, string> => {
    const { date, 'x-amz-request-id': _id, connection, 'keep-alive': _keepAlive, ...rest } = a.headers;
    assert.ok(date !== undefined && !Number.isNaN(Date.parse(date)), 'a Date header');
    assert.match(_id ?? '', /^[0-9A-F]{16}$/);
    return rest;
  };
  assert.deepEqual(comparable(direct), comparable(byNode));
  assert.equal(direct.headers['x-cache'], 'HIT');
  assert.equal(direct.headers.connection, 'keep-alive');
  assert.notEqual(direct.headers['x-amz-request-id'], byNode.headers['x-amz-request-id']);
});

test('pipelined hits, misses, refusals and uploads on one connection are answered in order', async (t) => {
  const h = await harness(t);
  const [hot, cold, written] = [uniqueKey('hot'), uniqueKey('cold'), uniqueKey('written')];
  const hotBody = randomBody(2048);
  const coldBody = randomBody(70_000);
  await seedUpstream(h, hot, hotBody);
  await seedUpstream(h, cold, coldBody);
  const warm = await open(h);
  warm.socket.write(signedHead(h, 'GET', `/test/${hot}`));
  await warm.next('GET');
  warm.socket.destroy();

  const reader = await open(h);
  t.after(() => reader.socket.destroy());
  const upload = Buffer.from('fresh');
  const badSignature = signedHead(h, 'GET', `/test/${hot}`).replace(/Signature=[0-9a-f]{8}/, 'Signature=00000000');
  const requests: Array<[string, string]> = [
    ['GET', signedHead(h, 'GET', `/test/${hot}`)],
    ['GET', signedHead(h, 'GET', `/test/${cold}`)],
    ['GET', signedHead(h, 'GET', `/test/${hot}`)],
    ['GET', badSignature],
    ['HEAD', signedHead(h, 'HEAD', `/test/${hot}`)],
    ['PUT', `${signedHead(h, 'PUT', `/test/${written}`, { 'content-length': String(upload.length) }, upload)}${upload.toString('latin1')}`],
    ['GET', signedHead(h, 'GET', `/test/${hot}`, { range: 'bytes=0-9' })],
    ['GET', signedHead(h, 'GET', `/test/${hot}`)],
  ];
  const before = await directHits(h);
  reader.socket.write(requests.map(([, text]) => text).join(''));
  const answers: Answer[] = [];
  for (const [method] of requests) answers.push(await reader.next(method));
  assert.deepEqual(
    answers.map((a) => a.status),
    [200, 200, 200, 403, 200, 200, 206, 200],
  );
  assert.deepEqual(answers[0]?.body, hotBody);
  assert.deepEqual(answers[1]?.body, coldBody);
  assert.equal(answers[1]?.headers['x-cache'], 'MISS');
  assert.deepEqual(answers[2]?.body, hotBody);
  assert.match(answers[3]?.body.toString() ?? '', /<Code>SignatureDoesNotMatch<\/Code>/);
  assert.equal(answers[4]?.headers['content-length'], String(hotBody.length));
  assert.deepEqual(answers[6]?.body, hotBody.subarray(0, 10));
  assert.deepEqual(answers[7]?.body, hotBody);
  // node:http runs pipelined requests at once and answers them in order, so the upload is read back after.
  reader.socket.write(signedHead(h, 'GET', `/test/${written}`));
  assert.deepEqual((await reader.next('GET')).body, upload);
  // The first request found the connection idle; the rest followed requests node:http was still answering.
  assert.ok((await directHits(h)) >= before + 1);
});

test('a request arriving a byte at a time, and one after a chunked upload, are still answered right', async (t) => {
  const h = await harness(t);
  const key = uniqueKey('bytes');
  const body = randomBody(5000);
  await seedUpstream(h, key, body);
  const reader = await open(h);
  t.after(() => reader.socket.destroy());
  reader.socket.write(signedHead(h, 'GET', `/test/${key}`));
  await reader.next('GET');
  const head = Buffer.from(signedHead(h, 'GET', `/test/${key}`));
  for (const byte of head) {
    reader.socket.write(Buffer.from([byte]));
    await nextTurn();
  }
  const slow = await reader.next('GET');
  assert.equal(slow.status, 200);
  assert.deepEqual(slow.body, body);

  const chunked = signedHead(h, 'PUT', `/test/${uniqueKey('chunked')}`, { 'transfer-encoding': 'chunked' });
  reader.socket.write(`${chunked}3\r\nabc\r\n0\r\n\r\n`);
  assert.equal((await reader.next('PUT')).status, 200);
  for (let i = 0; i < 3; i++) {
    reader.socket.write(signedHead(h, 'GET', `/test/${key}`));
    const after = await reader.next('GET');
    assert.equal(after.status, 200);
    assert.deepEqual(after.body, body);
  }
});

test('a client that pipelines many hits without reading holds back the rest, and every answer arrives whole', async (t) => {
  const h = await harness(t);
  const key = uniqueKey('pipelined');
  const body = randomBody(64 * 1024);
  await seedUpstream(h, key, body);
  const reader = await open(h);
  t.after(() => reader.socket.destroy());
  reader.socket.write(signedHead(h, 'GET', `/test/${key}`));
  await reader.next('GET');
  const usedBefore = await budgetUsed(h.falcon.url);
  const count = 400;
  const heads = Array.from({ length: count }, () => signedHead(h, 'GET', `/test/${key}`)).join('');
  reader.socket.pause();
  reader.socket.write(heads);
  // 400 × 64 KiB is far more than the socket buffers hold: the node stops reading requests until the client reads.
  await new Promise((resolve) => setTimeout(resolve, 300));
  reader.socket.resume();
  for (let i = 0; i < count; i++) {
    const answer = await reader.next('GET');
    assert.equal(answer.status, 200, `answer ${i}`);
    assert.ok(answer.body.equals(body), `answer ${i} bytes`);
  }
  assert.ok((await directHits(h)) >= count, `direct hits: ${await directHits(h)}`);
  reader.socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(await budgetUsed(h.falcon.url), usedBefore, 'every answer gave its block back');
});

test('a throw on the direct path leaves the request to node:http, and the node goes on', async (t) => {
  const h = await harness(t);
  const key = uniqueKey('thrown');
  const body = randomBody(1500);
  await seedUpstream(h, key, body);
  const reader = await open(h);
  t.after(() => reader.socket.destroy());
  reader.socket.write(signedHead(h, 'GET', `/test/${key}`));
  await reader.next('GET');
  const node = h.falcon.node;
  const directHit = node.directHit;
  node.directHit = () => {
    throw new Error('a bug on the direct path');
  };
  t.after(() => {
    node.directHit = directHit;
  });
  const before = await directHits(h);
  for (let i = 0; i < 2; i++) {
    reader.socket.write(signedHead(h, 'GET', `/test/${key}`));
    const answer = await reader.next('GET');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, body);
  }
  assert.equal(await directHits(h), before, 'node:http answered both');
});
