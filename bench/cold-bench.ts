import { type ServerProcess, spawnServer } from './child-server.js';
import type { Cleanup } from './cleanup.js';
import { spawnFalcon } from './falcon-build.js';
import { type ReadResponse, readObject } from './full-read.js';
import { MIB, seedLargeObject, sizeLabel } from './large-object.js';
import { processCpuMs } from './process-cpu.js';
import { type ObjectSpec, type SeededObject, seedObjects } from './objects.js';
import { type BenchServer, presignTargets, requestTarget, withTargets } from './presign.js';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../src/upstream/local-upstream.js';
import { BYTES_PER_MB, median, table } from './report.js';

/**
 * Cold misses: reads of objects Falcon has never seen, against the same reads sent straight to the upstream, in
 * the same run and in alternating order. Every read through Falcon is of a key it never read before, so each is a
 * real miss: the time to the first byte of small objects, and the whole read of a large one.
 *
 * Both reads are presigned GETs on a fresh connection, the direct one signed with the upstream's own key: a client
 * reading the upstream itself authenticates too, and the upstream's checking of a signature is part of what a
 * read costs there. The same direct request is also read through a bare proxy (bench/bare-proxy.ts --stream:
 * node:http and undici, nothing checked or cached), the floor under any second hop in front of the upstream.
 *
 * Before anything is measured, `warmupMisses` misses of other small keys are read unmeasured from all three, so
 * that Falcon's read path is measured as a running gateway runs it: V8 compiles a function with its optimizing
 * compiler only after it ran some thousands of times, and a miss runs most of its functions once.
 */

/** Falcon may be at most this much slower than the upstream itself. */
export const COLD_TARGET = 1.1;
const TTFB_SIZES = [
  { label: '1 KiB', bytes: 1024 },
  { label: '1 MiB', bytes: MIB },
] as const;
export const COLD_LARGE_BYTES = 256 * MIB;
const WARMUP_SIZE = TTFB_SIZES[0];
/** Objects seeded at once: the seeding client's connection pool, so that nothing queues behind it. */
const SEED_BATCH = 50;
/** Unmeasured misses of distinct keys of each size, per server, just before its measured ones. */
const WARMUP_MISSES_PER_SIZE = 30;

export interface ColdSettings {
  /** Distinct keys read per size and per server for the time to first byte. */
  ttfbReads: number;
  /** Rounds of the large cold read, each of a freshly seeded object. */
  largeRounds: number;
  /** Unmeasured misses of small distinct keys per server before anything is measured. */
  warmupMisses: number;
}

type ColdServer = 'falcon' | 'upstream' | 'proxy';
const COLD_SERVERS: readonly ColdServer[] = ['falcon', 'upstream', 'proxy'];

export interface ColdRead {
  case: string;
  server: ColdServer;
  round: number;
  /** Which of the three was read first in this round. */
  first: ColdServer;
  firstByteMs: number;
  totalMs: number;
  bytes: number;
  xCache: string | null;
  /** CPU time of Falcon's and the upstream's processes during the read, ms (null where /proc is unavailable). */
  falconCpuMs: number | null;
  upstreamCpuMs: number | null;
}

export interface ColdRatio {
  case: string;
  /** What is compared: the time to the first body byte, or the whole read. */
  measure: 'first byte' | 'total';
  falconMedianMs: number;
  upstreamMedianMs: number;
  proxyMedianMs: number;
  /** Falcon's median over the upstream's: at most `target` is met. */
  ratio: number;
  /** The bare proxy's median over the upstream's: what a second hop alone costs. */
  proxyRatio: number;
  /** Falcon's median over the bare proxy's. */
  falconOverProxy: number;
  target: number;
  met: boolean;
}

export interface ColdResults {
  reads: ColdRead[];
  ratios: ColdRatio[];
}

export interface ColdOutput {
  results: ColdResults;
  problems: string[];
}

interface Servers {
  falcon: BenchServer;
  /** The upstream with its own presigned URLs for the objects read from it. */
  upstream: BenchServer;
  /** The bare proxy, read with the upstream's presigned URLs. */
  proxy: BenchServer;
}

/** The upstream with a GET of each object presigned with the upstream's own key, as a client of it would send. */
async function upstreamWithTargets(upstream: ServerProcess, objects: readonly SeededObject[]): Promise<BenchServer> {
  return { ...upstream, targets: await presignTargets(upstream.url, objects, 1, LOCAL_UPSTREAM_CREDENTIALS) };
}

function spent(before: number | undefined, after: number | undefined): number | null {
  return before === undefined || after === undefined ? null : after - before;
}

/** Falcon, the upstream and the bare proxy, with presigned GETs of `objects`: Falcon's own, and the upstream's for the other two. */
async function serversWithTargets(servers: Servers, objects: readonly SeededObject[]): Promise<Servers> {
  const upstream = await upstreamWithTargets(servers.upstream, objects);
  return { falcon: await withTargets(servers.falcon, objects, 1), upstream, proxy: { ...servers.proxy, targets: upstream.targets } };
}

async function timedColdRead(servers: Servers, server: ColdServer, object: SeededObject): Promise<{ response: ReadResponse; falconCpuMs: number | null; upstreamCpuMs: number | null }> {
  const origin = servers[server].url;
  const target = requestTarget(servers[server], object);
  const [falconBefore, upstreamBefore] = await Promise.all([processCpuMs(servers.falcon.pid), processCpuMs(servers.upstream.pid)]);
  const response = await readObject(origin, target);
  const [falconAfter, upstreamAfter] = await Promise.all([processCpuMs(servers.falcon.pid), processCpuMs(servers.upstream.pid)]);
  return { response, falconCpuMs: spent(falconBefore, falconAfter), upstreamCpuMs: spent(upstreamBefore, upstreamAfter) };
}

/** The three servers in an order that rotates with the round. */
function orderOf(round: number): ColdServer[] {
  const shift = round % COLD_SERVERS.length;
  return [...COLD_SERVERS.slice(shift), ...COLD_SERVERS.slice(0, shift)];
}

async function readEach(servers: Servers, label: string, round: number, objects: Record<ColdServer, SeededObject>, problems: string[]): Promise<ColdRead[]> {
  const order = orderOf(round);
  const reads: ColdRead[] = [];
  for (const server of order) {
    const object = objects[server];
    const { response, falconCpuMs, upstreamCpuMs } = await timedColdRead(servers, server, object);
    const where = `cold read of ${object.path} via ${server} (round ${round})`;
    if (response.status !== 200) problems.push(`${where}: status ${response.status}`);
    if (response.bytes !== object.size) problems.push(`${where}: ${response.bytes} bytes, expected ${object.size}`);
    const xCache = server === 'falcon' ? (response.headers['x-cache'] ?? null) : null;
    if (server === 'falcon' && xCache !== 'MISS') problems.push(`${where}: X-Cache ${JSON.stringify(xCache)}, expected "MISS"`);
    reads.push({
      case: label,
      server,
      round,
      first: order[0] ?? 'falcon',
      firstByteMs: response.firstByteMs,
      totalMs: response.elapsedMs,
      bytes: response.bytes,
      xCache,
      falconCpuMs,
      upstreamCpuMs,
    });
  }
  return reads;
}

function coldRatio(label: string, measure: ColdRatio['measure'], reads: readonly ColdRead[]): ColdRatio {
  const pick = (r: ColdRead): number => (measure === 'first byte' ? r.firstByteMs : r.totalMs);
  const medianOf = (server: ColdServer): number => median(reads.filter((r) => r.server === server).map(pick));
  const [falconMedianMs, upstreamMedianMs, proxyMedianMs] = [medianOf('falcon'), medianOf('upstream'), medianOf('proxy')];
  const over = (a: number, b: number): number => (b === 0 ? 0 : a / b);
  const ratio = over(falconMedianMs, upstreamMedianMs);
  return {
    case: label,
    measure,
    falconMedianMs,
    upstreamMedianMs,
    proxyMedianMs,
    ratio,
    proxyRatio: over(proxyMedianMs, upstreamMedianMs),
    falconOverProxy: over(falconMedianMs, proxyMedianMs),
    target: COLD_TARGET,
    met: ratio > 0 && ratio <= COLD_TARGET,
  };
}

/** Distinct small keys, each read once from every server, nothing measured: the read paths as a running server runs them. */
async function warmUp(servers: Servers, dir: string, misses: number, problems: string[]): Promise<void> {
  if (misses === 0) return;
  console.error(`warming up: ${misses} misses of distinct ${WARMUP_SIZE.label} keys through Falcon, the upstream and the bare proxy, unmeasured...`);
  const specs: ObjectSpec[] = [];
  for (let i = 0; i < misses; i++) {
    for (const server of COLD_SERVERS) specs.push({ label: 'warm-up', key: `cold-warmup-${i}-${server}`, size: WARMUP_SIZE.bytes });
  }
  const seeded = await seedInBatches(servers.upstream, dir, specs);
  const withTargets = await serversWithTargets(servers, seeded);
  for (let i = 0; i < misses; i++) {
    const objects = objectsOfRound(seeded, `cold-warmup-${i}`);
    await readEach(withTargets, 'warm-up', i, objects, problems);
  }
}

/** Seeds `specs` in the upstream, SEED_BATCH at a time. */
async function seedInBatches(upstream: ServerProcess, dir: string, specs: readonly ObjectSpec[]): Promise<SeededObject[]> {
  const seeded: SeededObject[] = [];
  for (let i = 0; i < specs.length; i += SEED_BATCH) seeded.push(...(await seedObjects(new URL(upstream.url), dir, specs.slice(i, i + SEED_BATCH))));
  return seeded;
}

/** The object seeded for each server under `<prefix>-<server>`. */
function objectsOfRound(seeded: readonly SeededObject[], prefix: string): Record<ColdServer, SeededObject> {
  const objectOf = (server: ColdServer): SeededObject => {
    const object = seeded.find((o) => o.path.endsWith(`/${prefix}-${server}`));
    if (object === undefined) throw new Error(`no seeded object ${prefix}-${server}`);
    return object;
  };
  return { falcon: objectOf('falcon'), upstream: objectOf('upstream'), proxy: objectOf('proxy') };
}

/** `reads` distinct keys per server of each small size, every one read once: the time to first byte of a miss. */
async function runFirstBytes(servers: Servers, dir: string, reads: number, problems: string[]): Promise<{ reads: ColdRead[]; ratios: ColdRatio[] }> {
  const all: ColdRead[] = [];
  const ratios: ColdRatio[] = [];
  for (const size of TTFB_SIZES) {
    const label = `first byte of a ${size.label} miss`;
    const specs: ObjectSpec[] = [];
    // A few unmeasured misses of this size first, for what differs between sizes (more chunks, a larger fill).
    const total = WARMUP_MISSES_PER_SIZE + reads;
    for (let i = 0; i < total; i++) {
      for (const server of COLD_SERVERS) specs.push({ label: size.label, key: `cold-${size.bytes}-${i}-${server}`, size: size.bytes });
    }
    const seeded = await seedInBatches(servers.upstream, dir, specs);
    const targeted = await serversWithTargets(servers, seeded);
    console.error(
      `${label}: ${WARMUP_MISSES_PER_SIZE} unmeasured misses, then ${reads} distinct keys through Falcon, ${reads} straight from the upstream and ${reads} through the bare proxy (order rotates)...`,
    );
    const measured: ColdRead[] = [];
    for (let i = 0; i < total; i++) {
      const round = await readEach(targeted, label, i, objectsOfRound(seeded, `cold-${size.bytes}-${i}`), problems);
      if (i >= WARMUP_MISSES_PER_SIZE) measured.push(...round);
    }
    const ratio = coldRatio(label, 'first byte', measured);
    console.error(
      `  median ${ratio.falconMedianMs.toFixed(2)} ms through Falcon, ${ratio.upstreamMedianMs.toFixed(2)} ms direct, ${ratio.proxyMedianMs.toFixed(2)} ms through the bare proxy: ${ratio.ratio.toFixed(2)}x direct, ${ratio.falconOverProxy.toFixed(2)}x the proxy`,
    );
    all.push(...measured);
    ratios.push(ratio);
  }
  return { reads: all, ratios };
}

/** A freshly seeded large object per round, read whole once through Falcon and once from the upstream. */
async function runLargeMisses(servers: Servers, dir: string, rounds: number, problems: string[]): Promise<{ reads: ColdRead[]; ratios: ColdRatio[] }> {
  const sizeText = sizeLabel(COLD_LARGE_BYTES);
  const label = `whole ${sizeText} miss`;
  console.error(`${label}: ${rounds} rounds, each of a fresh object read once through Falcon, from the upstream and through the bare proxy (order rotates)...`);
  const reads: ColdRead[] = [];
  let last: SeededObject | undefined;
  for (let round = 1; round <= rounds; round++) {
    const object = await seedLargeObject(new URL(servers.upstream.url), dir, { label: sizeText, key: `cold-large-${round}`, size: COLD_LARGE_BYTES });
    const targeted = await serversWithTargets(servers, [object]);
    const measured = await readEach(targeted, label, round, { falcon: object, upstream: object, proxy: object }, problems);
    for (const r of measured) {
      const cpu = r.falconCpuMs === null ? '' : `, CPU falcon ${r.falconCpuMs.toFixed(0)} ms, upstream ${(r.upstreamCpuMs ?? 0).toFixed(0)} ms`;
      console.error(`  round ${round} ${r.server}: ${r.totalMs.toFixed(0)} ms (${(r.bytes / BYTES_PER_MB / (r.totalMs / 1000)).toFixed(0)} MB/s), first byte ${r.firstByteMs.toFixed(2)} ms${cpu}`);
    }
    reads.push(...measured);
    last = object;
  }
  if (last !== undefined) {
    // What the cold read left in the cache is the object, byte for byte.
    const falcon = await withTargets(servers.falcon, [last], 1);
    const check = await readObject(falcon.url, requestTarget(falcon, last), { hash: true });
    if (check.status !== 200 || check.sha256 !== last.sha256) problems.push(`${last.path} via falcon after its cold read: status ${check.status}, body differs from the seeded bytes`);
  }
  return { reads, ratios: [coldRatio(label, 'total', reads), coldRatio(label, 'first byte', reads)] };
}

/** The cold-miss cases against a fresh Falcon in front of `upstream`; every server started here is stopped before returning. */
export async function benchColdMisses(
  upstream: ServerProcess,
  dir: string,
  settings: ColdSettings,
  falconFlags: readonly string[],
  cleanup: Cleanup,
): Promise<ColdOutput> {
  console.error(`starting a fresh Falcon for the cold misses (${falconFlags.join(' ')})...`);
  const node = await spawnFalcon('falcon (cold)', [upstream.url, ...falconFlags]);
  cleanup.add(node.stop);
  const proxy = await spawnServer('bare proxy', './bare-proxy.ts', [upstream.url, '--stream']);
  cleanup.add(proxy.stop);
  const problems: string[] = [];
  try {
    const servers: Servers = { falcon: { ...node, targets: new Map() }, upstream: { ...upstream, targets: new Map() }, proxy: { ...proxy, targets: new Map() } };
    await warmUp(servers, dir, settings.warmupMisses, problems);
    const firstBytes = await runFirstBytes(servers, dir, settings.ttfbReads, problems);
    const large = await runLargeMisses(servers, dir, settings.largeRounds, problems);
    const results: ColdResults = { reads: [...firstBytes.reads, ...large.reads], ratios: [...firstBytes.ratios, ...large.ratios] };
    return { results, problems };
  } finally {
    await Promise.all([node.stop(), proxy.stop()]);
  }
}

export function coldRatioTable(ratios: readonly ColdRatio[]): string {
  return table(
    ['case', 'measure', 'median ms falcon / upstream / proxy', 'falcon/upstream', 'target', 'met', 'proxy/upstream', 'falcon/proxy'],
    ratios.map((r) => [
      r.case,
      r.measure,
      `${r.falconMedianMs.toFixed(2)} / ${r.upstreamMedianMs.toFixed(2)} / ${r.proxyMedianMs.toFixed(2)}`,
      `${r.ratio.toFixed(2)}x`,
      `<= ${r.target.toFixed(1)}x`,
      r.met ? 'yes' : 'NO',
      `${r.proxyRatio.toFixed(2)}x`,
      `${r.falconOverProxy.toFixed(2)}x`,
    ]),
  );
}
