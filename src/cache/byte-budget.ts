/** Bounds the bytes of object bodies held outside the cache: fills in flight and bodies responses still send. */
export class ByteBudget {
  private usedBytes = 0;

  constructor(private readonly limitBytes: number) {}

  /** Reserves `bytes` if they fit under the limit. */
  tryReserve(bytes: number): boolean {
    if (this.usedBytes + bytes > this.limitBytes) return false;
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
}
