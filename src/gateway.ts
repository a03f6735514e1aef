import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ByteBudget } from './cache/byte-budget.js';
import { type ObjectCache, objectKey } from './cache/object-cache.js';
import { ObjectFill } from './cache/object-fill.js';
import type { ObjectMeta } from './cache/object-meta.js';
import type { Upstream, UpstreamRequest, UpstreamResponse } from './upstream/upstream.js';

export type ObjectRead =
  | { kind: 'hit'; meta: ObjectMeta; body: Buffer }
  /** A miss being filled: read the bytes from the fill as they arrive. */
  | { kind: 'shared'; meta: ObjectMeta; fill: ObjectFill }
  /** A miss too large to cache, with its live upstream body for this caller alone. */
  | { kind: 'live'; meta: ObjectMeta; body: Readable }
  /** The upstream answered with an error; replay it. */
  | { kind: 'error'; statusCode: number; headers: UpstreamResponse['headers']; body: Buffer }
  /** Not cacheable and no live body for this caller: forward the caller's own request instead. */
  | { kind: 'uncacheable' };

export interface ReadOptions {
  /** Whether the caller can serve a whole live body (false for range requests, which forward instead). */
  acceptsLiveBody: boolean;
}

export type ReadOutcome = 'hit' | 'miss' | 'coalesced';

export interface GatewayOptions {
  cache: ObjectCache;
  upstream: Upstream;
  /** Largest object read into memory and cached. */
  maxObjectBytes: number;
  /** Bounds the bytes of all fills in flight together. */
  fillBudget: ByteBudget;
  logger: Logger;
  onRead?: (outcome: ReadOutcome) => void;
}

/** Read-through and write-through between the object cache and the upstream: the only place the two meet. */
export class Gateway {
  private readonly inflight = new Map<string, ObjectFill>();

  constructor(private readonly options: GatewayOptions) {}

  /** The cached object, without going upstream on a miss. */
  cached(bucket: string, key: string): Extract<ObjectRead, { kind: 'hit' }> | undefined {
    const hit = this.options.cache.get(objectKey(bucket, key));
    if (hit === undefined) return undefined;
    this.options.onRead?.('hit');
    return { kind: 'hit', meta: hit.meta, body: hit.body };
  }

  async read(bucket: string, key: string, readOptions: ReadOptions): Promise<ObjectRead> {
    const hit = this.cached(bucket, key);
    if (hit) return hit;
    const cacheKey = objectKey(bucket, key);
    let fill = this.inflight.get(cacheKey);
    const started = fill === undefined;
    this.options.onRead?.(started ? 'miss' : 'coalesced');
    fill ??= this.startFill(cacheKey, bucket, key);
    const head = await fill.head;
    switch (head.kind) {
      case 'shared':
        return { kind: 'shared', meta: head.meta, fill };
      case 'error':
        return head;
      case 'unshared': {
        const body = started ? fill.takeLiveBody() : undefined;
        if (body !== undefined && readOptions.acceptsLiveBody) return { kind: 'live', meta: head.meta, body };
        body?.destroy();
        return { kind: 'uncacheable' };
      }
    }
  }

  /** Sends a request upstream, dropping the cached copies of `changes` before and after it. */
  async forward(request: UpstreamRequest, changes: ReadonlyArray<readonly [string, string]>): Promise<UpstreamResponse> {
    for (const [bucket, key] of changes) this.invalidate(bucket, key);
    try {
      return await this.options.upstream.request(request);
    } finally {
      // A fill that started while the write was in flight may have read the old bytes.
      for (const [bucket, key] of changes) this.invalidate(bucket, key);
    }
  }

  /** Drops a cached object and makes any fill in flight for it unable to cache what it reads. */
  invalidate(bucket: string, key: string): void {
    const cacheKey = objectKey(bucket, key);
    this.options.cache.delete(cacheKey);
    const fill = this.inflight.get(cacheKey);
    if (fill) {
      fill.stale = true;
      this.inflight.delete(cacheKey);
    }
  }

  private startFill(cacheKey: string, bucket: string, key: string): ObjectFill {
    const { upstream, fillBudget, maxObjectBytes, cache, logger } = this.options;
    const fill = new ObjectFill({
      // Checksums are kept with the object and shown only to clients that ask for them.
      fetch: () => upstream.request({ method: 'GET', bucket, key, query: [], headers: { 'x-amz-checksum-mode': 'ENABLED' } }),
      admit: (meta) => meta.size <= maxObjectBytes && fillBudget.tryReserve(meta.size),
      release: (meta) => fillBudget.release(meta.size),
    });
    this.inflight.set(cacheKey, fill);
    const forget = (): void => {
      if (this.inflight.get(cacheKey) === fill) this.inflight.delete(cacheKey);
    };
    fill.head.then(
      async (head) => {
        if (head.kind !== 'shared') return forget();
        const body = await fill.completed;
        forget();
        if (body !== undefined && !fill.stale) {
          cache.set(cacheKey, { meta: head.meta, body });
          logger.debug({ bucket, key, bytes: body.length }, 'cache fill');
        }
      },
      forget,
    );
    return fill;
  }
}
