import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { Agent, request } from 'undici';
import { randomBody, sha256, uniqueKey } from '../test-support/bytes.js';
import { startFalconProcess } from '../test-support/falcon-process.js';
import { getObjectBytes, type Harness, seedUpstream, testHarness, upstreamClient } from '../test-support/harness.js';

const MIB = 1024 * 1024;

function harness(t: TestContext, flags: string[] = []): Promise<Harness> {
  return testHarness(t, { flags });
}

/** Sends raw bytes and returns everything the server answered before closing the connection. */
async function rawExchange(url: string, bytes: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.write(bytes);
  await once(socket, 'close');
  return Buffer.concat(chunks).toString('latin1');
}

function getStream(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => httpGet(url, resolve).on('error', reject));
}

async function readAll(res: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function healthy(url: string): Promise<void> {
  const res = await fetch(`${url}/healthz`);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
}

test('a cached 40 MiB download in flight when the node stops is completed within the grace', async (t) => {
  const h = await harness(t, ['--max-cache-size', '256', '--max-object-size', '64']);
  const key = uniqueKey('drain');
  const body = randomBody(40 * MIB);
  await seedUpstream(h, key, body);
  await (await fetch(`${h.falcon.url}/test/${key}`)).arrayBuffer();

  const res = await getStream(`${h.falcon.url}/test/${key}`);
  assert.equal(res.headers['x-cache'], 'HIT', `${res.statusCode} ${JSON.stringify(res.headers)}`);
  res.pause();
  const closed = h.falcon.close({ graceMs: 60_000 });
  // The download has barely started when the drain begins; it must still arrive whole.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const received = await readAll(res);
  assert.equal(received.length, body.length);
  assert.equal(sha256(received), sha256(body));
  await closed;
});

test('an idle keep-alive connection does not keep a draining node up', { timeout: 30_000 }, async (t) => {
  const h = await harness(t);
  const agent = new Agent({ keepAliveTimeout: 600_000 });
  t.after(() => agent.close());
  const res = await request(`${h.falcon.url}/healthz`, { dispatcher: agent });
  await res.body.text();
  // With a ten-minute grace, only closing idle connections at once lets close() resolve in this test's time.
  await h.falcon.close({ graceMs: 600_000 });
});

test('SIGTERM lets a node exit as soon as its responses are done, not after the whole grace', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-serve-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const falcon = await startFalconProcess([
    '--host', '127.0.0.1', '--port', '0', '--anonymous', '--local-upstream', join(dir, 'data'), '--shutdown-grace', '600',
  ]);
  t.after(() => falcon.stop());
  const agent = new Agent({ keepAliveTimeout: 600_000 });
  t.after(() => agent.close());
  assert.equal((await request(`${falcon.url}/bkt`, { method: 'PUT', dispatcher: agent })).statusCode, 200);
  const put = await request(`${falcon.url}/bkt/k`, { method: 'PUT', body: 'bytes', dispatcher: agent });
  assert.equal(put.statusCode, 200);
  await put.body.dump();
  const exited = once(falcon.child, 'exit');
  falcon.child.kill('SIGTERM');
  const [code] = await exited;
  assert.equal(code, 0);
});

test('a client that stops reading is disconnected after --client-idle-timeout', { timeout: 60_000 }, async (t) => {
  const h = await harness(t, ['--max-cache-size', '256', '--max-object-size', '64', '--client-idle-timeout', '1']);
  const key = uniqueKey('stall');
  await seedUpstream(h, key, randomBody(32 * MIB));
  await (await fetch(`${h.falcon.url}/test/${key}`)).arrayBuffer();
  const { hostname, port } = new URL(h.falcon.url);
  const socket: Socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  socket.write(`GET /test/${key} HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
  socket.pause();
  // Nothing is read for a while: the node must give up on this client rather than hold its response
  // forever. Reading afterwards yields what the kernel buffered, then the end of a cut connection.
  await new Promise((resolve) => setTimeout(resolve, 4000));
  let received = 0;
  socket.on('data', (chunk: Buffer) => (received += chunk.length));
  socket.resume();
  await once(socket, 'close');
  assert.ok(received < 32 * MIB, `the stalled response was cut (${received} bytes arrived)`);
  await healthy(h.falcon.url);
});

test('refuses an oversized request head with an S3 error instead of dropping the connection', async (t) => {
  const h = await harness(t);
  const answer = await rawExchange(h.falcon.url, `GET /test/k HTTP/1.1\r\nHost: x\r\nx-amz-meta-big: ${'a'.repeat(20_000)}\r\n\r\n`);
  assert.match(answer, /^HTTP\/1\.1 400 /);
  assert.match(answer, /<Code>RequestHeaderSectionTooLarge<\/Code>/);
  const longUrl = await rawExchange(h.falcon.url, `GET /test/${'k'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
  assert.match(longUrl, /^HTTP\/1\.1 400 /);
  await healthy(h.falcon.url);
});

test('answers a negative Content-Length with 400 and an S3 error', async (t) => {
  const h = await harness(t);
  const answer = await rawExchange(h.falcon.url, 'PUT /test/k HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\nhello');
  assert.match(answer, /^HTTP\/1\.1 400 /);
  assert.match(answer, /<Code>InvalidArgument<\/Code>/);
  assert.equal(h.front.count('PUT'), 0);
  await healthy(h.falcon.url);
});

test('ignores an empty or unknown Expect header on a PUT, as S3 does', async (t) => {
  const h = await harness(t);
  for (const expect of ['', '200']) {
    const key = uniqueKey('expect');
    const answer = await rawExchange(
      h.falcon.url,
      `PUT /test/${key} HTTP/1.1\r\nHost: x\r\nExpect: ${expect}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
    );
    assert.match(answer, /^HTTP\/1\.1 200 /, `Expect: "${expect}"`);
    const direct = upstreamClient(h);
    assert.equal((await getObjectBytes(direct, 'test', key)).toString(), 'hello');
    direct.destroy();
  }
});

async function concurrentGets(h: Harness, count: number): Promise<Array<{ status: number; text: string }>> {
  const keys = Array.from({ length: count }, () => uniqueKey('load'));
  for (const key of keys) await seedUpstream(h, key, `bytes of ${key}`);
  // Every upstream GET is slow, so the requests overlap.
  h.front.inject({ method: 'GET', fault: { kind: 'delay', ms: 2000 } });
  return Promise.all(
    keys.map(async (key) => {
      const res = await fetch(`${h.falcon.url}/test/${key}`);
      return { status: res.status, text: await res.text() };
    }),
  );
}

test('sheds upstream requests past --max-upstream-requests and its queue with 503 SlowDown', { timeout: 60_000 }, async (t) => {
  const h = await harness(t, ['--max-upstream-requests', '2', '--timeout', '10000']);
  const results = await concurrentGets(h, 10);
  const ok = results.filter((r) => r.status === 200);
  const shed = results.filter((r) => r.status === 503);
  // Two requests run, two wait for their places, the other six are refused at once.
  assert.equal(ok.length, 4);
  assert.equal(shed.length, 6);
  for (const r of shed) assert.match(r.text, /<Code>SlowDown<\/Code>/);
  assert.equal(h.front.count('GET'), 4);
  await healthy(h.falcon.url);
});

test('sheds requests past --max-inflight-requests with 503 SlowDown while probes still answer', { timeout: 60_000 }, async (t) => {
  // The upstream is slow on purpose: its answers must still come within --timeout.
  const h = await harness(t, ['--max-inflight-requests', '3', '--timeout', '10000']);
  const pending = concurrentGets(h, 8);
  await new Promise((resolve) => setTimeout(resolve, 500));
  await healthy(h.falcon.url);
  const results = await pending;
  assert.equal(results.filter((r) => r.status === 200).length, 3);
  const shed = results.filter((r) => r.status === 503);
  assert.equal(shed.length, 5);
  for (const r of shed) assert.match(r.text, /<Code>SlowDown<\/Code>/);
});
