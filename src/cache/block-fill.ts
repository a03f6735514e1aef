import type { Readable } from 'node:stream';
import { S3Error } from '../errors.js';
import { discardBody } from '../http/discard-body.js';
import type { ObjectBody } from './object-body.js';

export interface BlockFillOptions {
  /** The buffer the bytes go into, already counted by the budget, and the fill's hold on it. */
  body: ObjectBody;
  release: () => void;
  /** A validated answer whose body starts with the block's first byte. */
  source: Readable;
  /**
   * Whether the source may carry bytes past the block (a whole-object answer read for its first
   * block): they are discarded instead of failing the fill.
   */
  sourceMayContinue?: boolean;
  /** When the source fails midway, fetches the rest of the block (bytes from `offset` on) from elsewhere. */
  resume?: (offset: number) => Promise<Readable>;
  /** Counts the bytes as they arrive. */
  onBytes?: (bytes: number) => void;
  /** Called with the body once every byte arrived intact, before the fill lets go of it (to cache it). */
  onIntact?: (body: ObjectBody) => void;
}

/**
 * The bytes of one block (or one small object) arriving from the upstream or an owner, read as fast
 * as the source sends them, independent of any one reader, into one buffer allocated once; every
 * reader gets the bytes received so far and then waits for more.
 */
export class BlockFill {
  /** True once every byte arrived intact, false if the fill failed. */
  readonly completed: Promise<boolean>;
  /** Set by invalidation: the bytes may be outdated, so they must not enter the cache. */
  stale = false;
  readonly body: ObjectBody;

  private receivedBytes = 0;
  private failure: Error | undefined;
  private wakeups: Array<() => void> = [];

  constructor(private readonly options: BlockFillOptions) {
    this.body = options.body;
    this.completed = this.readAll().then(
      () => this.end(undefined),
      (err: unknown) => this.end(err instanceof S3Error ? err : new S3Error('BadGateway', { message: 'The upstream body failed.', cause: err })),
    );
  }

  /** Yields bytes [start, endExclusive) of the block as they arrive, as views of its buffer; throws if the fill fails. */
  async *read(start: number, endExclusive: number): AsyncGenerator<Buffer> {
    let position = start;
    while (position < endExclusive) {
      if (this.receivedBytes > position) {
        const until = Math.min(this.receivedBytes, endExclusive);
        yield this.body.bytes.subarray(position, until);
        position = until;
      } else if (this.failure) {
        throw this.failure;
      } else {
        await new Promise<void>((resolve) => this.wakeups.push(resolve));
      }
    }
  }

  private async readAll(): Promise<void> {
    const { source: first, resume, sourceMayContinue, onBytes } = this.options;
    const size = this.body.size;
    let source = first;
    let resumed = false;
    for (;;) {
      let overflowed = false;
      try {
        for await (const chunk of source) {
          const buf = chunk as Buffer;
          const room = size - this.receivedBytes;
          if (buf.length > room && !sourceMayContinue) {
            overflowed = true;
            throw new S3Error('BadGateway', { message: 'The upstream sent more bytes than its Content-Length.' });
          }
          const used = buf.length > room ? buf.subarray(0, room) : buf;
          used.copy(this.body.bytes, this.receivedBytes);
          this.receivedBytes += used.length;
          onBytes?.(used.length);
          // The last bytes reach readers once the block is known intact and cached: a reader that has
          // them all finds the block in the cache.
          if (this.receivedBytes < size) this.wake();
          if (this.receivedBytes === size && sourceMayContinue) break;
        }
        if (this.receivedBytes === size) {
          discardBody(source);
          return;
        }
        throw new S3Error('BadGateway', { message: 'The upstream body ended before its Content-Length.' });
      } catch (err) {
        discardBody(source);
        // Every byte arrived: a source failing only after that (before its end) takes nothing from them.
        if (this.receivedBytes === size && !overflowed) return;
        if (resumed || resume === undefined || overflowed) throw err;
        resumed = true;
        source = await resume(this.receivedBytes);
      }
    }
  }

  private end(failure: Error | undefined): boolean {
    this.failure = failure;
    if (failure === undefined) this.options.onIntact?.(this.body);
    this.options.release();
    this.wake();
    return failure === undefined;
  }

  private wake(): void {
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const wakeup of wakeups) wakeup();
  }
}
