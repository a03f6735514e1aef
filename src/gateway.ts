import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { BlockFill } from './cache/block-fill.js';
import type { ByteBudget } from './cache/byte-budget.js';
import { ObjectBody } from './cache/object-body.js';
import { type CachedObject, type Freshness, type ObjectCache, objectKey } from './cache/object-cache.js';
import { type ObjectMeta, sameEtag } from './cache/object-meta.js';
import type { Cluster } from './cluster/cluster.js';
import { PeerUnavailableError } from './cluster/peer-client.js';
import { S3Error } from './errors.js';
import { discardBody } from './http/discard-body.js';
import { type AcquiredBlock, blockStream, SliceStream } from './read/block-stream.js';
import { CHECKSUMS_KNOWN_HEADER, type Discovered, readDiscovery } from './read/discovery.js';
import { type BlockLayout, isRangeOf } from './read/ranges.js';
import { relayHeaders } from './s3/forwarding.js';
import { planObjectResponse } from './s3/object-response.js';
import { amzParameter } from './s3/request.js';
import type { Upstream, UpstreamRequest, UpstreamResponse } from './upstream/upstream.js';

/** What the bytes are sent on: a response, which closes once its client has read them all or was cut. */
export interface BytesSink {
  readonly closed: boolean;
  readonly destroyed: boolean;
  once(event: 'close', listener: () => void): unknown;
}

/** Runs `run` once the sink is closed: now when it is already (or was destroyed without a close yet). */
function whenClosed(sink: BytesSink, run: () => void): void {
  if (sink.closed || sink.destroyed) run();
  else sink.once('close', run);
}

export interface OpenRequest {
  method: 'GET' | 'HEAD';
  /** The client's headers: Range, the conditionals, x-amz-checksum-mode. */
  headers: IncomingHttpHeaders;
  /** The client's query: response-* overrides, presigned x-amz-* parameters. */
  params: URLSearchParams;
  /** The response the bytes go to: memory it reads from stays counted until it closes. */
  sink: BytesSink;
}

/** The answer to a GetObject or HeadObject: status, headers (with X-Cache) and the bytes to send. */
/** An object's bytes to send: slices of memory (one, or several in order) or a stream. */
export type ObjectBytes = Buffer | Buffer[] | Readable | SliceStream;

export interface OpenedObject {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: ObjectBytes | undefined;
}

export type ReadOutcome = 'hit' | 'miss' | 'coalesced' | 'peer' | 'revalidate';
export type BlockOutcome = 'hit' | 'miss' | 'coalesced' | 'peer' | 'bypass';
export type Tier = 'main' | 'hot';

/** The Warning (RFC 7234) on a cached copy served past its TTL because the upstream failed. */
export const STALE_WARNING = '110 - "Response is Stale"';

export interface GatewayOptions {
  cache: ObjectCache;
  /** Copies of objects and blocks other nodes own; without it, such copies are not kept. */
  hotCache?: ObjectCache;
  cluster?: Cluster;
  upstream: Upstream;
  layout: BlockLayout;
  /** Blocks a reader fetches ahead of the one it sends. */
  readaheadBlocks: number;
  /** Objects larger than this are never cached. */
  maxObjectBytes: number;
  /** Bounds everything the caches hold and every fill in flight. */
  budget: ByteBudget;
  logger: Logger;
  onRead?: (outcome: ReadOutcome) => void;
  onBlockRead?: (outcome: BlockOutcome, tier: Tier) => void;
  onUpstreamBytes?: (bytes: number) => void;
}

/** An object version whose bytes are read: blocks are keyed and pinned by its ETag. */
interface Version {
  bucket: string;
  key: string;
  objectKey: string;
  etag: string;
  size: number;
  /** Read as the owner: from this node's cache or the upstream, never from a peer. */
  asOwner: boolean;
}

/** Where a read's metadata came from: the cache, a request just now, or the cache past its TTL because the upstream failed. */
type MetaSource = 'cache' | 'fetch' | 'stale';

/** Metadata found for a read. */
type MetaRead =
  | { kind: 'meta'; meta: ObjectMeta; from: MetaSource; live?: LiveStart }
  | { kind: 'error'; statusCode: number; headers: UpstreamResponse['headers']; body: Buffer };

/** A cached entry found for a read, and the tier it is in. */
interface Found {
  entry: CachedObject;
  freshness: Freshness;
  cache: ObjectCache;
}

/** The body a discovery's GET brought when it was not kept: for the reader that started it, once. */
export interface LiveStart {
  stream: Readable;
  /** Bytes of the object it carries, from the first one. */
  bytes: number;
  /** Set once a reader took it over. */
  taken?: boolean;
}

interface Discovery {
  result: Promise<MetaRead>;
  live?: LiveStart;
  /** Set by invalidation: what it learns must not enter the cache. */
  stale: boolean;
}

interface InflightBlock {
  fill: Promise<BlockFill>;
  stale: boolean;
}

/** The object changed at the upstream while it was being read: another ETag, or a 412 to If-Match. */
export class VersionChangedError extends S3Error {
  constructor() {
    super('BadGateway', { message: 'The object changed while it was being read.' });
  }
}

const MAX_RESTARTS = 2;
/** Blocks from an owner up to this size are sent once complete rather than as they arrive (see heldFill). */
const SMALL_PEER_BLOCK_BYTES = 64 * 1024;
/** How many keys found not small through their owner are remembered, and for how long (the object may be replaced). */
const NOT_SMALL_REMEMBERED = 10_000;
const NOT_SMALL_REMEMBERED_MS = 60_000;

/** A plain hit's answer: 200 with these headers (names and values in turn), and the body (a view of a held block) unless it is a HEAD. */
export interface PlainHit {
  headers: readonly string[];
  body: Buffer | undefined;
  release: (() => void) | undefined;
}

/** A small object read through its owner: its plain answer's headers and its block, held until `release`. */
interface SmallRead {
  headers: readonly string[];
  /** Undefined for HEAD. */
  body: ObjectBody | undefined;
  size: number;
  release: (() => void) | undefined;
}

/** A reader's own answer from a small read: the block held for it, unless it was let go of meanwhile. */
function heldAnswer(read: SmallRead | undefined): PlainHit | undefined {
  if (read === undefined) return undefined;
  if (read.body === undefined) return { headers: read.headers, body: undefined, release: undefined };
  const release = read.body.hold();
  if (read.body.recycled) {
    release();
    return undefined;
  }
  return { headers: read.headers, body: read.body.bytes.subarray(0, read.size), release };
}

const NO_PARAMS = new URLSearchParams();
/** The headers of plain answers, per cached version: metadata is never changed once cached, only replaced. */
const plainHeadersOf = new WeakMap<ObjectMeta, readonly string[]>();

/** The headers of an owner's answers to peers (see openForPeer), per cached version. */
const peerHeadersOf = new WeakMap<ObjectMeta, readonly string[]>();

function peerHeaders(meta: ObjectMeta): readonly string[] {
  let headers = peerHeadersOf.get(meta);
  if (headers === undefined) {
    headers = Object.entries({ ...meta.headers, [CHECKSUMS_KNOWN_HEADER]: meta.checksumsKnown ? '1' : '0', 'content-length': String(meta.size) }).flat();
    peerHeadersOf.set(meta, headers);
  }
  return headers;
}

/** The same for answers read through the object's owner (or the upstream) just now. */
const plainMissHeadersOf = new WeakMap<ObjectMeta, readonly string[]>();

function plainHeaders(meta: ObjectMeta, cacheStatus: 'HIT' | 'MISS' = 'HIT'): readonly string[] {
  const memo = cacheStatus === 'HIT' ? plainHeadersOf : plainMissHeadersOf;
  let headers = memo.get(meta);
  if (headers === undefined) {
    headers = Object.entries({ ...planObjectResponse(meta, 'GET', {}, NO_PARAMS).headers, 'x-cache': cacheStatus }).flat();
    memo.set(meta, headers);
  }
  return headers;
}

/** Read-through and write-through between the cache and the upstream (or the owners): the only place they meet. */
export class Gateway {
  private readonly discoveries = new Map<string, Discovery>();
  /** Kept apart so that owner reads never wait on a peer (no cycles). */
  private readonly discoveriesFromPeers = new Map<string, Discovery>();
  private readonly blockFills = new Map<string, Map<string, InflightBlock>>();
  private readonly blockFillsFromPeers = new Map<string, Map<string, InflightBlock>>();
  /** Plain reads of small objects through their owners in flight, by method and key: later plain reads join them. */
  private readonly smallPeerReads = new Map<string, Promise<SmallRead | undefined>>();
  /** Keys a plain read through the owner found not to be small cacheable objects: their reads go to `open` at once. */
  private readonly notSmallThroughOwner = new LRUCache<string, true>({ max: NOT_SMALL_REMEMBERED, ttl: NOT_SMALL_REMEMBERED_MS });

  private cluster: Cluster | undefined;

  constructor(private readonly options: GatewayOptions) {
    this.cluster = options.cluster;
  }

  /** Makes this node part of a cluster; a node learns its own address, and so its cluster, once it listens. */
  joinCluster(cluster: Cluster): void {
    this.cluster = cluster;
  }

  get blockBytes(): number {
    return this.options.layout.blockBytes;
  }

  /**
   * Answers a GetObject or HeadObject: metadata from the cache or learned once (coalesced), the
   * conditionals and the range decided from it, and the bytes from cached blocks, fills in flight,
   * the blocks' owners or the upstream. An object that changes before anything is sent is read again;
   * S3 errors (412, 416, upstream failures) are thrown.
   */
  async open(bucket: string, key: string, request: OpenRequest): Promise<OpenedObject> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.openOnce(bucket, key, request);
      } catch (err) {
        if (!(err instanceof VersionChangedError) || attempt >= MAX_RESTARTS) throw err;
        this.options.logger.info({ bucket, key }, 'object changed at the upstream; reading it again');
      }
    }
  }

  /**
   * The answer to a plain GET or HEAD (the caller checked: no Range, no conditions, no overrides, no
   * checksum mode) of a fresh cached object held in a single block, found without waiting on
   * anything: what most reads of small objects are. Undefined when the read needs `open`. Its
   * headers are planned once per cached version; `release` lets go of the block once it is sent.
   */
  plainHit(bucket: string, key: string, method: 'GET' | 'HEAD'): PlainHit | undefined {
    return this.singleBlockAnswer(bucket, key, method, plainHeaders, false);
  }

  /**
   * What `openForPeer` answers, when it is a fresh cached object held in a single block whose answer
   * needs nothing else (its checksums known when the peer wants them): found without waiting on anything.
   * Undefined when the read needs `openForPeer`; `release` lets go of the block once it is sent.
   */
  plainAnswerForPeer(bucket: string, key: string, method: 'GET' | 'HEAD', checksums: boolean): PlainHit | undefined {
    return this.singleBlockAnswer(bucket, key, method, peerHeaders, checksums);
  }

  /** A fresh cached object of one block, held, answered with `headersOf` its metadata. */
  private singleBlockAnswer(
    bucket: string,
    key: string,
    method: 'GET' | 'HEAD',
    headersOf: (meta: ObjectMeta) => readonly string[],
    checksums: boolean,
  ): PlainHit | undefined {
    const cacheKey = objectKey(bucket, key);
    const found = this.lookup(cacheKey);
    if (found?.freshness !== 'fresh') return undefined;
    const meta = found.entry.meta;
    if (!this.cacheable(meta) || meta.size > this.blockBytes || (checksums && !meta.checksumsKnown)) return undefined;
    if (method === 'HEAD') {
      this.options.onRead?.('hit');
      return { headers: headersOf(meta), body: undefined, release: undefined };
    }
    const block = this.cachedBlock({ bucket, key, objectKey: cacheKey, etag: meta.etag, size: meta.size, asOwner: false }, 0);
    if (block === undefined) return undefined;
    this.options.onRead?.('hit');
    return { headers: headersOf(meta), body: block.body.bytes.subarray(0, meta.size), release: block.release };
  }

  /**
   * The answer to a plain GET or HEAD (as for `plainHit`) of a small object another node owns and this
   * one holds nothing of: read through the owner as `open` would (coalesced with every other read of it),
   * and answered from memory once its single block is complete. Undefined at once when the read is not
   * such a one; settles undefined when the object turns out not to be small and cacheable, or the read
   * fails, and `open` then reads it in full. Never rejects.
   */
  plainPeerRead(bucket: string, key: string, method: 'GET' | 'HEAD'): Promise<PlainHit | undefined> | undefined {
    const cacheKey = objectKey(bucket, key);
    if (this.cluster?.remoteOwner(cacheKey) === undefined || this.lookup(cacheKey) !== undefined || this.notSmallThroughOwner.has(cacheKey)) {
      return undefined;
    }
    const readKey = `${method} ${cacheKey}`;
    const inflight = this.smallPeerReads.get(readKey);
    if (inflight !== undefined) {
      this.options.onRead?.('coalesced');
      if (method === 'GET') this.options.onBlockRead?.('coalesced', 'hot');
      return inflight.then(heldAnswer);
    }
    const reading = this.readSmallThroughOwner(bucket, key, method).catch(() => undefined);
    this.smallPeerReads.set(readKey, reading);
    void reading.then((read) => {
      if (this.smallPeerReads.get(readKey) === reading) this.smallPeerReads.delete(readKey);
      // The read's own hold on the block outlasts every reader that joined it, each holding it by then.
      if (read?.release !== undefined) setImmediate(read.release);
    });
    return reading.then(heldAnswer);
  }

  /** One read of a small object through its owner, for `plainPeerRead`, holding its block until released. */
  private async readSmallThroughOwner(bucket: string, key: string, method: 'GET' | 'HEAD'): Promise<SmallRead | undefined> {
    const read = await this.readMeta(bucket, key, method === 'GET' ? 'first-block' : 'meta', false, false);
    if (read.kind === 'meta' && read.live !== undefined) discardBody(read.live.stream);
    if (read.kind !== 'meta' || !this.cacheable(read.meta) || read.meta.size === 0 || read.meta.size > Math.min(this.blockBytes, SMALL_PEER_BLOCK_BYTES)) {
      // `open` then reads it again: once, not on every read of a large or missing object.
      this.notSmallThroughOwner.set(objectKey(bucket, key), true);
      return undefined;
    }
    const { meta, live } = read;
    if (live !== undefined || read.from === 'stale') return undefined;
    // As `open` tells them: a HEAD by where its metadata came from, a GET by its bytes too.
    if (method === 'HEAD') return { headers: plainHeaders(meta, read.from === 'cache' ? 'HIT' : 'MISS'), body: undefined, size: 0, release: undefined };
    const cacheStatus = read.from === 'cache' && this.cachedThrough(bucket, key, meta, 0, meta.size) ? 'HIT' : 'MISS';
    const block = await this.acquire({ bucket, key, objectKey: objectKey(bucket, key), etag: meta.etag, size: meta.size, asOwner: false }, 0);
    if (block.kind !== 'memory') return undefined;
    if (block.fill !== undefined && !(await block.fill.completed)) {
      block.release();
      return undefined;
    }
    return { headers: plainHeaders(meta, cacheStatus), body: block.body, size: meta.size, release: block.release };
  }

  /**
   * What an owner answers a peer that asks for an object: like an upstream answering a HEAD, or a
   * GET of the first block (200 with the whole object when it is one block, else 206), with every
   * header of the metadata and whether its checksums are known.
   */
  async openForPeer(bucket: string, key: string, method: 'GET' | 'HEAD', sink: BytesSink, checksums: boolean): Promise<OpenedObject> {
    for (let attempt = 0; ; attempt++) {
      try {
        let read = await this.readMeta(bucket, key, method === 'GET' ? 'first-block' : 'meta', true, checksums);
        // An owner streams what it keeps; a first block it could not keep is fetched again as a block.
        if (read.kind === 'meta' && read.live !== undefined) discardBody(read.live.stream);
        if (read.kind === 'meta' && checksums && !read.meta.checksumsKnown) read = await this.completeChecksums(bucket, key, true);
        if (read.kind === 'error') return { statusCode: read.statusCode, headers: relayHeaders(read.headers), body: read.body };
        const { meta } = read;
        const headers: Record<string, string> = { ...meta.headers, [CHECKSUMS_KNOWN_HEADER]: meta.checksumsKnown ? '1' : '0' };
        if (read.from === 'stale') headers.warning = STALE_WARNING;
        if (method === 'HEAD') return { statusCode: 200, headers: { ...headers, 'content-length': String(meta.size) }, body: undefined };
        const end = Math.min(meta.size, this.blockBytes);
        headers['content-length'] = String(end);
        if (meta.size <= this.blockBytes) return { statusCode: 200, headers, body: await this.bytes(bucket, key, meta, 0, end, true, sink) };
        headers['content-range'] = `bytes 0-${end - 1}/${meta.size}`;
        return { statusCode: 206, headers, body: await this.bytes(bucket, key, meta, 0, end, true, sink) };
      } catch (err) {
        if (!(err instanceof VersionChangedError) || attempt >= MAX_RESTARTS) throw err;
      }
    }
  }

  /** Block `index` of one version of an object, as its owner reads it for a peer: cached, or from the upstream. */
  async openBlockForPeer(bucket: string, key: string, etag: string, size: number, index: number, sink: BytesSink): Promise<OpenedObject> {
    const { layout } = this.options;
    const version: Version = { bucket, key, objectKey: objectKey(bucket, key), etag, size, asOwner: true };
    const first = await this.acquire(version, index);
    const start = layout.start(index);
    const end = start + layout.length(index, size);
    const body = await this.blockBytesOf(version, first, start, end, sink);
    return {
      statusCode: 206,
      headers: { etag, 'content-length': String(end - start), 'content-range': `bytes ${start}-${end - 1}/${size}` },
      body,
    };
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

  /** Drops an object's metadata and blocks here, and makes every fill in flight for it unable to cache what it reads. */
  invalidate(bucket: string, key: string): void {
    const cacheKey = objectKey(bucket, key);
    this.options.cache.delete(cacheKey);
    this.options.hotCache?.delete(cacheKey);
    this.smallPeerReads.delete(`GET ${cacheKey}`);
    this.smallPeerReads.delete(`HEAD ${cacheKey}`);
    this.notSmallThroughOwner.delete(cacheKey);
    for (const map of [this.discoveries, this.discoveriesFromPeers]) {
      const discovery = map.get(cacheKey);
      if (discovery !== undefined) discovery.stale = true;
      map.delete(cacheKey);
    }
    for (const map of [this.blockFills, this.blockFillsFromPeers]) {
      for (const fill of map.get(cacheKey)?.values() ?? []) fill.stale = true;
      map.delete(cacheKey);
    }
  }

  /** Drops everything cached here and makes every fill in flight unable to cache what it reads. */
  invalidateAll(): void {
    this.options.cache.clear();
    this.options.hotCache?.clear();
    this.smallPeerReads.clear();
    this.notSmallThroughOwner.clear();
    for (const map of [this.discoveries, this.discoveriesFromPeers]) {
      for (const discovery of map.values()) discovery.stale = true;
      map.clear();
    }
    for (const map of [this.blockFills, this.blockFillsFromPeers]) {
      for (const fills of map.values()) for (const fill of fills.values()) fill.stale = true;
      map.clear();
    }
  }

  private async openOnce(bucket: string, key: string, request: OpenRequest): Promise<OpenedObject> {
    const { method, headers, params, sink } = request;
    const wantsChecksums = amzParameter('x-amz-checksum-mode', headers, params)?.toUpperCase() === 'ENABLED';
    const ranged = headers.range !== undefined;
    let read = await this.readMeta(bucket, key, method === 'GET' && !ranged ? 'first-block' : 'meta', false, wantsChecksums && !ranged);
    if (read.kind === 'meta' && wantsChecksums && !ranged && !read.meta.checksumsKnown) read = await this.completeChecksums(bucket, key, false);
    if (read.kind === 'error') {
      return {
        statusCode: read.statusCode,
        headers: { ...relayHeaders(read.headers), 'x-cache': 'MISS' },
        body: method === 'HEAD' ? undefined : read.body,
      };
    }
    const { meta, live } = read;
    try {
      const plan = planObjectResponse(meta, method, headers, params);
      const out: Record<string, string> = plan.headers;
      if (plan.endExclusive === plan.start) {
        return { statusCode: plan.statusCode, headers: { ...out, ...this.cacheStatus(read.from, true, meta) }, body: undefined };
      }
      const allCached = this.cachedThrough(bucket, key, meta, plan.start, plan.endExclusive);
      const body = await this.bytes(bucket, key, meta, plan.start, plan.endExclusive, false, sink, live);
      return { statusCode: plan.statusCode, headers: { ...out, ...this.cacheStatus(read.from, allCached, meta) }, body };
    } finally {
      // Whatever did not take the discovery's body leaves it: reading it is over.
      if (live !== undefined && !live.taken) discardBody(live.stream);
    }
  }

  private cacheStatus(from: MetaSource, allCached: boolean, meta?: ObjectMeta): Record<string, string> {
    if (from === 'stale') return { 'x-cache': 'STALE', warning: STALE_WARNING };
    if (meta !== undefined && !this.cacheable(meta)) return { 'x-cache': 'BYPASS' };
    return { 'x-cache': from === 'cache' && allCached ? 'HIT' : 'MISS' };
  }

  /** Whether every block covering [start, end) is in a cache now. */
  private cachedThrough(bucket: string, key: string, meta: ObjectMeta, start: number, end: number): boolean {
    const { layout, cache, hotCache } = this.options;
    if (meta.etag === undefined) return false;
    const cacheKey = objectKey(bucket, key);
    for (let index = layout.indexOf(start); index <= layout.indexOf(end - 1); index++) {
      if (!cache.hasBlock(cacheKey, meta.etag, index) && !hotCache?.hasBlock(cacheKey, meta.etag, index)) return false;
    }
    return true;
  }

  private cacheable(meta: ObjectMeta): meta is ObjectMeta & { etag: string } {
    return (
      meta.etag !== undefined &&
      meta.size <= this.options.maxObjectBytes &&
      !/no-store/i.test(meta.headers['cache-control'] ?? '')
    );
  }

  /**
   * Bytes [start, end) of the object `meta` describes: one buffer when a single cached block holds
   * them, else a stream over the blocks. The first block is acquired before this returns, so that a
   * change of the object found there can still restart the read.
   */
  private async bytes(
    bucket: string,
    key: string,
    meta: ObjectMeta,
    start: number,
    end: number,
    asOwner: boolean,
    sink: BytesSink,
    live?: LiveStart,
  ): Promise<ObjectBytes> {
    if (!this.cacheable(meta)) return this.liveBytes(bucket, key, meta, start, end, live);
    const version: Version = { bucket, key, objectKey: objectKey(bucket, key), etag: meta.etag, size: meta.size, asOwner };
    const index = this.options.layout.indexOf(start);
    let first: AcquiredBlock;
    if (live !== undefined && index === 0) {
      // Taken now: the block stream opens it only once the response is under way.
      live.taken = true;
      // A response closed before its stream began never reads it.
      whenClosed(sink, () => discardBody(live.stream));
      first = { kind: 'live', open: async (from, to) => Readable.from(slice(live, from, to), { objectMode: false }) };
    } else {
      first = await this.acquire(version, index);
    }
    return this.blockBytesOf(version, first, start, end, sink);
  }

  private blockBytesOf(version: Version, first: AcquiredBlock, start: number, end: number, sink: BytesSink): ObjectBytes {
    const { layout, readaheadBlocks } = this.options;
    const index = layout.indexOf(start);
    const lastIndex = layout.indexOf(end - 1);
    if (first.kind === 'memory' && first.fill === undefined && lastIndex - index < readaheadBlocks) {
      // The common hit: slices of cached buffers, each counted until the response is done with it.
      const held = [first, ...this.cachedBlocks(version, index + 1, lastIndex)];
      if (held.length === lastIndex - index + 1) {
        const release = (): void => {
          for (const block of held) block.release();
        };
        whenClosed(sink, release);
        const slices = held.map((block, i) => {
          const blockStart = layout.start(index + i);
          return block.body.bytes.subarray(Math.max(start, blockStart) - blockStart, Math.min(end, blockStart + block.body.size) - blockStart);
        });
        return slices.length === 1 ? (slices[0] as Buffer) : slices;
      }
      for (const block of held.slice(1)) block.release();
    }
    const stream = blockStream({
      layout,
      size: version.size,
      start,
      endExclusive: end,
      readahead: readaheadBlocks,
      acquire: (i) => this.acquire(version, i),
      first,
      releaseWhenClosed: (release) => whenClosed(sink, release),
    });
    return new SliceStream(stream);
  }

  /** Blocks first..last of a version as far as they are cached without a gap, each held. */
  private cachedBlocks(version: Version, first: number, last: number): Array<{ body: ObjectBody; release: () => void }> {
    const held: Array<{ body: ObjectBody; release: () => void }> = [];
    for (let index = first; index <= last; index++) {
      const block = this.cachedBlock(version, index);
      if (block === undefined) break;
      held.push(block);
    }
    return held;
  }

  /** Block `index` of a version from the main or the hot cache, held, if either has it. */
  private cachedBlock(version: Version, index: number): Extract<AcquiredBlock, { kind: 'memory' }> | undefined {
    const { cache, hotCache } = this.options;
    for (const [tier, name] of [[cache, 'main'], [hotCache, 'hot']] as const) {
      const body = tier?.block(version.objectKey, version.etag, index);
      if (body !== undefined) {
        this.options.onBlockRead?.('hit', name);
        return { kind: 'memory', body, fill: undefined, release: body.hold() };
      }
    }
    return undefined;
  }

  /**
   * Bytes of an object that is not cached, straight from the upstream, pinned to its ETag when it has
   * one: what the discovery brought first, when it covers the start, then the rest.
   */
  private async liveBytes(bucket: string, key: string, meta: ObjectMeta, start: number, end: number, live?: LiveStart): Promise<Readable> {
    this.options.onBlockRead?.('bypass', 'main');
    if (live !== undefined && start < live.bytes && (end <= live.bytes || meta.etag !== undefined)) {
      const prefixEnd = Math.min(end, live.bytes);
      const rest = end > prefixEnd ? () => this.liveBytes(bucket, key, meta, prefixEnd, end) : undefined;
      return Readable.from(concatenated(sliceOf(live, start, prefixEnd), rest), { objectMode: false });
    }
    const headers: Record<string, string> = { range: `bytes=${start}-${end - 1}` };
    if (meta.etag !== undefined) headers['if-match'] = meta.etag;
    const response = await this.options.upstream.request({ method: 'GET', bucket, key, query: [], headers });
    if (meta.etag !== undefined ? !isRangeOf(meta, start, end, response) : response.statusCode !== 206) {
      discardBody(response.body);
      this.dropVersion(bucket, key, meta.etag);
      throw new VersionChangedError();
    }
    return response.body;
  }

  /**
   * The object's metadata: a fresh cached entry, or learned from the upstream (or the object's owner)
   * by one request however many readers wait for it; an entry due for a check is revalidated with
   * If-None-Match, and served anyway if the upstream fails. `want: 'first-block'` learns it with a GET
   * of the first block (which then fills it), `'meta'` with a HEAD.
   */
  private async readMeta(bucket: string, key: string, want: 'first-block' | 'meta', asOwner: boolean, wholeWithChecksums: boolean): Promise<MetaRead> {
    const cacheKey = objectKey(bucket, key);
    const found = this.lookup(cacheKey);
    if (found?.freshness === 'fresh') {
      this.options.onRead?.('hit');
      return { kind: 'meta', meta: found.entry.meta, from: 'cache' };
    }
    let discovery = this.discoveries.get(cacheKey) ?? (asOwner ? undefined : this.discoveriesFromPeers.get(cacheKey));
    const started = discovery === undefined;
    if (discovery !== undefined) {
      this.options.onRead?.('coalesced');
    } else {
      const owner = asOwner ? undefined : this.cluster?.remoteOwner(cacheKey);
      this.options.onRead?.(found !== undefined ? 'revalidate' : owner === undefined ? 'miss' : 'peer');
      discovery = this.discover(bucket, key, { owner, want, revalidating: found, wholeWithChecksums });
    }
    let read: MetaRead;
    try {
      read = await discovery.result;
    } catch (err) {
      if (found !== undefined && err instanceof S3Error && err.statusCode >= 500) return this.servedDespiteFailure(found, bucket, key, err);
      throw err;
    }
    if (found !== undefined && read.kind === 'error' && read.statusCode >= 500) return this.servedDespiteFailure(found, bucket, key, read.statusCode);
    if (read.kind === 'meta' && started && discovery.live !== undefined) {
      const live = discovery.live;
      discovery.live = undefined;
      return { ...read, live };
    }
    return read;
  }

  /** Learns checksums a ranged answer left out: one HEAD (with checksum mode), which replaces the metadata. */
  private completeChecksums(bucket: string, key: string, asOwner: boolean): Promise<MetaRead> {
    const owner = asOwner ? undefined : this.cluster?.remoteOwner(objectKey(bucket, key));
    return this.discover(bucket, key, { owner, want: 'meta', revalidating: undefined, wholeWithChecksums: true }).result;
  }

  private discover(
    bucket: string,
    key: string,
    source: { owner: string | undefined; want: 'first-block' | 'meta'; revalidating: Found | undefined; wholeWithChecksums: boolean },
  ): Discovery {
    const { owner, want, revalidating } = source;
    const cacheKey = objectKey(bucket, key);
    const map = owner === undefined ? this.discoveries : this.discoveriesFromPeers;
    const discovery = { stale: false } as Discovery;
    const run = async (): Promise<MetaRead> => {
      const method = want === 'first-block' ? 'GET' : 'HEAD';
      const headers: Record<string, string> = { 'x-amz-checksum-mode': 'ENABLED' };
      // A GET of the whole object carries its checksums; a ranged one is lighter when nobody asked for them.
      if (method === 'GET' && !source.wholeWithChecksums) headers.range = `bytes=0-${this.blockBytes - 1}`;
      if (revalidating?.entry.meta.etag !== undefined) headers['if-none-match'] = revalidating.entry.meta.etag;
      let discovered = await readDiscovery(await this.fetchMeta(bucket, key, owner, method, headers), method, this.blockBytes);
      if (discovered.kind === 'unsatisfiable' || (discovered.kind === 'error' && method === 'HEAD')) {
        // An empty object has no first block; a HEAD's error has no body to relay. Ask with a whole GET.
        delete headers.range;
        discovered = await readDiscovery(await this.fetchMeta(bucket, key, owner, 'GET', headers), 'GET', this.blockBytes);
      }
      return this.learned(bucket, key, discovery, discovered, owner, revalidating);
    };
    discovery.result = run();
    map.set(cacheKey, discovery);
    const forget = (): void => {
      if (map.get(cacheKey) === discovery) map.delete(cacheKey);
    };
    discovery.result.then(forget, forget);
    return discovery;
  }

  /** Keeps what a discovery learned: metadata in the cache, and its first block as a fill. */
  private learned(bucket: string, key: string, discovery: Discovery, discovered: Discovered, owner: string | undefined, revalidating: Found | undefined): MetaRead {
    const cacheKey = objectKey(bucket, key);
    switch (discovered.kind) {
      case 'unsatisfiable':
        throw new S3Error('BadGateway', { message: 'The upstream refused to send the object.' });
      case 'not-modified':
        if (revalidating === undefined) throw new S3Error('BadGateway', { message: 'The upstream answered 304 to an unconditional request.' });
        if (!discovery.stale) revalidating.cache.revalidated(cacheKey, revalidating.entry);
        return { kind: 'meta', meta: revalidating.entry.meta, from: 'cache' };
      case 'error':
        if (revalidating !== undefined && discovered.statusCode < 500 && !discovery.stale) revalidating.cache.delete(cacheKey);
        return discovered;
      case 'found': {
        const { meta, body } = discovered;
        const tier = revalidating?.cache ?? (owner === undefined ? this.options.cache : this.options.hotCache);
        if (revalidating !== undefined && !sameEtag(revalidating.entry.meta.etag, meta.etag)) revalidating.cache.delete(cacheKey);
        const cacheable = this.cacheable(meta);
        // An owner marks a copy it served stale; such metadata is passed on but never kept.
        if (cacheable && !discovery.stale && meta.headers.warning === undefined) tier?.setMeta(cacheKey, meta);
        if (body !== undefined) this.fillFirstBlock(bucket, key, meta, { stream: body, bytes: discovered.bodyBytes }, owner, tier, discovery);
        return { kind: 'meta', meta, from: 'fetch' };
      }
    }
  }

  /** The first block a discovery's GET brought: a fill every reader of block 0 joins, or thrown away when it cannot be kept. */
  private fillFirstBlock(bucket: string, key: string, meta: ObjectMeta, live: LiveStart, owner: string | undefined, tier: ObjectCache | undefined, discovery: Discovery): void {
    const length = this.options.layout.length(0, meta.size);
    const reserved = this.cacheable(meta) && !discovery.stale ? ObjectBody.reserve(length, this.options.budget) : undefined;
    if (reserved === undefined || !this.cacheable(meta)) {
      // Not kept: the reader that asked streams it; should it not need it, it is thrown away then.
      live.stream.on('error', () => undefined);
      discovery.live = live;
      return;
    }
    const body = live.stream;
    const version: Version = { bucket, key, objectKey: objectKey(bucket, key), etag: meta.etag, size: meta.size, asOwner: owner === undefined };
    const tracked = this.trackFill(version, 0, owner !== undefined, tier, discovery.stale);
    const fill = new BlockFill({
      ...reserved,
      source: body,
      // Only a body longer than the block goes on past it; one that ends with it is read to its end.
      sourceMayContinue: live.bytes > length,
      onBytes: owner === undefined ? this.options.onUpstreamBytes : undefined,
      resume: owner === undefined ? undefined : this.resumeFromUpstream(version, 0, length, owner),
      onIntact: tracked.keep,
    });
    tracked.started(Promise.resolve(fill));
  }

  private fetchMeta(bucket: string, key: string, owner: string | undefined, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<UpstreamResponse> {
    const fromUpstream = () => this.options.upstream.request({ method, bucket, key, query: [], headers });
    if (owner === undefined || this.cluster === undefined) return fromUpstream();
    return this.cluster.fetchFromOwner(owner, bucket, key, method, headers).catch((err: unknown) => {
      if (!(err instanceof PeerUnavailableError)) throw err;
      this.options.logger.warn({ bucket, key, owner }, 'owner unavailable; reading from the upstream');
      return fromUpstream();
    });
  }

  /**
   * Block `index` of a version: from a cache, a fill in flight, or a new fill from its owner or the
   * upstream reserved against the budget; a live fetch for the reader alone when the budget is spent.
   */
  private async acquire(version: Version, index: number): Promise<AcquiredBlock> {
    const { cache, hotCache, layout, budget } = this.options;
    const cached = this.cachedBlock(version, index);
    if (cached !== undefined) return cached;
    const owner = version.asOwner ? undefined : this.blockOwner(version, index);
    const fillKey = `${version.etag}\u0000${index}`;
    const inflight =
      this.blockFills.get(version.objectKey)?.get(fillKey) ?? (version.asOwner ? undefined : this.blockFillsFromPeers.get(version.objectKey)?.get(fillKey));
    // Blocks this node owns are kept in the main tier, copies of others' in the hot one.
    const tier = owner === undefined ? cache : hotCache;
    const tierName = owner === undefined ? 'main' : 'hot';
    if (inflight !== undefined) {
      this.options.onBlockRead?.('coalesced', tierName);
      const fill = await inflight.fill;
      const release = fill.body.hold();
      if (!fill.body.recycled) return this.heldFill(fill, release, owner !== undefined);
      // Filled, cached and evicted again while this read waited: start over.
      release();
      return this.acquire(version, index);
    }
    const start = layout.start(index);
    const end = start + layout.length(index, version.size);
    const reserved = ObjectBody.reserve(end - start, budget);
    if (reserved === undefined) {
      this.options.onBlockRead?.('bypass', tierName);
      return { kind: 'live', open: (from, to) => this.fetchRange(version, start + from, start + to) };
    }
    this.options.onBlockRead?.(owner === undefined ? 'miss' : 'peer', tierName);
    const tracked = this.trackFill(version, index, owner !== undefined, tier, false);
    const filling = this.startBlockFill(version, index, owner, reserved, tracked.keep);
    tracked.started(filling);
    const fill = await filling;
    return this.heldFill(fill, fill.body.hold(), owner !== undefined);
  }

  /**
   * A block being filled, held by a reader. A small block from an owner comes in one or two chunks
   * right behind the answer's head: once it is complete it is sent like a cached one (from memory,
   * with the head in one write) rather than followed as it arrives.
   */
  private async heldFill(fill: BlockFill, release: () => void, fromOwner: boolean): Promise<AcquiredBlock> {
    if (fromOwner && fill.body.size <= SMALL_PEER_BLOCK_BYTES && (await fill.completed)) {
      return { kind: 'memory', body: fill.body, fill: undefined, release };
    }
    return { kind: 'memory', body: fill.body, fill, release };
  }

  /** The block's owner when it is another live node: block 0 goes with the object's owner, the others spread by their own key. */
  private blockOwner(version: Version, index: number): string | undefined {
    if (this.cluster === undefined) return undefined;
    if (index === 0) return this.cluster.remoteOwner(version.objectKey);
    return this.cluster.remoteOwner(`${version.objectKey}\u0000${version.etag}\u0000${index}`);
  }

  private async startBlockFill(
    version: Version,
    index: number,
    owner: string | undefined,
    reserved: { body: ObjectBody; release: () => void },
    onIntact: (body: ObjectBody) => void,
  ): Promise<BlockFill> {
    const { layout, logger } = this.options;
    const start = layout.start(index);
    const end = start + layout.length(index, version.size);
    try {
      let source: Readable;
      let fromOwner = false;
      if (owner !== undefined && this.cluster !== undefined) {
        try {
          const response = await this.cluster.fetchBlock(owner, version.bucket, version.key, version.etag, version.size, index);
          source = this.validated(version, start, end, response);
          fromOwner = true;
        } catch (err) {
          if (!(err instanceof PeerUnavailableError)) throw err;
          logger.warn({ bucket: version.bucket, key: version.key, owner, index }, 'block owner unavailable; reading from the upstream');
          source = await this.fetchRange(version, start, end);
        }
      } else {
        source = await this.fetchRange(version, start, end);
      }
      return new BlockFill({
        ...reserved,
        source,
        onBytes: fromOwner ? undefined : this.options.onUpstreamBytes,
        resume: fromOwner ? this.resumeFromUpstream(version, start, end, owner as string) : undefined,
        onIntact,
      });
    } catch (err) {
      reserved.release();
      throw err;
    }
  }

  /** If an owner dies midway through a block, the rest of the same version comes from the upstream. */
  private resumeFromUpstream(version: Version, start: number, end: number, owner: string): (offset: number) => Promise<Readable> {
    return (offset) => {
      this.options.logger.warn({ bucket: version.bucket, key: version.key, owner, start, offset }, 'owner stream failed; resuming from the upstream');
      return this.fetchRange(version, start + offset, end);
    };
  }

  /**
   * Makes a block fill findable by every reader of that block while it runs; `keep` caches its bytes
   * (unless a write made them stale), called by the fill before it lets go of them.
   */
  private trackFill(
    version: Version,
    index: number,
    fromPeer: boolean,
    tier: ObjectCache | undefined,
    stale: boolean,
  ): { keep: (body: ObjectBody) => void; started: (filling: Promise<BlockFill>) => void } {
    const maps = fromPeer ? this.blockFillsFromPeers : this.blockFills;
    const fills = maps.get(version.objectKey) ?? new Map<string, InflightBlock>();
    maps.set(version.objectKey, fills);
    const fillKey = `${version.etag}\u0000${index}`;
    const inflight = { stale } as InflightBlock;
    fills.set(fillKey, inflight);
    const forget = (): void => {
      const current = maps.get(version.objectKey);
      if (current?.get(fillKey) !== inflight) return;
      current.delete(fillKey);
      if (current.size === 0) maps.delete(version.objectKey);
    };
    return {
      keep: (body) => {
        forget();
        if (!inflight.stale && tier !== undefined) tier.setBlock(version.objectKey, version.etag, index, body);
      },
      started: (filling) => {
        inflight.fill = filling;
        filling.then((fill) => fill.completed.then(forget), forget);
      },
    };
  }

  /** Bytes [start, end) of a version from the upstream, pinned with If-Match and checked. */
  private async fetchRange(version: Version, start: number, end: number): Promise<Readable> {
    const headers = { range: `bytes=${start}-${end - 1}`, 'if-match': version.etag };
    const response = await this.options.upstream.request({ method: 'GET', bucket: version.bucket, key: version.key, query: [], headers });
    return this.validated(version, start, end, response);
  }

  /** The body of a ranged answer if it is bytes [start, end) of the version; otherwise the version is gone. */
  private validated(version: Version, start: number, end: number, response: UpstreamResponse): Readable {
    if (isRangeOf(version, start, end, response)) return response.body;
    discardBody(response.body);
    if (response.statusCode >= 500 || response.statusCode === 403 || response.statusCode === 429) {
      throw new S3Error(response.statusCode === 403 ? 'AccessDenied' : 'ServiceUnavailable', {
        message: `The upstream answered ${response.statusCode} to a block read.`,
      });
    }
    this.options.logger.warn({ bucket: version.bucket, key: version.key, status: response.statusCode }, 'object changed while it was being read');
    this.dropVersion(version.bucket, version.key, version.etag);
    throw new VersionChangedError();
  }

  /** Forgets one version of an object here: its metadata and blocks, and fills in flight for it. */
  private dropVersion(bucket: string, key: string, etag: string | undefined): void {
    const cacheKey = objectKey(bucket, key);
    if (etag === undefined) {
      this.invalidate(bucket, key);
      return;
    }
    this.options.cache.dropVersion(cacheKey, etag);
    this.options.hotCache?.dropVersion(cacheKey, etag);
    for (const map of [this.blockFills, this.blockFillsFromPeers]) {
      const fills = map.get(cacheKey);
      for (const [fillKey, fill] of fills ?? []) {
        if (!fillKey.startsWith(`${etag}\u0000`)) continue;
        fill.stale = true;
        fills?.delete(fillKey);
      }
    }
  }

  /** The key's entry in the main or the hot cache, with how far it may be trusted. */
  private lookup(cacheKey: string): Found | undefined {
    const { cache, hotCache } = this.options;
    const found = cache.lookup(cacheKey);
    if (found !== undefined) return { entry: found.entry, freshness: found.freshness, cache };
    const hot = hotCache?.lookup(cacheKey);
    return hot === undefined || hotCache === undefined ? undefined : { entry: hot.entry, freshness: hot.freshness, cache: hotCache };
  }

  /** The cached copy, when the upstream failed to revalidate it: as it is within its TTL, marked stale past it. */
  private servedDespiteFailure(found: Found, bucket: string, key: string, failure: unknown): MetaRead {
    const stale = found.freshness === 'expired';
    this.options.logger.warn({ bucket, key, stale, failure }, 'upstream failed; serving the cached copy');
    return { kind: 'meta', meta: found.entry.meta, from: stale ? 'stale' : 'cache' };
  }
}

/** Bytes [from, to) of a discovery's body, which starts at the object's first byte; the rest is thrown away. */
function sliceOf(live: LiveStart, from: number, to: number): AsyncGenerator<Buffer> {
  live.taken = true;
  return slice(live, from, to);
}

async function* slice(live: LiveStart, from: number, to: number): AsyncGenerator<Buffer> {
  let position = 0;
  try {
    for await (const chunk of live.stream) {
      const buf = chunk as Buffer;
      const chunkEnd = position + buf.length;
      if (chunkEnd > from && position < to) yield buf.subarray(Math.max(0, from - position), Math.min(buf.length, to - position));
      position = chunkEnd;
      if (position >= to) break;
    }
  } finally {
    discardBody(live.stream);
  }
  if (position < to) throw new S3Error('BadGateway', { message: 'The upstream body ended early.' });
}

async function* concatenated(first: AsyncGenerator<Buffer>, rest: (() => Promise<Readable>) | undefined): AsyncGenerator<Buffer> {
  yield* first;
  if (rest === undefined) return;
  const stream = await rest();
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } finally {
    discardBody(stream);
  }
}

