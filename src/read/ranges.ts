import { type ObjectMeta, sameEtag } from '../cache/object-meta.js';
import { headerValue, type UpstreamResponse } from '../upstream/upstream.js';

/** A Content-Range of a partial answer: bytes first-last/total. */
export interface ContentRange {
  first: number;
  last: number;
  total: number;
}

export function parseContentRange(value: string | undefined): ContentRange | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value?.trim() ?? '');
  if (match === null) return undefined;
  const [first, last, total] = match.slice(1).map(Number) as [number, number, number];
  if (!Number.isSafeInteger(total) || first > last || last >= total) return undefined;
  return { first, last, total };
}

/**
 * Whether a ranged answer is bytes [first, endExclusive) of the very object `meta` describes. An
 * upstream may ignore If-Match, so the ETag and the size are checked here as well: two versions must
 * never be stitched together.
 */
export function isRangeOf(meta: Pick<ObjectMeta, 'etag' | 'size'>, first: number, endExclusive: number, response: UpstreamResponse): boolean {
  if (response.statusCode !== 206) return false;
  if (!sameEtag(headerValue(response.headers, 'etag'), meta.etag)) return false;
  const range = parseContentRange(headerValue(response.headers, 'content-range'));
  if (range === undefined) return false;
  const length = headerValue(response.headers, 'content-length');
  return (
    range.first === first &&
    range.last === endExclusive - 1 &&
    range.total === meta.size &&
    (length === undefined || Number(length) === endExclusive - first)
  );
}

/** How an object of `size` bytes divides into blocks of `blockBytes`. */
export class BlockLayout {
  constructor(readonly blockBytes: number) {}

  /** Index of the block holding byte `offset`. */
  indexOf(offset: number): number {
    return Math.floor(offset / this.blockBytes);
  }

  start(index: number): number {
    return index * this.blockBytes;
  }

  /** Bytes in block `index` of an object of `size` bytes (the last one may be short). */
  length(index: number, size: number): number {
    return Math.max(0, Math.min(this.blockBytes, size - index * this.blockBytes));
  }
}
