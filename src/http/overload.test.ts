import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OverloadGuard } from './overload.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('admits up to maxInFlight requests and one more once one is done', () => {
  const guard = new OverloadGuard({ maxInFlight: 2, maxEventLoopDelayMs: 0 });
  assert.equal(guard.admit(), true);
  assert.equal(guard.admit(), true);
  assert.equal(guard.admit(), false);
  guard.done();
  assert.equal(guard.admit(), true);
  guard.close();
});

test('sheds while the event loop is blocked and admits again once it recovers', async () => {
  const guard = new OverloadGuard({ maxInFlight: 1000, maxEventLoopDelayMs: 100 });
  try {
    // Block the loop in short stretches for over a second, as a CPU-saturated node would be.
    const until = Date.now() + 1500;
    while (Date.now() < until) {
      const stretch = Date.now() + 300;
      while (Date.now() < stretch) {
        // busy
      }
      await sleep(0);
    }
    await sleep(50);
    assert.equal(guard.admit(), false, 'shed while the loop was blocked');
    await sleep(2500);
    assert.equal(guard.admit(), true, 'admitted again after an idle second');
  } finally {
    guard.close();
  }
});
