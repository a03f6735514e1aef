import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { request } from 'undici';
import { uniqueKey } from '../test-support/bytes.js';
import { CountingFront } from '../test-support/counting-front.js';
import { startHarness } from '../test-support/harness.js';

async function readyz(base: string): Promise<{ status: number; body: { ready?: boolean; reason?: string } }> {
  const res = await request(`${base}/readyz`);
  return { status: res.statusCode, body: (await res.body.json()) as { ready?: boolean; reason?: string } };
}

test('/readyz answers 200 while the upstream answers, without asking it', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  for (let i = 0; i < 5; i++) assert.deepEqual(await readyz(h.falcon.url), { status: 200, body: { ready: true } });
  assert.equal(h.front.requests.length, 0);
  const head = await request(`${h.falcon.url}/readyz`, { method: 'HEAD' });
  assert.equal(head.statusCode, 200);
  await head.body.dump();
});

test('/readyz answers with the legacy routes turned off too', async (t) => {
  const h = await startHarness({ flags: ['--no-legacy'] });
  t.after(() => h.close());
  assert.deepEqual(await readyz(h.falcon.url), { status: 200, body: { ready: true } });
});

test('/readyz turns 503 once the upstream is unreachable, and 200 again when it is back, with no client traffic', async (t) => {
  const h = await startHarness();
  t.after(() => h.close());
  const port = Number(new URL(h.front.url).port);
  await h.front.close();

  const failed = await request(`${h.falcon.url}/test/${uniqueKey('unreachable')}`);
  assert.equal(failed.statusCode, 503);
  await failed.body.dump();
  const notReady = await readyz(h.falcon.url);
  assert.equal(notReady.status, 503);
  assert.equal(notReady.body.ready, false);
  assert.match(notReady.body.reason ?? '', /upstream/);
  assert.equal((await request(`${h.falcon.url}/healthz`)).statusCode, 200, '/healthz stays a liveness probe');

  const back = await new CountingFront(h.upstreamEndpoint).start(port);
  t.after(() => back.close());
  for (let i = 0; i < 100 && (await readyz(h.falcon.url)).status !== 200; i++) await sleep(100);
  assert.deepEqual(await readyz(h.falcon.url), { status: 200, body: { ready: true } });
  assert.ok(back.requests.length > 0, 'the node asked the upstream by itself');
  assert.deepEqual(new Set(back.requests.map((r) => `${r.method} ${r.path}`)), new Set(['HEAD /']), 'only its probes reached the upstream');
});
