import type { ParquetResult } from './parquet-pattern.js';
import { BYTES_PER_MB, median, table } from './report.js';

/** The large-object cases' figures and how they are printed. */

export type ReadKind = 'cold' | 'warm';

export interface FullReadMeasurement {
  read: ReadKind;
  /** falcon, bare or upstream. */
  server: string;
  /** 0 for the cold read and the reads beside it, then 1-based warm rounds. */
  round: number;
  status: number;
  bytes: number;
  seconds: number;
  bytesPerSec: number;
  /** Falcon's X-Cache answer; null for the others. */
  xCache: string | null;
  /** CPU used meanwhile, as fractions of one core (see Measurement). */
  loadGeneratorCpu: number;
  serverCpu: number | null;
  otherCpu: number | null;
}

export interface FullReadSummary {
  read: ReadKind;
  /** Falcon/bare MB/s per round. */
  roundRatios: number[];
  /** Median of roundRatios: the figure compared with the target. */
  medianRatio: number;
  /** Median of the per-round Falcon/upstream MB/s ratios. */
  medianRatioToUpstream: number;
  falconMedianBytesPerSec: number;
  bareMedianBytesPerSec: number;
  upstreamMedianBytesPerSec: number;
  /** Minimum median Falcon/bare ratio; null for the cold read, which has no target. */
  target: number | null;
  /** Null without a target; false when Falcon did not serve every read from its cache, whatever the ratio. */
  met: boolean | null;
  note: string;
}

function ratiosPerRound(reads: readonly FullReadMeasurement[], server: string): number[] {
  const rounds = [...new Set(reads.map((m) => m.round))];
  return rounds.flatMap((round) => {
    const falcon = reads.find((m) => m.round === round && m.server === 'falcon');
    const other = reads.find((m) => m.round === round && m.server === server);
    return falcon === undefined || other === undefined || other.bytesPerSec === 0 ? [] : [falcon.bytesPerSec / other.bytesPerSec];
  });
}

function medianRate(reads: readonly FullReadMeasurement[], server: string): number {
  return median(reads.filter((m) => m.server === server).map((m) => m.bytesPerSec));
}

/**
 * Falcon against bare and against the upstream, over the reads of one kind. `fromCache` says whether Falcon answered
 * every warm read from memory (X-Cache: HIT, no upstream GET); `notes` explain where it did not.
 */
export function fullReadSummary(read: ReadKind, reads: readonly FullReadMeasurement[], target: number | null, notes: readonly string[]): FullReadSummary {
  const roundRatios = ratiosPerRound(reads, 'bare');
  const medianRatio = median(roundRatios);
  return {
    read,
    roundRatios,
    medianRatio,
    medianRatioToUpstream: median(ratiosPerRound(reads, 'upstream')),
    falconMedianBytesPerSec: medianRate(reads, 'falcon'),
    bareMedianBytesPerSec: medianRate(reads, 'bare'),
    upstreamMedianBytesPerSec: medianRate(reads, 'upstream'),
    target,
    met: target === null ? null : medianRatio >= target && notes.length === 0,
    note: notes.join('; '),
  };
}

function mb(bytesPerSec: number): string {
  return (bytesPerSec / BYTES_PER_MB).toFixed(0);
}

function percent(fractionOfCore: number | null): string {
  return fractionOfCore === null ? 'n/a' : `${(fractionOfCore * 100).toFixed(0)}%`;
}

export function fullReadTable(label: string, reads: readonly FullReadMeasurement[]): string {
  return table(
    ['case', 'server', 'round', 'MB/s', 'seconds', 'x-cache', 'client CPU', 'server CPU', 'other CPU'],
    reads.map((m) => [
      `${m.read} full read, ${label}`,
      m.server,
      String(m.round),
      mb(m.bytesPerSec),
      m.seconds.toFixed(2),
      m.xCache ?? '',
      percent(m.loadGeneratorCpu),
      percent(m.serverCpu),
      percent(m.otherCpu),
    ]),
  );
}

export function fullReadRatioTable(label: string, summaries: readonly FullReadSummary[]): string {
  return table(
    ['case', 'rounds (falcon/bare MB/s)', 'median', 'median MB/s falcon / bare / upstream', 'falcon/upstream', 'target', 'met', 'note'],
    summaries.map((s) => [
      `${s.read} full read, ${label}`,
      s.roundRatios.map((ratio) => `${ratio.toFixed(2)}x`).join(' '),
      `${s.medianRatio.toFixed(2)}x`,
      `${mb(s.falconMedianBytesPerSec)} / ${mb(s.bareMedianBytesPerSec)} / ${mb(s.upstreamMedianBytesPerSec)}`,
      `${s.medianRatioToUpstream.toFixed(2)}x`,
      s.target === null ? 'none' : `>= ${s.target.toFixed(1)}x`,
      s.met === null ? '' : s.met ? 'yes' : 'NO',
      s.note,
    ]),
  );
}

const MIB = 1024 * 1024;

export function parquetTable(result: ParquetResult): string {
  return table(
    ['pass', 'ranges', 'client MiB', 'upstream requests (GET)', 'upstream MiB', 'upstream bytes per client byte'],
    result.passes.map((p) => [
      String(p.pass),
      String(p.clientRequests),
      (p.clientBytes / MIB).toFixed(2),
      `${p.upstreamRequests} (${p.upstreamGets})`,
      (p.upstreamBytes / MIB).toFixed(2),
      p.upstreamBytesPerClientByte.toFixed(3),
    ]),
  );
}
