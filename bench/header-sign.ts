import { randomUUID } from 'node:crypto';
import aws4 from 'aws4';
import type { LoadRequest, TargetSource } from './load.js';
import { BENCH_CLIENT_KEY } from './shared.js';

/**
 * GETs signed in the Authorization header as the SDKs sign them: each with its own x-amz-date moment and a
 * signed `amz-sdk-invocation-id`, so no two requests share a signature. The whole pool is signed before any
 * load, so the client's signing is not measured.
 */
export function headerSignedPool(origin: string, path: string, count: number, key: { accessKeyId: string; secretAccessKey: string } = BENCH_CLIENT_KEY): LoadRequest[] {
  const host = new URL(origin).host;
  const pool: LoadRequest[] = [];
  for (let i = 0; i < count; i++) {
    const signed = aws4.sign(
      { host, path, method: 'GET', service: 's3', region: 'us-east-1', headers: { 'amz-sdk-invocation-id': randomUUID() } },
      key,
    );
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers ?? {})) {
      if (name.toLowerCase() !== 'host') headers[name] = String(value);
    }
    pool.push({ path, headers });
  }
  return pool;
}

/** Hands out the pool's requests in turn, round and round. */
export class RequestCycle implements TargetSource {
  private cursor = 0;

  constructor(private readonly requests: readonly LoadRequest[]) {
    if (requests.length === 0) throw new Error('a RequestCycle needs at least one request');
  }

  next(): LoadRequest {
    const request = this.requests[this.cursor] as LoadRequest;
    this.cursor = this.cursor + 1 === this.requests.length ? 0 : this.cursor + 1;
    return request;
  }
}
