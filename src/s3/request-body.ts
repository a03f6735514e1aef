import { createHash, type Hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { type Duplex, type Readable, Transform, type TransformCallback } from 'node:stream';
import { S3Error } from '../errors.js';
import { AwsChunkedDecoder, type ChunkSigning, isAwsChunked } from './auth/aws-chunked.js';
import { BodyVerifier, type ExpectedChecksum, validContentMd5 } from './auth/body-verifier.js';
import { BodyChecksum, checksumAlgorithmOf } from './auth/checksums.js';
import type { VerifiedSignature } from './auth/sigv4.js';
import { type BodyPace, RequestBodyReader } from './request-body-reader.js';
import { firstHeader } from './request.js';

/** S3's largest single PUT (PutObject, UploadPart). */
export const MAX_SINGLE_PUT_BYTES = 5 * 1024 ** 3;

export interface PrepareOptions {
  /** How long and how slowly the client may take to send its body. */
  pace: BodyPace;
  /** Keep the MD5 of the bytes passed on, to check the upstream's ETag against. */
  md5?: boolean;
}

/** What the request's headers say about its body. */
export interface BodyDescription {
  /** Content-Length of the decoded body, when known. */
  readonly contentLength: string | undefined;
  /** The SHA-256 the upstream can verify the bytes against, when the client signed one. */
  readonly payloadSha256: string | undefined;
  /** Request headers that described the framing and must not be forwarded. */
  readonly framingHeaders: string[];
  /** Trailing headers (checksums) the client sent after the body, verified once the body has ended. */
  readonly trailers: { names: string[]; values: () => Record<string, string> } | undefined;
  /** The x-amz-checksum-* headers the client sent, verified against the body once it has ended. */
  readonly headerChecksums: Record<string, string>;
}

/**
 * A request body on its way to the upstream: read from the client, decoded and verified while it
 * streams, through a chain of stages that each have an 'error' listener from the moment they exist.
 * The first failure of any stage is kept as `error` (the S3 error the client gets), tears the whole
 * chain down and aborts `signal`, so an upstream request that carries the body is cut and stores nothing.
 */
export class PreparedBody implements BodyDescription {
  readonly contentLength: string | undefined;
  readonly payloadSha256: string | undefined;
  readonly framingHeaders: string[];
  readonly trailers: BodyDescription['trailers'];
  readonly headerChecksums: Record<string, string>;

  private readonly stages: Readable[] = [];
  private readonly controller = new AbortController();
  private failure: Error | undefined;
  private md5: Hash | undefined;
  private settled = false;

  constructor(head: RequestBodyReader, fields: BodyDescription) {
    this.contentLength = fields.contentLength;
    this.payloadSha256 = fields.payloadSha256;
    this.framingHeaders = fields.framingHeaders;
    this.trailers = fields.trailers;
    this.headerChecksums = fields.headerChecksums;
    this.watch(head);
  }

  /** The body as it goes upstream: the last stage. */
  get stream(): Readable {
    return this.stages[this.stages.length - 1] as Readable;
  }

  /** The first failure of the body (a client fault is an S3Error), once there was one. */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Aborted when the body fails. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Appends a stage; it fails and is torn down with the others. */
  through<T extends Duplex>(next: T): T {
    this.watch(next);
    this.stages[this.stages.length - 2]?.pipe(next);
    return next;
  }

  /** From now on, hashes the bytes passed on with MD5 (what the upstream's ETag should be). */
  trackMd5(): void {
    const md5 = createHash('md5');
    this.md5 = md5;
    this.through(
      new Transform({
        transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
          md5.update(chunk);
          callback(null, chunk);
        },
      }),
    );
  }

  /** Hex MD5 of every byte passed on, when tracked; read it once the upstream has taken the whole body. */
  md5Hex(): string | undefined {
    return this.md5?.copy().digest('hex');
  }

  /**
   * Ends the body's life once the upstream answered: a body the upstream did not read to the end
   * is torn down (the client's remaining bytes are no longer read), and later failures are ignored.
   */
  dispose(): void {
    this.settled = true;
    for (const stage of this.stages) if (!stage.readableEnded) stage.destroy();
  }

  private watch(stage: Readable): void {
    this.stages.push(stage);
    stage.on('error', (err: Error) => this.fail(err));
  }

  private fail(err: Error): void {
    if (this.failure !== undefined || this.settled) return;
    this.failure = err;
    this.controller.abort(err);
    for (const stage of this.stages) stage.destroy(err);
  }
}

const SHA256_HEX = /^[0-9a-f]{64}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Wraps a request body so that every promise the client made about it is kept before the last
 * byte goes on: the signed payload hash, chunk signatures, Content-MD5, x-amz-checksum-* headers
 * and trailers, and the decoded length; and so that a client that stalls or trickles is cut off.
 * Returns undefined for a request without a body.
 */
export function prepareBody(req: IncomingMessage, signature: VerifiedSignature | undefined, options: PrepareOptions): PreparedBody | undefined {
  if (!hasBody(req)) return undefined;
  const payloadHash = signature?.payloadHash ?? header(req, 'x-amz-content-sha256');
  const checksums = headerChecksums(req);
  const prepared = isAwsChunked(payloadHash, header(req, 'content-encoding'))
    ? chunkedBody(req, payloadHash, signature, checksums, options)
    : plainBody(req, payloadHash, checksums, options);
  if (options.md5) prepared.trackMd5();
  return prepared;
}

function plainBody(req: IncomingMessage, payloadHash: string | undefined, checksums: HeaderChecksum[], options: PrepareOptions): PreparedBody {
  const md5 = header(req, 'content-md5');
  if (md5 !== undefined && !validContentMd5(md5)) throw new S3Error('InvalidDigest', { message: 'The Content-MD5 you specified was invalid.' });
  const sha256 = payloadHash !== undefined && SHA256_HEX.test(payloadHash) ? payloadHash : undefined;
  const prepared = new PreparedBody(new RequestBodyReader(req, options.pace), {
    contentLength: header(req, 'content-length'),
    payloadSha256: sha256,
    framingHeaders: [],
    trailers: undefined,
    headerChecksums: headerValues(checksums),
  });
  if (sha256 !== undefined || md5 !== undefined || checksums.length > 0) prepared.through(new BodyVerifier({ sha256, md5, checksums }));
  return prepared;
}

function chunkedBody(
  req: IncomingMessage,
  payloadHash: string | undefined,
  signature: VerifiedSignature | undefined,
  checksums: HeaderChecksum[],
  options: PrepareOptions,
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
  const expected: ExpectedChecksum[] = [...checksums];
  for (const name of trailerNames) {
    const algorithm = checksumAlgorithmOf(name);
    if (algorithm === undefined) throw new S3Error('InvalidRequest', { message: `The trailer ${name} is not supported.` });
    expected.push({ checksum: new BodyChecksum(algorithm), expected: () => decoder?.trailers[name] });
  }
  decoder = new AwsChunkedDecoder({ expectedBytes, maxBytes: MAX_SINGLE_PUT_BYTES, signing, checksums: expected });
  const trailers = decoder.trailers;
  const prepared = new PreparedBody(new RequestBodyReader(req, options.pace), {
    contentLength: expectedBytes === undefined ? undefined : String(expectedBytes),
    payloadSha256: undefined,
    framingHeaders: ['x-amz-decoded-content-length', 'x-amz-trailer'],
    trailers: trailerNames.length === 0 ? undefined : { names: trailerNames, values: () => trailers },
    headerChecksums: headerValues(checksums),
  });
  prepared.through(decoder);
  return prepared;
}

interface HeaderChecksum extends ExpectedChecksum {
  header: string;
  value: string;
}

function headerChecksums(req: IncomingMessage): HeaderChecksum[] {
  const checksums: HeaderChecksum[] = [];
  for (const [name, raw] of Object.entries(req.headers)) {
    if (!name.startsWith('x-amz-checksum-') || raw === undefined) continue;
    const algorithm = checksumAlgorithmOf(name);
    if (algorithm === undefined) continue;
    const value = (Array.isArray(raw) ? (raw[0] ?? '') : raw).trim();
    if (!BASE64.test(value)) throw new S3Error('InvalidRequest', { message: `Value for ${name} header is invalid.` });
    checksums.push({ header: name, value, checksum: new BodyChecksum(algorithm), expected: () => value });
  }
  return checksums;
}

function headerValues(checksums: readonly HeaderChecksum[]): Record<string, string> {
  return Object.fromEntries(checksums.map((c) => [c.header, c.value]));
}

function header(req: IncomingMessage, name: string): string | undefined {
  return firstHeader(req.headers, name);
}

function hasBody(req: IncomingMessage): boolean {
  const length = header(req, 'content-length');
  if (length !== undefined) return length !== '0';
  return header(req, 'transfer-encoding') !== undefined;
}

/** The body length a request declares: x-amz-decoded-content-length for aws-chunked, else Content-Length. */
export function declaredBodyBytes(req: IncomingMessage): number | undefined {
  const text = header(req, 'x-amz-decoded-content-length') ?? header(req, 'content-length');
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined;
}
