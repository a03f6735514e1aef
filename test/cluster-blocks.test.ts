import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { BigObject, MIB, putBigObject, readAll } from '../test-support/big-object.js';
import { startCluster, type TestCluster } from '../test-support/cluster.js';

const BUCKET = 'test';
const BLOCK_BYTES = MIB;

let cluster: TestCluster;

before(async () => {
  cluster = await startCluster(3, ['--block-size', String(BLOCK_BYTES / MIB)]);
});

after(() => cluster?.close());

/** Puts the object straight into the upstream, behind the nodes' back, and returns its ETag there. */
async function seed(key: string, object: BigObject): Promise<string> {
  await putBigObject(cluster.upstreamEndpoint, BUCKET, key, object);
  const head = await request(`${cluster.upstreamEndpoint.origin}/${BUCKET}/${key}`, { method: 'HEAD' });
  await head.body.dump();
  assert.equal(head.statusCode, 200);
  return head.headers.etag as string;
}

/** The Range header of every block of an object of `size` bytes: aligned, the last one short. */
function blockRanges(size: number): string[] {
  return Array.from({ length: Math.ceil(size / BLOCK_BYTES) }, (_, i) => `bytes=${i * BLOCK_BYTES}-${Math.min(size, (i + 1) * BLOCK_BYTES) - 1}`);
}

/**
 * Every block of the key was fetched from the upstream exactly once, by a ranged GET, and nothing
 * else of it was; every fetch but the one that learnt the object (block 0) was pinned to its ETag.
 */
function assertEachBlockFetchedOnce(key: string, size: number, etag: string): void {
  const gets = cluster.front.requests.filter((r) => r.method === 'GET' && r.path === `/${BUCKET}/${key}`);
  const fetches = new Map<string, number>();
  for (const get of gets) {
    const range = get.headers.range ?? '(no Range)';
    fetches.set(range, (fetches.get(range) ?? 0) + 1);
  }
  const expected = blockRanges(size);
  const wrong = [...fetches].filter(([range, count]) => count !== 1 || !expected.includes(range)).map(([range, count]) => `${range} x${count}`);
  const missing = expected.filter((range) => !fetches.has(range));
  assert.ok(
    wrong.length === 0 && missing.length === 0,
    `upstream GETs of ${key}: not a block or more than once: [${wrong.join(', ')}]; blocks never fetched: [${missing.join(', ')}]`,
  );
  const unpinned = gets.filter((get) => get.headers['if-match'] !== etag).map((get) => get.headers.range);
  assert.ok(unpinned.length === 0 || (unpinned.length === 1 && unpinned[0] === expected[0]), `block fetches without If-Match: ${etag}: ${unpinned.join(', ')}`);
}

/** Bytes each node holds in its own (main) cache: what it owns. */
async function ownedBytes(): Promise<number[]> {
  return Promise.all(
    cluster.urls.map(async (url) => {
      const status = (await (await fetch(`${url}/_falcon/status`)).json()) as { cache: { bytes: number } };
      return status.cache.bytes;
    }),
  );
}

interface Read {
  node: number;
  range?: { header: string; start: number; end: number };
}

/** Reads through a node and checks status, length and SHA-256 of what arrived. */
async function readAndVerify(key: string, object: BigObject, read: Read): Promise<void> {
  const res = await request(`${cluster.urls[read.node]}/${BUCKET}/${key}`, { headers: read.range ? { range: read.range.header } : {} });
  const start = read.range?.start ?? 0;
  const end = read.range?.end ?? object.size;
  const what = `${key} ${read.range?.header ?? 'whole'} through node ${read.node}`;
  assert.equal(res.statusCode, read.range ? 206 : 200, what);
  const got = await readAll(res.body);
  assert.equal(got.bytes, end - start, what);
  assert.equal(got.sha256, object.sha256(start, end), what);
}

test('reading a large object once through each node fetches every block from the upstream once in all, and each node keeps only its share', async () => {
  const key = 'spread.bin';
  const object = new BigObject(key, 48 * MIB + 12_345);
  const etag = await seed(key, object);
  const before = await ownedBytes();
  cluster.front.reset();

  for (const node of [0, 1, 2]) await readAndVerify(key, object, { node });

  assertEachBlockFetchedOnce(key, object.size, etag);
  const held = (await ownedBytes()).map((bytes, i) => bytes - (before[i] as number));
  console.log(`bytes owned per node: ${held.join(', ')} of ${object.size}`);
  for (const [i, bytes] of held.entries()) assert.ok(bytes < object.size, `node ${i} holds the whole object (${bytes} bytes)`);
  assert.ok(
    held.reduce((a, b) => a + b) >= object.size,
    `the nodes together hold ${held.reduce((a, b) => a + b)} bytes of a ${object.size}-byte object`,
  );
});

test('concurrent whole and ranged reads of a large object through all three nodes still fetch every block from the upstream once', async () => {
  const key = 'together.bin';
  const object = new BigObject(key, 48 * MIB + 777);
  const etag = await seed(key, object);
  cluster.front.reset();

  const size = object.size;
  await Promise.all(
    [
      ...[0, 1, 2, 0, 1, 2].map((node): Read => ({ node })),
      { node: 0, range: { header: 'bytes=5000000-30000000', start: 5_000_000, end: 30_000_001 } },
      { node: 1, range: { header: 'bytes=-100000', start: size - 100_000, end: size } },
      { node: 2, range: { header: `bytes=${20 * MIB}-`, start: 20 * MIB, end: size } },
    ].map((read) => readAndVerify(key, object, read)),
  );

  assertEachBlockFetchedOnce(key, size, etag);
});

test('after a write of a large object through one node, the other nodes serve the new bytes', async () => {
  const key = 'rewritten.bin';
  const old = new BigObject(key, 48 * MIB + 12_345);
  await seed(key, old);
  for (const node of [0, 1, 2]) await readAndVerify(key, old, { node });

  const replacement = new BigObject(`${key} again`, 40 * MIB + 777);
  const put = await request(`${cluster.urls[0]}/${BUCKET}/${key}`, {
    method: 'PUT',
    body: replacement.stream(),
    headers: { 'content-length': String(replacement.size) },
  });
  assert.equal(put.statusCode, 200, await put.body.text());

  await readAndVerify(key, replacement, { node: 1 });
  await readAndVerify(key, replacement, { node: 2, range: { header: 'bytes=10000000-20000000', start: 10_000_000, end: 20_000_001 } });
  await readAndVerify(key, replacement, { node: 0 });
});
