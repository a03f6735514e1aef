import type { Readable } from 'node:stream';

const ignore = (): void => {};

/**
 * Throws away a body nobody will read: an upstream or peer answer, a form part, a request body.
 * Destroying a stream can emit 'error' after the fact (undici emits RequestAbortedError even
 * when the body had fully arrived), and an 'error' with no listener kills the process, so a
 * listener is attached first. Every discarded body goes through here.
 */
export function discardBody(body: Readable | undefined): void {
  if (body === undefined) return;
  body.on('error', ignore);
  if (!body.destroyed) body.destroy();
}

/**
 * Reads a body to its end without keeping it (so a keep-alive connection can be reused), never
 * more than `maxBytes`: past that it is destroyed instead. Errors are swallowed.
 */
export function drainBody(body: Readable, maxBytes = 64 * 1024): void {
  body.on('error', ignore);
  let seen = 0;
  body.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > maxBytes) body.destroy();
  });
  body.resume();
}
