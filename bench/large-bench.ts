import { spawnFalcon } from './falcon-build.js';
import { type ColdResults, type ColdSettings, benchColdMisses, coldRatioTable } from './cold-bench.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CountingFront } from '../test-support/counting-front.js';
import { type ByteRange, RangeCycle, randomRanges, rangeHeader, rangeLength } from './byte-ranges.js';
import { type ServerProcess, spawnServer } from './child-server.js';
import type { Cleanup } from './cleanup.js';
import { type ReadSubject, readObject, timedRead } from './full-read.js';
import { MIB, readSlice, seedLargeObject, sizeLabel } from './large-object.js';
import {
  type FullReadMeasurement,
  type FullReadSummary,
  type ReadKind,
  fullReadRatioTable,
  fullReadSummary,
  fullReadTable,
  parquetTable,
} from './large-report.js';
import {
  type BenchSettings,
  type Measurement,
  type Target,
  authProblems,
  measure,
  measurementProblems,
  objectProblems,
  prime,
  targetOf,
} from './measure.js';
import { readCounters } from './node-metrics.js';
import { type SeededObject, sha256 } from './objects.js';
import { type ParquetResult, runParquetPattern } from './parquet-pattern.js';
import { type BenchServer, requestTarget, requestTargets, withTargets } from './presign.js';
import { type Ratio, type RoundRatio, busyMachineWarning, clientBoundWarning, measurementTable, ratioFor, ratioTable, roundRatio } from './report.js';

/**
 * The large-object cases: a cold and a warm full read of one large object (Falcon against a bare node:http server
 * holding the same bytes in memory, and against the upstream itself), random 1 MiB ranges of it once cached, and the
 * upstream bytes a Parquet-like read pattern costs.
 */

const LARGE_OBJECT_KEY = 'obj-large';
/** Falcon needs room for the whole object; with whole-object caching it must also be allowed to cache it. */
export const LARGE_FALCON_FLAGS = ['--max-cache-size', '2048', '--max-object-size', '2048'] as const;

const WARM_FULL_READ_TARGET = 0.9;
const RANGE_TARGET = 0.8;
const RANGE_BYTES = MIB;
const RANGE_CONNECTIONS = 8;
/** Distinct random ranges sent in turn: far more than a few seconds of load, so the same slices are rarely repeated. */
const RANGE_COUNT = 20_000;
const RANGE_SEED = 0x1b1d;
/** Ranges whose bytes are checked on both servers before and after the range rounds. */
const CHECKED_RANGES = 8;
const HIT_TRIES = 100;
const HIT_RETRY_MS = 100;

export interface LargeObjectSettings extends BenchSettings {
  sizeBytes: number;
  cold: ColdSettings;
}

export interface LargeObjectResults {
  object: { label: string; size: number };
  falconFlags: readonly string[];
  fullReads: FullReadMeasurement[];
  fullReadSummaries: FullReadSummary[];
  ranges: { measurements: Measurement[]; ratio: Ratio; falconUpstreamGets: number };
  parquet: ParquetResult;
  coldMisses: ColdResults;
}

export interface LargeObjectOutput {
  results: LargeObjectResults;
  /** Anything that makes the run invalid: wrong bytes, errors. */
  problems: string[];
}

interface Subjects {
  falcon: BenchServer;
  bare: BenchServer;
  upstream: ServerProcess;
}

async function startFalcon(name: string, upstreamUrl: string, object: SeededObject, urlsPerObject: number, cleanup: Cleanup): Promise<BenchServer> {
  const falcon = await spawnFalcon(name, [upstreamUrl, ...LARGE_FALCON_FLAGS]);
  cleanup.add(falcon.stop);
  return withTargets(falcon, [object], urlsPerObject);
}

async function runParquet(upstream: ServerProcess, object: SeededObject, urlsPerObject: number, cleanup: Cleanup): Promise<ParquetResult> {
  console.error('reading it as a Parquet reader would, through a fresh Falcon whose upstream is behind a counting front...');
  const front = await new CountingFront(new URL(upstream.url)).start();
  cleanup.add(() => front.close());
  const falcon = await startFalcon('falcon (parquet)', front.url, object, urlsPerObject, cleanup);
  try {
    return await runParquetPattern(falcon, front, object);
  } finally {
    await falcon.stop();
    await front.close();
  }
}

function readSubject(server: BenchServer | ServerProcess, object: SeededObject, pids: readonly number[]): ReadSubject {
  const target = 'targets' in server ? requestTarget(server, object) : object.path;
  return { name: server.name, url: server.url, target, pids };
}

function subjectsFor(servers: Subjects, object: SeededObject, read: ReadKind): ReadSubject[] {
  const { falcon, bare, upstream } = servers;
  // A cold read through Falcon keeps the upstream busy too.
  const falconPids = read === 'cold' ? [falcon.pid, upstream.pid] : [falcon.pid];
  return [
    readSubject(upstream, object, [upstream.pid]),
    readSubject(bare, object, [bare.pid]),
    readSubject(falcon, object, falconPids),
  ];
}

async function fullRead(subject: ReadSubject, object: SeededObject, read: ReadKind, round: number, problems: string[]): Promise<FullReadMeasurement> {
  const { response, cpu } = await timedRead(subject);
  const where = `${read} full read of ${object.path} via ${subject.name} (round ${round})`;
  if (response.status !== 200) problems.push(`${where}: status ${response.status}`);
  if (response.bytes !== object.size) problems.push(`${where}: ${response.bytes} bytes, expected ${object.size}`);
  const ms = response.elapsedMs;
  const measurement: FullReadMeasurement = {
    read,
    server: subject.name,
    round,
    status: response.status,
    bytes: response.bytes,
    seconds: ms / 1000,
    bytesPerSec: response.bytes / (ms / 1000),
    xCache: subject.name === 'falcon' ? (response.headers['x-cache'] ?? null) : null,
    loadGeneratorCpu: cpu.clientMs / ms,
    serverCpu: cpu.serverMs === undefined ? null : cpu.serverMs / ms,
    otherCpu: cpu.otherMs === undefined ? null : cpu.otherMs / ms,
  };
  console.error(`  ${where}: ${(measurement.bytesPerSec / 1e6).toFixed(0)} MB/s${measurement.xCache === null ? '' : `, X-Cache ${measurement.xCache}`}`);
  return measurement;
}

/** A cached object answers a one-byte range from memory; the whole-object fill may land a moment after the read ends. */
async function waitForHit(falcon: BenchServer, object: SeededObject): Promise<boolean> {
  for (let i = 0; i < HIT_TRIES; i++) {
    const response = await readObject(falcon.url, requestTarget(falcon, object), { headers: { range: 'bytes=0-0' } });
    if (response.headers['x-cache'] === 'HIT') return true;
    await sleep(HIT_RETRY_MS);
  }
  return false;
}

async function falconUpstreamGets(falcon: BenchServer): Promise<number> {
  return (await readCounters(falcon.url)).upstreamGets;
}

/** Both servers serve the seeded bytes and headers in full (hashed, not measured); Falcon authenticates. */
async function fullObjectProblems(servers: Subjects, object: SeededObject): Promise<string[]> {
  const problems: string[] = [];
  for (const server of [servers.falcon, servers.bare]) {
    const response = await readObject(server.url, requestTarget(server, object), { hash: true });
    const headers = new Headers(Object.entries(response.headers).filter((entry): entry is [string, string] => entry[1] !== undefined));
    problems.push(...objectProblems(server.name, object, { status: response.status, headers, sha256: response.sha256 ?? '' }));
  }
  problems.push(...(await authProblems(servers.falcon, object)));
  return problems;
}

async function runFullReads(servers: Subjects, object: SeededObject, settings: LargeObjectSettings, problems: string[]) {
  console.error(`full reads of ${object.label}: the upstream, bare, then a cold read through Falcon...`);
  const cold: FullReadMeasurement[] = [];
  for (const subject of subjectsFor(servers, object, 'cold')) cold.push(await fullRead(subject, object, 'cold', 0, problems));
  const warmNotes: string[] = [];
  if (!(await waitForHit(servers.falcon, object))) warmNotes.push('Falcon did not cache the object after the cold read');
  problems.push(...(await fullObjectProblems(servers, object)));

  console.error(`${settings.rounds} rounds of warm full reads (order alternates)...`);
  const upstreamGetsBefore = await falconUpstreamGets(servers.falcon);
  const warm: FullReadMeasurement[] = [];
  for (let round = 1; round <= settings.rounds; round++) {
    const subjects = subjectsFor(servers, object, 'warm');
    if (round % 2 === 0) subjects.reverse();
    for (const subject of subjects) warm.push(await fullRead(subject, object, 'warm', round, problems));
  }
  const upstreamGets = (await falconUpstreamGets(servers.falcon)) - upstreamGetsBefore;
  const misses = warm.filter((m) => m.server === 'falcon' && m.xCache !== 'HIT');
  if (misses.length > 0) warmNotes.push(`${misses.length} of ${settings.rounds} warm reads not X-Cache: HIT`);
  if (upstreamGets > 0) warmNotes.push(`Falcon sent ${upstreamGets} GETs upstream during warm reads`);
  const reads = [...cold, ...warm];
  const summaries = [fullReadSummary('cold', cold, null, []), fullReadSummary('warm', warm, WARM_FULL_READ_TARGET, warmNotes)];
  return { reads, summaries };
}

/** The same ranges from both servers: 206, the right Content-Range, the seeded bytes; Falcon from its cache. */
async function rangeProblems(servers: Subjects, object: SeededObject, ranges: readonly ByteRange[]): Promise<string[]> {
  const problems: string[] = [];
  for (const range of ranges) {
    const expected = sha256(await readSlice(object, range.first, rangeLength(range)));
    for (const server of [servers.falcon, servers.bare]) {
      const response = await readObject(server.url, requestTarget(server, object), { headers: { range: rangeHeader(range) }, hash: true });
      const where = `${server.name} ${object.path} ${rangeHeader(range)}`;
      const contentRange = `bytes ${range.first}-${range.last}/${object.size}`;
      if (response.status !== 206) problems.push(`${where}: status ${response.status}, expected 206`);
      if (response.headers['content-range'] !== contentRange) problems.push(`${where}: content-range ${JSON.stringify(response.headers['content-range'])}`);
      if (response.sha256 !== expected) problems.push(`${where}: body differs from the seeded bytes`);
      if (server === servers.falcon && response.headers['x-cache'] !== 'HIT') {
        problems.push(`${where}: x-cache is ${JSON.stringify(response.headers['x-cache'])}, expected "HIT"`);
      }
    }
  }
  return problems;
}

function rangeSource(server: BenchServer, object: SeededObject, ranges: readonly ByteRange[]): RangeCycle {
  return new RangeCycle(requestTargets(server, object), ranges);
}

/** Every response of a range measurement must have been one whole range. */
function rangeMeasurementProblems(m: Measurement): string[] {
  const problems = measurementProblems(m);
  if (m.requests * RANGE_BYTES !== Math.round(m.bytesPerSec * m.durationSeconds)) {
    problems.push(`${m.object} via ${m.server} (round ${m.round}): bodies were not all ${RANGE_BYTES} bytes`);
  }
  return problems;
}

async function runRanges(servers: Subjects, object: SeededObject, settings: LargeObjectSettings, problems: string[]) {
  const ranges = randomRanges(object.size, RANGE_BYTES, RANGE_COUNT, RANGE_SEED);
  const label = `1 MiB ranges of ${object.label}`;
  const labelled = { ...object, label };
  problems.push(...(await rangeProblems(servers, object, ranges.slice(0, CHECKED_RANGES))));
  console.error(
    `measuring random ${label} with ${RANGE_CONNECTIONS} connections: ${settings.primeSeconds}s priming, then ` +
      `${settings.rounds} rounds of ${settings.warmupSeconds}s warm-up + ${settings.seconds}s per server...`,
  );
  if (settings.primeSeconds > 0) {
    for (const server of [servers.falcon, servers.bare]) {
      await prime(server, labelled, RANGE_CONNECTIONS, settings.primeSeconds, rangeSource(server, object, ranges));
    }
  }
  const upstreamGetsBefore = await falconUpstreamGets(servers.falcon);
  const measurements: Measurement[] = [];
  const rounds: RoundRatio[] = [];
  for (let round = 1; round <= settings.rounds; round++) {
    const order = round % 2 === 1 ? [servers.falcon, servers.bare] : [servers.bare, servers.falcon];
    const measured = new Map<BenchServer, Measurement>();
    for (const server of order) {
      const target: Target = targetOf(server);
      measured.set(server, await measure(target, labelled, RANGE_CONNECTIONS, settings, round, rangeSource(server, object, ranges)));
    }
    const falcon = measured.get(servers.falcon) as Measurement;
    const bare = measured.get(servers.bare) as Measurement;
    const ratio = roundRatio(order[0]?.name ?? '', falcon, bare);
    console.error(`  ${label} round ${round}/${settings.rounds}: falcon ${falcon.requestsPerSec.toFixed(0)} req/s, bare ${bare.requestsPerSec.toFixed(0)} req/s, ratio ${ratio.ratio.toFixed(2)}x`);
    rounds.push(ratio);
    measurements.push(falcon, bare);
  }
  const falconUpstream = (await falconUpstreamGets(servers.falcon)) - upstreamGetsBefore;
  problems.push(...measurements.flatMap(rangeMeasurementProblems));
  problems.push(...(await rangeProblems(servers, object, ranges.slice(0, CHECKED_RANGES))));
  const ratio = ratioFor(label, RANGE_TARGET, rounds);
  if (falconUpstream > 0) ratio.met = false;
  return { measurements, ratio, falconUpstreamGets: falconUpstream };
}

function secondsSince(started: number): string {
  return ((performance.now() - started) / 1000).toFixed(1);
}

function printResults(results: LargeObjectResults): void {
  const { label } = results.object;
  const { ranges } = results;
  console.log(`\n${fullReadTable(label, results.fullReads)}\n\n${fullReadRatioTable(label, results.fullReadSummaries)}\n`);
  console.log(`${measurementTable(ranges.measurements)}\n\n${ratioTable([ranges.ratio])}\n`);
  if (ranges.falconUpstreamGets > 0) {
    console.log(`warning: Falcon sent ${ranges.falconUpstreamGets} GETs upstream during the range rounds: not all were served from its cache.\n`);
  }
  for (const warning of [clientBoundWarning([ranges.ratio]), busyMachineWarning(ranges.measurements)]) {
    if (warning !== undefined) console.log(`${warning}\n`);
  }
  console.log(`Parquet-like reads of ${label} (last 64 KiB, then 20 scattered 2 MiB ranges; twice) through a fresh Falcon:`);
  console.log(`${parquetTable(results.parquet)}\n`);
  console.log(`Cold misses, Falcon against the upstream itself (medians):\n${coldRatioTable(results.coldMisses.ratios)}\n`);
}

/**
 * Seeds the large object into the upstream (and onto disk), runs the Parquet-like pattern through its own Falcon,
 * then the full reads and the range rounds against a fresh Falcon and a bare server holding the object. Every
 * server started here is stopped before returning, so the memory they hold is given back.
 */
export async function benchLargeObject(
  upstream: ServerProcess,
  dir: string,
  settings: LargeObjectSettings,
  urlsPerObject: number,
  cleanup: Cleanup,
): Promise<LargeObjectOutput> {
  const cold = await benchColdMisses(upstream, dir, settings.cold, LARGE_FALCON_FLAGS, cleanup);
  const problems: string[] = [...cold.problems];
  const label = sizeLabel(settings.sizeBytes);
  console.error(`streaming a random ${label} object into the upstream...`);
  let started = performance.now();
  const object = await seedLargeObject(new URL(upstream.url), dir, { label, key: LARGE_OBJECT_KEY, size: settings.sizeBytes });
  console.error(`  took ${secondsSince(started)} s`);
  started = performance.now();
  const parquet = await runParquet(upstream, object, urlsPerObject, cleanup);
  console.error(`  took ${secondsSince(started)} s`);
  problems.push(...parquet.problems);

  const manifest = join(dir, 'large-manifest.json');
  await writeFile(manifest, JSON.stringify([object]));
  console.error(`starting a bare server holding the ${label} object and a fresh Falcon (${LARGE_FALCON_FLAGS.join(' ')})...`);
  const bareProcess = await spawnServer('bare', './bare-server.ts', [manifest]);
  cleanup.add(bareProcess.stop);
  const falcon = await startFalcon('falcon', upstream.url, object, urlsPerObject, cleanup);
  try {
    const servers: Subjects = { falcon, bare: await withTargets(bareProcess, [object], urlsPerObject), upstream };
    const fullReads = await runFullReads(servers, object, settings, problems);
    const ranges = await runRanges(servers, object, settings, problems);
    const results: LargeObjectResults = {
      object: { label, size: object.size },
      falconFlags: LARGE_FALCON_FLAGS,
      fullReads: fullReads.reads,
      fullReadSummaries: fullReads.summaries,
      ranges,
      parquet,
      coldMisses: cold.results,
    };
    printResults(results);
    return { results, problems };
  } finally {
    await falcon.stop();
    await bareProcess.stop();
  }
}
