import { Client } from 'minio';
import type { ServerProcess } from './child-server.js';
import { BENCH_BUCKET, BENCH_CLIENT_KEY, type ServedObject } from './shared.js';

/**
 * Authenticated requests at no cost per request: each object gets one presigned GET URL (SigV4 query
 * authentication) per server, made once before any load, and every request of the bench sends that URL's path
 * and query. Falcon verifies the signature of every request; the client only repeats a string.
 *
 * The URLs come from the minio client, in the same form as `aws s3 presign` or boto3: only the six X-Amz-*
 * authentication parameters. URLs from @aws-sdk/s3-request-presigner also carry X-Amz-Content-Sha256 and
 * x-amz-checksum-* parameters, which Falcon's cache does not recognise at the time of writing: it answers them
 * correctly, but from the upstream (X-Cache: BYPASS), so they cannot measure hot GETs.
 */

/** How long each URL stays valid. A run longer than this would be answered 403 and reported invalid. */
export const PRESIGN_EXPIRES_SECONDS = 3600;

/** Object path (e.g. /bench/obj-1k) to the request target (path and query) sent for it. */
export type RequestTargets = ReadonlyMap<string, string>;

/** A bench server with the request targets presigned for its origin. */
export interface BenchServer extends ServerProcess {
  targets: RequestTargets;
}

/** One presigned GET URL per object, signed for `origin` (its Host header) with BENCH_CLIENT_KEY. */
export async function presignTargets(origin: string, objects: readonly ServedObject[]): Promise<RequestTargets> {
  const url = new URL(origin);
  const client = new Client({
    endPoint: url.hostname,
    port: Number(url.port),
    useSSL: url.protocol === 'https:',
    pathStyle: true,
    // With a region set the client asks no one for the bucket's location: presigning makes no request.
    region: 'us-east-1',
    accessKey: BENCH_CLIENT_KEY.accessKeyId,
    secretKey: BENCH_CLIENT_KEY.secretAccessKey,
  });
  const targets = new Map<string, string>();
  for (const object of objects) {
    const key = object.path.slice(`/${BENCH_BUCKET}/`.length);
    const presigned = new URL(await client.presignedGetObject(BENCH_BUCKET, key, PRESIGN_EXPIRES_SECONDS));
    if (presigned.origin !== url.origin || presigned.pathname !== object.path || !presigned.searchParams.has('X-Amz-Signature')) {
      throw new Error(`presigned URL for ${object.path} on ${origin} is unexpected: ${presigned.href}`);
    }
    targets.set(object.path, presigned.pathname + presigned.search);
  }
  return targets;
}

export async function withTargets(server: ServerProcess, objects: readonly ServedObject[]): Promise<BenchServer> {
  return { ...server, targets: await presignTargets(server.url, objects) };
}

/** The presigned path and query to send to `server` for `object`. */
export function requestTarget(server: { name: string; targets: RequestTargets }, object: ServedObject): string {
  const target = server.targets.get(object.path);
  if (target === undefined) throw new Error(`${server.name}: no presigned URL for ${object.path}`);
  return target;
}

/** `target` with the first digit of its signature changed: signed, but not validly. */
export function withBadSignature(target: string): string {
  const tampered = target.replace(/([?&]X-Amz-Signature=)([0-9a-f])/, (_match, name: string, digit: string) => `${name}${digit === '0' ? '1' : '0'}`);
  if (tampered === target) throw new Error(`no signature to tamper with in ${target}`);
  return tampered;
}
