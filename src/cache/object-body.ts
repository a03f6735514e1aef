import type { ByteBudget } from './byte-budget.js';

/**
 * The bytes of a whole small object or of one block of a large one, in one buffer written once by its
 * fill and then shared without copies by the cache and every response sending them. The budget counts
 * them for as long as anything keeps them: the fill, a cache, or a response still sending them, so
 * slow or stalled clients cannot keep memory alive that nothing accounts for.
 */
export class ObjectBody {
  private holds = 0;
  private cacheEntries = 0;
  private counted = false;
  private gone = false;

  private constructor(
    readonly bytes: Buffer,
    private readonly budget: ByteBudget,
  ) {}

  /** A body of `size` bytes if the budget has room for it (evicting to make some), held by the caller until `release`. */
  static reserve(size: number, budget: ByteBudget): { body: ObjectBody; release: () => void } | undefined {
    const bytes = budget.allocate(size);
    if (bytes === undefined) return undefined;
    const body = new ObjectBody(bytes, budget);
    body.counted = true;
    return { body, release: body.hold() };
  }

  /**
   * Whether its buffer went back to the budget for reuse: nothing may read it any more. Callers that
   * found the body before holding it check this after taking their hold.
   */
  get recycled(): boolean {
    return this.gone;
  }

  get size(): number {
    return this.bytes.length;
  }

  /** Keeps the bytes alive and counted until the returned function is called; later calls do nothing. */
  hold(): () => void {
    this.holds++;
    this.recount();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
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

  /** Whether dropping it from a cache would free its memory: nothing else holds it. */
  get onlyCached(): boolean {
    return this.holds === 0;
  }

  private recount(): void {
    if (this.gone) return;
    const count = this.holds > 0 || this.cacheEntries > 0;
    if (count === this.counted) return;
    if (count) {
      this.budget.reserve(this.size);
      this.counted = true;
      return;
    }
    // Nothing reads it and no cache has it: every view handed out was released after its bytes were sent.
    this.gone = true;
    this.counted = false;
    this.budget.recycle(this.bytes);
  }
}
