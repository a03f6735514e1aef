import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { S3Error } from '../errors.js';

export interface BodyPace {
  /**
   * Longest wait for the client's next byte while Falcon is ready to take it; also the length of
   * the windows over which `minBytesPerSecond` is averaged.
   */
  idleTimeoutMs: number;
  /** Fewest bytes per second the client must average over each window of waiting; 0 turns the check off. */
  minBytesPerSecond: number;
}

export interface RequestBodyReaderOptions extends BodyPace {
  now?: () => number;
}

/**
 * Reads a client's request body for whoever consumes it. Only time spent waiting for the client
 * counts, not time the consumer holds the body back (a slow upstream): a wait longer than the idle
 * timeout, or a window of waiting that brought fewer bytes than the minimum rate, fails the body
 * with RequestTimeout, so a silent or trickling client cannot hold a connection (and an upstream
 * one) forever. A client that goes away fails it with IncompleteBody.
 *
 * Failing or destroying the reader leaves the request itself alone (it stops being read), so an
 * error can still be answered on its connection.
 */
export class RequestBodyReader extends Readable {
  private readonly now: () => number;
  /** The consumer asked for more and the last push did not fill its buffer. */
  private wanted = false;
  private waitingSince: number | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private windowWaitMs = 0;
  private windowBytes = 0;

  private readonly onReadable = (): void => this.pump();
  private readonly onEnd = (): void => {
    this.stopWaiting();
    this.push(null);
  };
  private readonly onError = (err: Error): void => {
    this.destroy(new S3Error('IncompleteBody', { message: 'The connection closed before the request body was complete.', cause: err }));
  };
  private readonly onClose = (): void => {
    if (!this.req.complete) this.onError(new Error('request closed'));
  };

  constructor(private readonly req: IncomingMessage, private readonly options: RequestBodyReaderOptions) {
    super();
    this.now = options.now ?? Date.now;
    req.on('readable', this.onReadable);
    req.on('end', this.onEnd);
    req.on('error', this.onError);
    req.on('close', this.onClose);
  }

  override _read(): void {
    this.wanted = true;
    this.pump();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.stopWaiting();
    this.req.off('readable', this.onReadable);
    this.req.off('end', this.onEnd);
    this.req.off('close', this.onClose);
    // The 'error' listener stays: a request that fails later must not find none.
    callback(err);
  }

  private pump(): void {
    while (this.wanted && !this.destroyed) {
      const chunk = this.req.read() as Buffer | null;
      if (chunk === null) {
        // A request the parser has seen to its end only has its 'end' event to come.
        if (!this.req.complete) this.startWaiting();
        return;
      }
      this.stopWaiting();
      this.windowBytes += chunk.length;
      if (!this.rateKept()) return;
      this.wanted = this.push(chunk);
    }
  }

  private startWaiting(): void {
    if (this.waitingSince !== undefined) return;
    this.waitingSince = this.now();
    this.idleTimer = setTimeout(() => this.destroy(requestTimeout()), this.options.idleTimeoutMs);
    this.idleTimer.unref();
  }

  private stopWaiting(): void {
    if (this.waitingSince === undefined) return;
    this.windowWaitMs += this.now() - this.waitingSince;
    this.waitingSince = undefined;
    clearTimeout(this.idleTimer);
  }

  /** At the end of each window of waiting, checks that it brought enough bytes; destroys the reader if not. */
  private rateKept(): boolean {
    const { idleTimeoutMs, minBytesPerSecond } = this.options;
    if (this.windowWaitMs < idleTimeoutMs) return true;
    if (this.windowBytes < (minBytesPerSecond * this.windowWaitMs) / 1000) {
      this.destroy(requestTimeout());
      return false;
    }
    this.windowWaitMs = 0;
    this.windowBytes = 0;
    return true;
  }
}

function requestTimeout(): S3Error {
  return new S3Error('RequestTimeout');
}
