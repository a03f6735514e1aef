import type { Logger } from 'pino';
import { S3Error } from '../errors.js';
import { discardBody } from '../http/discard-body.js';
import type { Upstream, UpstreamRequest, UpstreamResponse } from './upstream.js';

export interface UpstreamHealthOptions {
  logger: Logger;
  /** How often an unreachable upstream is asked whether it is back. */
  probeIntervalMs?: number;
  now?: () => number;
}

export type UpstreamReachability = { reachable: true } | { reachable: false; reason: string; sinceMs: number };

/** The upstream translates a failure to reach it, and only that, into these. */
const TRANSPORT_FAILURES = new Set(['ServiceUnavailable', 'GatewayTimeout']);

/**
 * An Upstream that notes whether the real one is reachable, from the outcome of the requests it
 * sends anyway: any HTTP answer means reachable, a connection failure or timeout unreachable.
 * While it is unreachable a cheap request (HEAD of the service root) asks every
 * `probeIntervalMs` whether it is back; asking for the state never sends anything.
 */
export class HealthTrackedUpstream implements Upstream {
  private state: UpstreamReachability = { reachable: true };
  private timer: NodeJS.Timeout | undefined;
  private probing = false;
  private closed = false;
  private readonly now: () => number;

  constructor(
    private readonly inner: Upstream,
    private readonly options: UpstreamHealthOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  reachability(): UpstreamReachability {
    return this.state;
  }

  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    let response: UpstreamResponse;
    try {
      response = await this.inner.request(request);
    } catch (err) {
      if (err instanceof S3Error && TRANSPORT_FAILURES.has(err.code)) this.markUnreachable(err);
      throw err;
    }
    this.markReachable();
    return response;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inner.close();
  }

  private markUnreachable(err: S3Error): void {
    if (!this.state.reachable || this.closed) return;
    const reason = err.cause instanceof Error ? err.cause.message : err.message;
    this.state = { reachable: false, reason: 'upstream unreachable', sinceMs: this.now() };
    this.options.logger.warn({ reason }, 'upstream unreachable');
    this.scheduleProbe();
  }

  private markReachable(): void {
    if (this.state.reachable) return;
    this.options.logger.info({ unreachableForMs: this.now() - this.state.sinceMs }, 'upstream reachable again');
    this.state = { reachable: true };
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private scheduleProbe(): void {
    if (this.timer !== undefined || this.probing || this.closed) return;
    this.timer = setTimeout(() => void this.probe(), this.options.probeIntervalMs ?? 2_000);
    this.timer.unref();
  }

  private async probe(): Promise<void> {
    this.timer = undefined;
    this.probing = true;
    try {
      const response = await this.inner.request({ method: 'HEAD', query: [], headers: {} });
      discardBody(response.body);
      this.markReachable();
    } catch {
      // Still unreachable (or no credentials to ask with): ask again later.
    } finally {
      this.probing = false;
    }
    if (!this.state.reachable) this.scheduleProbe();
  }
}
