import type { IncomingHttpHeaders } from 'node:http';
import type { ObjectMeta } from '../cache/object-meta.js';
import { S3Error } from '../errors.js';
import { amzParameter, firstHeader } from './request.js';

export interface ObjectResponsePlan {
  statusCode: 200 | 206 | 304;
  headers: Record<string, string>;
  /** Bytes [start, endExclusive) of the object to send; empty for HEAD and 304. */
  start: number;
  endExclusive: number;
}

const OVERRIDES: ReadonlyArray<readonly [string, string]> = [
  ['response-content-type', 'content-type'],
  ['response-content-language', 'content-language'],
  ['response-expires', 'expires'],
  ['response-cache-control', 'cache-control'],
  ['response-content-disposition', 'content-disposition'],
  ['response-content-encoding', 'content-encoding'],
];

/** What an HTTP header value may hold: no CR, LF or other control characters. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Headers a 304 carries: the validators and caching headers, no entity headers. */
const NOT_MODIFIED_HEADERS = ['etag', 'last-modified', 'cache-control', 'expires', 'x-amz-version-id'];

/**
 * Decides the answer to a GetObject/HeadObject from the object's metadata alone, as S3 does:
 * If-Match, then If-Unmodified-Since (only without If-Match) give 412; If-None-Match, then
 * If-Modified-Since (only without If-None-Match) give 304; then Range gives 206 or 416.
 */
export function planObjectResponse(
  meta: ObjectMeta,
  method: string,
  headers: IncomingHttpHeaders,
  params: URLSearchParams,
): ObjectResponsePlan {
  const ifMatch = headers['if-match'];
  const ifNoneMatch = headers['if-none-match'];
  if (ifMatch !== undefined) {
    if (!etagListMatches(ifMatch, meta.etag)) throw preconditionFailed('If-Match');
  } else if (isModifiedSince(meta, headers['if-unmodified-since']) === true) {
    throw preconditionFailed('If-Unmodified-Since');
  }
  if (ifNoneMatch !== undefined) {
    if (etagListMatches(ifNoneMatch, meta.etag)) return notModified(meta);
  } else if (isModifiedSince(meta, headers['if-modified-since']) === false) {
    return notModified(meta);
  }

  const out: Record<string, string> = { ...meta.headers, 'accept-ranges': 'bytes' };
  const range = rangeApplies(meta, headers) ? parseRange(headers.range, meta.size) : undefined;
  // S3 shows whole-object checksums only when asked, and never on a partial response.
  if (range !== undefined || amzParameter('x-amz-checksum-mode', headers, params)?.toUpperCase() !== 'ENABLED') {
    for (const name of Object.keys(out)) if (name.startsWith('x-amz-checksum-')) delete out[name];
  }
  for (const [param, header] of OVERRIDES) {
    const value = params.get(param);
    if (value !== null && !HEADER_VALUE.test(value)) {
      throw new S3Error('InvalidArgument', {
        message: `Header value for ${param} is not valid.`,
        details: { ArgumentName: param, ArgumentValue: value.replace(/[^\x20-\x7e]/g, '?') },
      });
    }
    if (value !== null) out[header] = value;
  }
  const bodyless = method === 'HEAD';
  if (range === undefined) {
    out['content-length'] = String(meta.size);
    return { statusCode: 200, headers: out, start: 0, endExclusive: bodyless ? 0 : meta.size };
  }
  out['content-length'] = String(range.endExclusive - range.start);
  out['content-range'] = `bytes ${range.start}-${range.endExclusive - 1}/${meta.size}`;
  return { statusCode: 206, headers: out, start: range.start, endExclusive: bodyless ? range.start : range.endExclusive };
}

function notModified(meta: ObjectMeta): ObjectResponsePlan {
  const out: Record<string, string> = {};
  for (const name of NOT_MODIFIED_HEADERS) {
    const value = meta.headers[name];
    if (value !== undefined) out[name] = value;
  }
  return { statusCode: 304, headers: out, start: 0, endExclusive: 0 };
}

function preconditionFailed(condition: string): S3Error {
  return new S3Error('PreconditionFailed', { details: { Condition: condition } });
}

function normalizeEtag(tag: string): string {
  return tag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

export function etagListMatches(list: string, etag: string | undefined): boolean {
  if (list.trim() === '*') return true;
  if (etag === undefined) return false;
  const wanted = normalizeEtag(etag);
  return list.split(',').some((tag) => normalizeEtag(tag) === wanted);
}

/** True/false when the date parses and the object has a Last-Modified; undefined when the condition is ignored. */
function isModifiedSince(meta: ObjectMeta, since: string | undefined): boolean | undefined {
  if (since === undefined || meta.lastModifiedMs === undefined) return undefined;
  const sinceMs = Date.parse(since);
  if (Number.isNaN(sinceMs)) return undefined;
  // HTTP dates have whole seconds; compare at that precision.
  return Math.floor(meta.lastModifiedMs / 1000) > Math.floor(sinceMs / 1000);
}

/** If-Range: the Range applies only while the validator still matches. */
function rangeApplies(meta: ObjectMeta, headers: IncomingHttpHeaders): boolean {
  const ifRange = firstHeader(headers, 'if-range');
  if (headers.range === undefined) return false;
  if (ifRange === undefined) return true;
  if (ifRange.includes('"')) return meta.etag !== undefined && normalizeEtag(ifRange) === normalizeEtag(meta.etag);
  return isModifiedSince(meta, ifRange) === false;
}

/**
 * Parses a single byte range as S3 does: a malformed header is ignored (whole object), a
 * well-formed range outside the object is 416 InvalidRange.
 */
export function parseRange(header: string | undefined, size: number): { start: number; endExclusive: number } | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bytes=(\d*)-(\d*)\s*$/i.exec(header);
  if (!match) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (size === 0) throw invalidRange(header, size);
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) throw invalidRange(header, size);
    return { start: Math.max(0, size - suffix), endExclusive: size };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Number(last);
  if (last !== '' && end < start) return undefined;
  if (start >= size) throw invalidRange(header, size);
  return { start, endExclusive: Math.min(end, size - 1) + 1 };
}

function invalidRange(header: string, size: number): S3Error {
  return new S3Error('InvalidRange', {
    details: { RangeRequested: header.trim(), ActualObjectSize: String(size) },
  });
}

/** Query parameters that leave a read plain: a presigned URL's own, and the operation name SDKs add. */
const PLAIN_READ_PARAMS = /^(X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature|Security-Token)|x-id)$/;

/**
 * A GET or HEAD that planObjectResponse would answer with the object as stored: no Range, conditions,
 * response overrides or checksum mode. Kept beside it, so that what changes an answer is listed in one place.
 */
export function isPlainRead(headers: IncomingHttpHeaders, query: Iterable<readonly [string, string]>): boolean {
  if (
    headers.range !== undefined ||
    headers['if-match'] !== undefined ||
    headers['if-none-match'] !== undefined ||
    headers['if-modified-since'] !== undefined ||
    headers['if-unmodified-since'] !== undefined ||
    headers['x-amz-checksum-mode'] !== undefined
  ) {
    return false;
  }
  for (const [name] of query) if (!PLAIN_READ_PARAMS.test(name)) return false;
  return true;
}
