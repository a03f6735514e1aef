import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ServerProcess, spawnServer } from './child-server.js';
import { Cleanup } from './cleanup.js';
import { type ClusterBenchOutput, benchClusters, startClusters } from './cluster-bench.js';
import { clusterRatioTable, oneConnectionTable } from './cluster-report.js';
import { type LargeObjectOutput, type LargeObjectSettings, benchLargeObject } from './large-bench.js';
import { MIB } from './large-object.js';
import {
  type BenchSettings,
  type Measurement,
  measure,
  measurementProblems,
  prime,
  targetOf,
  verifyPair,
  warmCache,
} from './measure.js';
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
  connections: number;
  /** Minimum Falcon/bare req/s ratio. */
  target: number;
}

const CASES: readonly BenchCase[] = [
  { key: 'obj-1k', connections: 32, target: 0.5 },
  { key: 'obj-1m', connections: 8, target: 0.7 },
];

const RESULTS_FILE = fileURLToPath(new URL('./results/latest.json', import.meta.url));
/** BENCH_UNIQUE_SIGNATURES=1 runs measure a different thing, so they do not replace the default run's results. */
const UNIQUE_SIGNATURES_RESULTS_FILE = fileURLToPath(new URL('./results/latest-unique-signatures.json', import.meta.url));
/** The large-object cases have their own file, so that running them alone does not replace the other results. */
const LARGE_OBJECT_RESULTS_FILE = fileURLToPath(new URL('./results/latest-large-object.json', import.meta.url));

interface Servers {
  falcon: BenchServer;
  bare: BenchServer;
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
  /** BENCH_LARGE_OBJECT: run the large-object cases after the others (default), not at all, or alone. */
  largeObjectMode: 'also' | 'skip' | 'only';
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
  throw new Error(`BENCH_LARGE_OBJECT must be 0, 1 or only, got "${text}"`);
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
  const largeObject: LargeObjectSettings = { ...single, sizeBytes: readNumber(env, 'BENCH_LARGE_OBJECT_MIB', 1024, 64, true) * MIB };
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
  const falcon = await spawnServer('falcon', './falcon-server.ts', [upstream.origin]);
  cleanup.add(falcon.stop);
  const bare = await spawnServer('bare', './bare-server.ts', [manifest]);
  cleanup.add(bare.stop);
  return { falcon: await withTargets(falcon, objects, urlsPerObject), bare: await withTargets(bare, objects, urlsPerObject) };
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

/** Falcon first in odd rounds, bare first in even ones, so drift over the run does not favour either server. */
function roundOrder(servers: Servers, round: number): [BenchServer, BenchServer] {
  return round % 2 === 1 ? [servers.falcon, servers.bare] : [servers.bare, servers.falcon];
}

interface RoundResult {
  falcon: Measurement;
  bare: Measurement;
  first: BenchServer;
}

async function runRound(
  servers: Servers,
  object: SeededObject,
  benchCase: BenchCase,
  settings: BenchSettings,
  round: number,
): Promise<RoundResult> {
  const [first, second] = roundOrder(servers, round);
  const firstRun = await measure(targetOf(first), object, benchCase.connections, settings, round);
  const secondRun = await measure(targetOf(second), object, benchCase.connections, settings, round);
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
  servers: Servers,
  object: SeededObject,
  benchCase: BenchCase,
  settings: BenchSettings,
): Promise<CaseResult> {
  await verifyPair(servers.falcon, servers.bare, object);
  console.error(
    `measuring ${object.label} with ${benchCase.connections} connections: ${settings.primeSeconds}s priming, then ` +
      `${settings.rounds} rounds of ${settings.warmupSeconds}s warm-up + ${settings.seconds}s per server...`,
  );
  if (settings.primeSeconds > 0) {
    for (const server of [servers.falcon, servers.bare]) {
      await prime(server, object, benchCase.connections, settings.primeSeconds);
    }
  }
  const measurements: Measurement[] = [];
  const rounds: RoundRatio[] = [];
  for (let round = 1; round <= settings.rounds; round++) {
    const result = await runRound(servers, object, benchCase, settings, round);
    const ratio = roundRatio(result.first.name, result.falcon, result.bare);
    console.error(describeRound(object, settings.rounds, ratio));
    rounds.push(ratio);
    measurements.push(result.falcon, result.bare);
  }
  await verifyPair(servers.falcon, servers.bare, object);
  return { measurements, ratio: ratioFor(object.label, benchCase.target, rounds) };
}

function printWarnings(warnings: readonly (string | undefined)[]): void {
  for (const warning of warnings) if (warning !== undefined) console.log(`${warning}\n`);
}

interface SingleNodeResults {
  measurements: Measurement[];
  ratios: Ratio[];
}

async function runSingleNodeCases(
  servers: Servers,
  objects: readonly SeededObject[],
  settings: BenchSettings,
): Promise<SingleNodeResults> {
  const results: SingleNodeResults = { measurements: [], ratios: [] };
  for (const benchCase of CASES) {
    const result = await runCase(servers, objectFor(objects, benchCase), benchCase, settings);
    results.measurements.push(...result.measurements);
    results.ratios.push(result.ratio);
  }
  console.log(`\n${measurementTable(results.measurements)}\n\n${ratioTable(results.ratios)}\n`);
  printWarnings([clientBoundWarning(results.ratios), busyMachineWarning(results.measurements)]);
  return results;
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
  const cases = CASES.map((benchCase) => ({ benchCase, object: objectFor(objects, benchCase) }));
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
  const single = await runSingleNodeCases(servers, objects, settings.single);
  const cluster =
    settings.cluster === undefined
      ? undefined
      : await runClusterCases(servers.falcon, upstream, objects, settings.cluster, urlsPerObject, cleanup);
  const problems = [...single.measurements.flatMap(measurementProblems), ...(cluster?.problems ?? [])];
  return { single, cluster, problems };
}

async function startUpstream(dir: string, cleanup: Cleanup): Promise<ServerProcess> {
  const upstream = await spawnServer('upstream', './upstream-server.ts', [join(dir, 'upstream')]);
  cleanup.add(upstream.stop);
  return upstream;
}

async function bench(settings: Settings, cleanup: Cleanup): Promise<void> {
  const authentication = await authenticationFor(settings);
  const urlsPerObject = authentication.presignedUrlsPerObject;
  const dir = await mkdtemp(join(tmpdir(), 'falcon-bench-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const upstream = await startUpstream(dir, cleanup);

  const small =
    settings.largeObjectMode === 'only' ? undefined : await benchSmallObjects(settings, dir, new URL(upstream.url), urlsPerObject, cleanup);
  let large: LargeObjectOutput | undefined;
  if (settings.largeObjectMode !== 'skip') {
    large = await benchLargeObject(upstream, dir, settings.largeObject, urlsPerObject, cleanup);
  }
  const problems = [...(small?.problems ?? []), ...(large?.problems ?? [])];
  if (problems.length > 0) throw new Error(`the run is invalid, results not written:\n  ${problems.join('\n  ')}`);
  if (small !== undefined) {
    const file = settings.uniqueSignatures ? UNIQUE_SIGNATURES_RESULTS_FILE : RESULTS_FILE;
    const { single, cluster } = small;
    await writeResults(file, settings.single, authentication, single.measurements, single.ratios, cluster?.results ?? null);
    console.log(`results written to ${file}`);
  }
  if (large !== undefined) {
    await writeResultsFile(LARGE_OBJECT_RESULTS_FILE, { settings: settings.largeObject, authentication, ...large.results });
    console.log(`large-object results written to ${LARGE_OBJECT_RESULTS_FILE}`);
  }
}

async function main(): Promise<void> {
  const cleanup = new Cleanup();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void cleanup.run().finally(() => process.exit(128 + constants.signals[signal]));
    });
  }
  try {
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
