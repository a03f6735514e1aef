import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteObjectCommand, DeleteObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { sha256, uniqueKey } from '../test-support/bytes.js';
import { type Harness, startHarness } from '../test-support/harness.js';
import { PatternObject, putUpstreamObject } from '../test-support/large-object.js';

const MIB = 1024 * 1024;
/** Every harness here runs with --block-size 1, so objects of a few MiB have several blocks. */
const BLOCK = MIB;

let h: Harness;
let running: Harness | undefined;

/** A fresh node (and upstream) per test, with --block-size 1 and these flags. */
function eachTestStarts(flags: string[] = []): void {
  beforeEach(async () => {
    running = await startHarness({ flags: ['--block-size', '1', ...flags] });
    h = running;
  });
  afterEach(async () => {
    await running?.close();
    running = undefined;
  });
}

interface Stored {
  key: string;
  object: PatternObject;
  etag: string;
}

/** Puts an object of `size` bytes at the upstream directly, streamed. */
async function seed(size: number, key = uniqueKey('blocks'), version = 'v1'): Promise<Stored> {
  const object = new PatternObject(`${key} ${version}`, size);
  return { key, object, etag: await putUpstreamObject(h.upstreamEndpoint, 'test', key, object) };
}

function objectPath(key: string): string {
  return `/test/${key}`;
}

interface Answer {
  status: number;
  headers: Headers;
  body: Buffer;
}

async function send(key: string, headers: Record<string, string> = {}, options: { method?: string; query?: string } = {}): Promise<Answer> {
  const res = await fetch(`${h.falcon.url}/test/${encodeURIComponent(key)}${options.query ?? ''}`, { method: options.method ?? 'GET', headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** The answer, or undefined when the node cut the connection before the whole body arrived. */
async function sendOrCut(key: string, headers: Record<string, string> = {}): Promise<Answer | undefined> {
  try {
    return await send(key, headers);
  } catch {
    return undefined;
  }
}

async function assertWhole(answer: Answer, stored: Stored): Promise<void> {
  assert.equal(answer.status, 200);
  assert.equal(answer.headers.get('etag'), stored.etag);
  assert.equal(answer.headers.get('content-length'), String(stored.object.size));
  assert.equal(sha256(answer.body), await stored.object.sha256(), 'the whole object, byte for byte');
}

/** `first` and `last` are inclusive, as in a Range header. */
function assertRange(answer: Answer, stored: Stored, first: number, last: number): void {
  assert.equal(answer.status, 206);
  assert.equal(answer.headers.get('etag'), stored.etag);
  assert.equal(answer.headers.get('content-range'), `bytes ${first}-${last}/${stored.object.size}`);
  assert.equal(answer.headers.get('content-length'), String(last - first + 1));
  assert.ok(answer.body.equals(stored.object.slice(first, last + 1)), `bytes ${first}-${last} of the object`);
}

function upstreamRequests(): number {
  return h.front.requests.length;
}

/**
 * The block index of every upstream GET of the object, sorted, after checking each asked for one
 * aligned block (the last one short) pinned with If-Match to the object's ETag. The GET that learns an
 * unknown object's metadata (block 0 of a plain GET) cannot know the ETag yet: `firstUnpinned` allows it.
 */
function fetchedBlocks(stored: Stored, { firstUnpinned = false } = {}): number[] {
  const gets = h.front.requests.filter((r) => r.method === 'GET' && r.path === objectPath(stored.key));
  return gets
    .map((r, i) => {
      const range = /^bytes=(\d+)-(\d+)$/.exec(String(r.headers.range ?? ''));
      assert.ok(range, `upstream GET ${i} asks for one range, not ${String(r.headers.range)}`);
      const first = Number(range[1]);
      const last = Number(range[2]);
      assert.equal(first % BLOCK, 0, `upstream range ${range[0]} starts on a block boundary`);
      assert.equal(last, Math.min(first + BLOCK, stored.object.size) - 1, `upstream range ${range[0]} is one whole block`);
      const unpinnedAllowed = firstUnpinned && i === 0 && first === 0;
      if (!(unpinnedAllowed && r.headers['if-match'] === undefined)) assert.equal(r.headers['if-match'], stored.etag, `${range[0]} pinned to the ETag`);
      return first / BLOCK;
    })
    .sort((a, b) => a - b);
}

/**
 * Waits until the node's cache holds `entries` entries (metadata and blocks). A fill goes on reading
 * its whole block after the readers that wanted only part of it have their bytes, so the last answer
 * of a ranged read can come before every block it touched is cached.
 */
async function untilCachedEntries(entries: number): Promise<void> {
  let seen: number | undefined;
  for (let waited = 0; seen !== entries; waited += 10) {
    if (waited > 5000) throw new Error(`gave up waiting for ${entries} cache entries (last seen ${seen})`);
    if (seen !== undefined) await sleep(10);
    const status = (await (await fetch(`${h.falcon.url}/_falcon/status`)).json()) as { cache: { entries: number } };
    seen = status.cache.entries;
  }
}

/** Indexes of the blocks holding bytes `first`..`last` (inclusive). */
function blocksCovering(first: number, last: number): number[] {
  const blocks: number[] = [];
  for (let i = Math.floor(first / BLOCK); i <= Math.floor(last / BLOCK); i++) blocks.push(i);
  return blocks;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 5000) throw new Error(`gave up waiting: ${what}`);
    await sleep(10);
  }
}

describe('large objects are cached as blocks', () => {
  eachTestStarts();

  test('fetches an object of several blocks as aligned ranged GETs pinned to its ETag, then serves it from memory', async () => {
    const stored = await seed(3 * MIB + MIB / 2);
    const miss = await send(stored.key);
    await assertWhole(miss, stored);
    assert.equal(miss.headers.get('x-cache'), 'MISS');
    assert.deepEqual(fetchedBlocks(stored, { firstUnpinned: true }), [0, 1, 2, 3], 'each block once');
    assert.equal(h.front.count('HEAD'), 0, 'the first block brings the metadata');

    const seen = upstreamRequests();
    const hit = await send(stored.key);
    await assertWhole(hit, stored);
    assert.equal(hit.headers.get('x-cache'), 'HIT');
    assert.equal(upstreamRequests(), seen, 'the second GET reaches no upstream');
  });

  test('keeps an object of at most one block whole: one upstream GET, then hits', async () => {
    for (const size of [BLOCK, 1000]) {
      const stored = await seed(size);
      await assertWhole(await send(stored.key), stored);
      assert.equal(h.front.count('GET', objectPath(stored.key)), 1, `${size} bytes: one upstream GET`);
      const hit = await send(stored.key);
      await assertWhole(hit, stored);
      assert.equal(hit.headers.get('x-cache'), 'HIT');
      const range = await send(stored.key, { range: 'bytes=10-19' });
      assertRange(range, stored, 10, 19);
      assert.equal(range.headers.get('x-cache'), 'HIT');
      assert.equal(h.front.count('GET', objectPath(stored.key)), 1, `${size} bytes: still one upstream GET`);
      assert.equal(h.front.count('HEAD', objectPath(stored.key)), 0);
    }
  });

  test('answers HEAD and conditional GETs on a cached large object without the upstream', async () => {
    const stored = await seed(2 * MIB + MIB / 2);
    await assertWhole(await send(stored.key), stored);
    h.front.reset();

    const head = await send(stored.key, {}, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('etag'), stored.etag);
    assert.equal(head.headers.get('content-length'), String(stored.object.size));
    const lastModified = new Date(head.headers.get('last-modified') ?? '');
    assert.ok(!Number.isNaN(lastModified.getTime()), 'Last-Modified on HEAD');
    const past = new Date(lastModified.getTime() - 3_600_000).toUTCString();
    const future = new Date(lastModified.getTime() + 3_600_000).toUTCString();

    const expect = async (headers: Record<string, string>, status: number, code?: string): Promise<Answer> => {
      const answer = await send(stored.key, headers);
      assert.equal(answer.status, status, JSON.stringify(headers));
      if (code !== undefined) assert.match(answer.body.toString(), new RegExp(`<Code>${code}</Code>`));
      return answer;
    };
    await expect({ 'if-none-match': stored.etag }, 304);
    await expect({ 'if-match': '"0123456789abcdef0123456789abcdef"' }, 412, 'PreconditionFailed');
    await expect({ 'if-modified-since': future }, 304);
    await expect({ 'if-unmodified-since': past }, 412, 'PreconditionFailed');
    await assertWhole(await expect({ 'if-match': stored.etag }, 200), stored);
    await assertWhole(await expect({ 'if-none-match': '"0123456789abcdef0123456789abcdef"' }, 200), stored);
    await assertWhole(await expect({ 'if-modified-since': past }, 200), stored);
    await assertWhole(await expect({ 'if-unmodified-since': future }, 200), stored);
    assert.equal(upstreamRequests(), 0, 'answered from the cached metadata and blocks');
  });

  test('answers HEAD and failing conditionals from cached metadata when only one block is cached', async () => {
    const stored = await seed(4 * MIB + 1);
    assertRange(await send(stored.key, { range: 'bytes=0-9' }), stored, 0, 9);
    h.front.reset();
    const head = await send(stored.key, {}, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(stored.object.size));
    assert.equal(head.headers.get('etag'), stored.etag);
    const lastModified = new Date(head.headers.get('last-modified') ?? '').getTime();
    assert.equal((await send(stored.key, { 'if-none-match': stored.etag })).status, 304);
    const mismatch = await send(stored.key, { 'if-match': '"0123456789abcdef0123456789abcdef"' });
    assert.equal(mismatch.status, 412);
    assert.match(mismatch.body.toString(), /<Code>PreconditionFailed<\/Code>/);
    assert.equal((await send(stored.key, { 'if-modified-since': new Date(lastModified + 3_600_000).toUTCString() })).status, 304);
    assert.equal((await send(stored.key, { 'if-unmodified-since': new Date(lastModified - 3_600_000).toUTCString() })).status, 412);
    assert.equal(upstreamRequests(), 0, 'no data and no metadata fetched');
  });

  test('forwards a partNumber GET of a cached large object uncached', async () => {
    const stored = await seed(2 * MIB + 10);
    await assertWhole(await send(stored.key), stored);
    h.front.reset();
    const part = await send(stored.key, {}, { query: '?partNumber=1' });
    assert.equal(part.headers.get('x-cache'), 'BYPASS');
    assert.equal(h.front.requests.filter((r) => r.method === 'GET' && r.query.includes('partNumber=1')).length, 1);
  });

  test('reports block reads and upstream bytes in the metrics', async () => {
    const stored = await seed(3 * MIB + MIB / 2);
    const before = await blockMetrics();
    await assertWhole(await send(stored.key), stored);
    const cold = await blockMetrics();
    await assertWhole(await send(stored.key), stored);
    const warm = await blockMetrics();
    assert.ok(cold.miss > before.miss, `block misses counted: ${JSON.stringify({ before, cold })}`);
    assert.ok(cold.upstreamBytes - before.upstreamBytes >= stored.object.size, `upstream bytes counted: ${JSON.stringify({ before, cold })}`);
    assert.ok(warm.hit > cold.hit, `block hits counted: ${JSON.stringify({ cold, warm })}`);
    assert.equal(warm.upstreamBytes, cold.upstreamBytes, 'a warm read adds no upstream bytes');
  });
});

/** Sums of falcon_block_reads_total by outcome (over tiers) and falcon_upstream_bytes_total (over labels). */
async function blockMetrics(): Promise<{ hit: number; miss: number; upstreamBytes: number }> {
  const text = await (await fetch(`${h.falcon.url}/_falcon/metrics`)).text();
  const sum = (name: string, label?: string): number => {
    let total = 0;
    for (const line of text.split('\n')) {
      const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
      if (m?.[1] !== name || (label !== undefined && !(m[2] ?? '').includes(label))) continue;
      total += Number(m[3]);
    }
    return total;
  };
  return {
    hit: sum('falcon_block_reads_total', 'outcome="hit"'),
    miss: sum('falcon_block_reads_total', 'outcome="miss"'),
    upstreamBytes: sum('falcon_upstream_bytes_total'),
  };
}

describe('the object size no longer decides what is cached', () => {
  eachTestStarts(['--max-cache-size', '64']);

  test('caches a 20 MiB object through a 64 MiB cache without --max-object-size: the second GET reaches no upstream', async () => {
    const stored = await seed(20 * MIB);
    await assertWhole(await send(stored.key), stored);
    const seen = upstreamRequests();
    const hit = await send(stored.key);
    await assertWhole(hit, stored);
    assert.equal(hit.headers.get('x-cache'), 'HIT');
    assert.equal(upstreamRequests(), seen);
  });
});

describe('ranged GETs fetch only the blocks they need', () => {
  eachTestStarts();

  const SIZE = 5 * MIB + MIB / 2;

  test('a range of an uncached object costs one HEAD and the covering blocks, and gets exactly its bytes', async () => {
    const cases: Array<{ range: string; first: number; last: number }> = [
      { range: 'bytes=1048676-1048775', first: 1048676, last: 1048775 },
      { range: 'bytes=1048000-3146000', first: 1048000, last: 3146000 },
      { range: 'bytes=-1000', first: SIZE - 1000, last: SIZE - 1 },
      { range: 'bytes=4194400-', first: 4194400, last: SIZE - 1 },
    ];
    for (const { range, first, last } of cases) {
      const stored = await seed(SIZE);
      const answer = await send(stored.key, { range });
      assertRange(answer, stored, first, last);
      assert.equal(answer.headers.get('x-cache'), 'MISS', range);
      assert.equal(h.front.count('HEAD', objectPath(stored.key)), 1, `${range}: the metadata from one HEAD`);
      assert.deepEqual(fetchedBlocks(stored), blocksCovering(first, last), `${range}: only the covering blocks`);
    }
  });

  test('ranges inside cached blocks reach no upstream', async () => {
    const stored = await seed(SIZE);
    assertRange(await send(stored.key, { range: 'bytes=1048000-3146000' }), stored, 1048000, 3146000);
    assert.deepEqual(fetchedBlocks(stored), [0, 1, 2, 3]);
    await untilCachedEntries(1 + 4);
    h.front.reset();
    for (const [first, last] of [
      [10, 20],
      [2 * MIB, 3 * MIB - 1],
      [1048000, 3146000],
      [0, 4 * MIB - 1],
      [BLOCK - 1, BLOCK],
    ] as const) {
      const answer = await send(stored.key, { range: `bytes=${first}-${last}` });
      assertRange(answer, stored, first, last);
      assert.equal(answer.headers.get('x-cache'), 'HIT');
    }
    assert.equal(upstreamRequests(), 0);
  });

  test('answers a range starting at or past the end of an uncached object with 416 InvalidRange', async () => {
    const stored = await seed(2 * MIB + MIB / 2);
    for (const range of ['bytes=3000000-3000100', `bytes=${stored.object.size}-`]) {
      const answer = await send(stored.key, { range });
      assert.equal(answer.status, 416, range);
      const xml = answer.body.toString();
      assert.match(xml, /<Code>InvalidRange<\/Code>/);
      assert.match(xml, new RegExp(`<ActualObjectSize>${stored.object.size}</ActualObjectSize>`));
    }
    assert.equal(h.front.count('GET', objectPath(stored.key)), 0, 'no block fetched for an empty range');
    assert.equal(h.front.count('HEAD', objectPath(stored.key)), 1, 'the second answer came from cached metadata');
  });

  test('concurrent GETs of an uncached large object fetch each block from the upstream once', async () => {
    const stored = await seed(4 * MIB + MIB / 2);
    h.front.inject({ method: 'GET', path: objectPath(stored.key), fault: { kind: 'delay', ms: 300 } });
    const answers = await Promise.all(Array.from({ length: 8 }, () => send(stored.key)));
    for (const answer of answers) await assertWhole(answer, stored);
    assert.deepEqual(fetchedBlocks(stored, { firstUnpinned: true }), [0, 1, 2, 3, 4]);
  });

  test('concurrent overlapping ranges of an uncached object fetch each covering block once', async () => {
    const stored = await seed(6 * MIB);
    h.front.inject({ method: 'GET', path: objectPath(stored.key), fault: { kind: 'delay', ms: 300 } });
    const ranges = Array.from({ length: 8 }, (_, i) => ({ first: i * 600_000 + 7, last: i * 600_000 + 7 + 3 * MIB / 2 }));
    const answers = await Promise.all(ranges.map(({ first, last }) => send(stored.key, { range: `bytes=${first}-${last}` })));
    ranges.forEach(({ first, last }, i) => {
      const answer = answers[i];
      assert.ok(answer);
      assertRange(answer, stored, first, last);
    });
    const covering = [...new Set(ranges.flatMap(({ first, last }) => blocksCovering(first, last)))].sort((a, b) => a - b);
    assert.deepEqual(fetchedBlocks(stored), covering);
  });

  test('answers Range with If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since and If-Range from cached metadata', async () => {
    const stored = await seed(SIZE);
    await assertWhole(await send(stored.key), stored);
    h.front.reset();
    const lastModified = new Date((await send(stored.key, {}, { method: 'HEAD' })).headers.get('last-modified') ?? '').getTime();
    const past = new Date(lastModified - 3_600_000).toUTCString();
    const future = new Date(lastModified + 3_600_000).toUTCString();
    const other = '"0123456789abcdef0123456789abcdef"';
    const range = 'bytes=1048000-2097999';
    const ranged = async (headers: Record<string, string>): Promise<Answer> => send(stored.key, { range, ...headers });

    assertRange(await ranged({ 'if-match': stored.etag }), stored, 1048000, 2097999);
    assertRange(await ranged({ 'if-none-match': other }), stored, 1048000, 2097999);
    assertRange(await ranged({ 'if-modified-since': past }), stored, 1048000, 2097999);
    assertRange(await ranged({ 'if-unmodified-since': future }), stored, 1048000, 2097999);
    assertRange(await ranged({ 'if-range': stored.etag }), stored, 1048000, 2097999);
    const failed = await ranged({ 'if-match': other });
    assert.equal(failed.status, 412);
    assert.match(failed.body.toString(), /<Code>PreconditionFailed<\/Code>/);
    assert.equal((await ranged({ 'if-unmodified-since': past })).status, 412);
    assert.equal((await ranged({ 'if-none-match': stored.etag })).status, 304);
    assert.equal((await ranged({ 'if-modified-since': future })).status, 304);
    await assertWhole(await ranged({ 'if-range': other }), stored);
    assert.equal(upstreamRequests(), 0);
  });
});

describe('an object changed at the upstream behind the node', () => {
  eachTestStarts();

  const SIZE = 3 * MIB + MIB / 2;

  for (const { name, first, last } of [
    { name: 'a range in an uncached block', first: 2 * MIB + 5, last: 2 * MIB + 104 },
    { name: 'a range from a cached block into an uncached one', first: 1048000, last: 1049000 },
  ]) {
    test(`${name}, after an overwrite at the upstream, is answered wholly from the new version or cut`, async () => {
      const old = await seed(SIZE);
      assertRange(await send(old.key, { range: 'bytes=0-99' }), old, 0, 99);
      assert.deepEqual(fetchedBlocks(old), [0], 'metadata and block 0 cached');
      const fresh = await seed(SIZE, old.key, 'v2');
      assert.notEqual(fresh.etag, old.etag);

      const answer = await sendOrCut(old.key, { range: `bytes=${first}-${last}` });
      if (answer !== undefined) assertRange(answer, fresh, first, last);
      const whole = await send(old.key);
      await assertWhole(whole, fresh);
      assertRange(await send(old.key, { range: 'bytes=0-99' }), fresh, 0, 99);
      await assertWhole(await send(old.key), fresh);
    });
  }
});

describe('a slow reader of an object changed at the upstream', () => {
  eachTestStarts(['--readahead-blocks', '2']);

  test('receives a prefix of the old version or a cut response, never bytes of both', async () => {
    const SIZE = 24 * MIB;
    const old = await seed(SIZE);
    const replacement = await seed(SIZE, uniqueKey('replacement'), 'v2');
    const reading = slowRead(old.key);
    await reading.paused;
    // From now on the upstream holds the other bytes under this key, as after an atomic overwrite.
    h.front.inject({ path: objectPath(old.key), fault: { kind: 'serve-path', path: objectPath(replacement.key) } });
    reading.resume();
    const received = await reading.done;

    assert.equal(received.status, 200);
    assert.equal(received.foreignAt, undefined, `byte ${received.foreignAt} is not the old version's`);
    // Two blocks of read-ahead and a few MiB in socket buffers are far from 24 MiB: the node had to
    // fetch later blocks after the change, and could only cut the response.
    assert.ok(received.bytes < SIZE, 'the response was cut');
    assert.equal(received.complete, false, 'a short body is never presented as complete');
    const now = await send(old.key);
    assert.equal(now.status, 200);
    assert.equal(now.headers.get('etag'), replacement.etag);
    assert.equal(sha256(now.body), await replacement.object.sha256());

    /** Reads the old version's GET, pausing after its first MiB until resumed; checks every byte against the old version. */
    function slowRead(key: string) {
      let resume = (): void => undefined;
      let markPaused = (): void => undefined;
      const paused = new Promise<void>((resolve) => (markPaused = resolve));
      const done = new Promise<{ status: number; bytes: number; complete: boolean; foreignAt: number | undefined }>((resolve, reject) => {
        const req = httpRequest(`${h.falcon.url}/test/${encodeURIComponent(key)}`, (res) => {
          let bytes = 0;
          let foreignAt: number | undefined;
          let pausedOnce = false;
          res.on('data', (chunk: Buffer) => {
            if (foreignAt === undefined && !old.object.matchesAt(bytes, chunk)) foreignAt = bytes;
            bytes += chunk.length;
            if (bytes >= MIB && !pausedOnce) {
              pausedOnce = true;
              res.pause();
              resume = () => void res.resume();
              markPaused();
            }
          });
          res.on('error', () => undefined);
          res.on('close', () => resolve({ status: res.statusCode ?? 0, bytes, complete: res.complete, foreignAt }));
        });
        req.on('error', reject);
        req.end();
      });
      return { paused, done, resume: () => resume() };
    }
  });
});

describe('writes through the node', () => {
  eachTestStarts();

  const SIZE = 3 * MIB + MIB / 2;

  async function cached(): Promise<Stored> {
    const stored = await seed(SIZE);
    await assertWhole(await send(stored.key), stored);
    assertRange(await send(stored.key, { range: 'bytes=0-99' }), stored, 0, 99);
    return stored;
  }

  test('a PUT through the node drops the cached blocks: the next GET refetches the new bytes', async () => {
    const old = await cached();
    const next = new PatternObject(`${old.key} v2`, SIZE);
    const put = await h.s3.send(new PutObjectCommand({ Bucket: 'test', Key: old.key, Body: next.slice(0, SIZE) }));
    const fresh: Stored = { key: old.key, object: next, etag: put.ETag ?? '' };
    h.front.reset();
    assertRange(await send(old.key, { range: 'bytes=0-99' }), fresh, 0, 99);
    const whole = await send(old.key);
    await assertWhole(whole, fresh);
    assert.ok(h.front.count('GET', objectPath(old.key)) > 0, 'the new version came from the upstream');
  });

  test('a DELETE through the node drops the cached metadata and blocks', async () => {
    const old = await cached();
    await h.s3.send(new DeleteObjectCommand({ Bucket: 'test', Key: old.key }));
    for (const headers of [{}, { range: 'bytes=0-99' }, { range: 'bytes=2097152-2097251' }] as Array<Record<string, string>>) {
      const answer = await send(old.key, headers);
      assert.equal(answer.status, 404, JSON.stringify(headers));
      assert.match(answer.body.toString(), /<Code>NoSuchKey<\/Code>/);
    }
    const again = await seed(SIZE, old.key, 'v3');
    await assertWhole(await send(old.key), again);
  });

  test('a DeleteObjects through the node drops the cached metadata and blocks of every key', async () => {
    const first = await cached();
    const second = await cached();
    await h.s3.send(new DeleteObjectsCommand({ Bucket: 'test', Delete: { Objects: [{ Key: first.key }, { Key: second.key }] } }));
    for (const stored of [first, second]) {
      for (const headers of [{}, { range: 'bytes=0-99' }] as Array<Record<string, string>>) assert.equal((await send(stored.key, headers)).status, 404, `${stored.key} ${JSON.stringify(headers)}`);
    }
  });

  test('a first block still arriving when the object is overwritten through the node never lands in the cache', async () => {
    const old = await seed(SIZE);
    // Block 0, which brings the metadata, is read from the upstream at once and relayed slowly; the
    // other blocks reach the upstream only after the write (s3rver rewrites the file in place, so a
    // read during the write would get torn bytes under the old ETag, which no gateway could notice).
    let writeDone = (): void => undefined;
    const written = new Promise<void>((resolve) => (writeDone = resolve));
    h.front.inject({ method: 'GET', path: objectPath(old.key), fault: { kind: 'slow-body', pieces: 4, gapMs: 250 }, times: 1 });
    h.front.inject({ method: 'GET', path: objectPath(old.key), fault: { kind: 'hold', until: written } });
    const reading = sendOrCut(old.key);
    await until(() => h.front.slowBodyInProgress, 'block 0 on its way');
    const next = new PatternObject(`${old.key} v2`, SIZE);
    const put = await h.s3.send(new PutObjectCommand({ Bucket: 'test', Key: old.key, Body: next.slice(0, SIZE) }));
    writeDone();
    const fresh: Stored = { key: old.key, object: next, etag: put.ETag ?? '' };

    const during = await reading;
    if (during !== undefined) {
      assert.equal(during.status, 200);
      const version = during.headers.get('etag') === old.etag ? old : fresh;
      await assertWhole(during, version);
    }
    h.front.reset();
    assertRange(await send(old.key, { range: 'bytes=0-99' }), fresh, 0, 99);
    await assertWhole(await send(old.key), fresh);
  });
});

describe('reads of a few ranges of a large object', () => {
  eachTestStarts();

  const SIZE = 64 * MIB;

  test('a 1 MiB range at a random offset of an uncached 64-block object fetches at most two blocks', async (t) => {
    const stored = await seed(SIZE);
    const first = Math.floor(Math.random() * (SIZE - MIB));
    const last = first + MIB - 1;
    t.diagnostic(`range bytes=${first}-${last}`);
    const relayedBefore = h.front.bytesRelayed;
    assertRange(await send(stored.key, { range: `bytes=${first}-${last}` }), stored, first, last);
    assert.deepEqual(fetchedBlocks(stored), blocksCovering(first, last));
    assert.ok(h.front.bytesRelayed - relayedBefore <= 2 * BLOCK, `${h.front.bytesRelayed - relayedBefore} bytes fetched upstream`);
  });

  test('a Parquet-like read (footer, then 20 scattered 2 MiB ranges, twice) fetches each covering block once', async () => {
    const stored = await seed(SIZE);
    const footer = { first: SIZE - 64 * 1024, last: SIZE - 1 };
    // Scattered, unaligned, deterministic: multiples of the golden ratio modulo 1.
    const chunks = Array.from({ length: 20 }, (_, i) => {
      const first = Math.floor((((i + 1) * 0.618033988749895) % 1) * (SIZE - 2 * MIB));
      return { first, last: first + 2 * MIB - 1 };
    });
    const readAll = async (): Promise<Answer[]> => {
      const answers = [await send(stored.key, { range: 'bytes=-65536' })];
      answers.push(...(await Promise.all(chunks.map(({ first, last }) => send(stored.key, { range: `bytes=${first}-${last}` })))));
      [footer, ...chunks].forEach(({ first, last }, i) => {
        const answer = answers[i];
        assert.ok(answer);
        assertRange(answer, stored, first, last);
      });
      return answers;
    };

    const relayedBefore = h.front.bytesRelayed;
    await readAll();
    const covering = [...new Set([footer, ...chunks].flatMap(({ first, last }) => blocksCovering(first, last)))].sort((a, b) => a - b);
    assert.deepEqual(fetchedBlocks(stored), covering, 'each covering block once, no other');
    assert.equal(h.front.count('HEAD', objectPath(stored.key)), 1);
    assert.ok(h.front.bytesRelayed - relayedBefore <= covering.length * BLOCK);

    await untilCachedEntries(1 + covering.length);
    h.front.reset();
    for (const answer of await readAll()) assert.equal(answer.headers.get('x-cache'), 'HIT');
    assert.equal(upstreamRequests(), 0, 'the second pass reaches no upstream');
  });
});
