import assert from 'node:assert/strict';
import { describe, type TestContext, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Agent, request } from 'undici';
import { PeerAuth } from '../src/cluster/peer-auth.js';
import { randomBody, sha256, uniqueKey } from '../test-support/bytes.js';
import { CLUSTER_SECRET, startCluster, type TestCluster } from '../test-support/cluster.js';
import { sdkClient } from '../test-support/harness.js';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../src/upstream/local-upstream.js';

interface ClusterUnderTest {
  c: TestCluster;
  agent: Agent;
  seed(key: string, body: Buffer | string): Promise<void>;
  get(node: number, key: string, headers?: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>;
  nonOwner(key: string): number;
}

/** A three-node cluster of this test's own, stopped when the test ends. */
async function threeNodes(t: TestContext): Promise<ClusterUnderTest> {
  const c = await startCluster(3);
  const direct = sdkClient(c.upstreamEndpoint.origin, LOCAL_UPSTREAM_CREDENTIALS);
  const agent = new Agent({ connections: 64 });
  t.after(async () => {
    direct.destroy();
    await agent.close();
    await c.close();
  });
  return {
    c,
    agent,
    async seed(key, body) {
      await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: body }));
    },
    async get(node, key, headers = {}) {
      const res = await request(`${c.urls[node]}/test/${encodeURIComponent(key)}`, { dispatcher: agent, headers });
      const body = Buffer.from(await res.body.arrayBuffer());
      return { status: res.statusCode, headers: res.headers, body };
    },
    nonOwner: (key) => (c.ownerIndex('test', key) + 1) % 3,
  };
}

describe('a three-node cluster', () => {
  test('1,000 concurrent cold GETs of one key over three nodes reach the upstream once', async (t) => {
    const { c, seed, get } = await threeNodes(t);
    const key = uniqueKey('storm');
    const body = randomBody(64 * 1024);
    await seed(key, body);
    c.front.inject({ method: 'GET', path: `/test/${key}`, fault: { kind: 'delay', ms: 300 } });
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => get(i % 3, key)));
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(sha256(r.body), sha256(body));
    }
    assert.equal(c.front.count('GET', `/test/${key}`), 1);
  });

  test('100 distinct objects read through random nodes cost 100 upstream GETs, and a second pass none', async (t) => {
    const { c, seed, get } = await threeNodes(t);
    const keys = Array.from({ length: 100 }, () => uniqueKey('many'));
    await Promise.all(keys.map((k) => seed(k, `bytes of ${k}`)));
    c.front.reset();
    const pick = (): number => Math.floor(Math.random() * 3);
    for (const pass of [1, 2]) {
      const results = await Promise.all(keys.map((k) => get(pick(), k)));
      for (const [i, r] of results.entries()) assert.equal(r.body.toString(), `bytes of ${keys[i]}`);
      assert.equal(c.front.count('GET'), 100, `after pass ${pass}`);
    }
  });

  test('a non-owner keeps a hot copy and serves ranges and conditionals from it', async (t) => {
    const { c, seed, get, nonOwner } = await threeNodes(t);
    const key = uniqueKey('hot');
    const body = randomBody(10_000);
    await seed(key, body);
    const asker = nonOwner(key);
    const ranged = await get(asker, key, { range: 'bytes=100-199' });
    assert.equal(ranged.status, 206);
    assert.deepEqual(ranged.body, body.subarray(100, 200));
    const again = await get(asker, key);
    assert.equal(again.headers['x-cache'], 'HIT');
    assert.equal(sha256(again.body), sha256(body));
    const etag = String(again.headers.etag);
    assert.equal((await get(asker, key, { 'if-none-match': etag })).status, 304);
    assert.equal((await get(asker, key, { 'if-match': '"nope"' })).status, 412);
    assert.equal(c.front.count('GET', `/test/${key}`), 1);
  });

  test('a write through one node is seen at once through the others', async (t) => {
    const { c, agent, seed, get } = await threeNodes(t);
    const key = uniqueKey('write');
    await seed(key, 'version 1');
    for (const node of [0, 1, 2]) assert.equal((await get(node, key)).body.toString(), 'version 1');
    const put = await request(`${c.urls[1]}/test/${key}`, { method: 'PUT', body: 'version 2', dispatcher: agent });
    assert.equal(put.statusCode, 200);
    await put.body.dump();
    for (const node of [0, 2, 1]) assert.equal((await get(node, key)).body.toString(), 'version 2', `node ${node}`);
  });

  test('legacy /invalidate drops the key on every node', async (t) => {
    const { c, agent, seed, get } = await threeNodes(t);
    const key = uniqueKey('legacy');
    await seed(key, 'old');
    for (const node of [0, 1, 2]) assert.equal((await get(node, key)).body.toString(), 'old');
    await seed(key, 'new');
    const res = await request(`${c.urls[2]}/invalidate?bucket=test&key=${key}`, { method: 'POST', dispatcher: agent });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    for (const node of [0, 1, 2]) assert.equal((await get(node, key)).body.toString(), 'new', `node ${node}`);
  });

  test('refuses peer API calls without a valid MAC', async (t) => {
    const { c, agent } = await threeNodes(t);
    const path = '/_falcon/peer/object?bucket=test&key=x';
    const none = await request(`${c.urls[0]}${path}`, { dispatcher: agent });
    assert.equal(none.statusCode, 403);
    await none.body.dump();
    const wrong = new PeerAuth('not-the-cluster-secret').sign('GET', path);
    const forged = await request(`${c.urls[0]}${path}`, { dispatcher: agent, headers: wrong });
    assert.equal(forged.statusCode, 403);
    await forged.body.dump();
    const good = await request(`${c.urls[0]}${path}`, { dispatcher: agent, headers: new PeerAuth(CLUSTER_SECRET).sign('GET', path) });
    assert.equal(good.statusCode, 404, 'a valid MAC reaches the route (the object does not exist)');
    await good.body.dump();
    const inval = await request(`${c.urls[0]}/_falcon/peer/invalidate`, { method: 'POST', body: '{"keys":[]}', dispatcher: agent });
    assert.equal(inval.statusCode, 403);
    await inval.body.dump();
  });

  test('refuses a replayed peer request: the same signed headers are accepted once', async (t) => {
    const { c, agent } = await threeNodes(t);
    const auth = new PeerAuth(CLUSTER_SECRET);
    const path = '/_falcon/peer/object?bucket=test&key=absent';
    const read = auth.sign('GET', path);
    const body = JSON.stringify({ keys: [['test', uniqueKey('replayed')]] });
    const invalidation = auth.sign('POST', '/_falcon/peer/invalidate', body);
    const send = async (method: 'GET' | 'POST', target: string, headers: Record<string, string>, payload?: string) => {
      const res = await request(`${c.urls[0]}${target}`, { method, headers, body: payload, dispatcher: agent });
      await res.body.dump();
      return res.statusCode;
    };
    assert.equal(await send('GET', path, read), 404, 'the original read reaches the route');
    assert.equal(await send('POST', '/_falcon/peer/invalidate', invalidation, body), 204, 'the original invalidation is applied');
    assert.equal(await send('GET', path, read), 403, 'the read replayed');
    assert.equal(await send('POST', '/_falcon/peer/invalidate', invalidation, body), 403, 'the invalidation replayed');
  });

  test('refuses a captured invalidation MAC sent with another body, and drops nothing', async (t) => {
    const { c, agent, seed, get } = await threeNodes(t);
    const key = uniqueKey('kept');
    await seed(key, 'cached');
    const owner = c.ownerIndex('test', key);
    assert.equal((await get(owner, key)).body.toString(), 'cached');
    const captured = new PeerAuth(CLUSTER_SECRET).sign('POST', '/_falcon/peer/invalidate', JSON.stringify({ keys: [['test', 'harmless']] }));
    const forged = JSON.stringify({ keys: [['test', key], ...Array.from({ length: 1000 }, (_, i) => ['test', `other-${i}`])] });
    const res = await request(`${c.urls[owner]}/_falcon/peer/invalidate`, { method: 'POST', headers: captured, body: forged, dispatcher: agent });
    assert.equal(res.statusCode, 403);
    await res.body.dump();
    const again = await get(owner, key);
    assert.equal(again.headers['x-cache'], 'HIT', 'the key stayed cached');
    assert.equal(c.front.count('GET', `/test/${key}`), 1);
  });

  test('a killed node fails no client request: reads and writes go on through the others', async (t) => {
    const { c, agent, seed, get } = await threeNodes(t);
    const keys = Array.from({ length: 30 }, () => uniqueKey('survive'));
    await Promise.all(keys.map((k) => seed(k, `v1 ${k}`)));
    for (const k of keys) assert.equal((await get(k.length % 2, k)).body.toString(), `v1 ${k}`);
    const victim = 2;
    assert.ok(keys.some((k) => c.ownerIndex('test', k) === victim), 'some keys were owned by the victim');

    // The owner dies while it streams an object to another node: the client still gets every byte.
    let streamed = uniqueKey('midstream');
    while (c.ownerIndex('test', streamed) !== victim) streamed = uniqueKey('midstream');
    const big = randomBody(1024 * 1024);
    await seed(streamed, big);
    c.front.inject({ method: 'GET', path: `/test/${streamed}`, fault: { kind: 'slow-body', pieces: 8, gapMs: 150 }, times: 1 });
    const res = await request(`${c.urls[0]}/test/${streamed}`, { dispatcher: agent });
    assert.equal(res.statusCode, 200);
    const chunks: Buffer[] = [];
    let killed: Promise<void> | undefined;
    for await (const chunk of res.body) {
      chunks.push(chunk as Buffer);
      killed ??= c.kill(victim);
    }
    await killed;
    assert.equal(sha256(Buffer.concat(chunks)), sha256(big));
    assert.equal(c.front.count('GET', `/test/${streamed}`), 2, 'the owner read it once, then the rest came from the upstream');
    for (const k of keys) {
      for (const node of [0, 1]) {
        const r = await get(node, k);
        assert.equal(r.status, 200, `${k} via ${node}`);
        assert.equal(r.body.toString(), `v1 ${k}`);
      }
    }
    const fresh = uniqueKey('after-kill');
    await seed(fresh, 'fresh');
    assert.equal((await get(0, fresh)).body.toString(), 'fresh');
    const put = await request(`${c.urls[0]}/test/${keys[0]}`, { method: 'PUT', body: 'v2', dispatcher: agent });
    assert.equal(put.statusCode, 200);
    await put.body.dump();
    assert.equal((await get(1, keys[0] as string)).body.toString(), 'v2');
  });
});

test('an owner dying midstream while the object is overwritten fails the read and caches nothing, even when the upstream ignores If-Match', async (t) => {
  const cluster = await startCluster(3);
  const upstream = sdkClient(cluster.upstreamEndpoint.origin, LOCAL_UPSTREAM_CREDENTIALS);
  t.after(async () => {
    upstream.destroy();
    await cluster.close();
  });
  const key = uniqueKey('overwritten');
  const owner = cluster.ownerIndex('test', key);
  const asker = (owner + 1) % 3;
  const v1 = randomBody(1024 * 1024);
  const v2 = randomBody(v1.length);
  await upstream.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: v1 }));
  cluster.front.inject({ method: 'GET', path: `/test/${key}`, fault: { kind: 'slow-body', pieces: 8, gapMs: 150 }, times: 1 });
  // The asker resumes with Range + If-Match; this upstream answers it from the new version regardless.
  cluster.front.inject({ method: 'GET', path: `/test/${key}`, fault: { kind: 'drop-header', name: 'if-match' }, times: 1 });

  const res = await request(`${cluster.urls[asker]}/test/${encodeURIComponent(key)}`);
  assert.equal(res.statusCode, 200);
  const received: Buffer[] = [];
  let killed: Promise<void> | undefined;
  await assert.rejects(async () => {
    for await (const chunk of res.body) {
      received.push(chunk as Buffer);
      killed ??= (async () => {
        await upstream.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: v2 }));
        await cluster.kill(owner);
      })();
    }
  }, 'the client connection is aborted, never completed');
  await killed;
  assert.equal(cluster.front.count('GET', `/test/${key}`), 2, 'the asker did try to resume from the upstream');
  const got = Buffer.concat(received);
  assert.ok(got.length < v1.length, 'not every byte was sent');
  assert.deepEqual(got, v1.subarray(0, got.length), 'what was sent is all of one version');

  const after = await request(`${cluster.urls[asker]}/test/${encodeURIComponent(key)}`);
  const body = Buffer.from(await after.body.arrayBuffer());
  assert.equal(after.statusCode, 200);
  assert.notEqual(after.headers['x-cache'], 'HIT', 'nothing was cached');
  assert.equal(sha256(body), sha256(v2));
});
