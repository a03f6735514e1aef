import { runScript, positiveNumberFromEnv } from './script.js';
import { headerSignedPool } from './header-sign.js';
import { presignTargets } from './presign.js';
import { parsePlainRequest } from '../src/http/request-head.js';
import type { Cleanup } from './cleanup.js';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CLIENT_CREDENTIALS, type Harness, startHarness, upstreamClient } from '../test-support/harness.js';
import { BENCH_BUCKET } from './shared.js';

/**
 * The CPU a cached 1 KiB hit costs the direct hit path itself, without the network: request heads as the lane
 * reads them off a socket, parsed and answered by a Falcon node in this process (`FalconNode.directHit`), in a
 * tight loop. What is left of a hit under load beyond this is system calls and the event loop.
 *
 * Three kinds of request, as the bench sends them: unsigned (to a node that allows anonymous reads), one
 * presigned URL sent again and again, and distinct requests signed in their Authorization header. Each kind is
 * timed LANE_ROUNDS times in turn; the best round of each is printed, with its cost over the unsigned one's:
 * what verifying a signature adds.
 */

const ROUNDS = positiveNumberFromEnv('LANE_ROUNDS', 8);
const REQUESTS = positiveNumberFromEnv('LANE_REQUESTS', 100_000);
/** Distinct header-signed heads sent in turn. */
const SIGNED_HEADS = 1000;
const KEY = 'obj-1k';

async function run(cleanup: Cleanup): Promise<void> {
  // A node that verifies signed requests and, like the bench's unsigned case, lets unsigned ones read.
  const harness = await startHarness({ buckets: [BENCH_BUCKET] });
  cleanup.add(() => harness.close());
  const origin = harness.falcon.url;
  const host = new URL(origin).host;
  const path = `/${BENCH_BUCKET}/${KEY}`;
  const upstream = upstreamClient(harness);
  await upstream.send(new PutObjectCommand({ Bucket: BENCH_BUCKET, Key: KEY, Body: Buffer.alloc(1024, 7) }));
  upstream.destroy();

  const presigned = (await presignTargets(origin, [{ path }], 1, CLIENT_CREDENTIALS)).get(path)?.first;
  if (presigned === undefined) throw new Error('no presigned URL');
  const head = (target: string, headers: Record<string, string>): string =>
    [`GET ${target} HTTP/1.1`, `Host: ${host}`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`), 'Connection: keep-alive', 'User-Agent: bench'].join('\r\n');
  const kinds: Record<string, string[]> = {
    unsigned: [head(path, {})],
    presigned: [head(presigned, {})],
    'header-signed': headerSignedPool(origin, path, SIGNED_HEADS, CLIENT_CREDENTIALS).map((request) =>
      typeof request === 'string' ? head(request, {}) : head(request.path, request.headers),
    ),
  };

  // The first reads fill the cache; every timed one must then be a hit answered on the spot.
  for (let i = 0; i < 50 && answer(harness, kinds.unsigned?.[0] as string) === false; i++) {
    await fetch(`${origin}${path}`).then((response) => response.arrayBuffer());
  }
  const best = new Map<string, number>();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [kind, heads] of Object.entries(kinds)) {
      const started = process.hrtime.bigint();
      for (let i = 0; i < REQUESTS; i++) {
        if (!answer(harness, heads[i % heads.length] as string)) throw new Error(`${kind}: not answered as a hit`);
      }
      const ns = Number(process.hrtime.bigint() - started) / REQUESTS;
      best.set(kind, Math.min(best.get(kind) ?? Number.POSITIVE_INFINITY, ns));
    }
  }
  const unsigned = best.get('unsigned') ?? 1;
  console.log(`direct hit path, 1 KiB hit, best of ${ROUNDS} rounds of ${REQUESTS} requests:`);
  console.log('| request | ns per request | over unsigned |');
  console.log('|---|---:|---:|');
  for (const [kind, ns] of best) console.log(`| ${kind} | ${ns.toFixed(0)} | ${(ns / unsigned).toFixed(2)}x (+${(ns - unsigned).toFixed(0)} ns) |`);
}

/** Parses `text` as the lane does and answers it; false when the node would not answer it directly. */
function answer(harness: Harness, text: string): boolean {
  const request = parsePlainRequest(text);
  if (request === undefined) throw new Error(`not a plain request head: ${JSON.stringify(text.slice(0, 80))}`);
  const hit = harness.falcon.node.directHit(request);
  if (hit === undefined || 'then' in hit) return false;
  hit.release?.();
  return true;
}

await runScript('lane cost', run);
