import type { ServerProcess } from './child-server.js';
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
 * read costs there. Before the measured reads of small objects, WARMUP_MISSES misses of other keys are read
 * unmeasured from both, so that Falcon's read path is measured as a running gateway runs it, compiled by the JIT,
 * not as it runs the first few times in a fresh process.
 */

/** Falcon may be at most this much slower than the upstream itself. */
export const COLD_TARGET = 1.1;
const TTFB_SIZES = [
  { label: '1 KiB', bytes: 1024 },
  { label: '1 MiB', bytes: MIB },
] as const;
export const COLD_LARGE_BYTES = 256 * MIB;
/** Unmeasured misses of distinct keys, per size and server, before the measured ones. */
const WARMUP_MISSES = 30;

export interface ColdSettings {
  /** Distinct keys read per size and per server for the time to first byte. */
  ttfbReads: number;
  /** Rounds of the large cold read, each of a freshly seeded object. */
  largeRounds: number;
}

export interface ColdRead {
  case: string;
  server: 'falcon' | 'upstream';
  round: number;
  /** Which of the two was read first in this round. */
  first: 'falcon' | 'upstream';
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
  /** Falcon's median over the upstream's: at most `target` is met. */
  ratio: number;
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

interface Pair {
  falcon: BenchServer;
  /** The upstream with its own presigned URLs for the objects read from it. */
  upstream: BenchServer;
}

/** The upstream with a GET of each object presigned with the upstream's own key, as a client of it would send. */
async function upstreamWithTargets(upstream: ServerProcess, objects: readonly SeededObject[]): Promise<BenchServer> {
  return { ...upstream, targets: await presignTargets(upstream.url, objects, 1, LOCAL_UPSTREAM_CREDENTIALS) };
}

function spent(before: number | undefined, after: number | undefined): number | null {
  return before === undefined || after === undefined ? null : after - before;
}

async function timedColdRead(servers: Pair, server: 'falcon' | 'upstream', object: SeededObject): Promise<{ response: ReadResponse; falconCpuMs: number | null; upstreamCpuMs: number | null }> {
  const origin = server === 'falcon' ? servers.falcon.url : servers.upstream.url;
  const target = requestTarget(servers[server], object);
  const [falconBefore, upstreamBefore] = await Promise.all([processCpuMs(servers.falcon.pid), processCpuMs(servers.upstream.pid)]);
  const response = await readObject(origin, target);
  const [falconAfter, upstreamAfter] = await Promise.all([processCpuMs(servers.falcon.pid), processCpuMs(servers.upstream.pid)]);
  return { response, falconCpuMs: spent(falconBefore, falconAfter), upstreamCpuMs: spent(upstreamBefore, upstreamAfter) };
}

async function readBoth(servers: Pair, label: string, round: number, objects: Record<'falcon' | 'upstream', SeededObject>, problems: string[]): Promise<ColdRead[]> {
  const order: Array<'falcon' | 'upstream'> = round % 2 === 1 ? ['falcon', 'upstream'] : ['upstream', 'falcon'];
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
  const falconMedianMs = median(reads.filter((r) => r.server === 'falcon').map(pick));
  const upstreamMedianMs = median(reads.filter((r) => r.server === 'upstream').map(pick));
  const ratio = upstreamMedianMs === 0 ? 0 : falconMedianMs / upstreamMedianMs;
  return { case: label, measure, falconMedianMs, upstreamMedianMs, ratio, target: COLD_TARGET, met: ratio > 0 && ratio <= COLD_TARGET };
}

/** `reads` distinct keys per server of each small size, every one read once: the time to first byte of a miss. */
async function runFirstBytes(servers: Pair, dir: string, reads: number, problems: string[]): Promise<{ reads: ColdRead[]; ratios: ColdRatio[] }> {
  const all: ColdRead[] = [];
  const ratios: ColdRatio[] = [];
  for (const size of TTFB_SIZES) {
    const label = `first byte of a ${size.label} miss`;
    const specs: ObjectSpec[] = [];
    // Pairs before the measured ones, read unmeasured: the first opens Falcon's connection to the upstream, the
    // rest warm both read paths.
    const total = WARMUP_MISSES + reads;
    for (let i = 0; i < total; i++) {
      for (const server of ['falcon', 'upstream'] as const) specs.push({ label: size.label, key: `cold-${size.bytes}-${i}-${server}`, size: size.bytes });
    }
    const seeded = await seedObjects(new URL(servers.upstream.url), dir, specs);
    const pairs = { falcon: await withTargets(servers.falcon, seeded, 1), upstream: await upstreamWithTargets(servers.upstream, seeded) };
    console.error(`${label}: ${WARMUP_MISSES} unmeasured misses, then ${reads} distinct keys through Falcon and ${reads} straight from the upstream (order alternates)...`);
    const measured: ColdRead[] = [];
    for (let i = 0; i < total; i++) {
      const objectOf = (server: 'falcon' | 'upstream'): SeededObject => {
        const object = seeded.find((o) => o.path.endsWith(`/cold-${size.bytes}-${i}-${server}`));
        if (object === undefined) throw new Error(`no seeded object for ${server} read ${i}`);
        return object;
      };
      const round = await readBoth(pairs, label, i, { falcon: objectOf('falcon'), upstream: objectOf('upstream') }, problems);
      if (i >= WARMUP_MISSES) measured.push(...round);
    }
    const ratio = coldRatio(label, 'first byte', measured);
    console.error(`  median ${ratio.falconMedianMs.toFixed(2)} ms through Falcon, ${ratio.upstreamMedianMs.toFixed(2)} ms direct: ${ratio.ratio.toFixed(2)}x`);
    all.push(...measured);
    ratios.push(ratio);
  }
  return { reads: all, ratios };
}

/** A freshly seeded large object per round, read whole once through Falcon and once from the upstream. */
async function runLargeMisses(servers: Pair, dir: string, rounds: number, problems: string[]): Promise<{ reads: ColdRead[]; ratios: ColdRatio[] }> {
  const sizeText = sizeLabel(COLD_LARGE_BYTES);
  const label = `whole ${sizeText} miss`;
  console.error(`${label}: ${rounds} rounds, each of a fresh object read once through Falcon and once from the upstream (order alternates)...`);
  const reads: ColdRead[] = [];
  let last: SeededObject | undefined;
  for (let round = 1; round <= rounds; round++) {
    const object = await seedLargeObject(new URL(servers.upstream.url), dir, { label: sizeText, key: `cold-large-${round}`, size: COLD_LARGE_BYTES });
    const pair = { falcon: await withTargets(servers.falcon, [object], 1), upstream: await upstreamWithTargets(servers.upstream, [object]) };
    const measured = await readBoth(pair, label, round, { falcon: object, upstream: object }, problems);
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
  const problems: string[] = [];
  try {
    const servers: Pair = { falcon: { ...node, targets: new Map() }, upstream: { ...upstream, targets: new Map() } };
    const firstBytes = await runFirstBytes(servers, dir, settings.ttfbReads, problems);
    const large = await runLargeMisses(servers, dir, settings.largeRounds, problems);
    const results: ColdResults = { reads: [...firstBytes.reads, ...large.reads], ratios: [...firstBytes.ratios, ...large.ratios] };
    return { results, problems };
  } finally {
    await node.stop();
  }
}

export function coldRatioTable(ratios: readonly ColdRatio[]): string {
  return table(
    ['case', 'measure', 'median ms falcon / upstream', 'falcon/upstream', 'target', 'met'],
    ratios.map((r) => [
      r.case,
      r.measure,
      `${r.falconMedianMs.toFixed(2)} / ${r.upstreamMedianMs.toFixed(2)}`,
      `${r.ratio.toFixed(2)}x`,
      `<= ${r.target.toFixed(1)}x`,
      r.met ? 'yes' : 'NO',
    ]),
  );
}
