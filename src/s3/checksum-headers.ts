import type { ByteBudget } from '../cache/byte-budget.js';
import { readBounded } from '../http/read-bounded.js';
import type { PreparedBody } from './request-body.js';

const MIB = 1024 * 1024;
/** Largest body read into memory so that its trailing checksums can go upstream as headers. */
export const MAX_CHECKSUM_HEADER_BODY_BYTES = 8 * MIB;
/** What all such bodies in memory at once may take together. */
export const CHECKSUM_HEADER_BUDGET_BYTES = 64 * MIB;

export interface HeldBody {
  bytes: Buffer;
  /** Gives the bytes back to the budget once the upstream has them. */
  release(): void;
}

/**
 * For an upstream that may not read aws-chunked trailers: reads a small verified body whose
 * checksums come as trailers into memory, its size reserved from `budget`, so the checksums
 * (known once the body has ended) can be sent as x-amz-checksum-* headers before the bytes.
 * Returns undefined, and reads nothing, for a body of unknown length or over the limit, or when
 * the budget is spent: that body streams on without its checksums.
 */
export async function readForChecksumHeaders(body: PreparedBody, budget: ByteBudget): Promise<HeldBody | undefined> {
  const length = body.contentLength === undefined ? Number.NaN : Number(body.contentLength);
  if (!(length <= MAX_CHECKSUM_HEADER_BODY_BYTES) || !budget.tryReserve(length)) return undefined;
  try {
    const bytes = await readBounded(body.stream, length);
    return { bytes, release: () => budget.release(length) };
  } catch (err) {
    budget.release(length);
    throw err;
  }
}
