export interface ReplayGuardOptions {
  /** How long a timestamp stays acceptable (either side of now); a nonce is kept that long past its timestamp. */
  windowMs: number;
  /** Most nonces kept at once; past it the oldest are forgotten and requests as old as them refused. */
  maxEntries: number;
}

/**
 * Remembers the nonces of accepted requests while their timestamps are in the window, so each
 * request is accepted once. Memory is bounded: a nonce is dropped once its timestamp has left the
 * window (its replay is then refused by time), and past `maxEntries` the oldest are dropped early
 * and every request no newer than them is refused, so forgetting never lets a replay in: under
 * such a load the window shrinks instead.
 */
export class ReplayGuard {
  /** Nonce -> timestamp, in the order they were accepted. */
  private readonly seen = new Map<string, number>();
  /** Requests with a timestamp at or before this may have had their nonce forgotten early. */
  private floorMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: ReplayGuardOptions) {}

  /** Whether a request must be refused as a replay (or as one that can no longer be told from one). */
  isReplay(nonce: string, timestampMs: number): boolean {
    return timestampMs <= this.floorMs || this.seen.has(nonce);
  }

  /** Records an accepted request; false (and nothing recorded) when it is a replay. */
  remember(nonce: string, timestampMs: number, nowMs: number): boolean {
    if (this.isReplay(nonce, timestampMs)) return false;
    this.forgetExpired(nowMs);
    while (this.seen.size >= this.options.maxEntries) this.forgetOldest();
    this.seen.set(nonce, timestampMs);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }

  private forgetExpired(nowMs: number): void {
    // Acceptance order follows the senders' clocks closely enough; an entry left behind a newer one
    // only waits a little longer.
    for (const [nonce, timestampMs] of this.seen) {
      if (timestampMs + this.options.windowMs >= nowMs) return;
      this.seen.delete(nonce);
    }
  }

  private forgetOldest(): void {
    const oldest = this.seen.entries().next();
    if (oldest.done) return;
    const [nonce, timestampMs] = oldest.value;
    this.seen.delete(nonce);
    this.floorMs = Math.max(this.floorMs, timestampMs);
  }
}
