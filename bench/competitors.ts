import type { Cleanup } from './cleanup.js';
import { type CompetitorRatio, type CompetitorRoundRatio, comparisonTable, competitorRatio, competitorRoundRatio } from './competitor-report.js';
import { COMPETITOR_KINDS, type RunningCompetitor, SETUP_HINT, findExecutable, startCompetitor } from './competitor-servers.js';
import { type BenchSettings, type LoadSettings, type Measurement, type Target, fetchObject, measure, objectProblems, prime } from './measure.js';
import type { TargetSource } from './load.js';
import type { SeededObject } from './objects.js';
import { presignTargets, requestTarget } from './presign.js';
import type { Ratio } from './report.js';
import type { ServedObject } from './shared.js';

/**
 * nginx proxy_cache and Varnish, measured in the same rounds as Falcon and bare node:http, with the same client,
 * the same objects and the same upstream, their caches warm: what a user would put in front of S3 instead.
 * Competitors that are not installed are skipped (with a line saying how to install them), and BENCH_COMPETITORS=0
 * skips them all.
 */

interface Competitor extends Target {
  /** Response header whose value is HIT when the answer came from the competitor's cache. */
  cacheHeader: string;
}

interface SkippedCompetitor {
  name: string;
  reason: string;
}

/** What the results file records of the competitors. */
export interface CompetitorResults {
  measured: string[];
  skipped: SkippedCompetitor[];
  ratios: CompetitorRatio[];
}

interface PendingRound {
  falcon: Measurement;
  competitors: Measurement[];
}

/** The requests a case sends a competitor, when not its presigned GETs of the object. */
type SourceFor = (competitor: Competitor) => TargetSource;

export class Competitors {
  private readonly ratios: CompetitorRatio[] = [];
  /** The current case's rounds, until finishCase. */
  private pending: PendingRound[] = [];

  private constructor(
    private readonly running: readonly Competitor[],
    private readonly skipped: readonly SkippedCompetitor[],
  ) {}

  /** No competitors: every method is then a no-op, and the run is Falcon and bare alone. */
  static none(): Competitors {
    return new Competitors([], []);
  }

  /**
   * Starts each installed competitor in front of `upstream`, gives it presigned targets of the same form as
   * bare's (which it ignores, as bare does), and fills its cache with every object.
   */
  static async start(
    env: NodeJS.ProcessEnv,
    dir: string,
    upstream: URL,
    objects: readonly ServedObject[],
    urlsPerObject: number,
    cleanup: Cleanup,
  ): Promise<Competitors> {
    const skipped: SkippedCompetitor[] = [];
    const running: Competitor[] = [];
    const switchText = env.BENCH_COMPETITORS?.trim() ?? '';
    if (switchText !== '' && switchText !== '0' && switchText !== '1') {
      throw new Error(`BENCH_COMPETITORS must be 0 or 1, got "${switchText}"`);
    }
    for (const kind of COMPETITOR_KINDS) {
      if (switchText === '0') {
        skipped.push({ name: kind.name, reason: 'BENCH_COMPETITORS=0' });
        continue;
      }
      const executablePath = await findExecutable(kind.executable, env);
      if (executablePath === undefined) {
        skipped.push({ name: kind.name, reason: `${kind.executable} is not installed; ${SETUP_HINT}` });
        continue;
      }
      const started = await startCompetitor(kind, executablePath, dir, upstream);
      cleanup.add(started.process.stop);
      running.push(await asCompetitor(started, objects, urlsPerObject));
    }
    for (const { name, reason } of skipped) console.error(`${name} skipped: ${reason}`);
    const competitors = new Competitors(running, skipped);
    await competitors.warm(objects);
    return competitors;
  }

  private async warm(objects: readonly ServedObject[]): Promise<void> {
    for (const competitor of this.running) {
      for (const object of objects) {
        const fetched = await fetchObject(competitor.url + requestTarget(competitor, object));
        if (fetched.status !== 200) throw new Error(`warming ${object.path} through ${competitor.name} answered ${fetched.status}`);
      }
    }
  }

  /** Each competitor must answer the seeded bytes and headers from its cache. */
  private async verify(object: SeededObject): Promise<void> {
    const problems: string[] = [];
    for (const competitor of this.running) {
      const fetched = await fetchObject(competitor.url + requestTarget(competitor, object));
      problems.push(...objectProblems(competitor.name, object, fetched));
      const cacheStatus = fetched.headers.get(competitor.cacheHeader);
      if (cacheStatus !== 'HIT') {
        problems.push(`${competitor.name} ${object.path}: ${competitor.cacheHeader} is ${JSON.stringify(cacheStatus)}, expected "HIT"`);
      }
    }
    if (problems.length > 0) throw new Error(`verification failed:\n  ${problems.join('\n  ')}`);
  }

  /** Before a case's rounds: checks each competitor's answer and primes it as Falcon and bare are primed. */
  async startCase(object: SeededObject, connections: number, settings: BenchSettings, sourceFor?: SourceFor): Promise<void> {
    this.pending = [];
    await this.verify(object);
    if (settings.primeSeconds === 0) return;
    for (const competitor of this.running) await prime(competitor, object, connections, settings.primeSeconds, sourceFor?.(competitor));
  }

  /**
   * One round: `measurePair` (Falcon and bare), and each competitor measured after it in odd rounds and before it,
   * in reverse order, in even ones. With Falcon first in odd rounds the order mirrors round by round (falcon,
   * bare, nginx, varnish; then varnish, nginx, bare, falcon), so drift during the run favours no server.
   */
  async round<Pair extends { falcon: Measurement }>(
    object: SeededObject,
    connections: number,
    settings: LoadSettings,
    round: number,
    measurePair: () => Promise<Pair>,
    sourceFor?: SourceFor,
  ): Promise<Pair> {
    const measureCompetitors = async (order: readonly Competitor[]): Promise<Measurement[]> => {
      const measurements: Measurement[] = [];
      for (const competitor of order) measurements.push(await measure(competitor, object, connections, settings, round, sourceFor?.(competitor)));
      return measurements;
    };
    const competitorsFirst = round % 2 === 0;
    const before = competitorsFirst ? await measureCompetitors([...this.running].reverse()) : [];
    const pair = await measurePair();
    const after = competitorsFirst ? [] : await measureCompetitors(this.running);
    const competitors = [...before, ...after];
    this.pending.push({ falcon: pair.falcon, competitors });
    for (const measurement of competitors) console.error(describeRun(pair.falcon, measurement));
    return pair;
  }

  /** After a case's rounds: checks the competitors again, and returns their measurements of the case. */
  async finishCase(object: SeededObject): Promise<Measurement[]> {
    await this.verify(object);
    for (const competitor of this.running) {
      const rounds: CompetitorRoundRatio[] = this.pending.flatMap(({ falcon, competitors }) =>
        competitors.filter((m) => m.server === competitor.name).map((m) => competitorRoundRatio(falcon, m)),
      );
      this.ratios.push(competitorRatio(object.label, competitor.name, rounds));
    }
    const measurements = this.pending.flatMap((r) => r.competitors);
    this.pending = [];
    return measurements;
  }

  /** Falcon's ratio to bare and to each competitor measured, and a line per competitor skipped. */
  report(bare: readonly Ratio[]): string {
    const skipped = this.skipped.map(({ name, reason }) => `${name} not measured: ${reason}`);
    const table = this.running.length === 0 ? [] : [comparisonTable(bare, this.ratios)];
    return [...table, ...skipped].join('\n');
  }

  results(): CompetitorResults {
    return { measured: this.running.map((c) => c.name), skipped: [...this.skipped], ratios: [...this.ratios] };
  }
}

async function asCompetitor(started: RunningCompetitor, objects: readonly ServedObject[], urlsPerObject: number): Promise<Competitor> {
  const { process, kind } = started;
  return {
    name: kind.name,
    url: process.url,
    targets: await presignTargets(process.url, objects, urlsPerObject),
    pids: process.pids,
    cacheHeader: kind.cacheHeader,
  };
}

function describeRun(falcon: Measurement, competitor: Measurement): string {
  const ratio = competitor.requestsPerSec === 0 ? 0 : falcon.requestsPerSec / competitor.requestsPerSec;
  return `  ${competitor.object} round ${competitor.round}: ${competitor.server} ${competitor.requestsPerSec.toFixed(0)} req/s, falcon/${competitor.server} ${ratio.toFixed(2)}x`;
}
