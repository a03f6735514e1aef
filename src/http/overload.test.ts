import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { OverloadGuard } from './overload.js';

function response(): ServerResponse & EventEmitter {
  return new EventEmitter() as ServerResponse & EventEmitter;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

test('admits up to maxInFlight responses and one more once a response closes', () => {
  const guard = new OverloadGuard({ maxInFlight: 2, maxEventLoopDelayMs: 0 });
  const first = response();
  assert.equal(guard.admit(first), true);
  assert.equal(guard.admit(response()), true);
  assert.equal(guard.admit(response()), false);
  first.emit('close');
  assert.equal(guard.admit(response()), true);
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
    assert.equal(guard.admit(response()), false, 'shed while the loop was blocked');
    await sleep(2500);
    assert.equal(guard.admit(response()), true, 'admitted again after an idle second');
  } finally {
    guard.close();
  }
});
