import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from '../errors.js';

const MAX_LINE_BYTES = 8 * 1024;
const CRLF = Buffer.from('\r\n');

type State = 'size' | 'data' | 'data-end' | 'trailer' | 'done';

/**
 * Removes aws-chunked framing (`<hex-size>[;chunk-signature=..]\r\n<data>\r\n ... 0\r\n<trailers>\r\n`)
 * while streaming, and checks the decoded length. Trailing headers are collected in `trailers`.
 */
export class AwsChunkedDecoder extends Transform {
  readonly trailers: Record<string, string> = {};
  private state: State = 'size';
  private pending = Buffer.alloc(0);
  private remaining = 0;
  private decodedBytes = 0;

  constructor(private readonly expectedBytes: number | undefined) {
    super();
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
    if (this.state !== 'done' && !trailerUnterminated) return callback(incomplete('The aws-chunked body ended before its final chunk.'));
    if (this.expectedBytes !== undefined && this.decodedBytes !== this.expectedBytes) {
      return callback(incomplete('The decoded body does not match x-amz-decoded-content-length.'));
    }
    callback();
  }

  private consume(input: Buffer): void {
    let buf = input;
    while (buf.length > 0) {
      if (this.state === 'data') {
        const take = Math.min(this.remaining, buf.length);
        this.decodedBytes += take;
        if (this.expectedBytes !== undefined && this.decodedBytes > this.expectedBytes) {
          throw incomplete('The decoded body is longer than x-amz-decoded-content-length.');
        }
        this.push(buf.subarray(0, take));
        buf = buf.subarray(take);
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'data-end';
        continue;
      }
      if (this.state === 'done') {
        buf = Buffer.alloc(0);
        break;
      }
      const eol = buf.indexOf(CRLF);
      if (eol === -1) {
        if (buf.length > MAX_LINE_BYTES) throw malformed('An aws-chunked line is too long.');
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
        if (line !== '') throw malformed('An aws-chunked chunk is longer than its size.');
        this.state = 'size';
        return;
      case 'size': {
        const sizeText = line.split(';', 1)[0] ?? '';
        if (!/^[0-9a-fA-F]{1,16}$/.test(sizeText)) throw malformed('An aws-chunked chunk size is not hexadecimal.');
        this.remaining = Number.parseInt(sizeText, 16);
        this.state = this.remaining === 0 ? 'trailer' : 'data';
        return;
      }
      case 'trailer': {
        if (line === '') {
          this.state = 'done';
          return;
        }
        const colon = line.indexOf(':');
        if (colon <= 0) throw malformed('An aws-chunked trailer is malformed.');
        this.trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        return;
      }
      default:
        throw malformed('Unexpected aws-chunked framing.');
    }
  }
}

function incomplete(message: string): S3Error {
  return new S3Error('IncompleteBody', { message });
}

function malformed(message: string): S3Error {
  return new S3Error('InvalidRequest', { message });
}

/** Whether a request body is aws-chunked framed, from its headers. */
export function isAwsChunked(contentSha256: string | undefined, contentEncoding: string | undefined): boolean {
  if (contentSha256?.startsWith('STREAMING-')) return true;
  return (contentEncoding ?? '').split(',').some((token) => token.trim().toLowerCase() === 'aws-chunked');
}
