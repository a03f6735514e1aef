import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteBudget } from './byte-budget.js';
import { ObjectBody } from './object-body.js';
import { evictOldestOf, ObjectCache, objectKey } from './object-cache.js';
import { type ObjectMeta, metaBytes } from './object-meta.js';

function meta(etag: string, size: number): ObjectMeta {
  return { headers: { etag }, size, etag, lastModifiedMs: undefined, checksumsKnown: true };
}

function block(budget: ByteBudget, size: number): ObjectBody {
  const reserved = ObjectBody.reserve(size, budget);
  assert.ok(reserved, 'the budget has room');
  reserved.release();
  return reserved.body;
}

/** A reserved body is released by its fill once cached; here the cache takes it first. */
function cachedBlock(cache: ObjectCache, budget: ByteBudget, key: string, etag: string, index: number, size: number): ObjectBody {
  const reserved = ObjectBody.reserve(size, budget);
  assert.ok(reserved);
  assert.ok(cache.setBlock(key, etag, index, reserved.body));
  reserved.release();
  return reserved.body;
}

test('metadata and blocks are separate entries; blocks are found by ETag and index', () => {
  const budget = new ByteBudget(1000);
  const cache = new ObjectCache({ maxBytes: 1000, budget, ttlMs: 0 });
  const key = objectKey('b', 'k');
  assert.ok(cache.setMeta(key, meta('"v1"', 300)));
  const first = cachedBlock(cache, budget, key, '"v1"', 0, 100);
  assert.equal(cache.block(key, '"v1"', 0), first);
  assert.equal(cache.block(key, '"v1"', 1), undefined);
  assert.equal(cache.block(key, '"v2"', 0), undefined, 'another version has its own blocks');
  assert.equal(cache.lookup(key)?.entry.meta.size, 300);
  assert.equal(budget.used, 100 + metaBytes(meta('"v1"', 300)), 'the budget counts blocks and metadata');
});

test('deleting an object drops its metadata and every block of every version, and the budget gets them back', () => {
  const budget = new ByteBudget(1000);
  const cache = new ObjectCache({ maxBytes: 1000, budget, ttlMs: 0 });
  const key = objectKey('b', 'k');
  cache.setMeta(key, meta('"v1"', 300));
  for (const index of [0, 1, 2]) cachedBlock(cache, budget, key, '"v1"', index, 100);
  cachedBlock(cache, budget, objectKey('b', 'other'), '"v1"', 0, 100);
  cache.delete(key);
  assert.equal(cache.lookup(key), undefined);
  for (const index of [0, 1, 2]) assert.equal(cache.block(key, '"v1"', index), undefined);
  assert.ok(cache.block(objectKey('b', 'other'), '"v1"', 0), 'other objects stay');
  assert.equal(budget.used, 100);
});

test('new metadata with another ETag drops the blocks of the old version; dropVersion drops one version only', () => {
  const budget = new ByteBudget(1000);
  const cache = new ObjectCache({ maxBytes: 1000, budget, ttlMs: 0 });
  const key = objectKey('b', 'k');
  cache.setMeta(key, meta('"v1"', 200));
  cachedBlock(cache, budget, key, '"v1"', 0, 100);
  cache.setMeta(key, meta('"v2"', 200));
  assert.equal(cache.block(key, '"v1"', 0), undefined);
  cachedBlock(cache, budget, key, '"v2"', 1, 100);
  cache.dropVersion(key, '"v1"');
  assert.ok(cache.lookup(key), 'the metadata names v2 and stays');
  assert.ok(cache.block(key, '"v2"', 1));
  cache.dropVersion(key, '"v2"');
  assert.equal(cache.lookup(key), undefined);
  assert.equal(cache.block(key, '"v2"', 1), undefined);
});

test('eviction takes the least recently used entry across tiers when a reservation needs room', () => {
  const budget = new ByteBudget(400);
  const main = new ObjectCache({ maxBytes: 400, budget, ttlMs: 0 });
  const hot = new ObjectCache({ maxBytes: 400, budget, ttlMs: 0 });
  budget.setEvictor(() => evictOldestOf([main, hot]));
  cachedBlock(main, budget, 'a', '"e"', 0, 100);
  cachedBlock(hot, budget, 'b', '"e"', 0, 100);
  cachedBlock(main, budget, 'c', '"e"', 0, 100);
  assert.ok(main.block('a', '"e"', 0), 'a is used again: b is now the oldest');
  assert.ok(ObjectBody.reserve(250, budget), 'room is made');
  assert.equal(hot.block('b', '"e"', 0), undefined, 'b went first');
  assert.equal(main.block('c', '"e"', 0), undefined, 'then c');
  assert.ok(main.block('a', '"e"', 0));
});

test('a block a response still sends stays counted after eviction, so eviction cannot free it', () => {
  const budget = new ByteBudget(200);
  const cache = new ObjectCache({ maxBytes: 200, budget, ttlMs: 0 });
  budget.setEvictor(() => evictOldestOf([cache]));
  const body = cachedBlock(cache, budget, 'a', '"e"', 0, 150);
  const reading = body.hold();
  assert.equal(ObjectBody.reserve(100, budget), undefined, 'evicting the block frees nothing while it is read');
  assert.equal(cache.block('a', '"e"', 0), undefined, 'it was evicted all the same');
  reading();
  assert.ok(ObjectBody.reserve(100, budget), 'once read, its memory is free');
});

test('metadata is fresh, due for a check, expired, then dropped after the stale-if-error window', () => {
  let now = 0;
  const budget = new ByteBudget(1000);
  const cache = new ObjectCache({ maxBytes: 1000, budget, ttlMs: 100, revalidateAfterMs: 50, staleIfErrorMs: 30, now: () => now });
  const key = objectKey('b', 'k');
  const cached = cache.setMeta(key, meta('"v1"', 10));
  assert.ok(cached);
  assert.equal(cache.lookup(key)?.freshness, 'fresh');
  now = 60;
  assert.equal(cache.lookup(key)?.freshness, 'due');
  cache.revalidated(key, cached);
  assert.equal(cache.lookup(key)?.freshness, 'fresh', 'a check restarts the clock');
  now = 165;
  assert.equal(cache.lookup(key)?.freshness, 'expired');
  now = 200;
  assert.equal(cache.lookup(key), undefined);
  assert.equal(budget.used, 0);
});

test('a tier refuses a block larger than itself, and the block is not left counted for it', () => {
  const budget = new ByteBudget(1000);
  const cache = new ObjectCache({ maxBytes: 100, budget, ttlMs: 0 });
  const body = block(budget, 150);
  assert.equal(cache.setBlock('a', '"e"', 0, body), false);
  assert.equal(budget.used, 0);
});
