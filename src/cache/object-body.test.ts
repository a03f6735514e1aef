import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteBudget } from './byte-budget.js';
import { ObjectBody } from './object-body.js';

test('a fill and its subscribers keep a body counted until the last of them is done, cached or not', () => {
  const budget = new ByteBudget(100);
  const fill = ObjectBody.reserve(60, budget);
  assert.ok(fill);
  assert.equal(budget.used, 60);
  assert.equal(ObjectBody.reserve(60, budget), undefined, 'no room for a second body');
  const subscriber = fill.body.hold('fill');
  fill.body.enteredCache();
  fill.release();
  assert.equal(budget.used, 60, 'a subscriber still sends it');
  subscriber();
  subscriber();
  assert.equal(budget.used, 0, 'the cache counts it now; releasing twice changes nothing');
});

test('a hit is counted only once the cache has dropped the body it still sends', () => {
  const budget = new ByteBudget(100);
  const fill = ObjectBody.reserve(80, budget);
  assert.ok(fill);
  fill.body.enteredCache();
  fill.release();
  const reader = fill.body.hold('hit');
  assert.equal(budget.used, 0);
  fill.body.leftCache();
  assert.equal(budget.used, 80, 'evicted while a response sends it');
  assert.equal(budget.tryReserve(30), false);
  reader();
  assert.equal(budget.used, 0);
  fill.body.hold('hit');
  assert.equal(budget.used, 80, 'a hold on a body outside the cache counts at once');
});
