import { createHash, randomBytes } from 'node:crypto';

export function sha256(data: Buffer | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export function randomBody(bytes: number): Buffer {
  return randomBytes(bytes);
}

let counter = 0;
/** A key no other test uses. */
export function uniqueKey(prefix = 'k'): string {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${randomBytes(3).toString('hex')}`;
}
