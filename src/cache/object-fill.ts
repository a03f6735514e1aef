import type { Readable } from 'node:stream';
import { S3Error } from '../errors.js';
import { discardBody } from '../http/discard-body.js';
import { headerValue, type UpstreamResponse } from '../upstream/upstream.js';
import { type ObjectMeta, objectMetaFrom } from './object-meta.js';

/** Error bodies from the upstream are small XML documents; anything longer is cut here. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

export type FillHead =
  /** 200 with a body every subscriber reads from memory as it arrives. */
  | { kind: 'shared'; meta: ObjectMeta }
  /** 200 too large (or over budget) to share: the live body goes to one caller only. */
  | { kind: 'unshared'; meta: ObjectMeta }
  /** Any other status: replayed to every subscriber, never cached. */
  | { kind: 'error'; statusCode: number; headers: UpstreamResponse['headers']; body: Buffer };

export interface ObjectFillOptions {
  fetch: () => Promise<UpstreamResponse>;
  /** Decides whether a 200 of this size is read into memory and shared; reserves what it admits. */
  admit: (meta: ObjectMeta) => boolean;
  /** Gives back what admit reserved, once the fill has ended either way. */
  release: (meta: ObjectMeta) => void;
  /** When the body fails midway, fetches the rest of the same object (bytes from `offset` on) from elsewhere. */
  resume?: (meta: ObjectMeta, offset: number) => Promise<Readable>;
}

/**
 * One upstream GET of an object, shared by every request that arrives while it runs.
 * The body is read as fast as the upstream sends it, independent of any one client, and each
 * subscriber reads the chunks received so far and then waits for more.
 */
export class ObjectFill {
  readonly head: Promise<FillHead>;
  /** Resolves to the whole body once a shared fill completed intact, or undefined if it failed. */
  readonly completed: Promise<Buffer | undefined>;
  /** Set by invalidation: the bytes may be outdated, so they must not enter the cache. */
  stale = false;

  private readonly chunks: Buffer[] = [];
  private receivedBytes = 0;
  private finished = false;
  private failure: Error | undefined;
  private wakeups: Array<() => void> = [];
  private liveBody: Readable | undefined;
  private resolveCompleted!: (body: Buffer | undefined) => void;

  constructor(private readonly options: ObjectFillOptions) {
    this.completed = new Promise((resolve) => {
      this.resolveCompleted = resolve;
    });
    this.head = this.start();
    this.head.catch(() => this.resolveCompleted(undefined));
  }

  /** Hands the live body of an unshared fill to its one reader; later callers get undefined. */
  takeLiveBody(): Readable | undefined {
    const body = this.liveBody;
    this.liveBody = undefined;
    return body;
  }

  /** Yields bytes [start, endExclusive) of a shared fill as they arrive; throws if the upstream body fails. */
  async *read(start: number, endExclusive: number): AsyncGenerator<Buffer> {
    let index = 0;
    let offset = 0;
    if (start >= endExclusive) return;
    for (;;) {
      while (index < this.chunks.length) {
        const chunk = this.chunks[index++] as Buffer;
        const chunkStart = offset;
        offset += chunk.length;
        if (offset <= start) continue;
        yield chunk.subarray(Math.max(0, start - chunkStart), Math.min(chunk.length, endExclusive - chunkStart));
        if (offset >= endExclusive) return;
      }
      if (this.failure) throw this.failure;
      if (this.finished) return;
      await new Promise<void>((resolve) => this.wakeups.push(resolve));
    }
  }

  private async start(): Promise<FillHead> {
    const response = await this.options.fetch();
    if (response.statusCode !== 200) {
      const body = await readBounded(response.body, MAX_ERROR_BODY_BYTES).catch(() => Buffer.alloc(0));
      this.resolveCompleted(undefined);
      return { kind: 'error', statusCode: response.statusCode, headers: response.headers, body };
    }
    const length = Number(headerValue(response.headers, 'content-length'));
    if (!Number.isSafeInteger(length) || length < 0) {
      discardBody(response.body);
      throw new S3Error('BadGateway', { message: 'The upstream answered without a valid Content-Length.' });
    }
    const meta = objectMetaFrom(response.headers, length);
    if (/no-store/i.test(meta.headers['cache-control'] ?? '') || !this.options.admit(meta)) {
      this.liveBody = response.body;
      this.resolveCompleted(undefined);
      return { kind: 'unshared', meta };
    }
    this.pump(response.body, meta);
    return { kind: 'shared', meta };
  }

  private pump(body: Readable, meta: ObjectMeta): void {
    void this.readAll(body, meta).then(
      () => this.end(meta, undefined),
      (err: unknown) => this.end(meta, err instanceof S3Error ? err : new S3Error('BadGateway', { message: 'The upstream body failed.', cause: err })),
    );
  }

  /** Reads the body into chunks; after a failure midway, reads the rest through `resume` once. */
  private async readAll(first: Readable, meta: ObjectMeta): Promise<void> {
    let source = first;
    let resumed = false;
    for (;;) {
      try {
        for await (const chunk of source) {
          const buf = chunk as Buffer;
          this.receivedBytes += buf.length;
          if (this.receivedBytes > meta.size) {
            throw new S3Error('BadGateway', { message: 'The upstream sent more bytes than its Content-Length.' });
          }
          this.chunks.push(buf);
          this.wake();
        }
        if (this.receivedBytes === meta.size) return;
        throw new S3Error('BadGateway', { message: 'The upstream body ended before its Content-Length.' });
      } catch (err) {
        discardBody(source);
        if (resumed || this.options.resume === undefined || this.receivedBytes > meta.size) throw err;
        resumed = true;
        source = await this.options.resume(meta, this.receivedBytes);
      }
    }
  }

  private end(meta: ObjectMeta, failure: Error | undefined): void {
    this.options.release(meta);
    if (failure) {
      this.failure = failure;
      this.resolveCompleted(undefined);
    } else {
      this.finished = true;
      this.resolveCompleted(Buffer.concat(this.chunks, this.receivedBytes));
    }
    this.wake();
  }

  private wake(): void {
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const wakeup of wakeups) wakeup();
  }
}

export async function readBounded(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (total + buf.length > maxBytes) {
      chunks.push(buf.subarray(0, maxBytes - total));
      total = maxBytes;
      discardBody(body);
      break;
    }
    chunks.push(buf);
    total += buf.length;
  }
  return Buffer.concat(chunks, total);
}
