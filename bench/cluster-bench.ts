import { setTimeout as sleep } from 'node:timers/promises';
import type { Cleanup } from './cleanup.js';
import { type BenchCluster, CLUSTER_SIZE, clusterProblems, startCluster } from './cluster.js';
import {
  type ClusterRatio,
  type ClusterResults,
  type ClusterRoundRatio,
  type ClusterSample,
  type OneConnectionLatency,
  clusterRatioFor,
  clusterRoundRatio,
  oneConnectionLatency,
} from './cluster-report.js';
import {
  type BenchSettings,
  type Measurement,
  type Target,
  authProblems,
  fetchObject,
  measure,
  measurementProblems,
  objectProblems,
  prime,
  targetOf,
} from './measure.js';
import { type NodeCounters, readCounters, readsBetween, totalReads } from './node-metrics.js';
import type { SeededObject } from './objects.js';
import { type BenchServer, requestTarget } from './presign.js';
import { BENCH_BUCKET } from './shared.js';

/**
 * The cluster cases: the single node's load (same object, same connections) sent to one node of a 3-node cluster
 * along four paths (owner; non-owner with a hot copy; and, in a cluster without hot copies, owner and non-owner),
 * all measured in the same rounds as the single node, so each round gives every path a ratio to the single node's
 * req/s and to the owner's. Then the median latency at one connection of a non-owner without a hot copy against
 * the owner's.
 */

export interface ClusterCase {
  key: string;
  connections: number;
}

interface Clusters {
  /** Default hot cache: a non-owner keeps a hot copy after its first read. */
  withHotCache: BenchCluster;
  /** --hot-cache-size 0: every read on a non-owner goes to the owner over the peer API. */
  noHotCache: BenchCluster;
}

/** Where the load goes in a cluster, and what must serve it. */
interface ClusterPath {
  name: string;
  cluster: BenchCluster;
  entryIndex: number;
  ownerIndex: number;
  /** Every read must be a hit on the entry node (main cache on the owner, hot cache elsewhere). */
  expectHit: boolean;
}

const HIT_TRIES = 50;
const HIT_RETRY_MS = 20;

export async function startClusters(
  upstream: URL,
  objects: readonly SeededObject[],
  urlsPerObject: number,
  cleanup: Cleanup,
): Promise<Clusters> {
  const withHotCache = await startCluster('hot', upstream, objects, urlsPerObject, []);
  cleanup.add(withHotCache.stop);
  const noHotCache = await startCluster('no-hot', upstream, objects, urlsPerObject, ['--hot-cache-size', '0']);
  cleanup.add(noHotCache.stop);
  return { withHotCache, noHotCache };
}

function ownerOf(cluster: BenchCluster, key: string): number {
  const owner = cluster.ownerIndex(BENCH_BUCKET, key);
  if (owner < 0) throw new Error(`${cluster.name}: no owner for ${key}`);
  return owner;
}

function nonOwner(owner: number): number {
  return (owner + 1) % CLUSTER_SIZE;
}

function pathsFor(clusters: Clusters, key: string): ClusterPath[] {
  const hotOwner = ownerOf(clusters.withHotCache, key);
  const coldOwner = ownerOf(clusters.noHotCache, key);
  return [
    { name: 'cluster, owner', cluster: clusters.withHotCache, entryIndex: hotOwner, ownerIndex: hotOwner, expectHit: true },
    {
      name: 'cluster, non-owner, hot copy',
      cluster: clusters.withHotCache,
      entryIndex: nonOwner(hotOwner),
      ownerIndex: hotOwner,
      expectHit: true,
    },
    { name: 'cluster, owner, no hot copy', cluster: clusters.noHotCache, entryIndex: coldOwner, ownerIndex: coldOwner, expectHit: true },
    {
      name: 'cluster, non-owner, no hot copy',
      cluster: clusters.noHotCache,
      entryIndex: nonOwner(coldOwner),
      ownerIndex: coldOwner,
      expectHit: false,
    },
  ];
}

/** The path that sends the load to the owner in the same cluster as `path`. */
function ownerPathOf(paths: readonly ClusterPath[], path: ClusterPath): ClusterPath | undefined {
  return paths.find((candidate) => candidate.cluster === path.cluster && candidate.entryIndex === candidate.ownerIndex);
}

function nodeAt(cluster: BenchCluster, index: number): BenchServer {
  const node = cluster.nodes[index];
  if (node === undefined) throw new Error(`${cluster.name} has no node ${index}`);
  return node;
}

function entryNode(path: ClusterPath): BenchServer {
  return nodeAt(path.cluster, path.entryIndex);
}

/** The load goes to the entry node; the server CPU is the whole cluster's. */
function targetFor(path: ClusterPath): Target {
  const entry = entryNode(path);
  return { name: path.name, url: entry.url, targets: entry.targets, pids: path.cluster.pids };
}

/** GETs through `node` until it answers from its cache, checking the bytes of every answer. */
async function fetchUntilHit(node: BenchServer, object: SeededObject): Promise<void> {
  for (let attempt = 1; attempt <= HIT_TRIES; attempt++) {
    const fetched = await fetchObject(node.url + requestTarget(node, object));
    const problems = objectProblems(node.name, object, fetched);
    if (problems.length > 0) throw new Error(`warming failed:\n  ${problems.join('\n  ')}`);
    if (fetched.headers.get('x-cache') === 'HIT') return;
    await sleep(HIT_RETRY_MS);
  }
  throw new Error(`${node.name} ${object.path}: no cache hit after ${HIT_TRIES} reads`);
}

/** Fills the owner's main cache, and for a hot-copy path the entry node's hot cache. */
async function warmPath(path: ClusterPath, object: SeededObject): Promise<void> {
  await fetchUntilHit(nodeAt(path.cluster, path.ownerIndex), object);
  if (path.expectHit) await fetchUntilHit(entryNode(path), object);
}

/**
 * The entry node must return the seeded bytes and headers for its presigned target, where expected answer from its
 * cache, and refuse unsigned and badly signed requests.
 */
async function verifyPath(path: ClusterPath, object: SeededObject): Promise<void> {
  const entry = entryNode(path);
  const fetched = await fetchObject(entry.url + requestTarget(entry, object));
  const problems = [...objectProblems(`${path.name} (${entry.name})`, object, fetched), ...(await authProblems(entry, object))];
  const cacheStatus = fetched.headers.get('x-cache');
  if (path.expectHit && cacheStatus !== 'HIT') problems.push(`${path.name} ${object.path}: x-cache is ${JSON.stringify(cacheStatus)}, expected "HIT"`);
  if (problems.length > 0) throw new Error(`verification failed:\n  ${problems.join('\n  ')}`);
}

function readAll(cluster: BenchCluster): Promise<NodeCounters[]> {
  return Promise.all(cluster.nodes.map((node) => readCounters(node.url)));
}

function upstreamGets(counters: readonly NodeCounters[]): number {
  return counters.reduce((sum, c) => sum + c.upstreamGets, 0);
}

function countersAt(counters: readonly NodeCounters[], index: number): NodeCounters {
  const node = counters[index];
  if (node === undefined) throw new Error(`no counters for node ${index}`);
  return node;
}

interface Run {
  object: SeededObject;
  connections: number;
  settings: BenchSettings;
  round: number;
}

async function measurePath(path: ClusterPath, run: Run): Promise<ClusterSample> {
  const before = await readAll(path.cluster);
  const measurement = await measure(targetFor(path), run.object, run.connections, run.settings, run.round);
  const after = await readAll(path.cluster);
  return {
    measurement,
    entryNodeReads: readsBetween(countersAt(before, path.entryIndex).reads, countersAt(after, path.entryIndex).reads),
    upstreamGets: upstreamGets(after) - upstreamGets(before),
  };
}

/** What the counters say went wrong: the load must be served from the cluster's memory along the intended path. */
function sampleProblems(path: ClusterPath, sample: ClusterSample): string[] {
  const m = sample.measurement;
  const reads = sample.entryNodeReads;
  const problems: string[] = [];
  if (sample.upstreamGets > 0) problems.push(`${sample.upstreamGets} GETs went to the upstream`);
  if (path.expectHit && reads.hit !== totalReads(reads)) problems.push(`only ${reads.hit} of ${totalReads(reads)} reads were cache hits`);
  if (!path.expectHit && (reads.peer === 0 || reads.hit > 0 || reads.miss > 0)) {
    problems.push(`expected reads from the owner only, counted ${JSON.stringify(reads)}`);
  }
  return problems.map((problem) => `${m.object} via ${path.name} (round ${m.round}): ${problem}`);
}

type Subject = { kind: 'single'; server: BenchServer } | { kind: 'cluster'; path: ClusterPath };

function subjectName(subject: Subject): string {
  return subject.kind === 'single' ? subject.server.name : subject.path.name;
}

/** The single node first in odd rounds and last in even ones, so drift over a round favours no subject. */
function roundOrder(subjects: readonly Subject[], round: number): Subject[] {
  return round % 2 === 1 ? [...subjects] : [...subjects].reverse();
}

interface RoundResult {
  order: string[];
  /** Every measurement of the round, in the order taken. */
  measured: Measurement[];
  single: Measurement;
  samples: Map<ClusterPath, ClusterSample>;
}

async function runRound(subjects: readonly Subject[], run: Run): Promise<RoundResult> {
  const order = roundOrder(subjects, run.round);
  let single: Measurement | undefined;
  const measured: Measurement[] = [];
  const samples = new Map<ClusterPath, ClusterSample>();
  for (const subject of order) {
    if (subject.kind === 'single') {
      single = await measure(targetOf(subject.server), run.object, run.connections, run.settings, run.round);
      measured.push(single);
    } else {
      const sample = await measurePath(subject.path, run);
      samples.set(subject.path, sample);
      measured.push(sample.measurement);
    }
  }
  if (single === undefined) throw new Error('a round without the single node');
  return { order: order.map(subjectName), measured, single, samples };
}

function describeRound(run: Run, result: RoundResult, ratios: ReadonlyMap<ClusterPath, ClusterRoundRatio>): string {
  const parts = [`1 node ${result.single.requestsPerSec.toFixed(0)} req/s`];
  for (const [path, ratio] of ratios) parts.push(`${path.name} ${ratio.clusterRequestsPerSec.toFixed(0)} (${ratio.ratio.toFixed(2)}x)`);
  return `  ${run.object.label} round ${run.round}/${run.settings.rounds} (${result.order[0]} first): ${parts.join(', ')}`;
}

interface ObjectResult {
  measurements: Measurement[];
  ratios: ClusterRatio[];
  problems: string[];
  oneConnection?: OneConnectionLatency;
}

async function primeAll(subjects: readonly Subject[], run: Omit<Run, 'round'>): Promise<void> {
  if (run.settings.primeSeconds <= 0) return;
  for (const subject of subjects) {
    const server = subject.kind === 'single' ? subject.server : entryNode(subject.path);
    await prime(server, run.object, run.connections, run.settings.primeSeconds);
  }
}

function announce(object: SeededObject, connections: number, settings: BenchSettings): void {
  console.error(
    `measuring ${object.label} through the cluster with ${connections} connections: ${settings.primeSeconds}s priming, ` +
      `then ${settings.rounds} rounds of ${settings.warmupSeconds}s warm-up + ${settings.seconds}s for the single node ` +
      'and each cluster path...',
  );
}

/** One round's samples as ratios to the round's single-node measurement; measurements and problems go to `result`. */
function collectRound(roundResult: RoundResult, result: ObjectResult): Map<ClusterPath, ClusterRoundRatio> {
  const ratios = new Map<ClusterPath, ClusterRoundRatio>();
  for (const [path, sample] of roundResult.samples) {
    ratios.set(path, clusterRoundRatio(roundResult.order, sample, roundResult.single));
    result.problems.push(...sampleProblems(path, sample));
  }
  result.measurements.push(...roundResult.measured);
  result.problems.push(...roundResult.measured.flatMap(measurementProblems));
  return ratios;
}

async function runRounds(paths: readonly ClusterPath[], subjects: readonly Subject[], run: Omit<Run, 'round'>): Promise<ObjectResult> {
  const result: ObjectResult = { measurements: [], ratios: [], problems: [] };
  const rounds = new Map<ClusterPath, ClusterRoundRatio[]>(paths.map((path) => [path, []]));
  for (let round = 1; round <= run.settings.rounds; round++) {
    const roundResult = await runRound(subjects, { ...run, round });
    const ratios = collectRound(roundResult, result);
    console.error(describeRound({ ...run, round }, roundResult, ratios));
    for (const [path, ratio] of ratios) rounds.get(path)?.push(ratio);
  }
  for (const path of paths) {
    const info = { case: path.name, object: run.object.label, connections: run.connections, entryNode: path.entryIndex, ownerNode: path.ownerIndex };
    const ownerPath = ownerPathOf(paths, path);
    result.ratios.push(clusterRatioFor(info, rounds.get(path) ?? [], ownerPath === undefined ? [] : (rounds.get(ownerPath) ?? [])));
  }
  return result;
}

/**
 * Median latency at one connection of a read through a non-owner without a hot copy (every read asks the owner)
 * against a hit on the owner, in as many alternating rounds as the load.
 */
async function oneConnectionRounds(paths: readonly ClusterPath[], run: Omit<Run, 'round'>): Promise<OneConnectionLatency> {
  const nonOwner = paths.find((path) => !path.expectHit);
  const owner = nonOwner === undefined ? undefined : ownerPathOf(paths, nonOwner);
  if (owner === undefined || nonOwner === undefined) throw new Error('no owner or no non-owner path without a hot copy');
  const p50s = new Map<ClusterPath, number[]>([
    [owner, []],
    [nonOwner, []],
  ]);
  for (let round = 1; round <= run.settings.rounds; round++) {
    const order = round % 2 === 1 ? [owner, nonOwner] : [nonOwner, owner];
    for (const path of order) {
      const measurement = await measure(targetFor(path), run.object, 1, run.settings, round);
      const problems = measurementProblems(measurement);
      if (problems.length > 0) throw new Error(`one-connection run failed:\n  ${problems.join('\n  ')}`);
      p50s.get(path)?.push(measurement.p50LatencyMs);
    }
  }
  const latency = oneConnectionLatency(run.object.label, p50s.get(owner) ?? [], p50s.get(nonOwner) ?? []);
  console.error(
    `  ${run.object.label} at one connection: p50 non-owner without hot copy ${latency.medianNonOwnerP50Ms.toFixed(3)} ms, ` +
      `owner ${latency.medianOwnerP50Ms.toFixed(3)} ms (${latency.ratio.toFixed(2)}x)`,
  );
  return latency;
}

async function benchObject(single: BenchServer, paths: readonly ClusterPath[], run: Omit<Run, 'round'>): Promise<ObjectResult> {
  for (const path of paths) await warmPath(path, run.object);
  for (const path of paths) await verifyPath(path, run.object);
  announce(run.object, run.connections, run.settings);
  const subjects: Subject[] = [{ kind: 'single', server: single }, ...paths.map((path): Subject => ({ kind: 'cluster', path }))];
  await primeAll(subjects, run);
  const result = await runRounds(paths, subjects, run);
  result.oneConnection = await oneConnectionRounds(paths, run);
  for (const path of paths) await verifyPath(path, run.object);
  return result;
}

export interface ClusterBenchInput {
  single: BenchServer;
  clusters: Clusters;
  cases: readonly { benchCase: ClusterCase; object: SeededObject }[];
  settings: BenchSettings;
}

export interface ClusterBenchOutput {
  results: ClusterResults;
  problems: string[];
}

export async function benchClusters(input: ClusterBenchInput): Promise<ClusterBenchOutput> {
  const results: ClusterResults = { nodes: CLUSTER_SIZE, settings: input.settings, measurements: [], ratios: [], oneConnection: [] };
  const problems: string[] = [];
  for (const { benchCase, object } of input.cases) {
    const paths = pathsFor(input.clusters, benchCase.key);
    const run = { object, connections: benchCase.connections, settings: input.settings };
    const result = await benchObject(input.single, paths, run);
    results.measurements.push(...result.measurements);
    results.ratios.push(...result.ratios);
    if (result.oneConnection !== undefined) results.oneConnection.push(result.oneConnection);
    problems.push(...result.problems);
    for (const cluster of [input.clusters.withHotCache, input.clusters.noHotCache]) problems.push(...(await clusterProblems(cluster)));
  }
  return { results, problems };
}
