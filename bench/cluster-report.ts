import type { BenchSettings, Measurement } from './measure.js';
import { type ReadCounts, addReads, emptyReadCounts, totalReads } from './node-metrics.js';
import { BYTES_PER_MB, isClientBound, median, medianOrNull, perServerCpuRatio, table } from './report.js';

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
}

export interface ClusterResults {
  nodes: number;
  settings: BenchSettings;
  measurements: Measurement[];
  ratios: ClusterRatio[];
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
    ratio: single.requestsPerSec === 0 ? 0 : cluster.requestsPerSec / single.requestsPerSec,
    perServerCpuRatio: perServerCpuRatio(cluster, single),
    clientBound: isClientBound(cluster) || isClientBound(single),
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

export function clusterRatioFor(info: ClusterCaseInfo, rounds: readonly ClusterRoundRatio[]): ClusterRatio {
  return {
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
      `${r.clusterMedianRequestsPerSec.toFixed(0)} / ${r.singleMedianRequestsPerSec.toFixed(0)}`,
      (r.clusterMedianBytesPerSec / BYTES_PER_MB).toFixed(1),
      `${r.clusterMedianP99LatencyMs.toFixed(2)} / ${r.singleMedianP99LatencyMs.toFixed(2)}`,
      r.medianPerServerCpuRatio === null ? 'n/a' : `${r.medianPerServerCpuRatio.toFixed(2)}x`,
      r.peerFetchesPerRead.toFixed(3),
      r.clientBoundRounds > 0 ? `client-bound in ${r.clientBoundRounds}/${r.rounds.length} rounds` : '',
    ]),
  );
}
