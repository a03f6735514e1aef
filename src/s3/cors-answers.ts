import type { Gateway } from '../gateway.js';
import { drainBody } from '../http/discard-body.js';

const TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;
/** The CORS headers S3 puts on an actual (non-preflight) response whose Origin a bucket rule allows. */
const CORS_HEADERS = [
  'access-control-allow-origin',
  'access-control-allow-methods',
  'access-control-allow-credentials',
  'access-control-expose-headers',
  'access-control-max-age',
  'vary',
];

/**
 * The CORS headers for reads answered from the cache. S3 adds them to responses from the bucket's
 * CORS rules when a request has an Origin; the cache never asks S3, so the rules' verdict for a
 * bucket, origin and method is asked once with a preflight to the upstream and remembered for a
 * minute.
 */
export class CorsAnswers {
  private readonly answers = new Map<string, { headers: Record<string, string>; expiresAtMs: number }>();

  constructor(
    private readonly gateway: Gateway,
    private readonly now: () => number = Date.now,
  ) {}

  async headersFor(bucket: string, key: string, origin: string, method: string): Promise<Record<string, string>> {
    const cacheKey = `${bucket}\u0000${origin}\u0000${method}`;
    const known = this.answers.get(cacheKey);
    if (known !== undefined && known.expiresAtMs > this.now()) return known.headers;
    let headers: Record<string, string> = {};
    try {
      const response = await this.gateway.forward(
        { method: 'OPTIONS', bucket, key, query: [], headers: { origin, 'access-control-request-method': method } },
        [],
      );
      drainBody(response.body);
      if (response.statusCode === 200) {
        for (const name of CORS_HEADERS) {
          const value = response.headers[name];
          if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
        }
      }
    } catch {
      // No verdict: answer without CORS headers this time and ask again next time.
      return {};
    }
    headers = { ...headers, vary: headers.vary ?? 'Origin' };
    if (this.answers.size >= MAX_ENTRIES) this.answers.clear();
    this.answers.set(cacheKey, { headers, expiresAtMs: this.now() + TTL_MS });
    return headers;
  }
}
