import type { IncomingHttpHeaders } from 'node:http';
import { S3Error } from '../errors.js';

/** A client request as S3 sees it: which bucket and key, and the decoded query. */
export interface S3Request {
  method: string;
  bucket: string | undefined;
  /** Decoded key; undefined for service- and bucket-level requests. */
  key: string | undefined;
  /** Decoded query pairs in the order received. */
  query: Array<[string, string]>;
  /** The same pairs, for lookups. */
  readonly params: URLSearchParams;
  /** The decoded path, for the Resource element of errors. */
  resource: string;
}

/**
 * Query parameters of a presigned URL, as presigners spell them: they authenticate the client and are never
 * forwarded. Names are matched as sent first, then lower-cased.
 */
const PRESIGN_PARAMS_AS_SENT = new Set([
  'X-Amz-Algorithm',
  'X-Amz-Credential',
  'X-Amz-Date',
  'X-Amz-Expires',
  'X-Amz-SignedHeaders',
  'X-Amz-Signature',
  'X-Amz-Security-Token',
  'X-Amz-Content-Sha256',
]);
const PRESIGN_PARAMS = new Set([...PRESIGN_PARAMS_AS_SENT].map((name) => name.toLowerCase()));

export function isPresignParam(name: string): boolean {
  return PRESIGN_PARAMS_AS_SENT.has(name) || PRESIGN_PARAMS.has(name.toLowerCase());
}

/**
 * Parses path-style (/bucket/key) and virtual-hosted-style (bucket.<domain>/key) requests.
 * Keys are percent-decoded exactly once; '+' stays '+', as S3 reads paths.
 */
export function parseS3Request(method: string, url: string, headers: IncomingHttpHeaders, domain: string | undefined): S3Request {
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const rawQuery = q === -1 ? '' : url.slice(q + 1);
  const path = decodePath(rawPath);
  const query = queryPairs(rawQuery);

  const hostBucket = domain === undefined ? undefined : bucketFromHost(headers.host, domain);
  let bucket: string | undefined;
  let key: string | undefined;
  if (hostBucket !== undefined) {
    bucket = hostBucket;
    key = path.length > 1 ? path.slice(1) : undefined;
  } else {
    const rest = path.slice(1);
    const slash = rest.indexOf('/');
    bucket = (slash === -1 ? rest : rest.slice(0, slash)) || undefined;
    key = slash === -1 ? undefined : rest.slice(slash + 1) || undefined;
  }
  return new ParsedRequest(method.toUpperCase(), bucket, key, query, path, rawQuery);
}

class ParsedRequest implements S3Request {
  private parsedParams: URLSearchParams | undefined;

  constructor(
    readonly method: string,
    readonly bucket: string | undefined,
    readonly key: string | undefined,
    readonly query: Array<[string, string]>,
    readonly resource: string,
    private readonly rawQuery: string,
  ) {}

  // Most requests never look a parameter up, and building URLSearchParams costs more than reading the pairs.
  get params(): URLSearchParams {
    this.parsedParams ??= new URLSearchParams(this.rawQuery);
    return this.parsedParams;
  }
}

/** The query's pairs decoded as URLSearchParams decodes them ('+' is a space), in the order received. */
function queryPairs(rawQuery: string): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  if (rawQuery === '') return pairs;
  let start = 0;
  while (start <= rawQuery.length) {
    let end = rawQuery.indexOf('&', start);
    if (end === -1) end = rawQuery.length;
    if (end > start) {
      const eq = rawQuery.indexOf('=', start);
      const nameEnd = eq === -1 || eq > end ? end : eq;
      const name = decodeQueryComponent(rawQuery.slice(start, nameEnd));
      pairs.push([name, nameEnd === end ? '' : decodeQueryComponent(rawQuery.slice(nameEnd + 1, end))]);
    }
    start = end + 1;
  }
  return pairs;
}

function decodeQueryComponent(raw: string): string {
  if (raw.indexOf('%') === -1 && raw.indexOf('+') === -1) return raw;
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    // A stray % or bytes that are not UTF-8: URLSearchParams keeps the one and replaces the others.
    return new URLSearchParams(`v=${raw}`).get('v') ?? '';
  }
}

/**
 * Refuses bucket names and keys that a normalising hop (a proxy, an upstream, any WHATWG URL parser)
 * would resolve into another key or bucket: a key with a `.` or `..` segment, a bucket named `.` or
 * `..` or containing `/`. Encoding cannot help, since such parsers take `%2E` for a dot as well.
 */
export function checkObjectPath(bucket: string | undefined, key: string | undefined): void {
  if (bucket !== undefined && (bucket === '.' || bucket === '..' || bucket.includes('/'))) {
    throw new S3Error('InvalidBucketName', { message: 'The specified bucket is not valid.', details: { BucketName: bucket } });
  }
  if (key !== undefined && DOT_SEGMENT.test(key)) {
    throw new S3Error('InvalidArgument', { message: "Object keys with '.' or '..' path segments are not supported." });
  }
  // A UTF-16 code unit is at most 3 bytes of UTF-8: shorter keys need no counting.
  if (key !== undefined && key.length * 3 > MAX_KEY_BYTES && Buffer.byteLength(key) > MAX_KEY_BYTES) {
    throw new S3Error('KeyTooLongError', { details: { MaxSizeAllowed: String(MAX_KEY_BYTES), Size: String(Buffer.byteLength(key)) } });
  }
}

/** A path segment that is `.` or `..`. */
const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)/;

/** S3's longest object key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;

/** A partNumber parameter, where present, must name a part S3 can have: 1 to 10,000. */
export function checkPartNumber(params: URLSearchParams): void {
  const partNumber = params.get('partNumber');
  if (partNumber === null) return;
  if (!/^\d{1,5}$/.test(partNumber) || Number(partNumber) < 1 || Number(partNumber) > 10_000) {
    throw new S3Error('InvalidArgument', {
      message: 'Part number must be an integer between 1 and 10000, inclusive',
      details: { ArgumentName: 'partNumber', ArgumentValue: partNumber },
    });
  }
}

function decodePath(rawPath: string): string {
  if (!rawPath.startsWith('/')) throw new S3Error('InvalidURI');
  if (!rawPath.includes('%')) return rawPath;
  try {
    return decodeURIComponent(rawPath);
  } catch (err) {
    throw new S3Error('InvalidURI', { cause: err });
  }
}

function bucketFromHost(hostHeader: string | undefined, domain: string): string | undefined {
  if (hostHeader === undefined) return undefined;
  const host = hostHeader.replace(/:\d+$/, '').toLowerCase();
  if (!host.endsWith(`.${domain}`)) return undefined;
  const bucket = host.slice(0, -domain.length - 1);
  return bucket === '' ? undefined : bucket;
}

/** The first value of a request header (node joins most repeated headers itself). */
export function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Query keys a GetObject/HeadObject may carry and still be served from the cache. */
const CACHEABLE_QUERY = /^(response-(content-type|content-language|expires|cache-control|content-disposition|content-encoding)|x-id|x-amz-checksum-mode)$/i;

/** Whether a GET/HEAD asks for the current bytes of an object in a way the cache can answer. */
export function isCacheableRead(request: S3Request, headers: IncomingHttpHeaders): boolean {
  if (request.method !== 'GET' && request.method !== 'HEAD') return false;
  if (request.bucket === undefined || request.key === undefined) return false;
  for (const [name] of request.query) {
    if (!isPresignParam(name) && !CACHEABLE_QUERY.test(name)) return false;
  }
  if (headers['x-amz-server-side-encryption-customer-algorithm'] !== undefined) return false;
  return true;
}

/**
 * Presigners move x-amz-* headers into the query (x-amz-checksum-mode, for one). Such a parameter
 * means what the header means; undefined when neither is present.
 */
export function amzParameter(name: string, headers: IncomingHttpHeaders, params: URLSearchParams): string | undefined {
  const header = firstHeader(headers, name);
  if (header !== undefined) return header;
  for (const [key, value] of params) if (key.toLowerCase() === name) return value;
  return undefined;
}
