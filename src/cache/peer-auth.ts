import { createHmac, timingSafeEqual } from 'node:crypto';

export const PEER_TIMESTAMP_HEADER = 'x-falcon-peer-timestamp';
export const PEER_SIGNATURE_HEADER = 'x-falcon-peer-signature';
/** How far a peer's clock may be from ours before its requests are refused. */
const MAX_SKEW_MS = 5 * 60_000;

/** Authenticates requests between nodes with an HMAC-SHA256 of method, path and time under the cluster secret. */
export class PeerAuth {
  constructor(
    private readonly secret: string,
    private readonly now: () => number = Date.now,
  ) {}

  sign(method: string, pathAndQuery: string): Record<string, string> {
    const timestamp = String(this.now());
    return {
      [PEER_TIMESTAMP_HEADER]: timestamp,
      [PEER_SIGNATURE_HEADER]: this.mac(method, pathAndQuery, timestamp),
    };
  }

  verify(method: string, pathAndQuery: string, timestamp: string | undefined, signature: string | undefined): boolean {
    if (timestamp === undefined || signature === undefined || !/^\d{1,16}$/.test(timestamp)) return false;
    if (Math.abs(this.now() - Number(timestamp)) > MAX_SKEW_MS) return false;
    const expected = Buffer.from(this.mac(method, pathAndQuery, timestamp), 'hex');
    const given = Buffer.from(signature, 'hex');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private mac(method: string, pathAndQuery: string, timestamp: string): string {
    return createHmac('sha256', this.secret).update(`${method.toUpperCase()}\n${pathAndQuery}\n${timestamp}`).digest('hex');
  }
}
