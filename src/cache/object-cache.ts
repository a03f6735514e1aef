import { LRUCache } from 'lru-cache';
import { type ObjectMeta, metaBytes } from './object-meta.js';

export interface CachedObject {
  meta: ObjectMeta;
  body: Buffer;
}

export interface ObjectCacheOptions {
  /** Upper bound of all entries' bytes (bodies plus metadata). */
  maxBytes: number;
  /** Largest single entry accepted; larger ones are refused rather than evicting everything. */
  maxEntryBytes: number;
  /** Time to live of an entry; 0 means no expiry. */
  ttlMs: number;
}

/** A byte-bounded LRU of whole objects keyed by bucket and key. */
export class ObjectCache {
  private readonly lru: LRUCache<string, CachedObject>;

  constructor(options: ObjectCacheOptions) {
    this.lru = new LRUCache<string, CachedObject>({
      maxSize: options.maxBytes,
      maxEntrySize: options.maxEntryBytes,
      sizeCalculation: (entry) => Math.max(1, entry.body.length + metaBytes(entry.meta)),
      ttl: options.ttlMs > 0 ? options.ttlMs : undefined,
      ttlAutopurge: false,
    });
  }

  get(key: string): CachedObject | undefined {
    return this.lru.get(key);
  }

  /** Returns false when the entry is too large to be cached. */
  set(key: string, entry: CachedObject): boolean {
    this.lru.set(key, entry);
    return this.lru.has(key);
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
