import type { Readable } from 'node:stream';
import { discardBody } from './discard-body.js';

/** Reads a body into memory, keeping at most `maxBytes` of it: past that, the rest is discarded. */
export async function readBounded(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (total + buf.length > maxBytes) {
      chunks.push(buf.subarray(0, maxBytes - total));
      total = maxBytes;
      discardBody(body);
      break;
    }
    chunks.push(buf);
    total += buf.length;
  }
  return Buffer.concat(chunks, total);
}
