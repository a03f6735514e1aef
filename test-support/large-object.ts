import { createCipheriv, createHash } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import aws4 from 'aws4';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../src/upstream/local-upstream.js';

const PIECE_BYTES = 256 * 1024;
const AES_BLOCK_BYTES = 16;

/**
 * The bytes of a large test object, made from a seed and read at any offset without holding the
 * object in memory: the AES-128-CTR keystream of the seed, so byte n is the same however it is reached.
 */
export class PatternObject {
  private readonly aesKey: Buffer;
  private digest: string | undefined;

  constructor(
    readonly seed: string,
    readonly size: number,
  ) {
    this.aesKey = createHash('sha256').update(seed).digest().subarray(0, 16);
  }

  /** Bytes [start, end) of the object (end clamped to its size). */
  slice(start: number, end: number): Buffer {
    const last = Math.min(end, this.size);
    if (last <= start) return Buffer.alloc(0);
    const counter = Math.floor(start / AES_BLOCK_BYTES);
    const skip = start - counter * AES_BLOCK_BYTES;
    const iv = Buffer.alloc(16);
    iv.writeBigUInt64BE(BigInt(counter), 8);
    const cipher = createCipheriv('aes-128-ctr', this.aesKey, iv);
    return cipher.update(Buffer.alloc(skip + last - start)).subarray(skip);
  }

  /** Bytes [start, end) as a stream of pieces, never the whole range at once. */
  stream(start = 0, end = this.size): Readable {
    const object = this;
    return Readable.from(
      (function* pieces() {
        for (let offset = start; offset < end; offset += PIECE_BYTES) yield object.slice(offset, Math.min(offset + PIECE_BYTES, end));
      })(),
    );
  }

  /** Hex SHA-256 of the whole object, computed piece by piece. */
  async sha256(): Promise<string> {
    if (this.digest === undefined) {
      const hash = createHash('sha256');
      for await (const piece of this.stream()) hash.update(piece as Buffer);
      this.digest = hash.digest('hex');
    }
    return this.digest;
  }

  /** True when `bytes`, received from `offset` on, are the object's own bytes there. */
  matchesAt(offset: number, bytes: Buffer): boolean {
    return offset + bytes.length <= this.size && this.slice(offset, offset + bytes.length).equals(bytes);
  }
}

/**
 * Stores `object` at the upstream directly (behind Falcon's back) with one streamed PutObject, signed
 * with an unsigned payload so the body is never held in memory. Resolves to the ETag the upstream gave it.
 */
export async function putUpstreamObject(endpoint: URL, bucket: string, key: string, object: PatternObject): Promise<string> {
  const path = `/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
  const signed = aws4.sign(
    {
      host: endpoint.host,
      path,
      method: 'PUT',
      service: 's3',
      region: 'us-east-1',
      headers: { 'content-length': String(object.size), 'content-type': 'application/octet-stream', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    },
    LOCAL_UPSTREAM_CREDENTIALS,
  );
  const req = request({ host: endpoint.hostname, port: endpoint.port, method: 'PUT', path, headers: signed.headers as Record<string, string> });
  const answered = new Promise<{ status: number; etag: string; body: string }>((resolve, reject) => {
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: String(res.headers.etag ?? ''), body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
  });
  await pipeline(object.stream(), req);
  const answer = await answered;
  if (answer.status !== 200 || answer.etag === '') throw new Error(`upstream PUT of ${path} answered ${answer.status}: ${answer.body}`);
  return answer.etag;
}
