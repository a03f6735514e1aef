import { setTimeout as sleep } from 'node:timers/promises';
import type { CountingFront } from '../test-support/counting-front.js';
import { type ByteRange, rangeHeader, rangeLength, seededRandom } from './byte-ranges.js';
import { readObject } from './full-read.js';
import { MIB, readSlice } from './large-object.js';
import { type SeededObject, sha256 } from './objects.js';
import { type BenchServer, requestTarget } from './presign.js';

/**
 * How a Parquet reader reads a file it has not seen: the footer (the last 64 KiB), then the column chunks it needs
 * (here 20 ranges of 2 MiB scattered over the file), and the same again when a second query comes. Sent through a
 * Falcon whose upstream is behind a counting front, so the bytes the upstream sent can be set against the bytes the
 * client received.
 */

const FOOTER_BYTES = 64 * 1024;
const CHUNK_BYTES = 2 * MIB;
const CHUNKS = 20;
const OFFSETS_SEED = 0x9a4e7;
const PASSES = 2;
/** Fills may go on after the client's range has been sent; a pass ends once the upstream has been quiet this long. */
const QUIET_MS = 300;
const SETTLE_TIMEOUT_MS = 15_000;

export interface ParquetPass {
  pass: number;
  clientRequests: number;
  clientBytes: number;
  /** Requests the upstream received during the pass, any method. */
  upstreamRequests: number;
  upstreamGets: number;
  /** Response body bytes the upstream sent during the pass. */
  upstreamBytes: number;
  upstreamBytesPerClientByte: number;
}

export interface ParquetResult {
  ranges: ByteRange[];
  passes: ParquetPass[];
  /** Responses that were not the exact bytes asked for. */
  problems: string[];
}

/** The footer, then CHUNKS ranges of CHUNK_BYTES, one at a random offset in each CHUNKS-th of the rest of the object. */
export function parquetRanges(size: number): ByteRange[] {
  const random = seededRandom(OFFSETS_SEED);
  const span = size - FOOTER_BYTES - CHUNK_BYTES;
  const chunks = Array.from({ length: CHUNKS }, (_, i) => {
    const first = Math.floor(((i + random()) * span) / CHUNKS);
    return { first, last: first + CHUNK_BYTES - 1 };
  });
  return [{ first: size - FOOTER_BYTES, last: size - 1 }, ...chunks];
}

async function rangeProblems(falcon: BenchServer, object: SeededObject, range: ByteRange): Promise<{ bytes: number; problems: string[] }> {
  const response = await readObject(falcon.url, requestTarget(falcon, object), { headers: { range: rangeHeader(range) }, hash: true });
  const expected = sha256(await readSlice(object, range.first, rangeLength(range)));
  const where = `${falcon.name} ${object.path} ${rangeHeader(range)}`;
  const problems: string[] = [];
  if (response.status !== 206) problems.push(`${where}: status ${response.status}, expected 206`);
  const contentRange = `bytes ${range.first}-${range.last}/${object.size}`;
  if (response.headers['content-range'] !== contentRange) {
    problems.push(`${where}: content-range ${JSON.stringify(response.headers['content-range'])}, expected "${contentRange}"`);
  }
  if (response.sha256 !== expected) problems.push(`${where}: body differs from the seeded bytes`);
  return { bytes: response.bytes, problems };
}

/** Waits until the front has seen no new request and relayed no byte for QUIET_MS. */
async function settle(front: CountingFront): Promise<void> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  let seen = { requests: -1, bytes: -1 };
  while (performance.now() < deadline) {
    const now = { requests: front.requests.length, bytes: front.bytesRelayed };
    if (now.requests === seen.requests && now.bytes === seen.bytes) return;
    seen = now;
    await sleep(QUIET_MS);
  }
  throw new Error(`the upstream was still being read ${SETTLE_TIMEOUT_MS} ms after the last range was answered`);
}

async function runPass(
  falcon: BenchServer,
  front: CountingFront,
  object: SeededObject,
  ranges: readonly ByteRange[],
  pass: number,
): Promise<{ summary: ParquetPass; problems: string[] }> {
  const requestsBefore = front.requests.length;
  const bytesBefore = front.bytesRelayed;
  let clientBytes = 0;
  const problems: string[] = [];
  for (const range of ranges) {
    const result = await rangeProblems(falcon, object, range);
    clientBytes += result.bytes;
    problems.push(...result.problems);
  }
  await settle(front);
  const upstream = front.requests.slice(requestsBefore);
  const upstreamBytes = front.bytesRelayed - bytesBefore;
  const summary: ParquetPass = {
    pass,
    clientRequests: ranges.length,
    clientBytes,
    upstreamRequests: upstream.length,
    upstreamGets: upstream.filter((request) => request.method === 'GET').length,
    upstreamBytes,
    upstreamBytesPerClientByte: clientBytes === 0 ? 0 : upstreamBytes / clientBytes,
  };
  return { summary, problems };
}

/** The pattern, PASSES times, through `falcon` (which must not have read the object yet) with `front` before its upstream. */
export async function runParquetPattern(falcon: BenchServer, front: CountingFront, object: SeededObject): Promise<ParquetResult> {
  const ranges = parquetRanges(object.size);
  const result: ParquetResult = { ranges, passes: [], problems: [] };
  await settle(front);
  for (let pass = 1; pass <= PASSES; pass++) {
    const { summary, problems } = await runPass(falcon, front, object, ranges, pass);
    result.passes.push(summary);
    result.problems.push(...problems);
  }
  return result;
}
