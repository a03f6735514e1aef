import type { Readable } from 'node:stream';
import { readBounded } from '../http/read-bounded.js';
import { type ObjectMeta, objectMetaFrom } from '../cache/object-meta.js';
import { S3Error } from '../errors.js';
import { discardBody, drainBody } from '../http/discard-body.js';
import { headerValue, type UpstreamResponse } from '../upstream/upstream.js';
import { parseContentRange } from './ranges.js';

/** Error bodies from the upstream are small XML documents; anything longer is cut here. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/** Set by an owner answering for an object whose whole-object checksums it knows (or knows there are none). */
export const CHECKSUMS_KNOWN_HEADER = 'x-falcon-checksums-known';

export type Discovered =
  /** The object's metadata and, for a GET, a body of `bodyBytes` that starts with its first byte. */
  | { kind: 'found'; meta: ObjectMeta; body: Readable | undefined; bodyBytes: number }
  /** 304 to a conditional request: the cached copy it was sent for is still current. */
  | { kind: 'not-modified' }
  /** 416 (the object is empty) or another range than asked: ask again without a range. */
  | { kind: 'unsatisfiable' }
  /** Any other status: replayed to the client, never cached. */
  | { kind: 'error'; statusCode: number; headers: UpstreamResponse['headers']; body: Buffer };

/**
 * Reads the answer to a request that learns an object's metadata: a HEAD, a whole GET, or a GET of
 * its first block (`Range: bytes=0-<block size - 1>`), from the upstream or from the object's owner.
 */
export async function readDiscovery(response: UpstreamResponse, method: 'GET' | 'HEAD', firstBlockBytes: number): Promise<Discovered> {
  const { statusCode, headers } = response;
  if (statusCode === 304 || statusCode === 416) {
    drainBody(response.body);
    return { kind: statusCode === 304 ? 'not-modified' : 'unsatisfiable' };
  }
  if (statusCode !== 200 && statusCode !== 206) {
    const body = await readBounded(response.body, MAX_ERROR_BODY_BYTES).catch(() => Buffer.alloc(0));
    return { kind: 'error', statusCode, headers, body };
  }
  const checksumsKnown = headerValue(headers, CHECKSUMS_KNOWN_HEADER) === '1';
  if (statusCode === 200) {
    const length = Number(headerValue(headers, 'content-length'));
    if (!Number.isSafeInteger(length) || length < 0) {
      discardBody(response.body);
      throw new S3Error('BadGateway', { message: 'The upstream answered without a valid Content-Length.' });
    }
    // A whole answer to a GET or a HEAD carries every checksum the object has (Falcon asks for them).
    if (method === 'HEAD') discardBody(response.body);
    return { kind: 'found', meta: objectMetaFrom(headers, length, true), body: method === 'GET' ? response.body : undefined, bodyBytes: length };
  }
  const range = parseContentRange(headerValue(headers, 'content-range'));
  const length = headerValue(headers, 'content-length');
  if (
    method !== 'GET' ||
    range === undefined ||
    range.first !== 0 ||
    range.last !== Math.min(firstBlockBytes, range.total) - 1 ||
    (length !== undefined && Number(length) !== range.last + 1)
  ) {
    // Not the first block as asked (an empty object's odd range, an upstream's own reading of Range):
    // the object is asked for whole instead.
    discardBody(response.body);
    return { kind: 'unsatisfiable' };
  }
  // A partial answer carries no whole-object checksums, whether or not the object has some.
  return { kind: 'found', meta: objectMetaFrom(headers, range.total, checksumsKnown), body: response.body, bodyBytes: range.last + 1 };
}
