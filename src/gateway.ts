import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { ByteBudget } from './cache/byte-budget.js';
import { type BodyHolder, ObjectBody } from './cache/object-body.js';
import { type ObjectCache, objectKey } from './cache/object-cache.js';
import type { Cluster } from './cache/cluster.js';
import { ObjectFill } from './cache/object-fill.js';
import { PeerUnavailableError } from './cache/peer-client.js';
import { type ObjectMeta, sameEtag } from './cache/object-meta.js';
import { S3Error } from './errors.js';
import { discardBody } from './http/discard-body.js';
import { headerValue, type Upstream, type UpstreamRequest, type UpstreamResponse } from './upstream/upstream.js';

export type ObjectRead =
  | { kind: 'hit'; meta: ObjectMeta; body: ObjectBody }
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

export type ReadOutcome = 'hit' | 'miss' | 'coalesced' | 'peer';

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
  /** Fills from the upstream. */
  private readonly inflight = new Map<string, ObjectFill>();
  /** Fills from a key's owner; kept apart so that owner reads never wait on a peer (no cycles). */
  private readonly inflightFromPeers = new Map<string, ObjectFill>();

  constructor(private readonly options: GatewayOptions) {}

  /** The cached object, without going upstream on a miss. */
  cached(bucket: string, key: string): Extract<ObjectRead, { kind: 'hit' }> | undefined {
    const cacheKey = objectKey(bucket, key);
    const hit = this.options.cache.get(cacheKey) ?? this.options.hotCache?.get(cacheKey);
    if (hit === undefined) return undefined;
    this.options.onRead?.('hit');
    return { kind: 'hit', meta: hit.meta, body: hit.body };
  }

  async read(bucket: string, key: string, readOptions: ReadOptions): Promise<ObjectRead> {
    const hit = this.cached(bucket, key);
    if (hit) return hit;
    const cacheKey = objectKey(bucket, key);
    let fill = this.inflight.get(cacheKey) ?? (readOptions.asOwner ? undefined : this.inflightFromPeers.get(cacheKey));
    const started = fill === undefined;
    if (fill === undefined) {
      const owner = readOptions.asOwner ? undefined : this.options.cluster?.remoteOwner(cacheKey);
      this.options.onRead?.(owner === undefined ? 'miss' : 'peer');
      fill = this.startFill(cacheKey, bucket, key, owner);
    } else {
      this.options.onRead?.('coalesced');
    }
    const head = await fill.head;
    switch (head.kind) {
      case 'shared':
        return { kind: 'shared', meta: head.meta, body: head.body, fill };
      case 'error':
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
    await this.options.cluster?.broadcastInvalidation(keys);
  }

  /** Drops a cached object here and makes any fill in flight for it unable to cache what it reads. */
  invalidate(bucket: string, key: string): void {
    const cacheKey = objectKey(bucket, key);
    this.options.cache.delete(cacheKey);
    this.options.hotCache?.delete(cacheKey);
    for (const map of [this.inflight, this.inflightFromPeers]) {
      const fill = map.get(cacheKey);
      if (fill) {
        fill.stale = true;
        map.delete(cacheKey);
      }
    }
  }

  private startFill(cacheKey: string, bucket: string, key: string, owner: string | undefined): ObjectFill {
    const { upstream, fillBudget, maxObjectBytes, logger, cluster } = this.options;
    // Checksums are kept with the object and shown only to clients that ask for them.
    const fromUpstream = () =>
      upstream.request({ method: 'GET', bucket, key, query: [], headers: { 'x-amz-checksum-mode': 'ENABLED' } });
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
    const cache = owner === undefined ? this.options.cache : this.options.hotCache;
    map.set(cacheKey, fill);
    const forget = (): void => {
      if (map.get(cacheKey) === fill) map.delete(cacheKey);
    };
    fill.head.then(
      async (head) => {
        if (head.kind !== 'shared') return forget();
        const body = await fill.completed;
        forget();
        if (body !== undefined && !fill.stale && cache !== undefined) {
          cache.set(cacheKey, { meta: head.meta, body });
          logger.debug({ bucket, key, bytes: body.size, tier: owner === undefined ? 'main' : 'hot' }, 'cache fill');
        }
      },
      forget,
    );
    return fill;
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
