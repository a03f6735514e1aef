import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RendezvousRing } from './ring.js';

const keys = Array.from({ length: 10_000 }, (_, i) => `bucket\u0000object-${i}`);
const three = ['http://a:8080', 'http://b:8080', 'http://c:8080'];

test('every node computes the same owner whatever the order of the member list', () => {
  const ring = new RendezvousRing(three);
  const reversed = new RendezvousRing([...three].reverse());
  for (const key of keys.slice(0, 500)) assert.equal(ring.owner(key), reversed.owner(key));
});

test('spreads keys evenly over members', () => {
  const ring = new RendezvousRing(three);
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(ring.owner(key) ?? '', (counts.get(ring.owner(key) ?? '') ?? 0) + 1);
  for (const member of three) {
    const share = (counts.get(member) ?? 0) / keys.length;
    assert.ok(share > 0.28 && share < 0.39, `${member} owns ${share}`);
  }
});

test('adding a fourth node to three moves at most about 30% of keys, all to the new node', () => {
  const before = new RendezvousRing(three);
  const after = new RendezvousRing([...three, 'http://d:8080']);
  let moved = 0;
  for (const key of keys) {
    if (before.owner(key) !== after.owner(key)) {
      moved++;
      assert.equal(after.owner(key), 'http://d:8080');
    }
  }
  const share = moved / keys.length;
  assert.ok(share <= 0.3, `moved ${share}`);
  assert.ok(share >= 0.2, `moved ${share}`);
});

test('removing a node moves only the keys it owned', () => {
  const before = new RendezvousRing(three);
  const after = new RendezvousRing(three.slice(0, 2));
  for (const key of keys.slice(0, 2000)) {
    if (before.owner(key) !== 'http://c:8080') assert.equal(after.owner(key), before.owner(key));
  }
  assert.equal(new RendezvousRing([]).owner('x'), undefined);
});
