import { createHash } from 'node:crypto';
import aws4 from 'aws4';
import { Agent, type Dispatcher, errors as undiciErrors } from 'undici';
import { S3Error } from '../errors.js';
import { completeBodiesBeforePausing } from '../http/complete-bodies.js';
import { encodeKeyPath, encodeQuery, encodeRfc3986 } from './uri-encoding.js';
import type { Upstream, UpstreamRequest, UpstreamResponse } from './upstream.js';

export interface UpstreamCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export type CredentialProvider = () => Promise<UpstreamCredentials>;

export interface S3UpstreamOptions {
  /** Undefined means AWS S3 in `region`. */
  endpoint: URL | undefined;
  region: string;
  /** Address buckets as endpoint/bucket/key rather than bucket.endpoint/key. */
  forcePathStyle: boolean;
  /** Connect, response-header and body-idle timeout. */
  timeoutMs: number;
  credentials: CredentialProvider;
  /** Called once per request sent, for metrics. */
  onRequest?: (method: string) => void;
}

const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

/** Talks to an S3-compatible service over undici keep-alive pools, signing every request with SigV4. */
export class S3Upstream implements Upstream {
  private readonly agent: Dispatcher;
  private readonly endpoint: URL;

  constructor(private readonly options: S3UpstreamOptions) {
    this.endpoint = options.endpoint ?? new URL(`https://s3.${options.region}.amazonaws.com`);
    this.agent = new Agent({
      connect: { timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 10_000,
    }).compose(completeBodiesBeforePausing);
  }

  async request(request: UpstreamRequest): Promise<UpstreamResponse> {
    const { origin, host, path } = this.locate(request);
    const query = encodeQuery(request.query);
    const headers: Record<string, string> = { ...request.headers };
    const body = request.body;
    headers['x-amz-content-sha256'] =
      request.payloadSha256 ??
      (body === undefined ? EMPTY_SHA256 : Buffer.isBuffer(body) ? sha256Hex(body) : 'UNSIGNED-PAYLOAD');
    if (Buffer.isBuffer(body)) headers['content-length'] = String(body.length);
    const credentials = await this.options.credentials();
    const signed = aws4.sign(
      { host, path: query ? `${path}?${query}` : path, method: request.method, headers, service: 's3', region: this.options.region },
      credentials,
    );
    // A body in memory can be sent again; a stream cannot.
    const replayable = body === undefined || Buffer.isBuffer(body);
    for (let attempt = 1; ; attempt++) {
      this.options.onRequest?.(request.method);
      try {
        const response = await this.agent.request({
          origin,
          path: signed.path ?? path,
          method: request.method as 'GET',
          headers: signed.headers as Record<string, string>,
          body: body ?? null,
          signal: request.signal,
        });
        return { statusCode: response.statusCode, headers: response.headers, body: response.body };
      } catch (err) {
        // A kept-alive connection the upstream closed just as it was reused fails before any answer;
        // the request never reached the upstream's handler, so sending it once more is safe.
        if (replayable && attempt < MAX_ATTEMPTS && isConnectionLost(err) && request.signal?.aborted !== true) continue;
        throw translateTransportError(err);
      }
    }
  }

  /**
   * Cuts whatever is still open: by the time a node closes its upstream, its clients are gone, and a
   * graceful close would wait forever on a response body nobody reads any more.
   */
  close(): Promise<void> {
    return this.agent.destroy();
  }

  private locate(request: UpstreamRequest): { origin: string; host: string; path: string } {
    const base = this.endpoint;
    const basePath = base.pathname.replace(/\/+$/, '');
    const keyPath = request.key === undefined ? '' : `/${encodeKeyPath(request.key)}`;
    if (request.bucket === undefined) return { origin: base.origin, host: base.host, path: `${basePath}/` };
    const virtualHost = !this.options.forcePathStyle && !(base.protocol === 'https:' && request.bucket.includes('.'));
    if (virtualHost) {
      const host = `${request.bucket}.${base.host}`;
      return { origin: `${base.protocol}//${host}`, host, path: `${basePath}${keyPath || '/'}` };
    }
    return { origin: base.origin, host: base.host, path: `${basePath}/${encodeRfc3986(request.bucket)}${keyPath}` };
  }
}

function sha256Hex(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

const MAX_ATTEMPTS = 2;
const CONNECTION_LOST_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);

/** The connection closed under a request before any answer came: a reused connection the server had just closed. */
function isConnectionLost(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && CONNECTION_LOST_CODES.has(code);
}

/** Maps undici and socket errors to the S3 errors a client sees. */
export function translateTransportError(err: unknown): Error {
  if (err instanceof S3Error) return err;
  if (err instanceof Error && err.name === 'AbortError') return err;
  const code = errorCode(err);
  if (code !== undefined && TIMEOUT_CODES.has(code)) return new S3Error('GatewayTimeout', { cause: err });
  if (err instanceof undiciErrors.RequestAbortedError) return err;
  return new S3Error('ServiceUnavailable', { cause: err });
}

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}
