import type { FuzzCase } from './fuzz-case.js';
import { connect } from 'node:net';
import { type ParsedResponse, type RequestFraming, ResponseReader } from './http-framing.js';

/** How the bytes of a request are sent. */
export type Delivery =
  | { kind: 'whole' }
  /** In `pieces` writes `gapMs` apart, so the server sees partial reads. */
  | { kind: 'split'; pieces: number; gapMs: number }
  /** Only the first `bytes`, then the connection is closed (FIN) or reset. */
  | { kind: 'truncate'; bytes: number; close: 'fin' | 'reset' }
  /** All of it, then a reset `afterMs` later whether or not an answer came. */
  | { kind: 'abort-after-send'; afterMs: number };

export type SendEnd =
  /** At least one whole response arrived. */
  | 'response'
  /** The server closed the connection without a whole response. */
  | 'server-closed'
  /** The request was whole, and nothing came back in time. */
  | 'timeout'
  /** The request was incomplete and the client gave up waiting, as it should. */
  | 'client-gave-up'
  /** The client closed or reset the connection on purpose (truncation, abort). */
  | 'client-closed'
  | 'refused';

export interface SendOutcome {
  end: SendEnd;
  responses: ParsedResponse[];
  /** A response that started but was cut off. */
  partial: ParsedResponse | undefined;
  startedAt: number;
  endedAt: number;
}

export interface SendOptions {
  port: number;
  delivery: Delivery;
  framing: RequestFraming;
  /** How long a whole request may go unanswered before it counts as a hang. */
  answerTimeoutMs: number;
  /** How long to wait for an early answer to an incomplete request before giving up on it. */
  incompleteGraceMs: number;
  /** How the client gives up on an incomplete request. */
  giveUp: 'fin' | 'reset';
}

/** Sends a fuzz case as its delivery and framing say, to the node it targets. */
export function sendCase(c: FuzzCase, timeouts: Pick<SendOptions, 'answerTimeoutMs' | 'incompleteGraceMs'>): Promise<SendOutcome> {
  return sendRaw(c.bytes, { port: c.target.port, delivery: c.delivery, framing: c.framing, giveUp: c.giveUp, ...timeouts });
}

const LINGER_MS = 150;
const CLOSE_WAIT_MS = 1000;

/** Sends raw bytes on a fresh connection and reads what comes back. */
export function sendRaw(bytes: Buffer, options: SendOptions): Promise<SendOutcome> {
  const startedAt = Date.now();
  const reader = new ResponseReader(options.framing.method === 'HEAD');
  const pipelined = options.framing.kind === 'complete' && options.framing.leftover > 0;
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port: options.port });
    socket.setNoDelay(true);
    let done = false;
    let connected = false;
    let timer: NodeJS.Timeout | undefined;
    let clientClosed = false;
    const finish = (end: SendEnd): void => {
      if (done) return;
      done = true;
      if (timer !== undefined) clearTimeout(timer);
      socket.destroy();
      const ended: SendEnd = reader.responses.length > 0 && end !== 'refused' ? 'response' : end;
      resolve({ end: ended, responses: reader.responses, partial: reader.partial, startedAt, endedAt: Date.now() });
    };
    const arm = (ms: number, end: () => void): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(end, ms);
    };
    const afterSend = (): void => {
      if (done || clientClosed) return;
      if (options.framing.kind === 'incomplete') {
        arm(options.incompleteGraceMs, () => {
          if (options.giveUp === 'reset') {
            clientClosed = true;
            socket.resetAndDestroy();
            finish('client-gave-up');
            return;
          }
          clientClosed = true;
          socket.end();
          arm(CLOSE_WAIT_MS, () => finish('client-gave-up'));
        });
      } else arm(options.answerTimeoutMs, () => finish('timeout'));
    };
    socket.on('connect', () => {
      connected = true;
      const delivery = options.delivery;
      switch (delivery.kind) {
        case 'whole':
          socket.write(bytes, afterSend);
          return;
        case 'split': {
          const size = Math.max(1, Math.ceil(bytes.length / delivery.pieces));
          const pieces: Buffer[] = [];
          for (let at = 0; at < bytes.length; at += size) pieces.push(bytes.subarray(at, at + size));
          const next = (): void => {
            if (done) return;
            const piece = pieces.shift();
            if (piece === undefined) {
              afterSend();
              return;
            }
            socket.write(piece, () => setTimeout(next, delivery.gapMs));
          };
          next();
          return;
        }
        case 'truncate':
          socket.write(bytes.subarray(0, delivery.bytes), () => {
            clientClosed = true;
            if (delivery.close === 'reset') {
              socket.resetAndDestroy();
              finish('client-closed');
              return;
            }
            socket.end();
            arm(CLOSE_WAIT_MS, () => finish('client-closed'));
          });
          return;
        case 'abort-after-send':
          socket.write(bytes, () => {
            arm(delivery.afterMs, () => {
              clientClosed = true;
              socket.resetAndDestroy();
              finish('client-closed');
            });
          });
          return;
      }
    });
    socket.on('data', (data: Buffer) => {
      reader.push(data);
      if (reader.responses.length === 0) return;
      if (pipelined) arm(LINGER_MS, () => finish('response'));
      else finish('response');
    });
    socket.on('end', () => {
      reader.end();
      finish(clientClosed ? 'client-closed' : 'server-closed');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected && err.code === 'ECONNREFUSED') finish('refused');
      else finish(clientClosed ? 'client-closed' : 'server-closed');
    });
    socket.on('close', () => finish(clientClosed ? 'client-closed' : 'server-closed'));
  });
}
