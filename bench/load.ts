import { setTimeout as sleep } from 'node:timers/promises';
import { type Dispatcher, Pool } from 'undici';
import { LatencyHistogram } from './histogram.js';

/**
 * A deliberately small HTTP load generator: one undici Pool per target with one keep-alive connection per
 * concurrent loop, each loop issuing GETs back to back (no pipelining) until the deadline. Bodies are never
 * decoded or buffered; each chunk only adds its length to a counter, and the total is checked against the
 * response's Content-Length.
 */

const REQUEST_TIMEOUT_MS = 10_000;
/** Pause after a failed request, so a dead server produces a bounded number of errors rather than a spin. */
const ERROR_BACKOFF_MS = 10;
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

export interface LoadResult {
  elapsedMs: number;
  /** Responses received in full (any status). */
  responses: number;
  non2xx: number;
  /** Responses whose body length differed from their Content-Length (or that had none). */
  lengthMismatches: number;
  /** Requests that failed without a complete response, timeouts included. */
  errors: number;
  timeouts: number;
  /** Body bytes received. */
  bytes: number;
  latency: LatencyHistogram;
}

type Outcome =
  | { ok: true; status: number; contentLength: number | undefined; received: number }
  | { ok: false; error: Error };

function parseContentLength(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/** One GET whose body is counted, not kept. Never rejects. */
function get(pool: Pool, request: LoadRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    let status = 0;
    let contentLength: number | undefined;
    let received = 0;
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart: () => {},
      onResponseStart: (_controller, statusCode, headers) => {
        status = statusCode;
        contentLength = parseContentLength(headers['content-length']);
      },
      onResponseData: (_controller, chunk) => {
        received += chunk.length;
      },
      onResponseEnd: () => resolve({ ok: true, status, contentLength, received }),
      onResponseError: (_controller, error) => resolve({ ok: false, error }),
    };
    try {
      pool.dispatch(typeof request === 'string' ? { method: 'GET', path: request } : { method: 'GET', ...request }, handler);
    } catch (err) {
      resolve({ ok: false, error: err instanceof Error ? err : new Error(String(err)) });
    }
  });
}

function isTimeout(error: Error): boolean {
  return 'code' in error && typeof error.code === 'string' && TIMEOUT_CODES.has(error.code);
}

class Tally {
  readonly result: LoadResult = {
    elapsedMs: 0,
    responses: 0,
    non2xx: 0,
    lengthMismatches: 0,
    errors: 0,
    timeouts: 0,
    bytes: 0,
    latency: new LatencyHistogram(),
  };

  add(outcome: Outcome, latencyMs: number): void {
    const r = this.result;
    if (!outcome.ok) {
      r.errors += 1;
      if (isTimeout(outcome.error)) r.timeouts += 1;
      return;
    }
    r.responses += 1;
    r.bytes += outcome.received;
    r.latency.record(latencyMs);
    if (outcome.status < 200 || outcome.status > 299) r.non2xx += 1;
    if (outcome.contentLength !== outcome.received) r.lengthMismatches += 1;
  }
}

/** A request target (path and query), alone or with the headers its GET carries (e.g. a Range). */
export type LoadRequest = string | { path: string; headers: Record<string, string> };

/** Where each request goes: the next request's target. */
export interface TargetSource {
  next(): LoadRequest;
}

async function requestLoop(pool: Pool, targets: TargetSource, deadline: number, tally: Tally): Promise<void> {
  while (performance.now() < deadline) {
    const request = targets.next();
    const started = performance.now();
    const outcome = await get(pool, request);
    tally.add(outcome, performance.now() - started);
    if (!outcome.ok) await sleep(ERROR_BACKOFF_MS);
  }
}

export class LoadGenerator {
  private readonly pool: Pool;

  constructor(
    origin: string,
    readonly connections: number,
  ) {
    this.pool = new Pool(origin, {
      connections,
      pipelining: 1,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
    });
  }

  /**
   * Runs `connections` request loops for `seconds`, each request sent to the next of `targets` (a request target,
   * path and query as given, e.g. a presigned URL's; the loops share one sequence). Requests in flight at the
   * deadline finish and count, and the elapsed time runs until the last of them completes.
   */
  async run(targets: TargetSource, seconds: number): Promise<LoadResult> {
    const tally = new Tally();
    const started = performance.now();
    const deadline = started + seconds * 1000;
    const loops = Array.from({ length: this.connections }, () => requestLoop(this.pool, targets, deadline, tally));
    await Promise.all(loops);
    tally.result.elapsedMs = performance.now() - started;
    return tally.result;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
