import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openReader, signedHead } from '../test-support/answer-reader.js';
import { randomBody, uniqueKey } from '../test-support/bytes.js';
import { budgetUsedOnceSettled, type Harness, type HarnessOptions, seedUpstream, testHarness } from '../test-support/harness.js';

/**
 * Clients that go while their read waits for the upstream, alone or with more requests pipelined
 * behind it: whatever their reads took (blocks of the budget, admission slots) comes back.
 */

function harness(t: TestContext, options: HarnessOptions = {}): Promise<Harness> {
  return testHarness(t, { anonymous: false, ...options });
}

/** Sends `count` GETs of the key on one connection at once and closes it once the upstream was asked. */
async function leaveWhileWaiting(h: Harness, key: string, count: number): Promise<void> {
  const asked = h.front.count('GET', `/test/${key}`);
  const reader = await openReader(h.falcon.url);
  reader.socket.write(Array.from({ length: count }, () => signedHead(h.falcon.url, 'GET', `/test/${key}`)).join(''));
  while (h.front.count('GET', `/test/${key}`) === asked) await sleep(10);
  reader.socket.destroy();
  await sleep(50);
}

async function invalidate(h: Harness, key: string): Promise<void> {
  const reader = await openReader(h.falcon.url);
  reader.socket.write(signedHead(h.falcon.url, 'POST', `/invalidate?bucket=test&key=${key}`));
  assert.equal((await reader.next('POST')).status, 200);
  reader.socket.destroy();
}

for (const size of [4096, 300_000]) {
  for (const pipelined of [1, 3]) {
    test(`a client gone while ${pipelined} read(s) of a ${size}-byte object wait for the upstream leaves no block held`, async (t) => {
      const h = await harness(t);
      const key = uniqueKey('gone');
      const body = randomBody(size);
      await seedUpstream(h, key, body);
      const release = h.front.holdNext('GET', `/test/${key}`);
      await leaveWhileWaiting(h, key, pipelined);
      release();

      // The object was read and cached for the next reader, who gets it whole.
      const reader = await openReader(h.falcon.url);
      t.after(() => reader.socket.destroy());
      reader.socket.write(signedHead(h.falcon.url, 'GET', `/test/${key}`));
      assert.deepEqual((await reader.next('GET')).body, body);
      // Dropped from the cache, nothing of it may stay counted.
      await invalidate(h, key);
      assert.equal(await budgetUsedOnceSettled(h.falcon.url, 0), 0, 'every block the gone client read was given back');
    });
  }
}

test('requests pipelined on a connection that goes give back their admission slots', async (t) => {
  const h = await harness(t, { flags: ['--max-inflight-requests', '4'] });
  const [gone, waiting] = [uniqueKey('gone'), uniqueKey('waiting')];
  await seedUpstream(h, gone, randomBody(1000));
  await seedUpstream(h, waiting, randomBody(1000));
  const release = h.front.holdNext('GET', `/test/${gone}`);
  // All four are admitted: one waits for the upstream, three are queued behind it.
  await leaveWhileWaiting(h, gone, 4);
  release();
  // With every slot back, one request waiting for the upstream leaves room for others.
  const releaseWaiting = h.front.holdNext('GET', `/test/${waiting}`);
  const reader = await openReader(h.falcon.url);
  t.after(() => reader.socket.destroy());
  reader.socket.write(signedHead(h.falcon.url, 'GET', `/test/${waiting}`));
  while (h.front.count('GET', `/test/${waiting}`) === 0) await sleep(10);
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${h.falcon.url}/test/${uniqueKey('missing')}`);
    await res.arrayBuffer();
    assert.notEqual(res.status, 503, `request ${i} was not shed`);
  }
  releaseWaiting();
  assert.equal((await reader.next('GET')).status, 200);
});
