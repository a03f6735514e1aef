/**
 * The node's one memory bound for object bytes: everything cached (objects, blocks, metadata, main
 * and hot copies), every fill in flight, and every body a response still sends after the cache
 * dropped it. When a reservation does not fit, the evictor drops least recently used cache entries
 * until it does or nothing is left to drop; past that, the caller streams through uncached.
 *
 * Buffers of one block size that nothing uses any more are kept, still counted, and handed to the
 * next fill of that size: the memory is reused at once, instead of lingering until the garbage
 * collector frees it while new memory is allocated (and first touched) for the next block.
 */
export class ByteBudget {
  private usedBytes = 0;
  private evictor: (() => boolean) | undefined;
  private readonly pool: Buffer[] = [];

  constructor(
    private readonly limitBytes: number,
    /** The size of the buffers worth reusing: the block size. */
    private readonly pooledSize = 0,
  ) {}

  /** Called when a reservation does not fit: drops one cache entry, or returns false when none is left. */
  setEvictor(evictor: () => boolean): void {
    this.evictor = evictor;
  }

  /** Reserves `bytes` if they fit under the limit, evicting cached entries to make room. */
  tryReserve(bytes: number): boolean {
    if (bytes > this.limitBytes) return false;
    while (this.usedBytes + bytes > this.limitBytes) {
      if (!this.dropPooled() && (this.evictor === undefined || !this.evictor())) return false;
    }
    this.usedBytes += bytes;
    return true;
  }

  /**
   * A buffer of `size` bytes, counted: a reused one when there is one of that size (evicting to free
   * one if need be), else a new one if it fits; undefined when the budget has no room.
   */
  allocate(size: number): Buffer | undefined {
    if (size > this.limitBytes) return undefined;
    for (;;) {
      if (size === this.pooledSize && this.pool.length > 0) return this.pool.pop();
      if (this.usedBytes + size <= this.limitBytes) {
        this.usedBytes += size;
        return Buffer.allocUnsafe(size);
      }
      // A buffer of another size makes room for a new one; eviction may pool one of this size.
      if (size !== this.pooledSize && this.dropPooled()) continue;
      if (this.evictor?.()) continue;
      if (this.dropPooled()) continue;
      return undefined;
    }
  }

  /** Takes back a buffer nothing uses any more: kept for reuse when it is of the pooled size, else released. */
  recycle(buffer: Buffer): void {
    if (buffer.length === this.pooledSize && this.pooledSize > 0) this.pool.push(buffer);
    else this.release(buffer.length);
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

  private dropPooled(): boolean {
    const buffer = this.pool.pop();
    if (buffer === undefined) return false;
    this.release(buffer.length);
    return true;
  }
}
