import { LRUCache } from 'lru-cache';
import type { ObjectBody } from './object-body.js';
import { type ObjectMeta, metaBytes } from './object-meta.js';

export interface CachedObject {
  meta: ObjectMeta;
  body: ObjectBody;
  /** When the upstream last confirmed this version: the fill that brought it, or a 304 since. */
  validatedAtMs: number;
}

/**
 * How far an entry may be trusted: `fresh` is served as it is; `due` (older than the revalidation
 * interval) and `expired` (older than the TTL, within the stale-if-error window) are checked with the
 * upstream first, and only an expired entry is marked stale when served because the upstream failed.
 */
export type Freshness = 'fresh' | 'due' | 'expired';

export interface ObjectCacheOptions {
  /** Upper bound of all entries' bytes (bodies plus metadata). */
  maxBytes: number;
  /** Largest single body accepted; larger ones are refused rather than evicting everything. */
  maxEntryBytes: number;
  /** Time an entry is trusted after the upstream confirmed it; 0 means no expiry. */
  ttlMs: number;
  /** Age after which an entry is checked with the upstream before it is served; 0 means only at the TTL. */
  revalidateAfterMs?: number;
  /** How long past the TTL an entry is kept, to be served stale while the upstream fails; 0 drops it at the TTL. */
  staleIfErrorMs?: number;
  now?: () => number;
}

/**
 * A byte-bounded LRU of whole objects keyed by bucket and key. Entries past their TTL are kept (and
 * counted) for the stale-if-error window, then dropped when next looked up or evicted.
 */
export class ObjectCache {
  private readonly lru: LRUCache<string, CachedObject>;
  private readonly now: () => number;

  constructor(private readonly options: ObjectCacheOptions) {
    this.now = options.now ?? Date.now;
    this.lru = new LRUCache<string, CachedObject>({
      maxSize: options.maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.body.size + metaBytes(entry.meta)),
      // Bodies still being sent when they leave count against the fill budget from then on.
      dispose: (entry) => entry.body.leftCache(),
    });
  }

  /** The entry and how far it may be trusted; entries past the stale-if-error window are dropped. */
  lookup(key: string): { entry: CachedObject; freshness: Freshness } | undefined {
    const entry = this.lru.get(key);
    if (entry === undefined) return undefined;
    const { ttlMs, revalidateAfterMs = 0, staleIfErrorMs = 0 } = this.options;
    const ageMs = this.now() - entry.validatedAtMs;
    if (ttlMs > 0 && ageMs >= ttlMs + staleIfErrorMs) {
      this.lru.delete(key);
      return undefined;
    }
    if (ttlMs > 0 && ageMs >= ttlMs) return { entry, freshness: 'expired' };
    if (revalidateAfterMs > 0 && ageMs >= revalidateAfterMs) return { entry, freshness: 'due' };
    return { entry, freshness: 'fresh' };
  }

  /** Caches an object as confirmed now. Returns false when it is too large (any older entry for the key is dropped). */
  set(key: string, object: Omit<CachedObject, 'validatedAtMs'>): boolean {
    if (object.body.size > this.options.maxEntryBytes) {
      this.lru.delete(key);
      return false;
    }
    const entry: CachedObject = { ...object, validatedAtMs: this.now() };
    entry.body.enteredCache();
    this.lru.set(key, entry);
    if (this.lru.peek(key) === entry) return true;
    entry.body.leftCache();
    return false;
  }

  /** Records that the upstream confirmed this entry (a 304), if it is still the key's entry. */
  revalidated(key: string, entry: CachedObject): void {
    if (this.lru.peek(key) === entry) entry.validatedAtMs = this.now();
  }

  /** Drops the key's entry if it is still this one. */
  deleteEntry(key: string, entry: CachedObject): void {
    if (this.lru.peek(key) === entry) this.lru.delete(key);
  }

  delete(key: string): boolean {
    return this.lru.delete(key);
  }

  clear(): void {
    this.lru.clear();
  }

  get bytes(): number {
    return this.lru.calculatedSize;
  }

  get entries(): number {
    return this.lru.size;
  }
}

/** The cache key of an object; a NUL cannot occur in bucket names, so no two objects share a key. */
export function objectKey(bucket: string, key: string): string {
  return `${bucket}\u0000${key}`;
}
