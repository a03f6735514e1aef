import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { type TestContext, test } from 'node:test';
import { DeleteObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { Agent, request } from 'undici';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../src/upstream/local-upstream.js';
import { BlackHole } from '../test-support/black-hole.js';
import { uniqueKey } from '../test-support/bytes.js';
import { type ClusterOptions, freePorts, startCluster, type TestCluster } from '../test-support/cluster.js';
import { sdkClient } from '../test-support/harness.js';
import { LogCapture } from '../test-support/log-capture.js';
import { TcpProxy } from '../test-support/tcp-proxy.js';

const WRITES = 40;

interface Running {
  c: TestCluster;
  seed(key: string, body: string): Promise<void>;
  get(node: number, key: string): Promise<{ status: number; body: string }>;
  put(node: number, key: string, body: string): Promise<number>;
  /** Peers a node has in back-off, from its status page. */
  down(node: number): Promise<string[]>;
}

/** Cluster options putting a proxy a test can cut before node 2's peer traffic. */
function proxyBeforeNode2(): { options: ClusterOptions; proxy: () => TcpProxy } {
  let proxy: TcpProxy | undefined;
  const options: ClusterOptions = {
    fronts: { 2: async (port) => (proxy = await new TcpProxy({ host: '127.0.0.1', port }).start()) },
  };
  return { options, proxy: () => proxy as TcpProxy };
}

async function cluster(t: TestContext, size: number, options: ClusterOptions): Promise<Running> {
  const c = await startCluster(size, [], options);
  const direct = sdkClient(c.upstreamEndpoint.origin, LOCAL_UPSTREAM_CREDENTIALS);
  const agent = new Agent();
  t.after(async () => {
    direct.destroy();
    await agent.close();
    await c.close();
  });
  return {
    c,
    async seed(key, body) {
      await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: body }));
    },
    async get(node, key) {
      const res = await request(`${c.urls[node]}/test/${key}`, { dispatcher: agent });
      return { status: res.statusCode, body: await res.body.text() };
    },
    async put(node, key, body) {
      const res = await request(`${c.urls[node]}/test/${key}`, { method: 'PUT', body, dispatcher: agent });
      await res.body.dump();
      return res.statusCode;
    },
    async down(node) {
      const res = await request(`${c.urls[node]}/_falcon/status`, { dispatcher: agent });
      return ((await res.body.json()) as { cluster: { down: string[] } }).cluster.down;
    },
  };
}

/** Writes and reads through node 0, some of the keys owned by the unreachable peer. */
async function writeAndRead(run: Running): Promise<void> {
  for (let i = 0; i < WRITES; i++) {
    const key = uniqueKey('through');
    assert.equal(await run.put(0, key, `body ${i}`), 200, `PUT ${i}`);
    const read = await run.get(0, key);
    assert.equal(read.status, 200, `GET ${i}`);
    assert.equal(read.body, `body ${i}`);
  }
}

/** Waits for a node to take a peer out of back-off; the bound only stops a broken run from hanging. */
async function waitUntilUp(run: Running, node: number, peer: string): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if (!(await run.down(node)).includes(peer)) return;
    await sleep(250);
  }
  assert.fail(`${peer} never came back`);
}

test(`a black-holed peer costs a few connection attempts and log lines over ${WRITES} writes and reads, all of which succeed`, async (t) => {
  const hole = await new BlackHole().start();
  t.after(() => hole.close());
  const logs = new LogCapture();
  const run = await cluster(t, 2, { extraPeers: [hole.url], logger: logs.logger });
  const started = logs.lines.length;
  await writeAndRead(run);
  assert.ok(hole.accepted <= 5, `${hole.accepted} connections to the black hole`);
  const lines = logs.mentioning(hole.url, started);
  assert.ok(lines.length <= 3, `${lines.length} log lines about the peer: ${JSON.stringify(lines.slice(0, 5))}`);
  assert.deepEqual(await run.down(0), [hole.url]);
});

test(`a dead peer (connection refused) costs a few log lines over ${WRITES} writes and reads, all of which succeed`, async (t) => {
  const [port] = await freePorts(1);
  const dead = `http://127.0.0.1:${port}`;
  const logs = new LogCapture();
  const run = await cluster(t, 2, { extraPeers: [dead], logger: logs.logger });
  const started = logs.lines.length;
  await writeAndRead(run);
  const lines = logs.mentioning(dead, started);
  assert.ok(lines.length <= 3, `${lines.length} log lines about the peer: ${JSON.stringify(lines.slice(0, 5))}`);
  assert.deepEqual(await run.down(0), [dead]);
});

test('a peer cut off during writes gets the invalidations it missed when it is back, and serves no stale bytes', async (t) => {
  const cut = proxyBeforeNode2();
  const run = await cluster(t, 3, cut.options);
  const { c } = run;
  const changed = uniqueKey('changed');
  const deleted = uniqueKey('deleted');
  await run.seed(changed, 'v1');
  await run.seed(deleted, 'v1');
  for (const key of [changed, deleted]) assert.equal((await run.get(2, key)).body, 'v1');

  const proxy = cut.proxy();
  proxy.blackHole();
  assert.equal(await run.put(0, changed, 'v2'), 200);
  const del = await request(`${c.urls[0]}/test/${deleted}`, { method: 'DELETE' });
  assert.equal(del.statusCode, 204);
  await del.body.dump();
  assert.equal((await run.get(2, changed)).body, 'v1', 'while cut off, node 2 still has its old copy');

  proxy.forward();
  await waitUntilUp(run, 0, c.peerUrls[2] as string);
  assert.equal((await run.get(2, changed)).body, 'v2');
  assert.equal((await run.get(2, deleted)).status, 404);
});

test('a peer that missed more invalidations than are kept for it drops its whole cache when it is back', async (t) => {
  const cut = proxyBeforeNode2();
  const run = await cluster(t, 3, cut.options);
  const { c } = run;
  // Owned by node 2, so no other node keeps a copy it could hand back.
  let key = uniqueKey('flushed');
  while (c.ownerIndex('test', key) !== 2) key = uniqueKey('flushed');
  await run.seed(key, 'v1');
  assert.equal((await run.get(2, key)).body, 'v1');

  const proxy = cut.proxy();
  proxy.blackHole();
  // Changed behind Falcon's back: no invalidation names it, only a whole-cache drop can make node 2 read it again.
  await run.seed(key, 'v2');
  const client = sdkClient(c.urls[0] as string);
  t.after(() => client.destroy());
  for (let batch = 0; batch < 11; batch++) {
    const Objects = Array.from({ length: 1000 }, (_, i) => ({ Key: `gone-${batch}-${i}` }));
    await client.send(new DeleteObjectsCommand({ Bucket: 'test', Delete: { Objects, Quiet: true } }));
  }
  assert.equal((await run.get(2, key)).body, 'v1', 'while cut off, node 2 still has its old copy');

  proxy.forward();
  await waitUntilUp(run, 0, c.peerUrls[2] as string);
  assert.equal((await run.get(2, key)).body, 'v2');
});
