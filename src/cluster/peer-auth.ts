import { randomBytes, timingSafeEqual } from 'node:crypto';
import { HmacSha256, sha256Hex } from '../sha256.js';
import { ReplayGuard } from './replay-guard.js';

export const PEER_TIMESTAMP_HEADER = 'x-falcon-peer-timestamp';
export const PEER_NONCE_HEADER = 'x-falcon-peer-nonce';
export const PEER_CONTENT_SHA256_HEADER = 'x-falcon-peer-content-sha256';
export const PEER_SIGNATURE_HEADER = 'x-falcon-peer-signature';

/**
 * How far a request's timestamp may be from the receiver's clock, either way. It must cover the
 * clock difference between nodes plus the time a request takes to arrive; NTP keeps nodes within
 * milliseconds. A replay inside the window is refused by its nonce, after it by its time.
 */
export const PEER_WINDOW_MS = 30_000;
const MAX_REMEMBERED_NONCES = 100_000;
const SCHEME = 'falcon-peer-v2';
const NONCE_BYTES = 16;
const NONCES_PER_DRAW = 256;
const HEX_64 = /^[0-9a-f]{64}$/;
const HEX_32 = /^[0-9a-f]{32}$/;
const DIGITS = /^\d{1,16}$/;

export interface PeerAuthOptions {
  now?: () => number;
  /** Most nonces remembered at once (see ReplayGuard). */
  maxRememberedNonces?: number;
}

/** What a request's valid signature vouches for; its body and nonce are checked by `admit`. */
export interface SignedPeerRequest {
  readonly timestampMs: number;
  readonly nonce: string;
  readonly bodySha256: string;
}

export type PeerCheck<T> = ({ ok: true } & T) | { ok: false; reason: string };

/**
 * Authenticates requests between nodes: an HMAC-SHA256, under the cluster secret, of the method,
 * the path with its query, the SHA-256 of the body, a timestamp and a random nonce. A receiver
 * accepts each signed request once, within PEER_WINDOW_MS of its timestamp.
 */
export class PeerAuth {
  private readonly now: () => number;
  private readonly seen: ReplayGuard;
  /** Made once: the key's pads are prepared once, not for every request. */
  private readonly key: HmacSha256;
  private random = Buffer.alloc(0);
  private randomOffset = 0;

  constructor(secret: string, options: PeerAuthOptions = {}) {
    this.key = new HmacSha256(Buffer.from(secret, 'utf8'));
    this.now = options.now ?? Date.now;
    this.seen = new ReplayGuard({ windowMs: PEER_WINDOW_MS, maxEntries: options.maxRememberedNonces ?? MAX_REMEMBERED_NONCES });
  }

  sign(method: string, pathAndQuery: string, body: string | Buffer = ''): Record<string, string> {
    const timestamp = String(this.now());
    const nonce = this.nextNonce();
    const bodySha256 = sha256Hex(body);
    return {
      [PEER_TIMESTAMP_HEADER]: timestamp,
      [PEER_NONCE_HEADER]: nonce,
      [PEER_CONTENT_SHA256_HEADER]: bodySha256,
      [PEER_SIGNATURE_HEADER]: this.mac(method, pathAndQuery, timestamp, nonce, bodySha256).toString('hex'),
    };
  }

  /**
   * The first check, made before the body is read: the MAC, the time and that the nonce is new.
   * Nothing is remembered yet; `admit` does that once the body matched.
   */
  checkSignature(method: string, pathAndQuery: string, header: (name: string) => string | undefined): PeerCheck<{ request: SignedPeerRequest }> {
    const timestamp = header(PEER_TIMESTAMP_HEADER);
    const nonce = header(PEER_NONCE_HEADER);
    const bodySha256 = header(PEER_CONTENT_SHA256_HEADER);
    const signature = header(PEER_SIGNATURE_HEADER);
    if (
      timestamp === undefined || !DIGITS.test(timestamp) ||
      nonce === undefined || !HEX_32.test(nonce) ||
      bodySha256 === undefined || !HEX_64.test(bodySha256) ||
      signature === undefined || !HEX_64.test(signature)
    ) {
      return { ok: false, reason: 'missing or malformed authentication headers' };
    }
    const expected = this.mac(method, pathAndQuery, timestamp, nonce, bodySha256);
    if (!timingSafeEqual(Buffer.from(signature, 'hex'), expected)) return { ok: false, reason: 'bad signature' };
    const timestampMs = Number(timestamp);
    if (Math.abs(this.now() - timestampMs) > PEER_WINDOW_MS) return { ok: false, reason: 'timestamp outside the window (clock skew?)' };
    if (this.seen.isReplay(nonce, timestampMs)) return { ok: false, reason: 'replayed' };
    return { ok: true, request: { timestampMs, nonce, bodySha256 } };
  }

  /** The second check, on the body read: it is the one signed, and the request was not accepted before. */
  admit(request: SignedPeerRequest, body: Buffer): PeerCheck<object> {
    // The hash of a body is no secret (it travels in a header), so comparing it in plain is safe.
    if (sha256Hex(body) !== request.bodySha256) return { ok: false, reason: 'body does not match its signature' };
    if (!this.seen.remember(request.nonce, request.timestampMs, this.now())) return { ok: false, reason: 'replayed' };
    return { ok: true };
  }

  /** 16 random bytes in hex, cut from a larger draw: one call into the CSPRNG per NONCES_PER_DRAW requests. */
  private nextNonce(): string {
    if (this.randomOffset === this.random.length) {
      this.random = randomBytes(NONCE_BYTES * NONCES_PER_DRAW);
      this.randomOffset = 0;
    }
    const nonce = this.random.toString('hex', this.randomOffset, this.randomOffset + NONCE_BYTES);
    this.randomOffset += NONCE_BYTES;
    return nonce;
  }

  private mac(method: string, pathAndQuery: string, timestamp: string, nonce: string, bodySha256: string): Buffer {
    return this.key.digest(`${SCHEME}\n${method.toUpperCase()}\n${pathAndQuery}\n${timestamp}\n${nonce}\n${bodySha256}`);
  }
}
