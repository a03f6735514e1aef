import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ByteBudget } from './cache/byte-budget.js';
import { type BodyHolder, ObjectBody } from './cache/object-body.js';
import { type CachedObject, type Freshness, type ObjectCache, objectKey } from './cache/object-cache.js';
import type { Cluster } from './cluster/cluster.js';
import { type FillHead, ObjectFill } from './cache/object-fill.js';
import { PeerUnavailableError } from './cluster/peer-client.js';
import { type ObjectMeta, sameEtag } from './cache/object-meta.js';
import { S3Error } from './errors.js';
import { discardBody } from './http/discard-body.js';
import { headerValue, type Upstream, type UpstreamRequest, type UpstreamResponse } from './upstream/upstream.js';

export type ObjectRead =
  /** From the cache; `stale` when served past its TTL because the upstream failed. */
  | { kind: 'hit'; meta: ObjectMeta; body: ObjectBody; stale?: boolean }
  /** A miss being filled: read the bytes from the fill as they arrive. */
  | { kind: 'shared'; meta: ObjectMeta; body: ObjectBody; fill: ObjectFill }
  /** A miss too large to cache, with its live upstream body for this caller alone. */
  | { kind: 'live'; meta: ObjectMeta; body: Readable }
  /** The upstream answered with an error; replay it. */
  | { kind: 'error'; statusCode: number; headers: UpstreamResponse['headers']; body: Buffer }
  /** Not cacheable and no live body for this caller: forward the caller's own request instead. */
  | { kind: 'uncacheable' };

export type ObjectFound = Extract<ObjectRead, { kind: 'hit' | 'shared' | 'live' }>;

/** What the bytes are sent on: a response, which closes once its client has read them all or was cut. */
export interface BytesSink {
  readonly closed: boolean;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Bytes [start, endExclusive) of a found object: a slice of memory for a hit, the fill's bytes as
 * they arrive for a shared miss, or the live body (always whole) for an uncached one. The memory of
 * a hit or a shared miss stays held until `sink` closes, counted against the fill budget (see
 * ObjectBody): a client that reads slowly or not at all is accounted for.
 */
export function objectBytes(read: ObjectFound, sink: BytesSink, start = 0, endExclusive = read.meta.size): Buffer | Readable {
  switch (read.kind) {
    case 'hit':
      holdUntilClosed(read.body, 'hit', sink);
      return read.body.bytes.subarray(start, endExclusive);
    case 'shared':
      holdUntilClosed(read.body, 'fill', sink);
      return Readable.from(read.fill.read(start, endExclusive), { objectMode: false });
    case 'live':
      return read.body;
  }
}

/** X-Cache of a response with a found object's bytes: HIT, MISS (a fill), BYPASS (streamed through), or STALE with a Warning. */
export function cacheHeaders(read: ObjectFound): Record<string, string> {
  switch (read.kind) {
    case 'hit':
      return read.stale ? { 'x-cache': 'STALE', warning: STALE_WARNING } : { 'x-cache': 'HIT' };
    case 'shared':
      return { 'x-cache': 'MISS' };
    case 'live':
      return { 'x-cache': 'BYPASS' };
  }
}

function holdUntilClosed(body: ObjectBody, holder: BodyHolder, sink: BytesSink): void {
  if (sink.closed) return;
  sink.once('close', body.hold(holder));
}

export interface ReadOptions {
  /** Whether the caller can serve a whole live body (false for range requests, which forward instead). */
  acceptsLiveBody: boolean;
  /** Read as the key's owner: from this node's cache or the upstream, never from a peer. */
  asOwner?: boolean;
}

export type ReadOutcome = 'hit' | 'miss' | 'coalesced' | 'peer' | 'revalidate';

/** The Warning (RFC 7234) on a cached copy served past its TTL because the upstream failed. */
export const STALE_WARNING = '110 - "Response is Stale"';

/** A cached entry found for a read, and the cache it is in. */
interface Found {
  entry: CachedObject;
  freshness: Freshness;
  cache: ObjectCache;
}

/** A fill in flight; one that revalidates carries the entry it checks, which its waiters serve on a 304 or an upstream failure. */
interface Inflight {
  fill: ObjectFill;
  revalidating?: Found;
}

export interface GatewayOptions {
  cache: ObjectCache;
  /** Copies of objects other nodes own; without it, such objects are not kept. */
  hotCache?: ObjectCache;
  cluster?: Cluster;
  upstream: Upstream;
  /** Largest object read into memory and cached. */
  maxObjectBytes: number;
  /** Bounds the bytes of object bodies held outside the cache: fills in flight and bodies still being sent. */
  fillBudget: ByteBudget;
  logger: Logger;
  onRead?: (outcome: ReadOutcome) => void;
}

/** Read-through and write-through between the object cache and the upstream: the only place the two meet. */
export class Gateway {
  /** Fills and revalidations from the upstream. */
  private readonly inflight = new Map<string, Inflight>();
  /** Fills from a key's owner; kept apart so that owner reads never wait on a peer (no cycles). */
  private readonly inflightFromPeers = new Map<string, Inflight>();

  private cluster: Cluster | undefined;

  constructor(private readonly options: GatewayOptions) {
    this.cluster = options.cluster;
  }

  /** Makes this node part of a cluster; a node learns its own address, and so its cluster, once it listens. */
  joinCluster(cluster: Cluster): void {
    this.cluster = cluster;
  }

  /** The cached object if it may be served without asking the upstream; never goes upstream itself. */
  cached(bucket: string, key: string): Extract<ObjectRead, { kind: 'hit' }> | undefined {
    const found = this.lookup(objectKey(bucket, key));
    if (found?.freshness !== 'fresh') return undefined;
    this.options.onRead?.('hit');
    return { kind: 'hit', meta: found.entry.meta, body: found.entry.body };
  }

  /**
   * Reads an object: a fresh cached copy as it is; one due for revalidation or past its TTL after a
   * conditional GET (a 304 keeps it, anything else replaces or drops it, an upstream failure serves
   * it anyway); otherwise from the upstream or the key's owner. Concurrent reads share one request.
   */
  async read(bucket: string, key: string, readOptions: ReadOptions): Promise<ObjectRead> {
    const cacheKey = objectKey(bucket, key);
    const found = this.lookup(cacheKey);
    if (found?.freshness === 'fresh') {
      this.options.onRead?.('hit');
      return { kind: 'hit', meta: found.entry.meta, body: found.entry.body };
    }
    let inflight = this.inflight.get(cacheKey) ?? (readOptions.asOwner ? undefined : this.inflightFromPeers.get(cacheKey));
    const started = inflight === undefined;
    if (inflight !== undefined) {
      this.options.onRead?.('coalesced');
    } else if (found !== undefined) {
      this.options.onRead?.('revalidate');
      inflight = this.startFill(cacheKey, bucket, key, { revalidating: found });
    } else {
      const owner = readOptions.asOwner ? undefined : this.cluster?.remoteOwner(cacheKey);
      this.options.onRead?.(owner === undefined ? 'miss' : 'peer');
      inflight = this.startFill(cacheKey, bucket, key, { owner });
    }
    const { fill, revalidating } = inflight;
    // What to serve if the upstream fails: this read's own cached copy, or the one being revalidated.
    const fallback = found ?? revalidating;
    let head: FillHead;
    try {
      head = await fill.head;
    } catch (err) {
      if (fallback !== undefined && err instanceof S3Error && err.statusCode >= 500) return this.servedDespiteFailure(fallback, bucket, key, err);
      throw err;
    }
    switch (head.kind) {
      case 'not-modified':
        if (revalidating === undefined) throw new S3Error('BadGateway', { message: 'The upstream answered 304 to an unconditional GET.' });
        return { kind: 'hit', meta: revalidating.entry.meta, body: revalidating.entry.body };
      case 'shared':
        return { kind: 'shared', meta: head.meta, body: head.body, fill };
      case 'error':
        if (fallback !== undefined && head.statusCode >= 500) return this.servedDespiteFailure(fallback, bucket, key, head.statusCode);
        return head;
      case 'unshared': {
        const body = started ? fill.takeLiveBody() : undefined;
        if (body !== undefined && readOptions.acceptsLiveBody) return { kind: 'live', meta: head.meta, body };
        discardBody(body);
        return { kind: 'uncacheable' };
      }
    }
  }

  /**
   * Sends a request upstream, dropping the cached copies of `changes` before and after it; once
   * the upstream answered, every peer is told to drop them too before the answer goes back.
   */
  async forward(request: UpstreamRequest, changes: ReadonlyArray<readonly [string, string]>): Promise<UpstreamResponse> {
    for (const [bucket, key] of changes) this.invalidate(bucket, key);
    try {
      return await this.options.upstream.request(request);
    } finally {
      // A fill that started while the write was in flight may have read the old bytes.
      await this.invalidateEverywhere(changes);
    }
  }

  /** Drops keys here and on every peer. */
  async invalidateEverywhere(keys: ReadonlyArray<readonly [string, string]>): Promise<void> {
    for (const [bucket, key] of keys) this.invalidate(bucket, key);
    await this.cluster?.broadcastInvalidation(keys);
  }

  /** Drops a cached object here and makes any fill in flight for it unable to cache what it reads. */
  invalidate(bucket: string, key: string): void {
    const cacheKey = objectKey(bucket, key);
    this.options.cache.delete(cacheKey);
    this.options.hotCache?.delete(cacheKey);
    for (const map of [this.inflight, this.inflightFromPeers]) {
      const inflight = map.get(cacheKey);
      if (inflight) {
        inflight.fill.stale = true;
        map.delete(cacheKey);
      }
    }
  }

  /** Drops every cached object here and makes every fill in flight unable to cache what it reads. */
  invalidateAll(): void {
    this.options.cache.clear();
    this.options.hotCache?.clear();
    for (const map of [this.inflight, this.inflightFromPeers]) {
      for (const inflight of map.values()) inflight.fill.stale = true;
      map.clear();
    }
  }

  /** The key's entry in the main or the hot cache, with how far it may be trusted. */
  private lookup(cacheKey: string): Found | undefined {
    for (const cache of [this.options.cache, this.options.hotCache]) {
      const found = cache?.lookup(cacheKey);
      if (cache !== undefined && found !== undefined) return { ...found, cache };
    }
    return undefined;
  }

  /** The cached copy, when the upstream failed to revalidate it: as it is within its TTL, marked stale past it. */
  private servedDespiteFailure(found: Found, bucket: string, key: string, failure: unknown): Extract<ObjectRead, { kind: 'hit' }> {
    const stale = found.freshness === 'expired';
    this.options.logger.warn({ bucket, key, stale, failure }, 'upstream failed; serving the cached copy');
    return { kind: 'hit', meta: found.entry.meta, body: found.entry.body, stale };
  }

  /**
   * Starts a GET from the owner (when given) or the upstream; with `revalidating`, a conditional
   * GET (If-None-Match: the cached ETag) whose answer keeps, replaces or drops that entry.
   */
  private startFill(cacheKey: string, bucket: string, key: string, source: { owner?: string; revalidating?: Found }): Inflight {
    const { upstream, fillBudget, maxObjectBytes, logger } = this.options;
    const cluster = this.cluster;
    const { owner, revalidating } = source;
    // Checksums are kept with the object and shown only to clients that ask for them.
    const headers: Record<string, string> = { 'x-amz-checksum-mode': 'ENABLED' };
    const etag = revalidating?.entry.meta.etag;
    if (etag !== undefined) headers['if-none-match'] = etag;
    const fromUpstream = () => upstream.request({ method: 'GET', bucket, key, query: [], headers });
    const fromOwner = async () => {
      try {
        return await (cluster as Cluster).fetchFromOwner(owner as string, bucket, key);
      } catch (err) {
        if (!(err instanceof PeerUnavailableError)) throw err;
        logger.warn({ bucket, key, owner }, 'owner unavailable; reading from the upstream');
        return fromUpstream();
      }
    };
    // If the owner dies midway, the rest of the same object (same ETag) comes from the upstream.
    const resumeFromUpstream = async (meta: ObjectMeta, offset: number) => {
      logger.warn({ bucket, key, owner, offset }, 'owner stream failed; resuming from the upstream');
      if (meta.etag === undefined) throw new S3Error('BadGateway', { message: 'The object has no ETag to resume it by.' });
      const headers = { range: `bytes=${offset}-`, 'if-match': meta.etag };
      const response = await upstream.request({ method: 'GET', bucket, key, query: [], headers });
      if (!isRestOf(meta, offset, response)) {
        discardBody(response.body);
        logger.warn({ bucket, key, owner, offset, status: response.statusCode }, 'object changed while it was being read');
        throw new S3Error('BadGateway', { message: 'The object changed while it was being read.' });
      }
      return response.body;
    };
    const fill = new ObjectFill({
      fetch: owner === undefined ? fromUpstream : fromOwner,
      resume: owner === undefined ? undefined : resumeFromUpstream,
      admit: (meta) => (meta.size <= maxObjectBytes ? ObjectBody.reserve(meta.size, fillBudget) : undefined),
    });
    const map = owner === undefined ? this.inflight : this.inflightFromPeers;
    // Objects another node owns are kept only as hot copies; with no hot cache they are not kept.
    const cache = revalidating?.cache ?? (owner === undefined ? this.options.cache : this.options.hotCache);
    const inflight: Inflight = { fill, revalidating };
    map.set(cacheKey, inflight);
    const forget = (): void => {
      if (map.get(cacheKey) === inflight) map.delete(cacheKey);
    };
    fill.head.then(
      async (head) => {
        if (revalidating !== undefined && !fill.stale) {
          if (head.kind === 'not-modified') revalidating.cache.revalidated(cacheKey, revalidating.entry);
          // Anything but a 304 or an upstream failure is the object's current answer: the old copy goes.
          else if (head.kind !== 'error' || head.statusCode < 500) revalidating.cache.deleteEntry(cacheKey, revalidating.entry);
        }
        if (head.kind !== 'shared') return forget();
        const body = await fill.completed;
        forget();
        // An owner marks a copy it served stale; such a copy is passed on but never kept.
        if (body !== undefined && !fill.stale && cache !== undefined && head.meta.headers.warning === undefined) {
          cache.set(cacheKey, { meta: head.meta, body });
          logger.debug({ bucket, key, bytes: body.size, tier: cache === this.options.cache ? 'main' : 'hot' }, 'cache fill');
        }
      },
      forget,
    );
    return inflight;
  }
}

/**
 * Whether a ranged answer is bytes `offset` to the end of the very object `meta` describes. An
 * upstream may ignore If-Match, so the ETag and the size are checked here as well: two versions
 * must never be stitched together.
 */
function isRestOf(meta: ObjectMeta, offset: number, response: UpstreamResponse): boolean {
  if (response.statusCode !== 206) return false;
  if (!sameEtag(headerValue(response.headers, 'etag'), meta.etag)) return false;
  const range = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headerValue(response.headers, 'content-range')?.trim() ?? '');
  if (range === null) return false;
  const [, first, last, total] = range.map(Number);
  const length = headerValue(response.headers, 'content-length');
  return first === offset && last === meta.size - 1 && total === meta.size && (length === undefined || Number(length) === meta.size - offset);
}
