import { LRUCache } from 'lru-cache';
import type { ByteBudget } from './byte-budget.js';
import type { ObjectBody } from './object-body.js';
import { type ObjectMeta, metaBytes } from './object-meta.js';

/** An object's metadata as cached: its own entry, so HEAD and conditional requests never touch data. */
export interface CachedObject {
  meta: ObjectMeta;
  /** When the upstream last confirmed this version: the read that brought it, or a check since. */
  validatedAtMs: number;
}

/**
 * How far an entry may be trusted: `fresh` is served as it is; `due` (older than the revalidation
 * interval) and `expired` (older than the TTL, within the stale-if-error window) are checked with the
 * upstream first, and only an expired entry is marked stale when served because the upstream failed.
 */
export type Freshness = 'fresh' | 'due' | 'expired';

export interface ObjectCacheOptions {
  /** Upper bound of this tier's entries (bodies plus metadata); the budget bounds all tiers together. */
  maxBytes: number;
  /** Counts every entry's bytes together with everything else the node holds. */
  budget: ByteBudget;
  /** Time an entry is trusted after the upstream confirmed it; 0 means no expiry. */
  ttlMs: number;
  /** Age after which an entry is checked with the upstream before it is served; 0 means only at the TTL. */
  revalidateAfterMs?: number;
  /** How long past the TTL an entry is kept, to be served stale while the upstream fails; 0 drops it at the TTL. */
  staleIfErrorMs?: number;
  now?: () => number;
}

type Entry =
  | { kind: 'meta'; objectKey: string; cached: CachedObject; bytes: number; touched: number }
  | { kind: 'block'; objectKey: string; etag: string; body: ObjectBody; touched: number };

/** Orders use across every tier, so that eviction takes the least recently used entry of them all. */
let useClock = 0;

/**
 * One tier of the cache (main, or hot copies of what other nodes own): a byte-bounded LRU of object
 * metadata and of blocks keyed by bucket, key, ETag and index. An object of at most one block is its
 * metadata plus block 0. Metadata past its TTL is kept (and counted) for the stale-if-error window,
 * then dropped when next looked up or evicted; blocks never expire, since their ETag names their bytes.
 */
export class ObjectCache {
  private readonly lru: LRUCache<string, Entry>;
  private readonly blockKeys = new Map<string, Set<string>>();
  private readonly now: () => number;

  constructor(private readonly options: ObjectCacheOptions) {
    this.now = options.now ?? Date.now;
    this.lru = new LRUCache<string, Entry>({
      maxSize: options.maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.kind === 'meta' ? entry.bytes : entry.body.size),
      dispose: (entry, key) => this.disposed(entry, key),
    });
  }

  /** The object's metadata and how far it may be trusted; entries past the stale-if-error window are dropped. */
  lookup(objectKey: string): { entry: CachedObject; freshness: Freshness } | undefined {
    const entry = this.lru.get(objectKey);
    if (entry?.kind !== 'meta') return undefined;
    entry.touched = ++useClock;
    const { ttlMs, revalidateAfterMs = 0, staleIfErrorMs = 0 } = this.options;
    const ageMs = this.now() - entry.cached.validatedAtMs;
    if (ttlMs > 0 && ageMs >= ttlMs + staleIfErrorMs) {
      this.lru.delete(objectKey);
      return undefined;
    }
    if (ttlMs > 0 && ageMs >= ttlMs) return { entry: entry.cached, freshness: 'expired' };
    if (revalidateAfterMs > 0 && ageMs >= revalidateAfterMs) return { entry: entry.cached, freshness: 'due' };
    return { entry: entry.cached, freshness: 'fresh' };
  }

  /**
   * Caches an object's metadata as confirmed now, dropping the blocks of any other version. Returns
   * the entry, or undefined when the budget has no room for it.
   */
  setMeta(objectKey: string, meta: ObjectMeta): CachedObject | undefined {
    const previous = this.lru.peek(objectKey);
    if (previous?.kind === 'meta' && previous.cached.meta.etag !== meta.etag) this.dropBlocks(objectKey);
    const bytes = metaBytes(meta);
    if (!this.options.budget.tryReserve(bytes)) return undefined;
    const cached: CachedObject = { meta, validatedAtMs: this.now() };
    const entry: Entry = { kind: 'meta', objectKey, cached, bytes, touched: ++useClock };
    this.lru.set(objectKey, entry);
    if (this.lru.peek(objectKey) === entry) return cached;
    this.options.budget.release(bytes);
    return undefined;
  }

  /** Block `index` of the version `etag` of an object, if cached. */
  block(objectKey: string, etag: string, index: number): ObjectBody | undefined {
    const entry = this.lru.get(blockKey(objectKey, etag, index));
    if (entry?.kind !== 'block') return undefined;
    entry.touched = ++useClock;
    return entry.body;
  }

  /** Whether block `index` of version `etag` is cached, without counting as a use. */
  hasBlock(objectKey: string, etag: string, index: number): boolean {
    return this.lru.has(blockKey(objectKey, etag, index));
  }

  /** Caches a block whose bytes the budget already counts. Returns false when the tier cannot take it. */
  setBlock(objectKey: string, etag: string, index: number, body: ObjectBody): boolean {
    const key = blockKey(objectKey, etag, index);
    const entry: Entry = { kind: 'block', objectKey, etag, body, touched: ++useClock };
    body.enteredCache();
    this.lru.set(key, entry);
    if (this.lru.peek(key) !== entry) {
      body.leftCache();
      return false;
    }
    const keys = this.blockKeys.get(objectKey) ?? new Set<string>();
    this.blockKeys.set(objectKey, keys);
    keys.add(key);
    return true;
  }

  /** Records that the upstream confirmed this entry, if it is still the object's entry. */
  revalidated(objectKey: string, cached: CachedObject): void {
    const entry = this.lru.peek(objectKey);
    if (entry?.kind === 'meta' && entry.cached === cached) cached.validatedAtMs = this.now();
  }

  /** Drops the object's metadata if it is still this entry. */
  deleteEntry(objectKey: string, cached: CachedObject): void {
    const entry = this.lru.peek(objectKey);
    if (entry?.kind === 'meta' && entry.cached === cached) this.lru.delete(objectKey);
  }

  /** Drops an object's metadata and every block of every version of it. */
  delete(objectKey: string): void {
    this.lru.delete(objectKey);
    this.dropBlocks(objectKey);
  }

  /** Drops one version of an object: its metadata if it names that ETag, and its blocks. */
  dropVersion(objectKey: string, etag: string): void {
    const entry = this.lru.peek(objectKey);
    if (entry?.kind === 'meta' && entry.cached.meta.etag === etag) this.lru.delete(objectKey);
    for (const key of [...(this.blockKeys.get(objectKey) ?? [])]) {
      const block = this.lru.peek(key);
      if (block?.kind === 'block' && block.etag === etag) this.lru.delete(key);
    }
  }

  clear(): void {
    this.lru.clear();
  }

  /** When this tier's least recently used entry was last used; undefined when empty. */
  oldestUse(): number | undefined {
    for (const key of this.lru.rkeys()) return this.lru.peek(key)?.touched;
    return undefined;
  }

  /** Drops the least recently used entry; false when empty. */
  evictOldest(): boolean {
    return this.lru.pop() !== undefined;
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get entries(): number {
    return this.lru.size;
  }

  private dropBlocks(objectKey: string): void {
    for (const key of [...(this.blockKeys.get(objectKey) ?? [])]) this.lru.delete(key);
  }

  private disposed(entry: Entry, key: string): void {
    if (entry.kind === 'meta') {
      this.options.budget.release(entry.bytes);
      return;
    }
    entry.body.leftCache();
    const keys = this.blockKeys.get(entry.objectKey);
    keys?.delete(key);
    if (keys?.size === 0) this.blockKeys.delete(entry.objectKey);
  }
}

/** Drops the least recently used entry of all the tiers; false when they are all empty. */
export function evictOldestOf(tiers: ReadonlyArray<ObjectCache | undefined>): boolean {
  let oldest: ObjectCache | undefined;
  let oldestUse = Number.POSITIVE_INFINITY;
  for (const tier of tiers) {
    const use = tier?.oldestUse();
    if (tier !== undefined && use !== undefined && use < oldestUse) {
      oldest = tier;
      oldestUse = use;
    }
  }
  return oldest?.evictOldest() ?? false;
}

/** The cache key of an object; a NUL cannot occur in bucket names, so no two objects share a key. */
export function objectKey(bucket: string, key: string): string {
  return `${bucket}\u0000${key}`;
}

/** The cache key of a block; starts with a character no bucket name has, so it never meets an object key. */
function blockKey(objectKey: string, etag: string, index: number): string {
  return `\u0001${objectKey}\u0000${etag}\u0000${index}`;
}
