import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface OverloadOptions {
  /** Requests being answered at once; past it new ones are shed. */
  maxInFlight: number;
  /** Mean event-loop delay (ms) over the last second past which new requests are shed; 0 turns the check off. */
  maxEventLoopDelayMs: number;
}

const WINDOW_MS = 1_000;

/**
 * Tells when the node is over capacity: too many requests open at once (a slow upstream), or an
 * event loop so busy that every request waits (more requests per second than the CPU can answer).
 * Shedding the excess with 503 SlowDown keeps the latency of admitted requests bounded.
 */
export class OverloadGuard {
  private inFlight = 0;
  private delayMs = 0;
  private readonly histogram = monitorEventLoopDelay({ resolution: 10 });
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: OverloadOptions) {
    if (options.maxEventLoopDelayMs > 0) {
      this.histogram.enable();
      this.timer = setInterval(() => {
        // The histogram measures how late a 10 ms timer fires, in nanoseconds.
        this.delayMs = this.histogram.count > 0 ? this.histogram.mean / 1e6 : 0;
        this.histogram.reset();
      }, WINDOW_MS);
      this.timer.unref();
    }
  }

  /**
   * Counts a request as in flight, until `done` is called when its response closed; false (counting
   * nothing) when the node is over capacity.
   */
  admit(): boolean {
    if (this.inFlight >= this.options.maxInFlight) return false;
    if (this.options.maxEventLoopDelayMs > 0 && this.delayMs > this.options.maxEventLoopDelayMs) return false;
    this.inFlight++;
    return true;
  }

  done(): void {
    this.inFlight--;
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.histogram.disable();
  }
}
