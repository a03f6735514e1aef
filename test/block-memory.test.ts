import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { request } from 'undici';
import { BigObject, GIB, MIB, type ReadPacing, bigObjectsDirectory, readAll, storeBigObject } from '../test-support/big-object.js';
import { buildFalcon, type FalconProcess, startFalconProcess } from '../test-support/falcon-process.js';
import { LOCAL_UPSTREAM_CREDENTIALS, type LocalUpstream, startLocalUpstream } from '../src/upstream/local-upstream.js';

const KIB = 1024;
const BUCKET = 'test';
const BLOCK_BYTES = 4 * MIB;

/** Objects of every shape: whole-object sizes, one block, a block and a byte, many cacheable mid sizes, larger than the cache. */
const OBJECTS: Record<string, number> = {
  'tiny-1k': KIB,
  'small-64k': 64 * KIB + 7,
  'one-block': BLOCK_BYTES,
  'one-block-and-a-byte': BLOCK_BYTES + 1,
  // Fourteen of 30 MiB: more than a 256 MiB cache, each small enough to have been cached whole before blocks.
  ...Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`mid-${i}`, 30 * MIB + 4099 * i + 1])),
  'quarter-gib': 256 * MIB + 12_345,
  'two-gib': 2 * GIB,
  'three-gib': 3 * GIB,
};

let dir: string;
let upstream: LocalUpstream;
/** The compiled node, as the image runs it: the memory measured is Falcon's, not a TypeScript loader's. */
let build: Awaited<ReturnType<typeof buildFalcon>>;
const seeded = new Map<string, { object: BigObject; sha256: string }>();

before(async () => {
  build = await buildFalcon();
  dir = await bigObjectsDirectory('falcon-block-memory-', Object.values(OBJECTS).reduce((a, b) => a + b));
  upstream = await startLocalUpstream(join(dir, 'data'), [BUCKET]);
  for (const [key, size] of Object.entries(OBJECTS)) {
    const object = new BigObject(key, size);
    seeded.set(key, { object, sha256: (await storeBigObject(join(dir, 'data'), BUCKET, key, object)).sha256 });
  }
});

after(async () => {
  await build?.remove();
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
});

/** Resident memory of a process from /proc: its peak (VmHWM) or current (VmRSS) size. */
async function rssBytes(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1]);
  assert.ok(kb > 0, `${field} readable`);
  return kb * 1024;
}

function startNode(cacheMiB: number): Promise<FalconProcess> {
  return startFalconProcess(
    [
      '--host', '127.0.0.1',
      '--port', '0',
      '--anonymous',
      '--s3-endpoint', upstream.endpoint.origin,
      '--s3-force-path-style',
      '--s3-checksum-trailers', 'false',
      '--max-cache-size', String(cacheMiB),
      // Slow readers hold the upstream connections they share with fast ones.
      '--timeout', '120000',
    ],
    { AWS_ACCESS_KEY_ID: LOCAL_UPSTREAM_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_UPSTREAM_CREDENTIALS.secretAccessKey },
    { cli: build.cli },
  );
}

/** The bound: the cache size with 15% of slack, plus 100 MiB for the process itself. */
function peakBound(cacheMiB: number, _restBytes: number): number {
  return cacheMiB * MIB * 1.15 + 100 * MIB;
}

/** One read: a whole object or a range, read fast or with pauses. */
interface Read {
  key: string;
  /** Range header and the bytes it selects, [start, end). */
  range?: { header: string; start: number; end: number };
  slow?: Omit<ReadPacing, 'bytes'>;
}

const bytes = (start: number, last: number) => ({ header: `bytes=${start}-${last}`, start, end: last + 1 });
/** The last `length` bytes, named explicitly: s3rver answers a suffix range (bytes=-N) with the first bytes. */
const last = (key: string, length: number) => {
  const size = OBJECTS[key] as number;
  return bytes(size - length, size - 1);
};
const from = (key: string, start: number) => ({ header: `bytes=${start}-`, start, end: OBJECTS[key] as number });

/** Reads through the node and checks status, length and SHA-256 of every byte received. */
async function readAndVerify(url: string, read: Read, expectedSha256: string): Promise<void> {
  const { object } = seeded.get(read.key) as { object: BigObject };
  // A node that stops sending fails the read within two minutes rather than hanging the suite.
  const res = await request(`${url}/${BUCKET}/${read.key}`, {
    headers: read.range ? { range: read.range.header } : {},
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
  });
  const start = read.range?.start ?? 0;
  const end = read.range?.end ?? object.size;
  const what = `${read.key} ${read.range?.header ?? 'whole'}${read.slow ? ' (slow)' : ''}`;
  assert.equal(res.statusCode, read.range ? 206 : 200, what);
  if (read.range) assert.equal(res.headers['content-range'], `bytes ${start}-${end - 1}/${object.size}`, what);
  const got = await readAll(res.body, read.slow && { ...read.slow, bytes: end - start });
  assert.equal(got.bytes, end - start, what);
  assert.equal(got.sha256, expectedSha256, what);
}

/** What each read must hash to, computed before the clients start so that hashing does not pace them. */
function expectedHashes(clients: readonly (readonly Read[])[]): Map<Read, string> {
  const hashes = new Map<Read, string>();
  for (const read of clients.flat()) {
    const { object, sha256 } = seeded.get(read.key) as { object: BigObject; sha256: string };
    hashes.set(read, read.range ? object.sha256(read.range.start, read.range.end) : sha256);
  }
  return hashes;
}

/** Runs every client at once, each doing its reads one after the other. */
async function runClients(url: string, clients: readonly (readonly Read[])[]): Promise<void> {
  const hashes = expectedHashes(clients);
  await Promise.all(
    clients.map(async (reads) => {
      for (const read of reads) await readAndVerify(url, read, hashes.get(read) as string);
    }),
  );
}

/** Peak RSS of the node, checked against the bound for its cache size. */
async function assertPeakBounded(falcon: FalconProcess, cacheMiB: number, restBytes: number, what: string): Promise<void> {
  const peak = await rssBytes(falcon.child.pid as number, 'VmHWM');
  const bound = peakBound(cacheMiB, restBytes);
  const mib = (n: number): number => Math.round(n / MIB);
  console.log(`falcon RSS: ${mib(restBytes)} MiB at rest, peak ${mib(peak)} MiB ${what} (bound ${mib(bound)} MiB)`);
  assert.ok(peak < bound, `peak RSS ${mib(peak)} MiB, bound ${mib(bound)} MiB`);
}

const SLOW = { pauses: 6, pauseMs: 250 };

test('32 clients reading 1 KiB to 2 GiB objects, whole and ranged, fast and slow, get every byte right from a --max-cache-size 256 node whose peak RSS stays under 256 MiB x 1.15 + 100 MiB', async (t) => {
  const clients: Read[][] = [
    [{ key: 'tiny-1k' }],
    [{ key: 'small-64k' }],
    [{ key: 'small-64k', range: bytes(100, 60_000), slow: SLOW }],
    [{ key: 'one-block' }],
    [{ key: 'one-block-and-a-byte' }],
    // Across the boundary into the one-byte last block.
    [{ key: 'one-block-and-a-byte', range: bytes(BLOCK_BYTES - 4, BLOCK_BYTES) }],
    // Each reads two of the 30 MiB objects in turn: the second pass finds some evicted, filling again
    // while the cache is full.
    ...Array.from({ length: 14 }, (_, i): Read[] => {
      const slow = i % 2 === 1 ? SLOW : undefined;
      return [{ key: `mid-${i}`, slow }, { key: `mid-${(i + 7) % 14}`, slow }];
    }),
    [{ key: 'mid-2', range: bytes(5_000_000, 25_000_000), slow: SLOW }],
    [{ key: 'quarter-gib' }],
    [{ key: 'quarter-gib', slow: SLOW }],
    [{ key: 'quarter-gib', range: last('quarter-gib', 64 * KIB) }],
    // One byte (not bytes=0-0, which s3rver answers with the whole object).
    [{ key: 'quarter-gib', range: bytes(7, 7) }],
    [{ key: 'quarter-gib', range: bytes(100 * MIB + 3, 150 * MIB), slow: SLOW }],
    [{ key: 'two-gib' }],
    // Slow on the blocks the whole read above fetches first.
    [{ key: 'two-gib', range: bytes(0, 512 * MIB - 1), slow: SLOW }],
    // A columnar reader: the footer, then column chunks.
    [
      { key: 'two-gib', range: last('two-gib', 64 * KIB) },
      { key: 'two-gib', range: bytes(1_234_567_890, 1_234_567_890 + MIB - 1) },
      { key: 'two-gib', range: bytes(345_678_901, 345_678_901 + 2 * MIB - 1) },
    ],
    // A part of a parallel download.
    [{ key: 'two-gib', range: bytes(8 * MIB, 16 * MIB - 1) }],
    [{ key: 'two-gib', range: bytes(GIB + 12_345, GIB + 12_345 + 48 * MIB - 1), slow: SLOW }],
    [{ key: 'two-gib', range: from('two-gib', 2 * GIB - 3 * MIB - 5) }],
  ];
  assert.equal(clients.length, 32);

  const falcon = await startNode(256);
  t.after(() => falcon.stop());
  const rest = await rssBytes(falcon.child.pid as number, 'VmRSS');
  await runClients(falcon.url, clients);
  await assertPeakBounded(falcon, 256, rest, 'with 32 clients');
});

test('a 3 GiB object, larger than the whole cache, streams whole and ranged through a --max-cache-size 512 node with bounded RSS', async (t) => {
  const falcon = await startNode(512);
  t.after(() => falcon.stop());
  const rest = await rssBytes(falcon.child.pid as number, 'VmRSS');
  await runClients(falcon.url, [
    [{ key: 'three-gib' }],
    // A second, slow reader on blocks the whole read reaches later.
    [{ key: 'three-gib', range: bytes(GIB + 7, GIB + 7 + 256 * MIB), slow: SLOW }],
  ]);
  await assertPeakBounded(falcon, 512, rest, 'streaming 3 GiB');
});
