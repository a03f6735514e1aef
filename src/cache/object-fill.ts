import type { Readable } from 'node:stream';
import { S3Error } from '../errors.js';
import { discardBody } from '../http/discard-body.js';
import { headerValue, type UpstreamResponse } from '../upstream/upstream.js';
import type { ObjectBody } from './object-body.js';
import { type ObjectMeta, objectMetaFrom } from './object-meta.js';

/** Error bodies from the upstream are small XML documents; anything longer is cut here. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

export type FillHead =
  /** 200 read into one buffer of the object's size that every subscriber reads as bytes arrive. */
  | { kind: 'shared'; meta: ObjectMeta; body: ObjectBody }
  /** 200 too large (or over budget) to share: the live body goes to one caller only. */
  | { kind: 'unshared'; meta: ObjectMeta }
  /** 304 to a conditional GET: the cached copy it was sent for is still current. */
  | { kind: 'not-modified' }
  /** Any other status: replayed to every subscriber, never cached. */
  | { kind: 'error'; statusCode: number; headers: UpstreamResponse['headers']; body: Buffer };

export interface ObjectFillOptions {
  fetch: () => Promise<UpstreamResponse>;
  /**
   * Decides whether a 200 of this size is read into memory and shared: a body reserved against the
   * memory budget, held by the fill until it ends, or undefined to stream it to one caller instead.
   */
  admit: (meta: ObjectMeta) => { body: ObjectBody; release: () => void } | undefined;
  /** When the body fails midway, fetches the rest of the same object (bytes from `offset` on) from elsewhere. */
  resume?: (meta: ObjectMeta, offset: number) => Promise<Readable>;
}

/**
 * One upstream GET of an object, shared by every request that arrives while it runs.
 * The body is read as fast as the upstream sends it, independent of any one client, into a buffer
 * of the object's size; each subscriber reads the bytes received so far and then waits for more.
 */
export class ObjectFill {
  readonly head: Promise<FillHead>;
  /** Resolves to the whole body once a shared fill completed intact, or undefined if it failed. */
  readonly completed: Promise<ObjectBody | undefined>;
  /** Set by invalidation: the bytes may be outdated, so they must not enter the cache. */
  stale = false;

  private body: ObjectBody | undefined;
  private receivedBytes = 0;
  private failure: Error | undefined;
  private wakeups: Array<() => void> = [];
  private liveBody: Readable | undefined;
  private resolveCompleted!: (body: ObjectBody | undefined) => void;

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

  /**
   * Yields bytes [start, endExclusive) of a shared fill as they arrive, as views of the fill's one
   * buffer (hold the body for as long as they are in use); throws if the upstream body fails.
   */
  async *read(start: number, endExclusive: number): AsyncGenerator<Buffer> {
    const body = this.body;
    if (body === undefined) throw new Error('read() of a fill that is not shared');
    let position = start;
    while (position < endExclusive) {
      if (this.receivedBytes > position) {
        const until = Math.min(this.receivedBytes, endExclusive);
        yield body.bytes.subarray(position, until);
        position = until;
      } else if (this.failure) {
        throw this.failure;
      } else {
        await new Promise<void>((resolve) => this.wakeups.push(resolve));
      }
    }
  }

  private async start(): Promise<FillHead> {
    const response = await this.options.fetch();
    if (response.statusCode === 304) {
      await readBounded(response.body, MAX_ERROR_BODY_BYTES).catch(() => undefined);
      this.resolveCompleted(undefined);
      return { kind: 'not-modified' };
    }
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
    const admitted = /no-store/i.test(meta.headers['cache-control'] ?? '') ? undefined : this.options.admit(meta);
    if (admitted === undefined) {
      this.liveBody = response.body;
      this.resolveCompleted(undefined);
      return { kind: 'unshared', meta };
    }
    this.body = admitted.body;
    void this.readAll(response.body, meta, admitted.body).then(
      () => this.end(admitted, undefined),
      (err: unknown) =>
        this.end(admitted, err instanceof S3Error ? err : new S3Error('BadGateway', { message: 'The upstream body failed.', cause: err })),
    );
    return { kind: 'shared', meta, body: admitted.body };
  }

  /** Reads the body into the buffer; after a failure midway, reads the rest through `resume` once. */
  private async readAll(first: Readable, meta: ObjectMeta, body: ObjectBody): Promise<void> {
    let source = first;
    let resumed = false;
    let overflowed = false;
    for (;;) {
      try {
        for await (const chunk of source) {
          const buf = chunk as Buffer;
          if (this.receivedBytes + buf.length > meta.size) {
            overflowed = true;
            throw new S3Error('BadGateway', { message: 'The upstream sent more bytes than its Content-Length.' });
          }
          buf.copy(body.bytes, this.receivedBytes);
          this.receivedBytes += buf.length;
          this.wake();
        }
        if (this.receivedBytes === meta.size) return;
        throw new S3Error('BadGateway', { message: 'The upstream body ended before its Content-Length.' });
      } catch (err) {
        discardBody(source);
        if (resumed || this.options.resume === undefined || overflowed) throw err;
        resumed = true;
        source = await this.options.resume(meta, this.receivedBytes);
      }
    }
  }

  private end(admitted: { body: ObjectBody; release: () => void }, failure: Error | undefined): void {
    this.failure = failure;
    this.resolveCompleted(failure ? undefined : admitted.body);
    admitted.release();
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
