import { Transform, type TransformCallback } from 'node:stream';

/**
 * A Transform that always keeps the newest piece of the body back until `finish` has checked
 * the whole of it: if a check fails, the receiver never gets the complete body, so an upstream
 * reading it with a Content-Length sees a short request and stores nothing.
 */
export abstract class HeldBackTransform extends Transform {
  private held: Buffer | undefined;

  /** Passes on the previously held piece and keeps this one. */
  protected hold(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.held !== undefined) this.push(this.held);
    this.held = piece;
  }

  /** Runs the final checks, then releases the last piece. */
  protected abstract finish(): Promise<void>;

  protected releaseAfter(callback: TransformCallback): void {
    this.finish().then(
      () => {
        if (this.held !== undefined) this.push(this.held);
        this.held = undefined;
        callback();
      },
      (err: unknown) => callback(err as Error),
    );
  }
}
