import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { BoundedMemo } from '../../bounded-memo.js';
import { S3Error } from '../../errors.js';
import { EMPTY_SHA256, HmacSha256, sha256Hex } from '../../sha256.js';
import { encodeRfc3986 } from '../../upstream/uri-encoding.js';
import { firstHeader } from '../request.js';
import type { KeyStore } from './keys.js';

export const ALGORITHM = 'AWS4-HMAC-SHA256';
const ALGORITHM_PREFIX = `${ALGORITHM} `;
const MAX_SKEW_MS = 15 * 60_000;
const MAX_PRESIGN_EXPIRES_S = 7 * 24 * 3600;
const MAX_MEMO_ENTRIES = 10_000;
/** Derived signing keys kept: one per key pair, region and day in use. */
const MAX_SIGNING_KEYS = 1000;
const PAYLOAD_HASHES = /^(UNSIGNED-PAYLOAD|STREAMING-UNSIGNED-PAYLOAD-TRAILER|STREAMING-AWS4-HMAC-SHA256-PAYLOAD|STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER|[0-9a-f]{64})$/;

/** What a verified signature establishes, and what later checks of the body need. */
export interface VerifiedSignature {
  accessKeyId: string;
  /** x-amz-date, e.g. 20261124T101500Z. */
  amzDate: string;
  /** date/region/service/aws4_request. */
  scope: string;
  signature: string;
  signingKey: Buffer;
  /** x-amz-content-sha256 (or UNSIGNED-PAYLOAD for presigned URLs). */
  payloadHash: string;
}

export interface RequestToVerify {
  method: string;
  /** The request target exactly as received: raw path and query. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Alternating names and values, as node gives them, so repeated headers keep their order. */
  rawHeaders: readonly string[];
  /** The names of `rawHeaders` lower-cased, when whoever read the request made them already. */
  lowerCaseNames?: readonly string[];
}

export interface SigV4VerifierOptions {
  keys: KeyStore;
  /** Regions a credential scope may name; the first is the one error messages expect. Any region when undefined. */
  regions?: readonly string[];
  now?: () => number;
}

export interface VerifyOptions {
  /**
   * Accept a header signature without x-amz-content-sha256, taken as signed over an empty payload, as
   * curl before 8 signs (S3 itself requires the header). Such a body is not covered by the signature.
   */
  allowMissingContentSha256?: boolean;
}

/** Query parameters that carry a signature (SigV4 presigned URLs, and SigV2 ones to refuse). */
const SIGNATURE_PARAMS = /[?&](X-Amz-Signature|X-Amz-Credential|X-Amz-Algorithm|AWSAccessKeyId|Signature)=/i;
const SIGV4_QUERY = /[?&]X-Amz-(Signature|Credential|Algorithm)=/i;
/** A SigV4 signature as computed: 32 bytes in lowercase hex. */
const SIGNATURE_HEX_LENGTH = 64;

/** 64 lowercase hex digits: the only form a SigV4 signature is written in. */
function isSignatureHex(text: string): boolean {
  if (text.length !== SIGNATURE_HEX_LENGTH) return false;
  for (let i = 0; i < SIGNATURE_HEX_LENGTH; i++) {
    const code = text.charCodeAt(i);
    if (!((code >= 48 && code <= 57) || (code >= 97 && code <= 102))) return false;
  }
  return true;
}

interface ParsedCredential {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  scope: string;
}

/** Verifies AWS Signature Version 4 on requests: the Authorization header form and presigned URLs. */
export class SigV4Verifier {
  private readonly now: () => number;
  /** Parsed once per distinct text: every request of a key's day carries the same credential. */
  private readonly credentials = new BoundedMemo<string, ParsedCredential>(MAX_MEMO_ENTRIES);
  /** Split once per distinct list: a client sends the same few lists again and again. */
  private readonly signedHeaderLists = new BoundedMemo<string, readonly string[]>(MAX_MEMO_ENTRIES);
  private readonly signingKeys = new BoundedMemo<string, { key: Buffer; mac: HmacSha256 }>(MAX_SIGNING_KEYS);
  /** The signing key of a parsed (and remembered) credential, found without building the memo's key. */
  private readonly keysOfCredentials = new WeakMap<ParsedCredential, { secret: string; key: Buffer; mac: HmacSha256 }>();
  /** Authorization headers up to their last field: a client signs all its requests of a day with the same few. */
  private readonly authorizationHeads = new BoundedMemo<string, AuthorizationFields>(MAX_MEMO_ENTRIES);
  /** Every request signed in the same second carries the same x-amz-date. */
  private readonly amzDates = new BoundedMemo<string, number | undefined>(MAX_MEMO_ENTRIES);
  /**
   * Requests verified before, by everything their signature covers: a presigned URL fetched again
   * (a player's range requests, many clients of one link) skips the cryptography, not the clock.
   */
  private readonly verified = new Map<string, { result: VerifiedSignature; signedHeaders: readonly string[]; recheckTime: () => void }>();

  constructor(private readonly options: SigV4VerifierOptions) {
    this.now = options.now ?? Date.now;
  }

  /** The keys signatures are verified against. */
  get keys(): KeyStore {
    return this.options.keys;
  }

  /** True when the request carries no signature at all. */
  static isAnonymous(request: RequestToVerify): boolean {
    return request.headers.authorization === undefined && !SIGNATURE_PARAMS.test(request.url);
  }

  verify(request: RequestToVerify, options: VerifyOptions = {}): VerifiedSignature {
    const authorization = request.headers.authorization;
    if (authorization === undefined && !SIGV4_QUERY.test(request.url)) throw unsupportedMechanism();
    // Header-signed requests carry their own date and invocation id, so only presigned URLs repeat.
    const key = authorization === undefined ? memoKey(request) : undefined;
    const known = key === undefined ? undefined : this.verified.get(key);
    if (known !== undefined) {
      // The memo covers the signed headers' values, not the headers that came along unsigned.
      requireSignedAmzHeaders(namesOf(request), known.signedHeaders);
      known.recheckTime();
      return known.result;
    }
    if (authorization !== undefined) return this.verifyHeader(request, authorization, options);
    const [result, signedHeaders, recheckTime] = this.verifyPresigned(request);
    if (key !== undefined) {
      if (this.verified.size >= MAX_MEMO_ENTRIES) this.verified.clear();
      this.verified.set(key, { result, signedHeaders, recheckTime });
    }
    return result;
  }

  private verifyHeader(request: RequestToVerify, authorization: string, options: VerifyOptions): VerifiedSignature {
    if (!authorization.startsWith(ALGORITHM_PREFIX)) {
      if (/^AWS /.test(authorization)) throw unsupportedMechanism();
      throw new S3Error('InvalidArgument', { message: 'Unsupported Authorization Type' });
    }
    const { credentialText, signedHeadersText, signature } = this.authorizationFieldsOf(authorization);
    if (!credentialText || !signedHeadersText || !signature) {
      throw malformed('the Credential, SignedHeaders and Signature components are required.');
    }
    const credential = this.credentials.get(credentialText, parseHeaderCredential);
    this.checkRegion(credential.region, (m, details) => malformed(m, details));
    const secret = this.secretFor(credential.accessKeyId);
    const amzDate = firstHeader(request.headers, 'x-amz-date') ?? dateHeaderAsAmzDate(firstHeader(request.headers, 'date'));
    const signedAt = amzDate === undefined ? undefined : this.amzDates.get(amzDate, parseAmzDate);
    if (amzDate === undefined || signedAt === undefined) {
      throw new S3Error('AccessDenied', { message: 'AWS authentication requires a valid Date or x-amz-date header' });
    }
    if (!amzDate.startsWith(credential.date)) {
      throw malformed('Invalid credential date. Date is not the same as X-Amz-Date.');
    }
    this.checkSkew(amzDate, signedAt);
    const payloadHashHeader = firstHeader(request.headers, 'x-amz-content-sha256');
    if (payloadHashHeader === undefined && !options.allowMissingContentSha256) {
      throw new S3Error('MissingSecurityHeader', { message: 'Your request is missing a required header: x-amz-content-sha256.', details: { MissingHeaderName: 'x-amz-content-sha256' } });
    }
    const payloadHash = payloadHashHeader ?? EMPTY_SHA256;
    if (payloadHash !== EMPTY_SHA256 && !PAYLOAD_HASHES.test(payloadHash)) {
      throw new S3Error('InvalidArgument', { message: 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a STREAMING-* value, or a valid sha256 value.' });
    }
    const signedHeaders = this.signedHeaderLists.get(signedHeadersText, parseHeaderSignedHeaders);
    const names = namesOf(request);
    requireSignedAmzHeaders(names, signedHeaders);
    const [path, query] = splitTarget(request.url);
    const result = this.check(request, names, credential, secret, amzDate, signedHeaders, signature, path, queryPairs(query), undefined, payloadHash);
    // Without the header nothing about the body was signed: it is as unsigned as UNSIGNED-PAYLOAD.
    if (payloadHashHeader === undefined) result.payloadHash = 'UNSIGNED-PAYLOAD';
    return result;
  }

  private verifyPresigned(request: RequestToVerify): [VerifiedSignature, string[], () => void] {
    const [path, query] = splitTarget(request.url);
    const pairs = queryPairs(query);
    const params = new Map<string, string>();
    for (const [k, v] of pairs) params.set(k, v);
    const algorithm = params.get('X-Amz-Algorithm');
    const credentialText = params.get('X-Amz-Credential');
    const amzDate = params.get('X-Amz-Date');
    const expiresText = params.get('X-Amz-Expires');
    const signedHeadersText = params.get('X-Amz-SignedHeaders');
    const signature = params.get('X-Amz-Signature');
    if (!algorithm || !credentialText || !amzDate || !expiresText || !signedHeadersText || !signature) {
      throw queryError('Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.');
    }
    if (algorithm !== ALGORITHM) throw queryError('X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"');
    const credential = parseCredential(credentialText, (m) => queryError(`Error parsing the X-Amz-Credential parameter; ${m}`));
    this.checkRegion(credential.region, (m, details) => queryError(`Error parsing the X-Amz-Credential parameter; ${m}`, details));
    const secret = this.secretFor(credential.accessKeyId);
    const signedAt = parseAmzDate(amzDate);
    if (signedAt === undefined) throw queryError('X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'"');
    if (amzDate.slice(0, 8) !== credential.date) throw queryError('Invalid credential date. Date is not the same as X-Amz-Date.');
    if (!/^\d+$/.test(expiresText)) throw queryError('X-Amz-Expires should be a number');
    const expires = Number(expiresText);
    if (expires > MAX_PRESIGN_EXPIRES_S) throw queryError('X-Amz-Expires must be less than a week (in seconds) that is; 604800');
    const recheckTime = (): void => this.checkPresignedTime(signedAt, expires, expiresText);
    recheckTime();
    const payloadHash = params.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD';
    const signedHeaders = signedHeaderList(signedHeadersText, (m) => queryError(m));
    const names = namesOf(request);
    requireSignedAmzHeaders(names, signedHeaders);
    const result = this.check(request, names, credential, secret, amzDate, signedHeaders, signature, path, pairs, 'X-Amz-Signature', payloadHash);
    return [result, signedHeaders, recheckTime];
  }

  /**
   * authorizationFields, with everything before the last field (the credential and the signed headers, the
   * same for every request of a client's day) read once per distinct text.
   */
  private authorizationFieldsOf(authorization: string): AuthorizationFields {
    const lastComma = authorization.lastIndexOf(',');
    if (lastComma === -1) return authorizationFields(authorization);
    const head = this.authorizationHeads.get(authorization.slice(0, lastComma), authorizationFields);
    const last = readAuthorizationFields(authorization, lastComma + 1);
    return {
      credentialText: last.credentialText ?? head.credentialText,
      signedHeadersText: last.signedHeadersText ?? head.signedHeadersText,
      signature: last.signature ?? head.signature,
    };
  }

  private checkRegion(region: string, fail: (message: string, details: Record<string, string>) => S3Error): void {
    const regions = this.options.regions;
    if (regions === undefined || regions.includes(region)) return;
    const expected = regions[0] ?? '';
    throw fail(`the region '${region}' is wrong; expecting '${expected}'`, { Region: expected });
  }

  private checkPresignedTime(signedAt: number, expires: number, expiresText: string): void {
    const now = this.now();
    if (signedAt - MAX_SKEW_MS > now) throw new S3Error('AccessDenied', { message: 'Request is not valid yet' });
    if (signedAt + expires * 1000 < now) {
      throw new S3Error('AccessDenied', {
        message: 'Request has expired',
        details: { 'X-Amz-Expires': expiresText, Expires: new Date(signedAt + expires * 1000).toISOString(), ServerTime: new Date(now).toISOString() },
      });
    }
  }

  /** Compares the signature with the one computed over each plausible canonical URI and query, in constant time. */
  private check(
    request: RequestToVerify,
    /** The request's header names, lower-cased, in the order of its raw headers. */
    names: readonly string[],
    credential: ParsedCredential,
    secret: string,
    amzDate: string,
    signedHeaders: readonly string[],
    signature: string,
    rawPath: string,
    queryParts: readonly QueryPair[],
    excludeParam: string | undefined,
    payloadHash: string,
  ): VerifiedSignature {
    // Everything but the target is the same for every candidate, so it is built once.
    const tail = `\n${canonicalHeaderLines(request.rawHeaders, names, signedHeaders)}\n${joinedList(signedHeaders)}\n${payloadHash}`;
    // node:http and the hit lane only read upper-case methods.
    const method = request.method;
    const signToPrefix = `${ALGORITHM}\n${amzDate}\n${credential.scope}\n`;
    const { key: signingKey, mac } = this.signingKey(secret, credential);
    // Only lowercase hex can equal the computed signature; anything else is compared, and fails, in full.
    const given = isSignatureHex(signature) ? givenSignature(signature) : undefined;
    let first: { canonicalRequest: string; stringToSign: string } | undefined;
    for (const [uri, query] of canonicalTargets(rawPath, queryParts, excludeParam)) {
      const canonicalRequest = `${method}\n${uri}\n${query}${tail}`;
      const stringToSign = signToPrefix + sha256Hex(canonicalRequest);
      const expected = mac.digest(stringToSign);
      if (given !== undefined && timingSafeEqual(expected, given)) {
        return { accessKeyId: credential.accessKeyId, amzDate, scope: credential.scope, signature, signingKey, payloadHash };
      }
      first ??= { canonicalRequest, stringToSign };
    }
    throw new S3Error('SignatureDoesNotMatch', {
      details: {
        AWSAccessKeyId: credential.accessKeyId,
        StringToSign: first?.stringToSign ?? '',
        SignatureProvided: signature,
        CanonicalRequest: first?.canonicalRequest ?? '',
      },
    });
  }

  private secretFor(accessKeyId: string): string {
    const secret = this.options.keys.secretFor(accessKeyId);
    if (secret === undefined) throw new S3Error('InvalidAccessKeyId', { details: { AWSAccessKeyId: accessKeyId } });
    return secret;
  }

  private checkSkew(amzDate: string, at: number): void {
    const now = this.now();
    if (Math.abs(now - at) > MAX_SKEW_MS) {
      throw new S3Error('RequestTimeTooSkewed', {
        details: { RequestTime: amzDate, ServerTime: new Date(now).toISOString(), MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS) },
      });
    }
  }

  private signingKey(secret: string, credential: ParsedCredential): { key: Buffer; mac: HmacSha256 } {
    const known = this.keysOfCredentials.get(credential);
    if (known !== undefined && known.secret === secret) return known;
    const derived = this.signingKeys.get(`${secret}\u0000${credential.scope}`, () => {
      const key = deriveSigningKey(secret, credential.date, credential.region, credential.service);
      return { key, mac: new HmacSha256(key) };
    });
    this.keysOfCredentials.set(credential, { secret, ...derived });
    return derived;
  }
}

/** Where the signature a request gives is decoded for the comparison: every check is synchronous, so one buffer serves all. */
const GIVEN_SIGNATURE = Buffer.alloc(32);

function givenSignature(hex: string): Buffer {
  GIVEN_SIGNATURE.write(hex, 0, 'hex');
  return GIVEN_SIGNATURE;
}

export function deriveSigningKey(secret: string, date: string, region: string, service: string): Buffer {
  const kDate = hmac(`AWS4${secret}`, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, 'aws4_request');
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function hmacHex(key: Buffer, data: string): string {
  return createHmac('sha256', key).update(data, 'utf8').digest('hex');
}

/**
 * Everything a presigned request's signature covers, as one string: method, target and the values
 * of every signed header. Undefined when the signed headers cannot be read cheaply.
 */
function memoKey(request: RequestToVerify): string | undefined {
  const list = /[?&]X-Amz-SignedHeaders=([^&]+)/.exec(request.url)?.[1];
  if (list === undefined) return undefined;
  const names = safeDecode(list).toLowerCase().split(';');
  const values: string[] = [];
  for (let i = 0; i + 1 < request.rawHeaders.length; i += 2) {
    const name = (request.rawHeaders[i] as string).toLowerCase();
    if (names.includes(name) || name === 'x-amz-content-sha256') values.push(`${name}:${request.rawHeaders[i + 1] as string}`);
  }
  return `${request.method}\n${request.url}\n${values.join('\n')}`;
}

function parseCredential(text: string, fail: (message: string) => S3Error): ParsedCredential {
  const parts = text.split('/');
  if (parts.length < 5) throw fail('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".');
  // Access key ids cannot contain '/', but be lenient and take the last four parts as the scope.
  const tail = parts.slice(-4) as [string, string, string, string];
  const [date, region, service, terminal] = tail;
  if (terminal !== 'aws4_request') throw fail('incorrect terminal. This endpoint uses "aws4_request".');
  if (service !== 's3') throw fail(`incorrect service "${service}". This endpoint belongs to "s3".`);
  if (!/^\d{8}$/.test(date)) throw fail(`incorrect date format "${date}". This date in the credential must be in the format "yyyyMMdd".`);
  return { accessKeyId: parts.slice(0, -4).join('/'), date, region, service, scope: tail.join('/') };
}

function signedHeaderList(text: string, fail: (message: string) => S3Error): string[] {
  const names = text.split(';').map((h) => h.trim().toLowerCase());
  if (!names.includes('host')) throw fail('the SignedHeaders must include host.');
  return names;
}

/**
 * The Credential, SignedHeaders and Signature components of an Authorization header, read in one pass. As
 * before, a component named twice counts by its last value and unknown components are ignored.
 */
interface AuthorizationFields {
  credentialText?: string;
  signedHeadersText?: string;
  signature?: string;
}

function authorizationFields(authorization: string): AuthorizationFields {
  return readAuthorizationFields(authorization, ALGORITHM.length + 1);
}

/** The comma-separated `name=value` fields of `authorization` from `from` on (a later field wins). */
function readAuthorizationFields(authorization: string, from: number): AuthorizationFields {
  const fields: AuthorizationFields = {};
  let start = from;
  while (start <= authorization.length) {
    let end = authorization.indexOf(',', start);
    if (end === -1) end = authorization.length;
    const eq = authorization.indexOf('=', start);
    if (eq > start && eq < end) {
      const name = authorization.slice(start, eq).trim();
      const value = authorization.slice(eq + 1, end).trim();
      if (name === 'Credential') fields.credentialText = value;
      else if (name === 'SignedHeaders') fields.signedHeadersText = value;
      else if (name === 'Signature') fields.signature = value;
    }
    start = end + 1;
  }
  return fields;
}

function parseHeaderCredential(text: string): ParsedCredential {
  return parseCredential(text, malformed);
}

function parseHeaderSignedHeaders(text: string): string[] {
  return signedHeaderList(text, malformed);
}

function malformed(message: string, details?: Record<string, string>): S3Error {
  return new S3Error('AuthorizationHeaderMalformed', { message: `The authorization header is malformed; ${message}`, details });
}

function queryError(message: string, details?: Record<string, string>): S3Error {
  return new S3Error('AuthorizationQueryParametersError', { message, details });
}

/** Signature Version 2, in a header or a query: S3 has retired it. */
function unsupportedMechanism(): S3Error {
  return new S3Error('InvalidRequest', { message: 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.' });
}

/**
 * S3 refuses a request with x-amz-* headers its signature does not cover (an unsigned x-amz-acl or
 * x-amz-meta-* would otherwise be forwarded, re-signed, as if the client had asked for it).
 */
function requireSignedAmzHeaders(names: readonly string[], signedHeaders: readonly string[]): void {
  let unsigned: Set<string> | undefined;
  for (const name of names) {
    if (!name.startsWith('x-amz-') || signedHeaders.includes(name)) continue;
    unsigned ??= new Set();
    unsigned.add(name);
  }
  if (unsigned === undefined) return;
  throw new S3Error('AccessDenied', {
    message: 'There were headers present in the request which were not signed',
    details: { HeadersNotSigned: [...unsigned].sort().join(', ') },
  });
}

/** yyyyMMddTHHmmssZ as milliseconds since the epoch; undefined unless it is exactly that form. */
export function parseAmzDate(text: string): number | undefined {
  if (text.length !== 16 || text.charCodeAt(8) !== 84 /* T */ || text.charCodeAt(15) !== 90 /* Z */) return undefined;
  const digits = (from: number, to: number): number => {
    let value = 0;
    for (let i = from; i < to; i++) {
      const digit = text.charCodeAt(i) - 48;
      if (digit < 0 || digit > 9) return Number.NaN;
      value = value * 10 + digit;
    }
    return value;
  };
  const ms = Date.UTC(digits(0, 4), digits(4, 6) - 1, digits(6, 8), digits(9, 11), digits(11, 13), digits(13, 15));
  return Number.isNaN(ms) ? undefined : ms;
}

function dateHeaderAsAmzDate(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function splitTarget(url: string): [string, string] {
  const q = url.indexOf('?');
  return q === -1 ? [url, ''] : [url.slice(0, q), url.slice(q + 1)];
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Query pairs as [decoded name, decoded value, raw name, raw value]. */
type QueryPair = [string, string, string, string];

function queryPairs(query: string): QueryPair[] {
  const pairs: QueryPair[] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    pairs.push([safeDecode(rawName), safeDecode(rawValue), rawName, rawValue]);
  }
  return pairs;
}

/** Characters that RFC 3986 encoding leaves alone: such a component is already canonical. */
const UNRESERVED = /^[A-Za-z0-9\-._~]*$/;

function canonicalComponent(raw: string, decoded: string): string {
  return UNRESERVED.test(raw) ? raw : encodeRfc3986(decoded);
}

/**
 * The (canonical URI, canonical query) pairs to try. The query is tried in the strict form first, then
 * with each component as received (curl's --aws-sigv4 does not re-encode them).
 */
function canonicalTargets(rawPath: string, pairs: readonly QueryPair[], exclude: string | undefined): ReadonlyArray<readonly [string, string]> {
  // Without a query (most header-signed reads) there is one query to try, the empty one.
  if (pairs.length === 0) return canonicalUris(rawPath).map((uri) => [uri, '']);
  const queries = [canonicalQueryOf(pairs, exclude)];
  const asReceived = sortedQuery(pairs.filter(([name]) => name !== exclude).map(([, , rawName, rawValue]) => [rawName, rawValue]));
  if (asReceived !== queries[0]) queries.push(asReceived);
  const targets: Array<[string, string]> = [];
  for (const query of queries) for (const uri of canonicalUris(rawPath)) targets.push([uri, query]);
  return targets;
}

/** The query as SigV4 signs it: every name and value RFC 3986-encoded, sorted by name then value. */
function canonicalQueryOf(pairs: readonly QueryPair[], exclude?: string): string {
  const encoded: Array<[string, string]> = [];
  for (const [name, value, rawName, rawValue] of pairs) {
    if (name !== exclude) encoded.push([canonicalComponent(rawName, name), canonicalComponent(rawValue, value)]);
  }
  return sortedQuery(encoded);
}

function sortedQuery(pairs: Array<[string, string]>): string {
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/**
 * S3 signs the path as the client encoded it. Clients differ in which characters they leave
 * unencoded, so the path as received is tried first, then the strict RFC 3986 form.
 */
export function canonicalUris(rawPath: string): string[] {
  if (/^[A-Za-z0-9\-._~/]*$/.test(rawPath)) return [rawPath];
  const strict = rawPath
    .split('/')
    .map((segment) => encodeRfc3986(safeDecode(segment)))
    .join('/');
  return strict === rawPath ? [rawPath] : [rawPath, strict];
}

function namesOf(request: RequestToVerify): readonly string[] {
  return request.lowerCaseNames ?? lowerCaseNames(request.rawHeaders);
}

/** The names of alternating raw header names and values, lower-cased. */
function lowerCaseNames(rawHeaders: readonly string[]): string[] {
  const names: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) names.push((rawHeaders[i] as string).toLowerCase());
  return names;
}

/** Signed headers as `name:value\n` lines, repeated values joined by ',', spaces folded. */
export function canonicalHeaders(rawHeaders: readonly string[], signedHeaders: readonly string[]): string {
  return canonicalHeaderLines(rawHeaders, lowerCaseNames(rawHeaders), signedHeaders);
}

/** canonicalHeaders with the raw names already lower-cased (`names`). */
function canonicalHeaderLines(rawHeaders: readonly string[], names: readonly string[], signedHeaders: readonly string[]): string {
  let text = '';
  for (const name of signedHeaders) {
    text += `${name}:`;
    let separator = '';
    for (let i = 0; i < names.length; i++) {
      if (names[i] !== name) continue;
      const value = (rawHeaders[2 * i + 1] as string).trim();
      text += separator + (FOLDABLE_SPACE.test(value) ? value.replace(/\s+/g, ' ') : value);
      separator = ',';
    }
    text += '\n';
  }
  return text;
}

/** Whitespace that canonicalisation folds into one space: a run, or any but a plain space. */
const FOLDABLE_SPACE = /\s\s|[^\S ]/;

/** A signed header list as it is signed, joined once per list (the lists are remembered per distinct text). */
const joinedLists = new WeakMap<readonly string[], string>();

function joinedList(names: readonly string[]): string {
  let joined = joinedLists.get(names);
  if (joined === undefined) {
    joined = names.join(';');
    joinedLists.set(names, joined);
  }
  return joined;
}
