import { S3Error } from '../errors.js';
import type { Upstream, UpstreamRequest, UpstreamResponse } from './upstream.js';

export interface UpstreamLimitOptions {
  /** Requests in flight at once; a request holds its place until its response body has ended or been dropped. */
  maxConcurrent: number;
  /** Requests that may wait for a place; any more are refused at once. */
  maxQueued: number;
  /** How long a request may wait for a place before it is refused. */
  maxWaitMs: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Bounds the requests a node has open against the upstream. Past the bound a request waits briefly
 * in a short queue; when that is full or the wait runs out it fails with S3's 503 SlowDown, which
 * every S3 client retries with back-off, instead of piling up connections and latency.
 */
export class LimitedUpstream implements Upstream {
  private active = 0;
  private readonly queue: Waiter[] = [];

  constructor(
    private readonly inner: Upstream,
    private readonly options: UpstreamLimitOptions,
  ) {}

  get inFlight(): number {
    return this.active;
  }

  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    await this.acquire();
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.release();
    };
    try {
      const response = await this.inner.request(request);
      // 'close' follows the end of the body or its destruction, whoever reads or drops it.
      response.body.once('close', release);
      if (response.body.destroyed) release();
      return response;
    } catch (err) {
      release();
      throw err;
    }
  }

  close(): Promise<void> {
    for (const waiter of this.queue.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(slowDown());
    }
    return this.inner.close();
  }

  private acquire(): Promise<void> {
    if (this.active < this.options.maxConcurrent) {
      this.active++;
      return Promise.resolve();
    }
    if (this.queue.length >= this.options.maxQueued) return Promise.reject(slowDown());
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const index = this.queue.indexOf(waiter);
          if (index !== -1) this.queue.splice(index, 1);
          reject(slowDown());
        }, this.options.maxWaitMs),
      };
      this.queue.push(waiter);
    });
  }

  private release(): void {
    const next = this.queue.shift();
    if (next === undefined) {
      this.active--;
      return;
    }
    // The place passes straight to the next waiter.
    clearTimeout(next.timer);
    next.resolve();
  }
}

function slowDown(): S3Error {
  return new S3Error('SlowDown', { message: 'Please reduce your request rate. Falcon has too many requests open against the upstream.' });
}
