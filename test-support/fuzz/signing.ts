import { createHash } from 'node:crypto';
import type { PeerAuth } from '../../src/cluster/peer-auth.js';
import { canonicalHeaders, canonicalUris, deriveSigningKey, hmacHex } from '../../src/s3/auth/sigv4.js';
import { sha256Hex } from '../../src/sha256.js';
import { encodeRfc3986 } from '../../src/upstream/uri-encoding.js';
import { crc32Base64, decodedBody, entityBytes, getHeader, type RawRequest, removeHeader, setHeader } from './raw-request.js';

export interface SigningKey {
  accessKeyId: string;
  secretAccessKey: string;
}

const REGION = 'us-east-1';
const PRESIGN_PARAMS = /^X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature|Content-Sha256)$/i;
const SHA256_HEX = /^[0-9a-f]{64}$/;

function amzDateOf(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The query as SigV4 signs it: each name and value RFC 3986-encoded (as received when already so), sorted. */
function canonicalQuery(query: string): string {
  const component = (raw: string): string => (/^[A-Za-z0-9\-._~]*$/.test(raw) ? raw : encodeRfc3986(safeDecode(raw)));
  const pairs = query
    .split('&')
    .filter((part) => part !== '')
    .map((part): [string, string] => {
      const eq = part.indexOf('=');
      return [component(eq === -1 ? part : part.slice(0, eq)), component(eq === -1 ? '' : part.slice(eq + 1))];
    });
  pairs.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

function splitTarget(target: string): [string, string] {
  const q = target.indexOf('?');
  return q === -1 ? [target, ''] : [target.slice(0, q), target.slice(q + 1)];
}

/** Headers a signature covers: host, the content headers S3 clients sign, and every x-amz-* header. */
function signedHeaderNames(req: RawRequest): string[] {
  const names = new Set(['host']);
  for (const [name] of req.headers) {
    const lower = name.toLowerCase();
    if (lower === 'authorization') continue;
    if (lower === 'content-md5' || lower === 'content-type' || lower === 'range' || lower.startsWith('x-amz-')) names.add(lower);
  }
  return [...names].sort();
}

function flatHeaders(req: RawRequest): string[] {
  return req.headers.flatMap(([n, v]) => [n, v.trim()]);
}

/**
 * Signs the request in place with SigV4 as it stands (after any mutation), so that it passes
 * authentication and reaches the code behind it. The path is canonicalised by the verifier's own
 * function, so a mutated path is signed the way the node will check it.
 */
export function signSigV4(req: RawRequest, key: SigningKey, now: Date): void {
  const [path, query] = splitTarget(req.target);
  if (/[?&]X-Amz-Signature=/i.test(req.target)) {
    presign(req, key, now, path, query);
    return;
  }
  removeHeader(req, 'authorization');
  const amzDate = amzDateOf(now);
  setHeader(req, 'x-amz-date', amzDate);
  const payloadHash = getHeader(req, 'x-amz-content-sha256') ?? 'UNSIGNED-PAYLOAD';
  if (getHeader(req, 'x-amz-content-sha256') === undefined) setHeader(req, 'x-amz-content-sha256', payloadHash);
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${REGION}/s3/aws4_request`;
  const signingKey = deriveSigningKey(key.secretAccessKey, date, REGION, 's3');
  const names = signedHeaderNames(req);
  const uri = canonicalUris(path)[0] ?? path;
  const canonicalRequest = [req.method.toUpperCase(), uri, canonicalQuery(query), canonicalHeaders(flatHeaders(req), names), names.join(';'), payloadHash].join('\n');
  const signature = hmacHex(signingKey, ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n'));
  req.headers.push(['Authorization', `AWS4-HMAC-SHA256 Credential=${key.accessKeyId}/${scope}, SignedHeaders=${names.join(';')}, Signature=${signature}`]);
  if (!Buffer.isBuffer(req.body)) {
    req.body.signing = payloadHash.startsWith('STREAMING-AWS4-HMAC-SHA256-PAYLOAD')
      ? { signingKey, amzDate, scope, seedSignature: signature, signedTrailer: payloadHash.endsWith('-TRAILER') }
      : undefined;
  }
}

function presign(req: RawRequest, key: SigningKey, now: Date, path: string, query: string): void {
  const amzDate = amzDateOf(now);
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${REGION}/s3/aws4_request`;
  const kept = query.split('&').filter((p) => p !== '' && !PRESIGN_PARAMS.test(p.split('=')[0] ?? ''));
  const params = [
    ...kept,
    'X-Amz-Algorithm=AWS4-HMAC-SHA256',
    `X-Amz-Credential=${encodeURIComponent(`${key.accessKeyId}/${scope}`)}`,
    `X-Amz-Date=${amzDate}`,
    'X-Amz-Expires=900',
    'X-Amz-SignedHeaders=host',
  ].join('&');
  const signingKey = deriveSigningKey(key.secretAccessKey, date, REGION, 's3');
  const uri = canonicalUris(path)[0] ?? path;
  const canonicalRequest = [req.method.toUpperCase(), uri, canonicalQuery(params), canonicalHeaders(flatHeaders(req), ['host']), 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const signature = hmacHex(signingKey, ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n'));
  req.target = `${path}?${params}&X-Amz-Signature=${signature}`;
}

/** Removes every trace of a signature, for the node that accepts anonymous requests. */
export function stripSignature(req: RawRequest): void {
  removeHeader(req, 'authorization');
  const [path, query] = splitTarget(req.target);
  if (!/X-Amz-Signature=/i.test(query)) return;
  const kept = query.split('&').filter((p) => p !== '' && !PRESIGN_PARAMS.test(p.split('=')[0] ?? ''));
  req.target = kept.length === 0 ? path : `${path}?${kept.join('&')}`;
}

/**
 * Makes the body's integrity headers true of the body as it now is (Content-MD5, a CRC32
 * header, a hex payload hash, the decoded length), so a mutated body gets past the checks
 * that would otherwise stop it before the XML, form or upstream code.
 */
export function refreshIntegrityHeaders(req: RawRequest): void {
  const body = decodedBody(req);
  if (getHeader(req, 'content-md5') !== undefined) setHeader(req, 'content-md5', createHash('md5').update(body).digest('base64'));
  if (getHeader(req, 'x-amz-checksum-crc32') !== undefined) setHeader(req, 'x-amz-checksum-crc32', crc32Base64(body));
  const payloadHash = getHeader(req, 'x-amz-content-sha256');
  if (payloadHash !== undefined && SHA256_HEX.test(payloadHash) && Buffer.isBuffer(req.body)) setHeader(req, 'x-amz-content-sha256', sha256Hex(body));
  if (getHeader(req, 'x-amz-decoded-content-length') !== undefined && !Buffer.isBuffer(req.body)) {
    setHeader(req, 'x-amz-decoded-content-length', String(body.length));
  }
}

/** The path and query a peer's MAC covers, as the receiving node reads them. */
export function peerPathAndQuery(target: string): string | undefined {
  try {
    const url = new URL(target, 'http://peer');
    return `${url.pathname}${url.search}`;
  } catch {
    return undefined;
  }
}

/**
 * Signs a peer-API request with the cluster secret through PeerAuth itself, so the fuzzer follows
 * its format. The body is offered for the formats that cover it; one that does not ignores it.
 */
export function signPeer(req: RawRequest, auth: PeerAuth): void {
  const pathAndQuery = peerPathAndQuery(req.target);
  if (pathAndQuery === undefined) return;
  const sign: (method: string, pathAndQuery: string, body: Buffer) => Record<string, string> = auth.sign.bind(auth);
  for (const [name, value] of Object.entries(sign(req.method, pathAndQuery, entityBytes(req)))) setHeader(req, name, value);
}
