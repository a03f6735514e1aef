import { timingSafeEqual } from 'node:crypto';
import type { TransformCallback } from 'node:stream';
import { S3Error } from '../../errors.js';
import { type ExpectedChecksum, verifyChecksums } from './body-verifier.js';
import { HeldBackTransform } from './held-back-transform.js';
import { EMPTY_SHA256, sha256Hex } from '../../sha256.js';
import { hmacHex } from './sigv4.js';

const MAX_LINE_BYTES = 8 * 1024;
/**
 * Clients sign chunks of 8 KiB to a few MiB; a signed chunk is held whole until its signature is
 * checked. Unsigned chunks stream through, whatever their size.
 */
const MAX_SIGNED_CHUNK_BYTES = 16 * 1024 * 1024;
const CRLF = Buffer.from('\r\n');

/** What the chunk signatures of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body chain from. */
export interface ChunkSigning {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  /** The request's own signature: the first chunk's "previous signature". */
  seedSignature: string;
  /** STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: the trailer carries a signature too. */
  signedTrailer: boolean;
}

export interface AwsChunkedOptions {
  /** x-amz-decoded-content-length, when given. */
  expectedBytes?: number;
  /** Largest decoded body accepted (EntityTooLarge past it), whatever x-amz-decoded-content-length says. */
  maxBytes?: number;
  signing?: ChunkSigning;
  /** Checksums to verify at the end; their expected values may come from `trailers`. */
  checksums: ExpectedChecksum[];
}

type State = 'size' | 'data' | 'data-end' | 'trailer' | 'done';

/**
 * Removes aws-chunked framing (`<hex-size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0...\r\n<trailers>\r\n`)
 * while streaming. Each signed chunk's signature is verified in the chain before its bytes go on;
 * the decoded length, trailing checksums and trailer signature are verified before the last bytes
 * go on. Broken framing fails the body with IncompleteBody, as a short body would.
 */
export class AwsChunkedDecoder extends HeldBackTransform {
  readonly trailers: Record<string, string> = {};
  private state: State = 'size';
  private pending = Buffer.alloc(0);
  private remaining = 0;
  private chunkSignature: string | undefined;
  /** The signed chunk being received, held until its signature is checked. */
  private chunkParts: Buffer[] = [];
  private decodedBytes = 0;
  private previousSignature: string | undefined;

  constructor(private readonly options: AwsChunkedOptions) {
    super();
    this.previousSignature = options.signing?.seedSignature;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.consume(this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk);
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    const trailerUnterminated = this.state === 'trailer' && this.pending.length === 0;
    if (this.state !== 'done' && !trailerUnterminated) {
      callback(incomplete('The aws-chunked body ended before its final chunk.'));
      return;
    }
    this.releaseAfter(callback);
  }

  protected async finish(): Promise<void> {
    const expected = this.options.expectedBytes;
    if (expected !== undefined && this.decodedBytes !== expected) {
      throw incomplete('The decoded body does not match x-amz-decoded-content-length.');
    }
    if (this.options.signing?.signedTrailer) this.verifyTrailerSignature();
    await verifyChecksums(this.options.checksums);
  }

  private consume(input: Buffer): void {
    let buf = input;
    while (buf.length > 0) {
      if (this.state === 'data') {
        const take = Math.min(this.remaining, buf.length);
        const piece = buf.subarray(0, take);
        if (this.options.signing === undefined) this.accept(piece);
        else this.chunkParts.push(piece);
        buf = buf.subarray(take);
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'data-end';
        continue;
      }
      if (this.state === 'done') break;
      const eol = buf.indexOf(CRLF);
      if (eol === -1) {
        if (buf.length > MAX_LINE_BYTES) throw incomplete('An aws-chunked line is too long.');
        break;
      }
      const line = buf.subarray(0, eol).toString('latin1');
      buf = buf.subarray(eol + 2);
      this.onLine(line);
    }
    this.pending = Buffer.from(buf);
  }

  private onLine(line: string): void {
    switch (this.state) {
      case 'data-end':
        if (line !== '') throw incomplete('An aws-chunked chunk is longer than its size.');
        this.endChunk();
        this.state = 'size';
        return;
      case 'size': {
        const [sizeText = '', ...extensions] = line.split(';');
        if (!/^[0-9a-fA-F]{1,16}$/.test(sizeText)) throw incomplete('An aws-chunked chunk size is not a hexadecimal number.');
        this.remaining = Number.parseInt(sizeText, 16);
        this.checkChunkSize(this.remaining);
        this.chunkSignature = extensions.find((e) => e.startsWith('chunk-signature='))?.slice('chunk-signature='.length);
        if (this.remaining === 0) {
          this.endChunk();
          this.state = 'trailer';
        } else this.state = 'data';
        return;
      }
      case 'trailer': {
        if (line === '') {
          this.state = 'done';
          return;
        }
        const colon = line.indexOf(':');
        if (colon <= 0) throw new S3Error('MalformedTrailerError');
        this.trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        return;
      }
      default:
        throw incomplete('The aws-chunked body continues after its final chunk.');
    }
  }

  /** Refuses a chunk before any of its bytes are read when its size alone breaks a limit. */
  private checkChunkSize(size: number): void {
    const expected = this.options.expectedBytes;
    if (expected !== undefined && this.decodedBytes + size > expected) {
      throw incomplete('The decoded body is longer than x-amz-decoded-content-length.');
    }
    if (this.decodedBytes + size > (this.options.maxBytes ?? Number.POSITIVE_INFINITY)) throw new S3Error('EntityTooLarge');
    if (this.options.signing !== undefined && size > MAX_SIGNED_CHUNK_BYTES) {
      throw new S3Error('InvalidArgument', { message: 'A signed aws-chunked chunk may not be larger than 16 MiB.' });
    }
  }

  /** At the end of a chunk: a signed one is checked in the chain, then passed on. */
  private endChunk(): void {
    const signing = this.options.signing;
    if (signing === undefined) return;
    const data = Buffer.concat(this.chunkParts);
    this.chunkParts = [];
    const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', signing.amzDate, signing.scope, this.previousSignature, EMPTY_SHA256, sha256Hex(data)].join('\n');
    this.previousSignature = this.expectSignature(this.chunkSignature, hmacHex(signing.signingKey, stringToSign));
    this.accept(data);
  }

  private accept(data: Buffer): void {
    this.decodedBytes += data.length;
    for (const { checksum } of this.options.checksums) checksum.update(data);
    this.hold(data);
  }

  private verifyTrailerSignature(): void {
    const signing = this.options.signing as ChunkSigning;
    const canonical = Object.entries(this.trailers)
      .filter(([name]) => name !== 'x-amz-trailer-signature')
      .map(([name, value]) => `${name}:${value}\n`)
      .join('');
    const stringToSign = ['AWS4-HMAC-SHA256-TRAILER', signing.amzDate, signing.scope, this.previousSignature, sha256Hex(canonical)].join('\n');
    this.expectSignature(this.trailers['x-amz-trailer-signature'], hmacHex(signing.signingKey, stringToSign));
  }

  private expectSignature(given: string | undefined, expected: string): string {
    const a = Buffer.from(given ?? '', 'utf8');
    const b = Buffer.from(expected, 'utf8');
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new S3Error('SignatureDoesNotMatch', { message: 'The chunk signature we calculated does not match the signature you provided.' });
    }
    return expected;
  }
}

function incomplete(message: string): S3Error {
  return new S3Error('IncompleteBody', { message });
}

/** Whether a request body is aws-chunked framed, from its headers. */
export function isAwsChunked(contentSha256: string | undefined, contentEncoding: string | undefined): boolean {
  if (contentSha256?.startsWith('STREAMING-')) return true;
  return (contentEncoding ?? '').split(',').some((token) => token.trim().toLowerCase() === 'aws-chunked');
}
