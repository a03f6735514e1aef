import type { ByteBudget } from './byte-budget.js';

/**
 * Who holds a body, for the budget: a fill and the responses that subscribed to it are counted until
 * they are done, whether or not the cache has the body too; a response sending a cache hit is counted
 * only once the cache has dropped the body (until then the cache counts it).
 */
export type BodyHolder = 'fill' | 'hit';

/**
 * An object's bytes in one buffer of its size, written once by its fill and then shared without
 * copies by the cache and every response sending them. The budget counts them while a fill or its
 * subscribers hold them, and while a response still sends them after the cache dropped them, so
 * slow or stalled clients cannot keep memory alive that nothing accounts for: once the budget is
 * spent, new misses stream through uncached.
 */
export class ObjectBody {
  private readonly holds: Record<BodyHolder, number> = { fill: 0, hit: 0 };
  private cacheEntries = 0;
  private counted = false;

  private constructor(
    readonly bytes: Buffer,
    private readonly budget: ByteBudget,
  ) {}

  /** A body of `size` bytes if the budget has room for it, held by the calling fill until `release`. */
  static reserve(size: number, budget: ByteBudget): { body: ObjectBody; release: () => void } | undefined {
    if (!budget.tryReserve(size)) return undefined;
    const body = new ObjectBody(Buffer.allocUnsafe(size), budget);
    body.counted = true;
    return { body, release: body.hold('fill') };
  }

  get size(): number {
    return this.bytes.length;
  }

  /** Keeps the bytes alive, and counted as `holder` says, until the returned function is called; later calls do nothing. */
  hold(holder: BodyHolder): () => void {
    this.holds[holder]++;
    this.recount();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds[holder]--;
      this.recount();
    };
  }

  /** Called by a cache when it takes the body in. */
  enteredCache(): void {
    this.cacheEntries++;
    this.recount();
  }

  /** Called by a cache when it drops the body (evicted, deleted, expired or replaced). */
  leftCache(): void {
    this.cacheEntries = Math.max(0, this.cacheEntries - 1);
    this.recount();
  }

  private recount(): void {
    const count = this.holds.fill > 0 || (this.holds.hit > 0 && this.cacheEntries === 0);
    if (count === this.counted) return;
    if (count) this.budget.reserve(this.size);
    else this.budget.release(this.size);
    this.counted = count;
  }
}
