import { mkdir, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname } from 'node:path';
import type { ClusterResults } from './cluster-report.js';
import type { CompetitorResults } from './competitors.js';
import { type BenchSettings, CLIENT_BOUND_CPU, type Measurement } from './measure.js';

export interface RoundRatio {
  round: number;
  /** Which server was measured first in this round. */
  first: string;
  falconRequestsPerSec: number;
  bareRequestsPerSec: number;
  ratio: number;
  /**
   * Falcon/bare requests per second of server CPU: unlike `ratio`, not inflated when the load generator caps
   * bare below its capacity. Null where server CPU is unavailable.
   */
  perServerCpuRatio: number | null;
  /** The load generator was CPU-saturated in either run of the round. */
  clientBound: boolean;
}

export interface Ratio {
  object: string;
  rounds: RoundRatio[];
  /** Median of the per-round Falcon/bare req/s ratios: the figure compared with the target. */
  medianRatio: number;
  medianPerServerCpuRatio: number | null;
  falconMedianRequestsPerSec: number;
  bareMedianRequestsPerSec: number;
  target: number;
  met: boolean;
  clientBoundRounds: number;
}

export const BYTES_PER_MB = 1_000_000;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? 0;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? 0) + upper) / 2;
}

export function roundRatio(first: string, falcon: Measurement, bare: Measurement): RoundRatio {
  return {
    round: falcon.round,
    first,
    falconRequestsPerSec: falcon.requestsPerSec,
    bareRequestsPerSec: bare.requestsPerSec,
    ...comparison(falcon, bare),
  };
}

/** How one measurement compares with another of the same round: req/s ratio, per server CPU, and whether the client limited either. */
export function comparison(subject: Measurement, reference: Measurement): { ratio: number; perServerCpuRatio: number | null; clientBound: boolean } {
  return {
    ratio: reference.requestsPerSec === 0 ? 0 : subject.requestsPerSec / reference.requestsPerSec,
    perServerCpuRatio: perServerCpuRatio(subject, reference),
    clientBound: isClientBound(subject) || isClientBound(reference),
  };
}

function requestsPerServerCpuSecond(m: Measurement): number | null {
  return m.serverCpu === null || m.serverCpu === 0 ? null : m.requestsPerSec / m.serverCpu;
}

/** (a's req/s per core of server CPU) / (b's), or null where server CPU is unavailable. */
export function perServerCpuRatio(falcon: Measurement, bare: Measurement): number | null {
  const viaFalcon = requestsPerServerCpuSecond(falcon);
  const viaBare = requestsPerServerCpuSecond(bare);
  return viaFalcon === null || viaBare === null || viaBare === 0 ? null : viaFalcon / viaBare;
}

export function medianOrNull(values: readonly (number | null)[]): number | null {
  const known = values.filter((value): value is number => value !== null);
  return known.length === values.length ? median(known) : null;
}

export function ratioFor(object: string, target: number, rounds: readonly RoundRatio[]): Ratio {
  const medianRatio = median(rounds.map((r) => r.ratio));
  return {
    object,
    rounds: [...rounds],
    medianRatio,
    medianPerServerCpuRatio: medianOrNull(rounds.map((r) => r.perServerCpuRatio)),
    falconMedianRequestsPerSec: median(rounds.map((r) => r.falconRequestsPerSec)),
    bareMedianRequestsPerSec: median(rounds.map((r) => r.bareRequestsPerSec)),
    target,
    met: medianRatio >= target,
    clientBoundRounds: rounds.filter((r) => r.clientBound).length,
  };
}

export function isClientBound(m: Measurement): boolean {
  return m.loadGeneratorCpu >= CLIENT_BOUND_CPU;
}

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const format = (cells: readonly string[]): string =>
    cells.map((cell, column) => (column < 2 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ').trimEnd();
  return [format(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(format)].join('\n');
}

function percent(fractionOfCore: number): string {
  return `${(fractionOfCore * 100).toFixed(0)}%`;
}

export function measurementTable(measurements: readonly Measurement[]): string {
  return table(
    ['case', 'server', 'round', 'req/s', 'MB/s', 'p50 ms', 'p99 ms', 'errors', 'client CPU', 'server CPU', 'other CPU'],
    measurements.map((m) => [
      `${m.object} x${m.connections}`,
      m.server,
      String(m.round),
      m.requestsPerSec.toFixed(0),
      (m.bytesPerSec / BYTES_PER_MB).toFixed(1),
      m.p50LatencyMs.toFixed(2),
      m.p99LatencyMs.toFixed(2),
      String(m.non2xx + m.lengthMismatches + m.errors),
      percent(m.loadGeneratorCpu),
      m.serverCpu === null ? 'n/a' : percent(m.serverCpu),
      m.otherCpu === null ? 'n/a' : percent(m.otherCpu),
    ]),
  );
}

export function ratioTable(ratios: readonly Ratio[]): string {
  return table(
    ['object', 'rounds (falcon/bare)', 'median', 'median req/s falcon / bare', 'median per server CPU', 'target', 'met', 'note'],
    ratios.map((r) => [
      r.object,
      r.rounds.map((round) => `${round.ratio.toFixed(2)}x`).join(' '),
      `${r.medianRatio.toFixed(2)}x`,
      `${r.falconMedianRequestsPerSec.toFixed(0)} / ${r.bareMedianRequestsPerSec.toFixed(0)}`,
      r.medianPerServerCpuRatio === null ? 'n/a' : `${r.medianPerServerCpuRatio.toFixed(2)}x`,
      `>= ${r.target.toFixed(2)}x`,
      r.met ? 'yes' : 'NO',
      r.clientBoundRounds > 0 ? `client-bound in ${r.clientBoundRounds}/${r.rounds.length} rounds` : '',
    ]),
  );
}

export function clientBoundWarning(ratios: readonly Ratio[]): string | undefined {
  const bound = ratios.filter((r) => r.clientBoundRounds > 0).map((r) => r.object);
  if (bound.length === 0) return undefined;
  return (
    `warning: the load generator used >= ${CLIENT_BOUND_CPU * 100}% of a core for ${bound.join(', ')}. ` +
    'Where a server\'s own CPU stayed below that, it could have gone faster than measured, so a ratio with a ' +
    'client-bound bare run overstates Falcon; the "per server CPU" ratio (req/s per core of server CPU) is ' +
    'less affected.'
  );
}

/** Above this, something besides the bench was likely using the machine during a measurement. */
export const BUSY_MACHINE_CPU = 0.25;

export function busyMachineWarning(measurements: readonly Measurement[]): string | undefined {
  const busy = measurements.filter((m) => m.otherCpu !== null && m.otherCpu > BUSY_MACHINE_CPU);
  if (busy.length === 0) return undefined;
  const worst = Math.max(...busy.map((m) => m.otherCpu ?? 0));
  return (
    `warning: in ${busy.length} of ${measurements.length} measurements the rest of the machine used more than ` +
    `${percent(BUSY_MACHINE_CPU)} of a core (up to ${percent(worst)}): another process was probably running, and ` +
    'those measurements understate both sides. Rerun on an idle machine.'
  );
}

/** What the requests carried: one presigned URL per object and server, or (BENCH_UNIQUE_SIGNATURES) many. */
export interface Authentication {
  uniqueSignatures: boolean;
  presignedUrlsPerObject: number;
  /** Falcon's capacity for remembered verified requests, where the run depends on it; otherwise null. */
  falconMemoEntries: number | null;
}

export async function writeResults(
  file: string,
  settings: BenchSettings,
  authentication: Authentication,
  measurements: readonly Measurement[],
  ratios: readonly Ratio[],
  cluster: ClusterResults | null,
  competitors: CompetitorResults,
): Promise<void> {
  await writeResultsFile(file, { settings, authentication, measurements, ratios, cluster, competitors });
}

/** The machine the bench ran on. */
export function environment(): Record<string, string | number> {
  const cpuList = cpus();
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
  };
}

/** Writes `results` as JSON after the time and the machine. */
export async function writeResultsFile(file: string, results: object): Promise<void> {
  const contents = { generatedAt: new Date().toISOString(), environment: environment(), ...results };
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(contents, null, 2)}\n`);
}
