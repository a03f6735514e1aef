import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BoundedMemo } from './bounded-memo.js';

test('computes a key once, undefined values included, and forgets everything when full', () => {
  const memo = new BoundedMemo<string, string | undefined>(2);
  const computed: string[] = [];
  const compute = (key: string): string | undefined => {
    computed.push(key);
    return key === 'none' ? undefined : key.toUpperCase();
  };
  assert.equal(memo.get('a', compute), 'A');
  assert.equal(memo.get('none', compute), undefined);
  assert.equal(memo.get('a', compute), 'A');
  assert.equal(memo.get('none', compute), undefined);
  assert.deepEqual(computed, ['a', 'none']);
  // Full: the third key empties it, so the first is computed again.
  assert.equal(memo.get('b', compute), 'B');
  assert.equal(memo.get('a', compute), 'A');
  assert.deepEqual(computed, ['a', 'none', 'b', 'a']);
});

test('keeps nothing of a computation that throws', () => {
  const memo = new BoundedMemo<string, number>(10);
  let calls = 0;
  const failing = (): number => {
    calls++;
    throw new Error('bad');
  };
  assert.throws(() => memo.get('x', failing));
  assert.throws(() => memo.get('x', failing));
  assert.equal(calls, 2);
});
