import type { Readable } from 'node:stream';
import type { BlockFill } from '../cache/block-fill.js';
import type { ObjectBody } from '../cache/object-body.js';
import { S3Error } from '../errors.js';
import { discardBody } from '../http/discard-body.js';
import type { BlockLayout } from './ranges.js';

/** One block ready to be read: bytes in memory (whole, or arriving through a fill), or a stream of its own. */
export type AcquiredBlock =
  | { kind: 'memory'; body: ObjectBody; fill: BlockFill | undefined; release: () => void }
  /** Over the budget (or never cached): fetched only when the reader reaches it, straight to that reader. */
  | { kind: 'live'; open: (from: number, endExclusive: number) => Promise<Readable> };

/** Bytes to send; `release` (on the last slice of a block) may run once they reached the client's socket. */
export interface Slice {
  bytes: Buffer;
  release?: () => void;
}

/**
 * An object's bytes as slices of cached or filling buffers. Sent with sendSlices, which releases each
 * block once its bytes were written out: a buffer nothing holds is reused for another block.
 */
export class SliceStream {
  constructor(readonly slices: AsyncGenerator<Slice>) {}
}

export interface BlockStreamOptions {
  /** Runs a release once the response is closed: for a block whose slices may still be on their way. */
  releaseWhenClosed: (release: () => void) => void;
  layout: BlockLayout;
  size: number;
  /** Bytes [start, endExclusive) of the object. */
  start: number;
  endExclusive: number;
  /** Blocks acquired ahead of the one being sent. */
  readahead: number;
  acquire: (index: number) => Promise<AcquiredBlock>;
  /** The first block, when the caller acquired it already. */
  first?: AcquiredBlock;
}

/**
 * Yields an object's bytes in order, block by block, with up to `readahead` blocks being fetched
 * ahead in parallel. Each block is held (counted by the budget) from its acquisition until its last
 * slice was sent, or the response closed; blocks acquired but never sent are released at the end.
 */
export async function* blockStream(options: BlockStreamOptions): AsyncGenerator<Slice> {
  const { layout, size, start, endExclusive, readahead, acquire } = options;
  const firstIndex = layout.indexOf(start);
  const lastIndex = layout.indexOf(endExclusive - 1);
  const window: Array<Promise<AcquiredBlock>> = [];
  let next = firstIndex;
  if (options.first !== undefined) {
    window.push(Promise.resolve(options.first));
    next++;
  }
  const refill = (): void => {
    while (next <= lastIndex && window.length < Math.max(1, readahead)) {
      const acquiring = acquire(next++);
      acquiring.catch(() => undefined);
      window.push(acquiring);
    }
  };
  // With the first block in hand, its first bytes go out before any block ahead is asked for:
  // signing and sending those requests would delay them, and their answers would compete with it.
  let aheadStarted = options.first === undefined;
  let ended = false;
  const startAhead = (): void => {
    aheadStarted = true;
    // After the write of the first bytes reached the socket (the response flushes on the next tick).
    setImmediate(() => {
      if (!ended) refill();
    });
  };
  try {
    for (let index = firstIndex; index <= lastIndex; index++) {
      if (aheadStarted || window.length === 0) {
        aheadStarted = true;
        refill();
      }
      const block = await (window.shift() as Promise<AcquiredBlock>);
      const blockStart = layout.start(index);
      const from = Math.max(start, blockStart) - blockStart;
      const to = Math.min(endExclusive, blockStart + layout.length(index, size)) - blockStart;
      if (block.kind === 'live') {
        for await (const bytes of exactly(await block.open(from, to), to - from)) {
          yield { bytes };
          if (!aheadStarted) startAhead();
        }
        continue;
      }
      let handedOver = false;
      try {
        const source = block.fill === undefined ? [block.body.bytes.subarray(from, to)] : block.fill.read(from, to);
        let sent = from;
        for await (const bytes of source) {
          sent += bytes.length;
          if (sent === to) {
            handedOver = true;
            yield { bytes, release: block.release };
          } else yield { bytes };
          if (!aheadStarted) startAhead();
        }
      } finally {
        // Slices of it may still be on their way to the client.
        if (!handedOver) options.releaseWhenClosed(block.release);
      }
    }
  } finally {
    ended = true;
    for (const pending of window) {
      pending.then(
        (block) => {
          if (block.kind === 'memory') block.release();
        },
        () => undefined,
      );
    }
  }
}

/** The bytes of a live block's validated stream, failing (so the response is cut) if it ends short or runs long. */
async function* exactly(stream: Readable, length: number): AsyncGenerator<Buffer> {
  stream.on('error', ignore);
  let received = 0;
  try {
    for await (const chunk of stream) {
      const buf = chunk as Buffer;
      received += buf.length;
      if (received > length) throw new S3Error('BadGateway', { message: 'The upstream sent more bytes than asked for.' });
      yield buf;
    }
  } finally {
    discardBody(stream);
  }
  if (received !== length) throw new S3Error('BadGateway', { message: 'The upstream body ended early.' });
}

const ignore = (): void => {};
