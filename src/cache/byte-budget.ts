/**
 * The node's one memory bound for object bytes: everything cached (objects, blocks, metadata, main
 * and hot copies), every fill in flight, and every body a response still sends after the cache
 * dropped it. When a reservation does not fit, the evictor drops least recently used cache entries
 * until it does or nothing is left to drop; past that, the caller streams through uncached.
 */
export class ByteBudget {
  private usedBytes = 0;
  private evictor: (() => boolean) | undefined;

  constructor(private readonly limitBytes: number) {}

  /** Called when a reservation does not fit: drops one cache entry, or returns false when none is left. */
  setEvictor(evictor: () => boolean): void {
    this.evictor = evictor;
  }

  /** Reserves `bytes` if they fit under the limit, evicting cached entries to make room. */
  tryReserve(bytes: number): boolean {
    if (bytes > this.limitBytes) return false;
    while (this.usedBytes + bytes > this.limitBytes) {
      if (this.evictor === undefined || !this.evictor()) return false;
    }
    this.usedBytes += bytes;
    return true;
  }

  /**
   * Counts bytes that are already in memory, over the limit if need be (a body evicted from the cache
   * while responses still send it): until they are released, nothing new is admitted.
   */
  reserve(bytes: number): void {
    this.usedBytes += bytes;
  }

  release(bytes: number): void {
    this.usedBytes = Math.max(0, this.usedBytes - bytes);
  }

  get used(): number {
    return this.usedBytes;
  }

  get limit(): number {
    return this.limitBytes;
  }
}
