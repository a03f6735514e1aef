import type { BenchSettings, Measurement } from './measure.js';
import { type ReadCounts, addReads, emptyReadCounts, totalReads } from './node-metrics.js';
import { BYTES_PER_MB, comparison, median, medianOrNull, table } from './report.js';

/** One cluster path against the single node, from one round. */
export interface ClusterRoundRatio {
  round: number;
  /** The order in which the round measured the single node and the cluster paths. */
  order: string[];
  clusterRequestsPerSec: number;
  singleRequestsPerSec: number;
  clusterBytesPerSec: number;
  clusterP99LatencyMs: number;
  singleP99LatencyMs: number;
  /** Cluster req/s / single-node req/s. */
  ratio: number;
  /** Requests per second of server CPU (all three nodes together for the cluster) against the single node's. */
  perServerCpuRatio: number | null;
  clientBound: boolean;
  /** Reads the node the load went to counted during warm-up and measurement, by outcome. */
  entryNodeReads: ReadCounts;
  /** GETs any node of the cluster sent to the upstream during warm-up and measurement: 0 in a valid run. */
  upstreamGets: number;
}

export interface ClusterRatio {
  case: string;
  object: string;
  connections: number;
  /** Index of the node the load went to, and of the key's owner, in the cluster's --peers order. */
  entryNode: number;
  ownerNode: number;
  rounds: ClusterRoundRatio[];
  /** Median of the per-round cluster/single req/s ratios. */
  medianRatio: number;
  medianPerServerCpuRatio: number | null;
  clusterMedianRequestsPerSec: number;
  singleMedianRequestsPerSec: number;
  clusterMedianBytesPerSec: number;
  clusterMedianP99LatencyMs: number;
  singleMedianP99LatencyMs: number;
  /** Fetches the entry node started from the owner per read it served, over all rounds. */
  peerFetchesPerRead: number;
  clientBoundRounds: number;
  /** Median of the per-round req/s ratios of this path to the owner path (the owner itself: 1). */
  medianRatioToOwner: number;
}

/** Median latency at one connection: a read through a non-owner without a hot copy against a hit on the owner. */
export interface OneConnectionLatency {
  object: string;
  /** p50 of each round, ms. */
  ownerP50Ms: number[];
  nonOwnerP50Ms: number[];
  medianOwnerP50Ms: number;
  medianNonOwnerP50Ms: number;
  /** medianNonOwnerP50Ms / medianOwnerP50Ms. */
  ratio: number;
}

export function oneConnectionLatency(object: string, ownerP50Ms: readonly number[], nonOwnerP50Ms: readonly number[]): OneConnectionLatency {
  const medianOwnerP50Ms = median(ownerP50Ms);
  const medianNonOwnerP50Ms = median(nonOwnerP50Ms);
  return {
    object,
    ownerP50Ms: [...ownerP50Ms],
    nonOwnerP50Ms: [...nonOwnerP50Ms],
    medianOwnerP50Ms,
    medianNonOwnerP50Ms,
    ratio: medianOwnerP50Ms === 0 ? 0 : medianNonOwnerP50Ms / medianOwnerP50Ms,
  };
}

export function oneConnectionTable(latencies: readonly OneConnectionLatency[]): string {
  return table(
    ['one connection, p50', 'object', 'rounds ms (non-owner, no hot copy / owner)', 'median ms', 'non-owner / owner'],
    latencies.map((l) => [
      'non-owner without hot copy vs local hit',
      l.object,
      l.nonOwnerP50Ms.map((ms, i) => `${ms.toFixed(3)}/${(l.ownerP50Ms[i] ?? 0).toFixed(3)}`).join(' '),
      `${l.medianNonOwnerP50Ms.toFixed(3)} / ${l.medianOwnerP50Ms.toFixed(3)}`,
      `${l.ratio.toFixed(2)}x`,
    ]),
  );
}

export interface ClusterResults {
  nodes: number;
  settings: BenchSettings;
  measurements: Measurement[];
  ratios: ClusterRatio[];
  oneConnection: OneConnectionLatency[];
}

export interface ClusterSample {
  measurement: Measurement;
  entryNodeReads: ReadCounts;
  upstreamGets: number;
}

export function clusterRoundRatio(order: readonly string[], sample: ClusterSample, single: Measurement): ClusterRoundRatio {
  const cluster = sample.measurement;
  return {
    round: cluster.round,
    order: [...order],
    clusterRequestsPerSec: cluster.requestsPerSec,
    singleRequestsPerSec: single.requestsPerSec,
    clusterBytesPerSec: cluster.bytesPerSec,
    clusterP99LatencyMs: cluster.p99LatencyMs,
    singleP99LatencyMs: single.p99LatencyMs,
    ...comparison(cluster, single),
    entryNodeReads: sample.entryNodeReads,
    upstreamGets: sample.upstreamGets,
  };
}

export interface ClusterCaseInfo {
  case: string;
  object: string;
  connections: number;
  entryNode: number;
  ownerNode: number;
}

function peerFetchesPerRead(rounds: readonly ClusterRoundRatio[]): number {
  const reads = rounds.reduce((sum, r) => addReads(sum, r.entryNodeReads), emptyReadCounts());
  const total = totalReads(reads);
  return total === 0 ? 0 : reads.peer / total;
}

/**
 * `rounds` of one path with the owner path's rounds of the same run: the median of the per-round req/s ratios of
 * the path to the owner.
 */
export function clusterRatioFor(info: ClusterCaseInfo, rounds: readonly ClusterRoundRatio[], ownerRounds: readonly ClusterRoundRatio[]): ClusterRatio {
  const toOwner = rounds.map((r, i) => {
    const owner = ownerRounds[i]?.clusterRequestsPerSec ?? 0;
    return owner === 0 ? 0 : r.clusterRequestsPerSec / owner;
  });
  return {
    medianRatioToOwner: median(toOwner),
    ...info,
    rounds: [...rounds],
    medianRatio: median(rounds.map((r) => r.ratio)),
    medianPerServerCpuRatio: medianOrNull(rounds.map((r) => r.perServerCpuRatio)),
    clusterMedianRequestsPerSec: median(rounds.map((r) => r.clusterRequestsPerSec)),
    singleMedianRequestsPerSec: median(rounds.map((r) => r.singleRequestsPerSec)),
    clusterMedianBytesPerSec: median(rounds.map((r) => r.clusterBytesPerSec)),
    clusterMedianP99LatencyMs: median(rounds.map((r) => r.clusterP99LatencyMs)),
    singleMedianP99LatencyMs: median(rounds.map((r) => r.singleP99LatencyMs)),
    peerFetchesPerRead: peerFetchesPerRead(rounds),
    clientBoundRounds: rounds.filter((r) => r.clientBound).length,
  };
}

export function clusterRatioTable(ratios: readonly ClusterRatio[]): string {
  return table(
    [
      'case',
      'object',
      'rounds (cluster/1 node)',
      'median',
      'req/s / owner',
      'median req/s cluster / 1 node',
      'MB/s cluster',
      'p99 ms cluster / 1 node',
      'per server CPU',
      'peer fetches/read',
      'note',
    ],
    ratios.map((r) => [
      r.case,
      r.object,
      r.rounds.map((round) => `${round.ratio.toFixed(2)}x`).join(' '),
      `${r.medianRatio.toFixed(2)}x`,
      `${r.medianRatioToOwner.toFixed(2)}x`,
      `${r.clusterMedianRequestsPerSec.toFixed(0)} / ${r.singleMedianRequestsPerSec.toFixed(0)}`,
      (r.clusterMedianBytesPerSec / BYTES_PER_MB).toFixed(1),
      `${r.clusterMedianP99LatencyMs.toFixed(2)} / ${r.singleMedianP99LatencyMs.toFixed(2)}`,
      r.medianPerServerCpuRatio === null ? 'n/a' : `${r.medianPerServerCpuRatio.toFixed(2)}x`,
      r.peerFetchesPerRead.toFixed(3),
      r.clientBoundRounds > 0 ? `client-bound in ${r.clientBoundRounds}/${r.rounds.length} rounds` : '',
    ]),
  );
}
