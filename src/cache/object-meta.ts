import type { ResponseHeaders } from '../upstream/upstream.js';

/** What a GET/HEAD response needs to know about an object besides its bytes. */
export interface ObjectMeta {
  /** Lower-case response headers to replay, without Content-Length and Content-Range. */
  headers: Readonly<Record<string, string>>;
  size: number;
  etag: string | undefined;
  /** Last-Modified in epoch ms, if the upstream sent a parseable one. */
  lastModifiedMs: number | undefined;
  /**
   * Whether the headers hold every whole-object checksum the upstream has: false when they came from
   * a ranged answer, which carries none.
   */
  checksumsKnown: boolean;
}

/** Headers that describe one response or one connection, never the object itself. */
const NOT_REPLAYED = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'proxy-authenticate',
  'proxy-connection',
  'date',
  'server',
  'x-amz-request-id',
  'x-amz-id-2',
  'content-length',
  'content-range',
  'set-cookie',
  'x-falcon-checksums-known',
]);

export function objectMetaFrom(headers: ResponseHeaders, size: number, checksumsKnown = true): ObjectMeta {
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || NOT_REPLAYED.has(name)) continue;
    kept[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const lastModified = kept['last-modified'] === undefined ? Number.NaN : Date.parse(kept['last-modified']);
  return {
    headers: kept,
    size,
    etag: kept.etag,
    lastModifiedMs: Number.isNaN(lastModified) ? undefined : lastModified,
    checksumsKnown: checksumsKnown || Object.keys(kept).some((name) => name.startsWith('x-amz-checksum-')),
  };
}

/** Bytes an entry's metadata costs in memory, roughly: header text plus object overhead. */
export function metaBytes(meta: ObjectMeta): number {
  let bytes = 256;
  for (const [name, value] of Object.entries(meta.headers)) bytes += name.length + value.length + 32;
  return bytes;
}

/** Whether two ETags name the same version: quotes and a weak marker aside, equal; never when either is missing. */
export function sameEtag(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const bare = (tag: string): string => tag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  return bare(a) === bare(b);
}
