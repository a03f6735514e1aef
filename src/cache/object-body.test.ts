import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteBudget } from './byte-budget.js';
import { ObjectBody } from './object-body.js';

test('a body stays counted while its fill, a cache or a reader keeps it, and once only', () => {
  const budget = new ByteBudget(100);
  const fill = ObjectBody.reserve(60, budget);
  assert.ok(fill);
  assert.equal(budget.used, 60);
  assert.equal(ObjectBody.reserve(60, budget), undefined, 'no room for a second body');
  const reader = fill.body.hold();
  fill.body.enteredCache();
  fill.release();
  assert.equal(budget.used, 60, 'cached and read: still counted once');
  reader();
  reader();
  assert.equal(budget.used, 60, 'the cache keeps it; releasing twice changes nothing');
  const late = fill.body.hold();
  fill.body.leftCache();
  assert.equal(budget.used, 60, 'evicted while a response sends it');
  assert.equal(budget.tryReserve(50), false);
  late();
  assert.equal(budget.used, 0, 'nothing keeps it any more');
});

test('a reservation that does not fit evicts until it does, and fails when nothing is left to evict', () => {
  const budget = new ByteBudget(100);
  const cached: Array<{ body: ObjectBody }> = [];
  for (let i = 0; i < 3; i++) {
    const reserved = ObjectBody.reserve(30, budget);
    assert.ok(reserved);
    reserved.body.enteredCache();
    reserved.release();
    cached.push(reserved);
  }
  let evictions = 0;
  budget.setEvictor(() => {
    const oldest = cached.shift();
    if (oldest === undefined) return false;
    evictions++;
    oldest.body.leftCache();
    return true;
  });
  assert.ok(budget.tryReserve(40), 'one eviction makes room');
  assert.equal(evictions, 1);
  assert.equal(budget.used, 100);
  assert.equal(budget.tryReserve(101), false, 'more than the limit never fits');
  assert.equal(evictions, 1, 'and evicts nothing');
  assert.equal(budget.tryReserve(90), false, 'not even with everything evicted');
  assert.equal(evictions, 3);
});

test('a block-sized buffer nothing uses any more is reused by the next fill, still counted, and never while held', () => {
  const budget = new ByteBudget(100, 40);
  const first = ObjectBody.reserve(40, budget);
  assert.ok(first);
  const reader = first.body.hold();
  first.release();
  const second = ObjectBody.reserve(40, budget);
  assert.ok(second);
  assert.notEqual(second.body.bytes, first.body.bytes, 'a held buffer is not reused');
  reader();
  assert.equal(first.body.recycled, true);
  assert.equal(budget.used, 80, 'a pooled buffer stays counted');
  const third = ObjectBody.reserve(40, budget);
  assert.ok(third);
  assert.equal(third.body.bytes, first.body.bytes, 'the pooled buffer is handed out again');
  assert.equal(budget.used, 80);
  third.release();
  second.release();
  assert.ok(ObjectBody.reserve(90, budget), 'pooled buffers give way to a reservation of another size');
});
