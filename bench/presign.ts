import { readFile } from 'node:fs/promises';
import { Client } from 'minio';
import type { ServerProcess } from './child-server.js';
import { BENCH_BUCKET, BENCH_CLIENT_KEY, type ServedObject } from './shared.js';

/**
 * Authenticated requests at no cost per request: each object gets presigned GET URLs (SigV4 query
 * authentication) per server, made before any load, and every request of the bench sends one of them (path and
 * query). Falcon verifies the signature of every request; the client only sends strings it already has.
 *
 * By default there is one URL per object and server, repeated by every request. Falcon remembers requests it has
 * verified, so a repeated URL skips the cryptography after its first use (its expiry is still checked every
 * time). With BENCH_UNIQUE_SIGNATURES=1 each object and server gets UNIQUE_SIGNATURE_URLS distinct URLs (each with
 * a different X-Amz-Expires, so a different signature), sent in turn. That is more than Falcon's memo of verified
 * requests holds, so no URL is still remembered when it comes round again: every request pays full verification,
 * as a request signed in its Authorization header usually does (its own x-amz-date and signature).
 *
 * The URLs come from the minio client, in the same form as `aws s3 presign` or boto3: only the six X-Amz-*
 * authentication parameters.
 */

/** How long each URL stays valid (at least). A run longer than this would be answered 403 and reported invalid. */
export const PRESIGN_EXPIRES_SECONDS = 3600;

/** Distinct URLs per object and server with BENCH_UNIQUE_SIGNATURES=1: at least twice Falcon's memo capacity. */
export const UNIQUE_SIGNATURE_URLS = 20_000;

const SIGV4_SOURCE = new URL('../src/s3/auth/sigv4.ts', import.meta.url);

/**
 * How many verified requests Falcon remembers (MAX_MEMO_ENTRIES in src/s3/auth/sigv4.ts). Read from the source so
 * that BENCH_UNIQUE_SIGNATURES fails loudly, rather than silently measuring remembered requests, if it changes.
 */
export async function falconMemoEntries(): Promise<number> {
  const source = await readFile(SIGV4_SOURCE, 'utf8');
  const match = /const MAX_MEMO_ENTRIES = ([\d_]+);/.exec(source);
  if (match?.[1] === undefined) throw new Error(`cannot find MAX_MEMO_ENTRIES in ${SIGV4_SOURCE.pathname}: check BENCH_UNIQUE_SIGNATURES still defeats the memo`);
  return Number(match[1].replaceAll('_', ''));
}

/** The request targets (presigned path and query) for one object on one server, handed out in turn. */
export class TargetCycle {
  private cursor = 0;

  constructor(readonly targets: readonly string[]) {
    if (targets.length === 0) throw new Error('a TargetCycle needs at least one target');
  }

  /** The first target: what checks and cache warming send. */
  get first(): string {
    return this.targets[0] as string;
  }

  /** The next target in turn. The position carries over from one load run to the next. */
  next(): string {
    const target = this.targets[this.cursor] as string;
    this.cursor = this.cursor + 1 === this.targets.length ? 0 : this.cursor + 1;
    return target;
  }
}

/** Object path (e.g. /bench/obj-1k) to the request targets sent for it. */
export type RequestTargets = ReadonlyMap<string, TargetCycle>;

/** A bench server with the request targets presigned for its origin. */
export interface BenchServer extends ServerProcess {
  targets: RequestTargets;
}

/** `urlsPerObject` presigned GET URLs per object, signed for `origin` (its Host header) with `key` (BENCH_CLIENT_KEY by default). */
export async function presignTargets(
  origin: string,
  objects: ReadonlyArray<Pick<ServedObject, 'path'>>,
  urlsPerObject: number,
  key: { accessKeyId: string; secretAccessKey: string } = BENCH_CLIENT_KEY,
): Promise<RequestTargets> {
  const url = new URL(origin);
  const client = new Client({
    endPoint: url.hostname,
    port: Number(url.port),
    useSSL: url.protocol === 'https:',
    pathStyle: true,
    // With a region set the client asks no one for the bucket's location: presigning makes no request.
    region: 'us-east-1',
    accessKey: key.accessKeyId,
    secretKey: key.secretAccessKey,
  });
  const targets = new Map<string, TargetCycle>();
  for (const object of objects) {
    const objectKey = object.path.slice(`/${BENCH_BUCKET}/`.length);
    const list: string[] = [];
    for (let i = 0; i < urlsPerObject; i++) {
      // A different expiry per URL makes a different signature.
      const presigned = new URL(await client.presignedGetObject(BENCH_BUCKET, objectKey, PRESIGN_EXPIRES_SECONDS + i));
      if (presigned.origin !== url.origin || presigned.pathname !== object.path || !presigned.searchParams.has('X-Amz-Signature')) {
        throw new Error(`presigned URL for ${object.path} on ${origin} is unexpected: ${presigned.href}`);
      }
      list.push(presigned.pathname + presigned.search);
    }
    if (new Set(list).size !== list.length) throw new Error(`presigned URLs for ${object.path} on ${origin} are not distinct`);
    targets.set(object.path, new TargetCycle(list));
  }
  return targets;
}

export async function withTargets(server: ServerProcess, objects: readonly ServedObject[], urlsPerObject: number): Promise<BenchServer> {
  return { ...server, targets: await presignTargets(server.url, objects, urlsPerObject) };
}

/** The request targets to send to `server` for `object`, in turn. */
export function requestTargets(server: { name: string; targets: RequestTargets }, object: ServedObject): TargetCycle {
  const targets = server.targets.get(object.path);
  if (targets === undefined) throw new Error(`${server.name}: no presigned URL for ${object.path}`);
  return targets;
}

/** The first presigned path and query for `object` on `server`: what checks send. */
export function requestTarget(server: { name: string; targets: RequestTargets }, object: ServedObject): string {
  return requestTargets(server, object).first;
}

/** `target` with the first digit of its signature changed: signed, but not validly. */
export function withBadSignature(target: string): string {
  const tampered = target.replace(/([?&]X-Amz-Signature=)([0-9a-f])/, (_match, name: string, digit: string) => `${name}${digit === '0' ? '1' : '0'}`);
  if (tampered === target) throw new Error(`no signature to tamper with in ${target}`);
  return tampered;
}
