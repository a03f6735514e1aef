import { createHash, createHmac } from 'node:crypto';
import aws4 from 'aws4';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface SignedHeaders {
  /** The headers to send, Host excluded (the raw client adds it). */
  headers: Record<string, string>;
  /** Chains chunk signatures from the request's own signature. */
  chunkSigner: ChunkSigner;
}

/** Signs a request's headers with aws4, an implementation independent of Falcon's verifier. */
export function signHeaders(baseUrl: string, method: string, path: string, headers: Record<string, string>, credentials: Credentials): SignedHeaders {
  const host = new URL(baseUrl).host;
  const opts = aws4.sign({ host, path, method, service: 's3', region: 'us-east-1', headers: { ...headers } }, credentials);
  const signed = Object.fromEntries(
    Object.entries(opts.headers ?? {})
      .filter(([k]) => k.toLowerCase() !== 'host')
      .map(([k, v]) => [k, String(v)]),
  );
  const amzDate = String(signed['X-Amz-Date']);
  const seed = /Signature=([0-9a-f]+)/.exec(String(signed.Authorization))?.[1] ?? '';
  return { headers: signed, chunkSigner: new ChunkSigner(credentials.secretAccessKey, amzDate, seed) };
}

/** The chunk signatures of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body, each chained from the previous one. */
export class ChunkSigner {
  private readonly signingKey: Buffer;
  private readonly scope: string;
  private previous: string;

  constructor(secret: string, private readonly amzDate: string, seedSignature: string) {
    const hmac = (k: Buffer | string, d: string) => createHmac('sha256', k).update(d).digest();
    const day = amzDate.slice(0, 8);
    this.signingKey = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), 'us-east-1'), 's3'), 'aws4_request');
    this.scope = `${day}/us-east-1/s3/aws4_request`;
    this.previous = seedSignature;
  }

  /** The signature of the next chunk carrying `data`. */
  next(data: Buffer): string {
    const sha = (d: Buffer | string) => createHash('sha256').update(d).digest('hex');
    const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', this.amzDate, this.scope, this.previous, sha(''), sha(data)].join('\n');
    this.previous = createHmac('sha256', this.signingKey).update(stringToSign).digest('hex');
    return this.previous;
  }

  /** `<hex-size>;chunk-signature=<sig>\r\n<data>\r\n` for each chunk, then the final empty chunk. */
  frame(chunks: Buffer[]): Buffer {
    const parts: Buffer[] = [];
    for (const data of [...chunks, Buffer.alloc(0)]) {
      parts.push(Buffer.from(`${data.length.toString(16)};chunk-signature=${this.next(data)}\r\n`), data, Buffer.from('\r\n'));
    }
    return Buffer.concat(parts);
  }
}
