import type { Measurement } from './measure.js';
import { type Ratio, comparison, median, medianOrNull, table } from './report.js';

/** Falcon against one competitor in one round: Falcon's run and the competitor's run of that round. */
export interface CompetitorRoundRatio {
  round: number;
  falconRequestsPerSec: number;
  competitorRequestsPerSec: number;
  /** Falcon req/s / competitor req/s. */
  ratio: number;
  /** (Falcon req/s per core of server CPU) / (the competitor's); null where server CPU is unavailable. */
  perServerCpuRatio: number | null;
  clientBound: boolean;
}

export interface CompetitorRatio {
  object: string;
  competitor: string;
  rounds: CompetitorRoundRatio[];
  /** Median of the per-round Falcon/competitor req/s ratios. */
  medianRatio: number;
  medianPerServerCpuRatio: number | null;
  falconMedianRequestsPerSec: number;
  competitorMedianRequestsPerSec: number;
  clientBoundRounds: number;
}

export function competitorRoundRatio(falcon: Measurement, competitor: Measurement): CompetitorRoundRatio {
  return {
    round: falcon.round,
    falconRequestsPerSec: falcon.requestsPerSec,
    competitorRequestsPerSec: competitor.requestsPerSec,
    ...comparison(falcon, competitor),
  };
}

export function competitorRatio(object: string, competitor: string, rounds: readonly CompetitorRoundRatio[]): CompetitorRatio {
  return {
    object,
    competitor,
    rounds: [...rounds],
    medianRatio: median(rounds.map((r) => r.ratio)),
    medianPerServerCpuRatio: medianOrNull(rounds.map((r) => r.perServerCpuRatio)),
    falconMedianRequestsPerSec: median(rounds.map((r) => r.falconRequestsPerSec)),
    competitorMedianRequestsPerSec: median(rounds.map((r) => r.competitorRequestsPerSec)),
    clientBoundRounds: rounds.filter((r) => r.clientBound).length,
  };
}

interface ComparisonRow {
  object: string;
  other: string;
  rounds: readonly number[];
  medianRatio: number;
  falconMedianRequestsPerSec: number;
  otherMedianRequestsPerSec: number;
  medianPerServerCpuRatio: number | null;
  clientBoundRounds: number;
}

function bareRow(r: Ratio): ComparisonRow {
  return {
    object: r.object,
    other: 'bare',
    rounds: r.rounds.map((round) => round.ratio),
    medianRatio: r.medianRatio,
    falconMedianRequestsPerSec: r.falconMedianRequestsPerSec,
    otherMedianRequestsPerSec: r.bareMedianRequestsPerSec,
    medianPerServerCpuRatio: r.medianPerServerCpuRatio,
    clientBoundRounds: r.clientBoundRounds,
  };
}

function competitorRow(r: CompetitorRatio): ComparisonRow {
  return {
    object: r.object,
    other: r.competitor,
    rounds: r.rounds.map((round) => round.ratio),
    medianRatio: r.medianRatio,
    falconMedianRequestsPerSec: r.falconMedianRequestsPerSec,
    otherMedianRequestsPerSec: r.competitorMedianRequestsPerSec,
    medianPerServerCpuRatio: r.medianPerServerCpuRatio,
    clientBoundRounds: r.clientBoundRounds,
  };
}

/** Falcon's ratio to bare node:http and to each competitor, object by object. */
export function comparisonTable(bare: readonly Ratio[], competitors: readonly CompetitorRatio[]): string {
  const rows = bare.flatMap((b) => [bareRow(b), ...competitors.filter((c) => c.object === b.object).map(competitorRow)]);
  return table(
    ['object', 'falcon vs', 'rounds (falcon/other)', 'median', 'median req/s falcon / other', 'median per server CPU', 'note'],
    rows.map((r) => [
      r.object,
      r.other,
      r.rounds.map((ratio) => `${ratio.toFixed(2)}x`).join(' '),
      `${r.medianRatio.toFixed(2)}x`,
      `${r.falconMedianRequestsPerSec.toFixed(0)} / ${r.otherMedianRequestsPerSec.toFixed(0)}`,
      r.medianPerServerCpuRatio === null ? 'n/a' : `${r.medianPerServerCpuRatio.toFixed(2)}x`,
      r.clientBoundRounds > 0 ? `client-bound in ${r.clientBoundRounds}/${r.rounds.length} rounds` : '',
    ]),
  );
}
