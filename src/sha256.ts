import * as crypto from 'node:crypto';
import { createHash, createHmac } from 'node:crypto';

interface OneShotHash {
  (algorithm: string, data: string | Buffer, encoding: 'hex' | 'latin1'): string;
}

/** crypto.hash exists from Node 20.12 / 21.7 on: a digest without a Hash object, which matters on per-request paths. */
const oneShotHash = (crypto as { hash?: OneShotHash }).hash;

/** The SHA-256 of nothing, in hex: the hash of every request without a body. */
export const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');

export function sha256Hex(data: string | Buffer): string {
  if (data.length === 0) return EMPTY_SHA256;
  return oneShotHash === undefined ? createHash('sha256').update(data).digest('hex') : oneShotHash('sha256', data, 'hex');
}

const BLOCK_BYTES = 64;
const DIGEST_BYTES = 32;

/**
 * HMAC-SHA256 (RFC 2104) with one key, for a key that signs many messages: a SigV4 signing key checks
 * every request of its day, a cluster secret every peer request. Each message costs two one-shot SHA-256
 * digests over buffers prepared once, where `createHmac` makes a native object per message that only the
 * garbage collector frees; under load freeing those cost more than the digests themselves.
 */
export class HmacSha256 {
  /** The key XOR ipad, followed by room for the message. */
  private inner: Buffer;
  /** The key XOR opad, followed by the inner digest. */
  private readonly outer: Buffer;

  constructor(private readonly key: Buffer) {
    const block = Buffer.alloc(BLOCK_BYTES);
    (key.length > BLOCK_BYTES ? createHash('sha256').update(key).digest() : key).copy(block);
    this.inner = Buffer.allocUnsafe(BLOCK_BYTES + 1024);
    this.outer = Buffer.allocUnsafe(BLOCK_BYTES + DIGEST_BYTES);
    for (let i = 0; i < BLOCK_BYTES; i++) {
      this.inner[i] = (block[i] as number) ^ 0x36;
      this.outer[i] = (block[i] as number) ^ 0x5c;
    }
  }

  /** The MAC of `message` (UTF-8). */
  digest(message: string): Buffer {
    if (oneShotHash === undefined) return createHmac('sha256', this.key).update(message, 'utf8').digest();
    // A UTF-16 code unit takes at most 3 bytes in UTF-8: only a long message needs its length measured.
    if (BLOCK_BYTES + 3 * message.length > this.inner.length) this.makeRoom(Buffer.byteLength(message, 'utf8'));
    const length = this.inner.write(message, BLOCK_BYTES, 'utf8');
    // Digests come out as latin1 strings: a 'buffer' digest takes Node's slow path for a fresh native buffer,
    // which costs more than the hashing of a SigV4 string to sign.
    this.outer.write(oneShotHash('sha256', this.inner.subarray(0, BLOCK_BYTES + length), 'latin1'), BLOCK_BYTES, 'latin1');
    return Buffer.from(oneShotHash('sha256', this.outer, 'latin1'), 'latin1');
  }

  /** Grows the inner buffer, keeping its pad, to hold a message of `bytes`. */
  private makeRoom(bytes: number): void {
    if (BLOCK_BYTES + bytes <= this.inner.length) return;
    const larger = Buffer.allocUnsafe(BLOCK_BYTES + 2 * bytes);
    this.inner.copy(larger, 0, 0, BLOCK_BYTES);
    this.inner = larger;
  }
}
