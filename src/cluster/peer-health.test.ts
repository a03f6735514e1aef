import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { LogCapture } from '../../test-support/log-capture.js';
import { PeerHealth } from './peer-health.js';

const PEER = 'http://10.0.0.9:8080';

/** Waits for a condition the health's timers bring about; the bound only stops a broken run from hanging. */
async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await sleep(5);
  assert.ok(condition());
}

test('a peer goes down with one log line; failures while it stays down are counted and logged at most once per interval', (t) => {
  let now = 0;
  const logs = new LogCapture();
  const health = new PeerHealth({ logger: logs.logger, probe: () => new Promise(() => {}), now: () => now, minBackoffMs: 60_000 });
  t.after(() => health.close());
  for (let i = 0; i < 100; i++) health.reportFailure(PEER, 'connect ECONNREFUSED');
  assert.equal(health.isUp(PEER), false);
  assert.deepEqual(health.downPeers(), [PEER]);
  assert.deepEqual(logs.lines.map((l) => l.msg), ['peer marked down']);
  now = 29_999;
  health.reportFailure(PEER, 'connect ECONNREFUSED');
  assert.equal(logs.lines.length, 1);
  now = 30_000;
  health.reportFailure(PEER, 'connect ECONNREFUSED');
  assert.deepEqual(logs.lines.map((l) => l.msg), ['peer marked down', 'peer still down']);
  assert.equal(logs.lines[1]?.failures, 101);
});

test('only a probe that gets through brings a peer back; each failed probe doubles the back-off', async (t) => {
  const logs = new LogCapture();
  let probes = 0;
  const health = new PeerHealth({
    logger: logs.logger,
    probe: async () => {
      probes += 1;
      if (probes <= 2) throw new Error('Headers Timeout Error');
    },
    minBackoffMs: 5,
    logIntervalMs: 0,
  });
  t.after(() => health.close());
  health.reportFailure(PEER, 'Headers Timeout Error');
  await until(() => health.isUp(PEER));
  assert.equal(probes, 3);
  assert.deepEqual(
    logs.lines.map((l) => [l.msg, l.retryInMs]),
    [
      ['peer marked down', 5],
      ['peer still down', 10],
      ['peer still down', 20],
      ['peer is back', undefined],
    ],
  );
});

test('a peer forgotten while down is never probed again', async (t) => {
  let probes = 0;
  const health = new PeerHealth({ logger: new LogCapture().logger, probe: async () => void probes++, minBackoffMs: 5 });
  t.after(() => health.close());
  health.reportFailure(PEER, 'gone');
  health.forget(PEER);
  await sleep(30);
  assert.equal(probes, 0);
  assert.equal(health.isUp(PEER), true);
});
