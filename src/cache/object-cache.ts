import { LRUCache } from 'lru-cache';
import type { ObjectBody } from './object-body.js';
import { type ObjectMeta, metaBytes } from './object-meta.js';

export interface CachedObject {
  meta: ObjectMeta;
  body: ObjectBody;
}

export interface ObjectCacheOptions {
  /** Upper bound of all entries' bytes (bodies plus metadata). */
  maxBytes: number;
  /** Largest single body accepted; larger ones are refused rather than evicting everything. */
  maxEntryBytes: number;
  /** Time to live of an entry; 0 means no expiry. */
  ttlMs: number;
}

/** A byte-bounded LRU of whole objects keyed by bucket and key. */
export class ObjectCache {
  private readonly lru: LRUCache<string, CachedObject>;

  constructor(private readonly options: ObjectCacheOptions) {
    this.lru = new LRUCache<string, CachedObject>({
      maxSize: options.maxBytes,
      sizeCalculation: (entry) => Math.max(1, entry.body.size + metaBytes(entry.meta)),
      // Bodies still being sent when they leave count against the fill budget from then on.
      dispose: (entry) => entry.body.leftCache(),
      ttl: options.ttlMs > 0 ? options.ttlMs : undefined,
      ttlAutopurge: false,
    });
  }

  get(key: string): CachedObject | undefined {
    return this.lru.get(key);
  }

  /** Returns false when the entry is too large to be cached (any older entry for the key is dropped). */
  set(key: string, entry: CachedObject): boolean {
    if (entry.body.size > this.options.maxEntryBytes) {
      this.lru.delete(key);
      return false;
    }
    if (this.lru.peek(key) === entry) return true;
    entry.body.enteredCache();
    this.lru.set(key, entry);
    if (this.lru.peek(key) === entry) return true;
    entry.body.leftCache();
    return false;
  }

  delete(key: string): boolean {
    return this.lru.delete(key);
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
