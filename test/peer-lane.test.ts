import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Agent, request } from 'undici';
import { type Answer, openReader, signedHead } from '../test-support/answer-reader.js';
import { randomBody, uniqueKey } from '../test-support/bytes.js';
import { CLUSTER_SECRET, startCluster, type TestCluster } from '../test-support/cluster.js';
import { budgetUsed, budgetUsedOnceSettled, sdkClient } from '../test-support/harness.js';
import { PeerAuth } from '../src/cluster/peer-auth.js';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../src/upstream/local-upstream.js';

/**
 * Plain reads of small objects through a node that holds no copy of them: the hit lane waits for the
 * owner's block and answers off the socket, as node:http would answer them.
 */

interface Cluster {
  c: TestCluster;
  seed(key: string, body: Buffer): Promise<void>;
  /** A node that does not own the key. */
  nonOwner(key: string): number;
}

/** Three nodes that keep no hot copies, so every read through a non-owner goes to the owner. */
async function cluster(t: TestContext): Promise<Cluster> {
  const c = await startCluster(3, ['--hot-cache-size', '0']);
  const direct = sdkClient(c.upstreamEndpoint.origin, LOCAL_UPSTREAM_CREDENTIALS);
  t.after(async () => {
    direct.destroy();
    await c.close();
  });
  return {
    c,
    async seed(key, body) {
      await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: body }));
    },
    nonOwner: (key) => (c.ownerIndex('test', key) + 1) % 3,
  };
}

async function counter(c: TestCluster, node: number, name: 'directHits' | 'cacheReads', label?: string): Promise<number> {
  const metrics = c.nodes[node]?.metrics;
  assert.ok(metrics !== undefined);
  const values = (await metrics[name].get()).values;
  return values.find((v) => label === undefined || v.labels.outcome === label)?.value ?? 0;
}

/** Headers two answers to the same read share: all but those made per answer. */
function comparable(a: Answer): Record<string, string> {
  const { date: _date, 'x-amz-request-id': _id, connection: _connection, 'keep-alive': _keepAlive, ...rest } = a.headers;
  return rest;
}

test('a small object read through a non-owner is answered off the socket with what node:http answers', async (t) => {
  const { c, seed, nonOwner } = await cluster(t);
  const key = uniqueKey('small');
  const body = randomBody(3000);
  await seed(key, body);
  const node = nonOwner(key);
  const reader = await openReader(c.urls[node] as string);
  t.after(() => reader.socket.destroy());

  const before = await counter(c, node, 'directHits');
  reader.socket.write(signedHead(c.urls[node] as string, 'GET', `/test/${key}`));
  const direct = await reader.next('GET');
  assert.equal(await counter(c, node, 'directHits'), before + 1, 'answered by the lane');
  reader.socket.write(signedHead(c.urls[node] as string, 'HEAD', `/test/${key}`));
  const directHead = await reader.next('HEAD');
  assert.equal(await counter(c, node, 'directHits'), before + 2, 'HEAD answered by the lane');
  // node:http answers a request that asks to close the connection.
  reader.socket.write(signedHead(c.urls[node] as string, 'GET', `/test/${key}`, { connection: 'close' }));
  const byNode = await reader.next('GET');
  assert.equal(await counter(c, node, 'directHits'), before + 2, 'answered by node:http');

  assert.equal(direct.status, 200);
  assert.deepEqual(direct.body, body);
  assert.deepEqual(byNode.body, body);
  // Neither holds a copy on this node: both were read through the owner.
  assert.equal(direct.headers['x-cache'], 'MISS');
  assert.deepEqual(comparable(direct), comparable(byNode));
  assert.equal(directHead.status, 200);
  assert.equal(directHead.headers['content-length'], String(body.length));
  assert.equal(directHead.headers.etag, direct.headers.etag);
  assert.equal(c.front.count('GET', `/test/${key}`), 1, 'the owner fetched it once');
});

test('pipelined reads through a non-owner (small, large, missing, HEAD, ranged) come back in order and whole', async (t) => {
  const { c, seed, nonOwner } = await cluster(t);
  const [small, large, missing] = [uniqueKey('small'), uniqueKey('large'), uniqueKey('missing')];
  const smallBody = randomBody(2048);
  const largeBody = randomBody(300_000);
  await seed(small, smallBody);
  await seed(large, largeBody);
  // One node that owns none of them would be best; each read is checked against its own key's answer anyway.
  const node = nonOwner(small);
  const url = c.urls[node] as string;
  const reader = await openReader(url);
  t.after(() => reader.socket.destroy());
  const requests: Array<[string, string]> = [
    ['GET', signedHead(url, 'GET', `/test/${small}`)],
    ['GET', signedHead(url, 'GET', `/test/${large}`)],
    ['GET', signedHead(url, 'GET', `/test/${missing}`)],
    ['HEAD', signedHead(url, 'HEAD', `/test/${small}`)],
    ['GET', signedHead(url, 'GET', `/test/${small}`, { range: 'bytes=5-9' })],
    ['GET', signedHead(url, 'GET', `/test/${large}`)],
    ['GET', signedHead(url, 'GET', `/test/${small}`)],
  ];
  reader.socket.write(requests.map(([, text]) => text).join(''));
  const answers: Answer[] = [];
  for (const [method] of requests) answers.push(await reader.next(method));
  assert.deepEqual(
    answers.map((a) => a.status),
    [200, 200, 404, 200, 206, 200, 200],
  );
  assert.deepEqual(answers[0]?.body, smallBody);
  assert.ok(answers[1]?.body.equals(largeBody), 'the large object whole');
  assert.match(answers[2]?.body.toString() ?? '', /<Code>NoSuchKey<\/Code>/);
  assert.equal(answers[3]?.headers['content-length'], String(smallBody.length));
  assert.deepEqual(answers[4]?.body, smallBody.subarray(5, 10));
  assert.ok(answers[5]?.body.equals(largeBody), 'the large object whole, again');
  assert.deepEqual(answers[6]?.body, smallBody);
});

test('a large or missing object is asked of its owner once per read, not once by the lane and again by node:http', async (t) => {
  const { c, seed, nonOwner } = await cluster(t);
  const large = uniqueKey('large');
  await seed(large, randomBody(200_000));
  const node = nonOwner(large);
  const url = c.urls[node] as string;
  const reader = await openReader(url);
  t.after(() => reader.socket.destroy());
  const peerReadsBefore = await counter(c, node, 'cacheReads', 'peer');
  const reads = 4;
  for (let i = 0; i < reads; i++) {
    reader.socket.write(signedHead(url, 'GET', `/test/${large}`));
    assert.equal((await reader.next('GET')).status, 200);
  }
  // The lane's first try learns the object is large; every later read goes to node:http at once.
  assert.equal((await counter(c, node, 'cacheReads', 'peer')) - peerReadsBefore, reads + 1);
});

test('concurrent reads of one small object through a non-owner share reads of the owner', async (t) => {
  const { c, seed, nonOwner } = await cluster(t);
  const key = uniqueKey('shared');
  const body = randomBody(1024);
  await seed(key, body);
  const node = nonOwner(key);
  // The owner's upstream GET waits until every client asked, so all of them find the read in flight.
  const release = c.front.holdNext('GET', `/test/${key}`);
  const agent = new Agent({ connections: 32 });
  t.after(() => agent.close());
  const coalescedBefore = await counter(c, node, 'cacheReads', 'coalesced');
  const directBefore = await counter(c, node, 'directHits');
  const clients = 32;
  const reads = Array.from({ length: clients }, async () => {
    const res = await request(`${c.urls[node]}/test/${key}`, { dispatcher: agent });
    return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
  });
  const peerBefore = await counter(c, node, 'cacheReads', 'peer');
  const arrived = async (): Promise<number> =>
    (await counter(c, node, 'cacheReads', 'coalesced')) - coalescedBefore + (await counter(c, node, 'cacheReads', 'peer')) - peerBefore;
  while ((await arrived()) < clients) await new Promise((resolve) => setTimeout(resolve, 10));
  release();
  for (const read of await Promise.all(reads)) {
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, body);
  }
  assert.equal((await counter(c, node, 'directHits')) - directBefore, clients);
  // Readers share reads of the owner in groups; the owner reads the upstream once for all of them.
  const ownerReads = (await counter(c, node, 'cacheReads', 'peer')) - peerBefore;
  assert.ok(ownerReads <= clients / 4, `${ownerReads} reads of the owner for ${clients} clients`);
  assert.equal(c.front.count('GET', `/test/${key}`), 1);
});

test('a client gone while its read through the owner waits costs nothing: the node goes on, and its memory comes back', async (t) => {
  const { c, seed, nonOwner } = await cluster(t);
  const key = uniqueKey('abandoned');
  const body = randomBody(4096);
  await seed(key, body);
  const node = nonOwner(key);
  const url = c.urls[node] as string;
  const usedBefore = await budgetUsed(url);
  const release = c.front.holdNext('GET', `/test/${key}`);
  const peerReadsBefore = await counter(c, node, 'cacheReads', 'peer');
  const leaving = await openReader(url);
  // A pipelined second request waits behind the first, held by the lane, when the client goes.
  leaving.socket.write(signedHead(url, 'GET', `/test/${key}`) + signedHead(url, 'GET', `/test/${key}`));
  while ((await counter(c, node, 'cacheReads', 'peer')) === peerReadsBefore) await new Promise((resolve) => setTimeout(resolve, 10));
  leaving.socket.destroy();
  await new Promise((resolve) => setTimeout(resolve, 50));
  release();

  const reader = await openReader(url);
  t.after(() => reader.socket.destroy());
  for (let i = 0; i < 3; i++) {
    reader.socket.write(signedHead(url, 'GET', `/test/${key}`));
    const answer = await reader.next('GET');
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, body);
  }
  reader.socket.destroy();
  assert.equal(await budgetUsedOnceSettled(url, usedBefore), usedBefore, 'every block read through the owner was given back');
});

/** A peer's request head, signed with the cluster's secret unless `signed` is given (as captured before). */
function peerHead(baseUrl: string, method: 'GET' | 'HEAD', path: string, extra: Record<string, string>, signed = new PeerAuth(CLUSTER_SECRET).sign(method, path)): string {
  const lines = [`${method} ${path} HTTP/1.1`, `host: ${new URL(baseUrl).host}`];
  for (const [name, value] of Object.entries({ ...extra, ...signed })) lines.push(`${name}: ${value}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

test("an owner answers a peer's read of a cached object off the socket as node:http does, and refuses it replayed", async (t) => {
  const { c, seed } = await cluster(t);
  const key = uniqueKey('owned');
  const body = randomBody(5000);
  await seed(key, body);
  const owner = c.ownerIndex('test', key);
  const url = c.urls[owner] as string;
  const warm = await fetch(`${url}/test/${key}`);
  assert.deepEqual(Buffer.from(await warm.arrayBuffer()), body);
  const reader = await openReader(url);
  t.after(() => reader.socket.destroy());
  const path = `/_falcon/peer/object?bucket=test&key=${key}`;
  // As a peer asks when it learns an object: its first block, checksums not wanted.
  const firstBlock = { range: 'bytes=0-1048575', 'x-amz-checksum-mode': 'ENABLED' };

  const before = await counter(c, owner, 'directHits');
  const signed = new PeerAuth(CLUSTER_SECRET).sign('GET', path);
  reader.socket.write(peerHead(url, 'GET', path, firstBlock, signed));
  const direct = await reader.next('GET');
  assert.equal(await counter(c, owner, 'directHits'), before + 1, 'answered by the lane');
  reader.socket.write(peerHead(url, 'GET', path, { ...firstBlock, connection: 'close' }));
  const byNode = await reader.next('GET');
  assert.equal(await counter(c, owner, 'directHits'), before + 1, 'node:http answered the closing read');
  const headReader = await openReader(url);
  t.after(() => headReader.socket.destroy());
  // A HEAD wants the checksums: the owner learns them first when they are not known yet.
  headReader.socket.write(peerHead(url, 'HEAD', path, {}));
  const head = await headReader.next('HEAD');
  headReader.socket.write(peerHead(url, 'HEAD', path, {}));
  const headAgain = await headReader.next('HEAD');
  const afterHeads = await counter(c, owner, 'directHits');
  assert.ok(afterHeads >= before + 2, 'the second HEAD answered by the lane');

  assert.equal(direct.status, 200);
  assert.deepEqual(direct.body, body);
  assert.deepEqual(comparable(direct), comparable(byNode));
  assert.equal(direct.headers['x-falcon-checksums-known'], byNode.headers['x-falcon-checksums-known']);
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], String(body.length));
  assert.equal(head.headers.etag, direct.headers.etag);
  assert.deepEqual(comparable(headAgain), comparable(head));
  assert.equal(headAgain.headers['x-falcon-checksums-known'], '1');

  // The captured headers again, and none at all: node:http refuses both, as it always did.
  const replay = await openReader(url);
  t.after(() => replay.socket.destroy());
  replay.socket.write(peerHead(url, 'GET', path, firstBlock, signed));
  assert.equal((await replay.next('GET')).status, 403, 'replayed');
  // The refusal is sent chunked: the next request goes on a connection of its own.
  const unsigned = await openReader(url);
  t.after(() => unsigned.socket.destroy());
  unsigned.socket.write(`GET ${path} HTTP/1.1\r\nhost: ${new URL(url).host}\r\n\r\n`);
  assert.equal((await unsigned.next('GET')).status, 403, 'unsigned');
  assert.equal(await counter(c, owner, 'directHits'), afterHeads);
});
