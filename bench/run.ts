import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerProcess, spawnServer } from './child-server.js';
import { Cleanup } from './cleanup.js';
import { spawnFalcon, useCompiledFalcon } from './falcon-build.js';
import { type ClusterBenchOutput, benchClusters, startClusters } from './cluster-bench.js';
import { clusterRatioTable, oneConnectionTable } from './cluster-report.js';
import { type CompetitorResults, Competitors } from './competitors.js';
import { type ColdOutput, benchColdMisses, coldRatioTable } from './cold-bench.js';
import { LARGE_FALCON_FLAGS, type LargeObjectOutput, type LargeObjectSettings, benchLargeObject } from './large-bench.js';
import { MIB } from './large-object.js';
import {
  type BenchSettings,
  type Measurement,
  measure,
  measurementProblems,
  prime,
  targetOf,
  verifyPair,
  verifyRequests,
  warmCache,
} from './measure.js';
import type { TargetSource } from './load.js';
import { type RequestMode, requestSource } from './request-modes.js';
import { pinClient } from './pinning.js';
import { OBJECT_SPECS, type SeededObject, seedObjects } from './objects.js';
import { type BenchServer, UNIQUE_SIGNATURE_URLS, falconMemoEntries, withTargets } from './presign.js';
import {
  type Authentication,
  type Ratio,
  type RoundRatio,
  busyMachineWarning,
  clientBoundWarning,
  measurementTable,
  ratioFor,
  ratioTable,
  roundRatio,
  writeResults,
  writeResultsFile,
} from './report.js';
import { BENCH_BUCKET, type ServedObject } from './shared.js';

interface BenchCase {
  key: (typeof OBJECT_SPECS)[number]['key'];
  mode: RequestMode;
  connections: number;
  /** Minimum Falcon/bare req/s ratio. */
  target: number;
}

/** Every case runs 64 connections: enough to keep both servers busy, and the load p99 latencies are reported under. */
const CONNECTIONS = 64;

const CASES: readonly BenchCase[] = [
  { key: 'obj-1k', mode: 'header-signed', connections: CONNECTIONS, target: 0.8 },
  { key: 'obj-1k', mode: 'presigned', connections: CONNECTIONS, target: 0.85 },
  { key: 'obj-1k', mode: 'unsigned', connections: CONNECTIONS, target: 0.9 },
  { key: 'obj-64k', mode: 'header-signed', connections: CONNECTIONS, target: 0.85 },
  { key: 'obj-1m', mode: 'header-signed', connections: CONNECTIONS, target: 0.95 },
  { key: 'obj-16m', mode: 'header-signed', connections: CONNECTIONS, target: 0.95 },
];

/** BENCH_ONLY=<text> runs only the single-node cases whose label contains it, e.g. "1 KiB" or "unsigned". */
function selectedCases(env: NodeJS.ProcessEnv): readonly BenchCase[] {
  const only = env.BENCH_ONLY?.trim() ?? '';
  if (only === '') return CASES;
  const selected = CASES.filter((c) => caseLabel(c).includes(only));
  if (selected.length === 0) throw new Error(`BENCH_ONLY="${only}" matches no case of: ${CASES.map(caseLabel).join(', ')}`);
  return selected;
}

function caseLabel(benchCase: BenchCase): string {
  const spec = OBJECT_SPECS.find((s) => s.key === benchCase.key);
  return `${spec?.label ?? benchCase.key} ${benchCase.mode}`;
}

/** The cluster cases: presigned GETs of the 1 KiB and 1 MiB objects through a 3-node cluster. */
const CLUSTER_CASES: readonly BenchCase[] = [
  { key: 'obj-1k', mode: 'presigned', connections: 32, target: 0 },
  { key: 'obj-1m', mode: 'presigned', connections: 8, target: 0 },
];

const RESULTS_FILE = fileURLToPath(new URL('./results/latest.json', import.meta.url));
/** BENCH_UNIQUE_SIGNATURES=1 runs measure a different thing, so they do not replace the default run's results. */
const UNIQUE_SIGNATURES_RESULTS_FILE = fileURLToPath(new URL('./results/latest-unique-signatures.json', import.meta.url));
/** The large-object cases have their own file, so that running them alone does not replace the other results. */
const LARGE_OBJECT_RESULTS_FILE = fileURLToPath(new URL('./results/latest-large-object.json', import.meta.url));

interface Servers {
  /** Client authentication on, as users run it. */
  falcon: BenchServer;
  /** The same node with --anonymous, for the unsigned case. */
  falconUnsigned: BenchServer;
  bare: BenchServer;
  /** nginx and Varnish where installed, measured in the same rounds. */
  competitors: Competitors;
}

function readNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, integer: boolean): number {
  const text = env[name]?.trim();
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    throw new Error(`${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got "${text}"`);
  }
  return value;
}

interface Settings {
  single: BenchSettings;
  /** Undefined when BENCH_CLUSTER_ROUNDS is 0: no cluster cases. */
  cluster: BenchSettings | undefined;
  /** BENCH_UNIQUE_SIGNATURES=1: more distinct presigned URLs per object than Falcon remembers verified requests. */
  uniqueSignatures: boolean;
  /** BENCH_LARGE_OBJECT: run the large-object cases after the others (default), not at all, alone, or only their cold misses. */
  largeObjectMode: 'also' | 'skip' | 'only' | 'cold';
  largeObject: LargeObjectSettings;
}

function readFlag(env: NodeJS.ProcessEnv, name: string): boolean {
  const text = env[name]?.trim() ?? '';
  if (text === '' || text === '0') return false;
  if (text === '1') return true;
  throw new Error(`${name} must be 0 or 1, got "${text}"`);
}

function readLargeObjectMode(env: NodeJS.ProcessEnv): Settings['largeObjectMode'] {
  const text = env.BENCH_LARGE_OBJECT?.trim() ?? '';
  if (text === '' || text === '1') return 'also';
  if (text === '0') return 'skip';
  if (text === 'only') return 'only';
  if (text === 'cold') return 'cold';
  throw new Error(`BENCH_LARGE_OBJECT must be 0, 1, only or cold, got "${text}"`);
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const single: BenchSettings = {
    seconds: readNumber(env, 'BENCH_SECONDS', 5, 1, false),
    warmupSeconds: readNumber(env, 'BENCH_WARMUP_SECONDS', 0.5, 0, false),
    rounds: readNumber(env, 'BENCH_ROUNDS', 3, 1, true),
    primeSeconds: readNumber(env, 'BENCH_PRIME_SECONDS', 2, 0, false),
  };
  const cluster: BenchSettings = {
    seconds: readNumber(env, 'BENCH_CLUSTER_SECONDS', 2, 1, false),
    warmupSeconds: readNumber(env, 'BENCH_CLUSTER_WARMUP_SECONDS', 0.5, 0, false),
    rounds: readNumber(env, 'BENCH_CLUSTER_ROUNDS', 3, 0, true),
    primeSeconds: readNumber(env, 'BENCH_CLUSTER_PRIME_SECONDS', 1, 0, false),
  };
  const largeObject: LargeObjectSettings = {
    ...single,
    sizeBytes: readNumber(env, 'BENCH_LARGE_OBJECT_MIB', 1024, 64, true) * MIB,
    cold: {
      ttfbReads: readNumber(env, 'BENCH_COLD_READS', 40, 1, true),
      largeRounds: readNumber(env, 'BENCH_COLD_ROUNDS', 5, 1, true),
      warmupMisses: readNumber(env, 'BENCH_COLD_WARMUP', 2000, 0, true),
    },
  };
  return {
    single,
    cluster: cluster.rounds === 0 ? undefined : cluster,
    uniqueSignatures: readFlag(env, 'BENCH_UNIQUE_SIGNATURES'),
    largeObjectMode: readLargeObjectMode(env),
    largeObject,
  };
}

/**
 * Falcon (client authentication on) and the bare server, each with a GET of every object presigned for its own
 * origin: both are sent requests of the same form, and the bare server ignores the query.
 */
async function startServers(
  dir: string,
  upstream: URL,
  objects: readonly ServedObject[],
  urlsPerObject: number,
  cleanup: Cleanup,
): Promise<Servers> {
  const manifest = join(dir, 'manifest.json');
  await writeFile(manifest, JSON.stringify(objects));
  const falcon = await spawnFalcon('falcon', [upstream.origin]);
  cleanup.add(falcon.stop);
  const falconUnsigned = await spawnFalcon('falcon', [upstream.origin, '--anonymous']);
  cleanup.add(falconUnsigned.stop);
  const bare = await spawnServer('bare', './bare-server.ts', [manifest]);
  cleanup.add(bare.stop);
  const competitors = await Competitors.start(process.env, dir, upstream, objects, urlsPerObject, cleanup);
  return {
    falcon: await withTargets(falcon, objects, urlsPerObject),
    falconUnsigned: await withTargets(falconUnsigned, objects, urlsPerObject),
    bare: await withTargets(bare, objects, urlsPerObject),
    competitors,
  };
}

function objectFor(objects: readonly SeededObject[], benchCase: BenchCase): SeededObject {
  const object = objects.find((o) => o.path === `/${BENCH_BUCKET}/${benchCase.key}`);
  if (object === undefined) throw new Error(`no seeded object for ${benchCase.key}`);
  return object;
}

interface CaseResult {
  measurements: Measurement[];
  ratio: Ratio;
}

/** The Falcon node a case measures, and the requests each server gets (bare ignores their authentication). */
interface CaseServers {
  falcon: BenchServer;
  bare: BenchServer;
  falconSource: TargetSource;
  bareSource: TargetSource;
}

function caseServers(servers: Servers, object: SeededObject, mode: RequestMode): CaseServers {
  const falcon = mode === 'unsigned' ? servers.falconUnsigned : servers.falcon;
  return {
    falcon,
    bare: servers.bare,
    falconSource: requestSource(falcon, object, mode),
    bareSource: requestSource(servers.bare, object, mode),
  };
}

/** Falcon first in odd rounds, bare first in even ones, so drift over the run does not favour either server. */
function roundOrder(servers: CaseServers, round: number): [[BenchServer, TargetSource], [BenchServer, TargetSource]] {
  const falcon: [BenchServer, TargetSource] = [servers.falcon, servers.falconSource];
  const bare: [BenchServer, TargetSource] = [servers.bare, servers.bareSource];
  return round % 2 === 1 ? [falcon, bare] : [bare, falcon];
}

interface RoundResult {
  falcon: Measurement;
  bare: Measurement;
  first: BenchServer;
}

async function runRound(
  servers: CaseServers,
  object: SeededObject,
  benchCase: BenchCase,
  settings: BenchSettings,
  round: number,
): Promise<RoundResult> {
  const [[first, firstSource], [second, secondSource]] = roundOrder(servers, round);
  const firstRun = await measure(targetOf(first), object, benchCase.connections, settings, round, firstSource);
  const secondRun = await measure(targetOf(second), object, benchCase.connections, settings, round, secondSource);
  return first === servers.falcon
    ? { falcon: firstRun, bare: secondRun, first }
    : { falcon: secondRun, bare: firstRun, first };
}

function describeRound(object: SeededObject, rounds: number, r: RoundRatio): string {
  const falcon = r.falconRequestsPerSec.toFixed(0);
  const bare = r.bareRequestsPerSec.toFixed(0);
  const where = `${object.label} round ${r.round}/${rounds} (${r.first} first)`;
  return `  ${where}: falcon ${falcon} req/s, bare ${bare} req/s, ratio ${r.ratio.toFixed(2)}x`;
}

async function runCase(
  allServers: Servers,
  seeded: SeededObject,
  benchCase: BenchCase,
  settings: BenchSettings,
): Promise<CaseResult> {
  // Measurements and ratios are labelled with the object and how its requests authenticate.
  const object = { ...seeded, label: caseLabel(benchCase) };
  const servers = caseServers(allServers, seeded, benchCase.mode);
  const verify = async (): Promise<void> => {
    await verifyPair(allServers.falcon, allServers.bare, seeded);
    await verifyRequests([servers.falcon, servers.falconSource], [servers.bare, servers.bareSource], seeded);
  };
  await verify();
  console.error(
    `measuring ${object.label} with ${benchCase.connections} connections: ${settings.primeSeconds}s priming, then ` +
      `${settings.rounds} rounds of ${settings.warmupSeconds}s warm-up + ${settings.seconds}s per server...`,
  );
  if (settings.primeSeconds > 0) {
    await prime(servers.falcon, object, benchCase.connections, settings.primeSeconds, servers.falconSource);
    await prime(servers.bare, object, benchCase.connections, settings.primeSeconds, servers.bareSource);
  }
  // The competitors get requests of the same form; they ignore the authentication, as bare does.
  const competitorSource = (competitor: Pick<BenchServer, 'name' | 'url' | 'targets'>): TargetSource => requestSource(competitor, seeded, benchCase.mode);
  await allServers.competitors.startCase(object, benchCase.connections, settings, competitorSource);
  const measurements: Measurement[] = [];
  const rounds: RoundRatio[] = [];
  for (let round = 1; round <= settings.rounds; round++) {
    const measurePair = (): Promise<RoundResult> => runRound(servers, object, benchCase, settings, round);
    const result = await allServers.competitors.round(object, benchCase.connections, settings, round, measurePair, competitorSource);
    const ratio = roundRatio(result.first.name, result.falcon, result.bare);
    console.error(describeRound(object, settings.rounds, ratio));
    rounds.push(ratio);
    measurements.push(result.falcon, result.bare);
  }
  await verify();
  measurements.push(...(await allServers.competitors.finishCase(object)));
  return { measurements, ratio: ratioFor(object.label, benchCase.target, rounds) };
}

function printWarnings(warnings: readonly (string | undefined)[]): void {
  for (const warning of warnings) if (warning !== undefined) console.log(`${warning}\n`);
}

interface SingleNodeResults {
  measurements: Measurement[];
  ratios: Ratio[];
  competitors: CompetitorResults;
}

async function runSingleNodeCases(
  servers: Servers,
  objects: readonly SeededObject[],
  settings: BenchSettings,
): Promise<SingleNodeResults> {
  const results: Omit<SingleNodeResults, 'competitors'> = { measurements: [], ratios: [] };
  for (const benchCase of selectedCases(process.env)) {
    const result = await runCase(servers, objectFor(objects, benchCase), benchCase, settings);
    results.measurements.push(...result.measurements);
    results.ratios.push(result.ratio);
  }
  console.log(`\n${measurementTable(results.measurements)}\n\n${ratioTable(results.ratios)}\n`);
  console.log(`${servers.competitors.report(results.ratios)}\n`);
  printWarnings([clientBoundWarning(results.ratios), busyMachineWarning(results.measurements)]);
  return { ...results, competitors: servers.competitors.results() };
}

/** The same objects and connection counts as the single-node cases, through two 3-node clusters. */
async function runClusterCases(
  falcon: BenchServer,
  upstream: URL,
  objects: readonly SeededObject[],
  settings: BenchSettings,
  urlsPerObject: number,
  cleanup: Cleanup,
): Promise<ClusterBenchOutput> {
  console.error('starting two 3-node Falcon clusters (default hot cache, and --hot-cache-size 0)...');
  const clusters = await startClusters(upstream, objects, urlsPerObject, cleanup);
  const cases = CLUSTER_CASES.map((benchCase) => ({ benchCase, object: objectFor(objects, benchCase) }));
  const output = await benchClusters({ single: falcon, clusters, cases, settings });
  const { measurements, ratios } = output.results;
  console.log(`\n${measurementTable(measurements)}\n\n${clusterRatioTable(ratios)}\n\n${oneConnectionTable(output.results.oneConnection)}\n`);
  printWarnings([busyMachineWarning(measurements)]);
  return output;
}

/** How many presigned URLs each object gets per server, and whether Falcon can remember them. */
async function authenticationFor(settings: Settings): Promise<Authentication> {
  if (!settings.uniqueSignatures) return { uniqueSignatures: false, presignedUrlsPerObject: 1, falconMemoEntries: null };
  const memo = await falconMemoEntries();
  const urls = Math.max(UNIQUE_SIGNATURE_URLS, 2 * memo);
  console.error(
    `BENCH_UNIQUE_SIGNATURES=1: presigning ${urls} distinct URLs per object and server, sent in turn; Falcon remembers ` +
      `at most ${memo} verified requests, so every request pays full signature verification...`,
  );
  return { uniqueSignatures: true, presignedUrlsPerObject: urls, falconMemoEntries: memo };
}

interface SmallObjectOutput {
  single: SingleNodeResults;
  cluster: ClusterBenchOutput | undefined;
  problems: string[];
}

/** The 1 KiB and 1 MiB cases: one node against bare, then the clusters. */
async function benchSmallObjects(
  settings: Settings,
  dir: string,
  upstream: URL,
  urlsPerObject: number,
  cleanup: Cleanup,
): Promise<SmallObjectOutput> {
  const objects = await seedObjects(upstream, dir, OBJECT_SPECS);
  const servers = await startServers(dir, upstream, objects, urlsPerObject, cleanup);
  await warmCache(servers.falcon, objects);
  await warmCache(servers.falconUnsigned, objects);
  const single = await runSingleNodeCases(servers, objects, settings.single);
  const cluster =
    settings.cluster === undefined
      ? undefined
      : await runClusterCases(servers.falcon, upstream, objects, settings.cluster, urlsPerObject, cleanup);
  const problems = [...single.measurements.flatMap(measurementProblems), ...(cluster?.problems ?? [])];
  return { single, cluster, problems };
}

async function startUpstream(dir: string, cleanup: Cleanup): Promise<ServerProcess> {
  const upstream = await spawnServer('upstream', './upstream-server.ts', [join(dir, 'upstream')], [], { pinned: false });
  cleanup.add(upstream.stop);
  return upstream;
}

async function bench(settings: Settings, cleanup: Cleanup): Promise<void> {
  const authentication = await authenticationFor(settings);
  const urlsPerObject = authentication.presignedUrlsPerObject;
  const dir = await mkdtemp(join(tmpdir(), 'falcon-bench-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  await useCompiledFalcon(cleanup);
  const upstream = await startUpstream(dir, cleanup);

  const mode = settings.largeObjectMode;
  const small = mode === 'only' || mode === 'cold' ? undefined : await benchSmallObjects(settings, dir, new URL(upstream.url), urlsPerObject, cleanup);
  let large: LargeObjectOutput | undefined;
  let coldOnly: ColdOutput | undefined;
  if (mode === 'cold') {
    coldOnly = await benchColdMisses(upstream, dir, settings.largeObject.cold, LARGE_FALCON_FLAGS, cleanup);
    console.log(`\nCold misses, Falcon against the upstream itself (medians):\n${coldRatioTable(coldOnly.results.ratios)}\n`);
  } else if (mode !== 'skip') {
    large = await benchLargeObject(upstream, dir, settings.largeObject, urlsPerObject, cleanup);
  }
  const problems = [...(small?.problems ?? []), ...(large?.problems ?? []), ...(coldOnly?.problems ?? [])];
  if (problems.length > 0) throw new Error(`the run is invalid, results not written:\n  ${problems.join('\n  ')}`);
  if (small !== undefined) {
    const file = settings.uniqueSignatures ? UNIQUE_SIGNATURES_RESULTS_FILE : RESULTS_FILE;
    const { single, cluster } = small;
    await writeResults(file, settings.single, authentication, single.measurements, single.ratios, cluster?.results ?? null, single.competitors);
    console.log(`results written to ${file}`);
  }
  if (large !== undefined) {
    await writeResultsFile(LARGE_OBJECT_RESULTS_FILE, { settings: settings.largeObject, authentication, ...large.results });
    console.log(`large-object results written to ${LARGE_OBJECT_RESULTS_FILE}`);
  }
  if (coldOnly !== undefined) {
    await writeColdMisses(settings.largeObject, coldOnly);
    console.log(`cold misses written to ${LARGE_OBJECT_RESULTS_FILE}`);
  }
}

/** A run of the cold misses alone replaces only their part of the large-object results. */
async function writeColdMisses(settings: LargeObjectSettings, cold: ColdOutput): Promise<void> {
  let previous: Record<string, unknown> = {};
  try {
    previous = JSON.parse(await readFile(LARGE_OBJECT_RESULTS_FILE, 'utf8')) as Record<string, unknown>;
  } catch {
    // No earlier large-object run: the file holds the cold misses alone.
  }
  if (previous.generatedAt === undefined) {
    await writeResultsFile(LARGE_OBJECT_RESULTS_FILE, { coldSettings: settings.cold, coldMissesGeneratedAt: new Date().toISOString(), coldMisses: cold.results });
    return;
  }
  const contents = { ...previous, coldSettings: settings.cold, coldMissesGeneratedAt: new Date().toISOString(), coldMisses: cold.results };
  await writeFile(LARGE_OBJECT_RESULTS_FILE, `${JSON.stringify(contents, null, 2)}\n`);
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void cleanup.run().finally(() => process.exit(128 + constants.signals[signal]));
    });
  }
  try {
    pinClient();
    await bench(readSettings(process.env), cleanup);
  } finally {
    await cleanup.run();
  }
}

try {
  await main();
} catch (err) {
  console.error('bench failed:', err);
  process.exitCode = 1;
}
