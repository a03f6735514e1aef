import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { S3Error } from '../errors.js';
import { AwsChunkedDecoder, type ChunkSigning, isAwsChunked } from './auth/aws-chunked.js';
import { BodyVerifier, type ExpectedChecksum, validContentMd5 } from './auth/body-verifier.js';
import { BodyChecksum, checksumAlgorithmOf } from './auth/checksums.js';
import type { VerifiedSignature } from './auth/sigv4.js';
import { firstHeader } from './request.js';

export interface PreparedBody {
  /** The body to send upstream: decoded and verified while it streams. */
  stream: Readable;
  /** Content-Length of `stream`, when known. */
  contentLength: string | undefined;
  /** The SHA-256 the upstream can verify the bytes against, when the client signed one. */
  payloadSha256: string | undefined;
  /** Request headers that described the framing and must not be forwarded. */
  framingHeaders: string[];
  /** Trailing headers (checksums) the client sent after the body, verified once `stream` has ended. */
  trailers?: { names: string[]; values: () => Record<string, string> };
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Wraps a request body so that every promise the client made about it is kept before the last
 * byte goes on: the signed payload hash, chunk signatures, Content-MD5, x-amz-checksum-* headers
 * and trailers, and the decoded length. Returns undefined for a request without a body.
 */
export function prepareBody(req: IncomingMessage, signature: VerifiedSignature | undefined): PreparedBody | undefined {
  if (!hasBody(req)) return undefined;
  const payloadHash = signature?.payloadHash ?? header(req, 'x-amz-content-sha256');
  const checksums = headerChecksums(req);
  if (isAwsChunked(payloadHash, header(req, 'content-encoding'))) return chunkedBody(req, payloadHash, signature, checksums);

  const md5 = header(req, 'content-md5');
  if (md5 !== undefined && !validContentMd5(md5)) throw new S3Error('InvalidDigest', { message: 'The Content-MD5 you specified was invalid.' });
  const sha256 = payloadHash !== undefined && SHA256_HEX.test(payloadHash) ? payloadHash : undefined;
  const contentLength = header(req, 'content-length');
  const needsChecks = sha256 !== undefined || md5 !== undefined || checksums.length > 0;
  const stream = needsChecks ? req.pipe(new BodyVerifier({ sha256, md5, checksums })) : req;
  if (stream !== req) req.on('error', (err) => stream.destroy(err));
  return { stream, contentLength, payloadSha256: sha256, framingHeaders: [] };
}

function chunkedBody(
  req: IncomingMessage,
  payloadHash: string | undefined,
  signature: VerifiedSignature | undefined,
  checksums: ExpectedChecksum[],
): PreparedBody {
  const decodedText = header(req, 'x-amz-decoded-content-length');
  const expectedBytes = decodedText !== undefined && /^\d+$/.test(decodedText) ? Number(decodedText) : undefined;
  const signing: ChunkSigning | undefined =
    signature !== undefined && payloadHash?.startsWith('STREAMING-AWS4-HMAC-SHA256-PAYLOAD')
      ? {
          signingKey: signature.signingKey,
          amzDate: signature.amzDate,
          scope: signature.scope,
          seedSignature: signature.signature,
          signedTrailer: payloadHash.endsWith('-TRAILER'),
        }
      : undefined;
  let decoder: AwsChunkedDecoder | undefined;
  const trailerNames = (header(req, 'x-amz-trailer') ?? '')
    .split(',')
    .map((t) => t.trim().toLowerCase())
    .filter((t) => t !== '');
  for (const name of trailerNames) {
    const algorithm = checksumAlgorithmOf(name);
    if (algorithm === undefined) throw new S3Error('InvalidRequest', { message: `The trailer ${name} is not supported.` });
    checksums.push({ checksum: new BodyChecksum(algorithm), expected: () => decoder?.trailers[name] });
  }
  decoder = new AwsChunkedDecoder({ expectedBytes, signing, checksums });
  const stream = decoder;
  req.pipe(stream);
  req.on('error', (err) => stream.destroy(err));
  return {
    stream,
    contentLength: expectedBytes === undefined ? undefined : String(expectedBytes),
    payloadSha256: undefined,
    framingHeaders: ['x-amz-decoded-content-length', 'x-amz-trailer'],
    trailers: trailerNames.length === 0 ? undefined : { names: trailerNames, values: () => stream.trailers },
  };
}

function headerChecksums(req: IncomingMessage): ExpectedChecksum[] {
  const checksums: ExpectedChecksum[] = [];
  for (const [name, raw] of Object.entries(req.headers)) {
    if (!name.startsWith('x-amz-checksum-') || raw === undefined) continue;
    const algorithm = checksumAlgorithmOf(name);
    if (algorithm === undefined) continue;
    const value = Array.isArray(raw) ? (raw[0] ?? '') : raw;
    if (!BASE64.test(value.trim())) throw new S3Error('InvalidRequest', { message: `Value for ${name} header is invalid.` });
    checksums.push({ checksum: new BodyChecksum(algorithm), expected: () => value });
  }
  return checksums;
}

function header(req: IncomingMessage, name: string): string | undefined {
  return firstHeader(req.headers, name);
}

function hasBody(req: IncomingMessage): boolean {
  const length = header(req, 'content-length');
  if (length !== undefined) return length !== '0';
  return header(req, 'transfer-encoding') !== undefined;
}
