import type { Socket } from 'node:net';
import { bodyLengthOf, HEAD_END, type HeadRequest, isHeaderField, parsePlainRequest } from './request-head.js';

/**
 * The direct hit path. node:http spends more CPU on a small answer than Falcon spends verifying its
 * signature and finding it in the cache, so a plain GET or HEAD of a cached object is answered here, from
 * the request head as it arrives on the socket, in one write; every other request goes to node:http
 * unchanged. The lane sits between the socket and node's parser: it passes node every byte it does not
 * answer, and answers only a request that starts where node's parser stands between two requests with
 * nothing in flight, so node never sees part of a request and answers keep the order of requests.
 *
 * The lane takes node's own 'data' listener off the socket and calls it itself (adding a 'data' listener is
 * how node:http is told to stop reading the socket natively). When it cannot tell where a request passed to
 * node ends (chunked bodies, conflicting lengths, upgrades, malformed heads), it gives the connection back to
 * node for good.
 */

export interface DirectAnswer {
  /** Response header fields after the status line, alternating names and values: the same array for every answer of one cached version. */
  headers: readonly string[];
  requestId: string;
  /** Undefined for HEAD. */
  body: Buffer | undefined;
  /** Called once, when the answer has left or the connection is gone. */
  done: () => void;
}

/** An answer that needs a wait (a read through another node): the lane holds the connection's next bytes meanwhile. */
export interface DeferredAnswer {
  /** Settles with the answer, or undefined when node:http is to answer the request after all. */
  later: Promise<DirectAnswer | undefined>;
  /** Called once when `later` brought no answer: after node:http was given the request, or once the connection is gone. */
  declined: () => void;
}

export interface LaneHost {
  /** The answer to a plain request, now or later, or undefined to leave it to node:http (which then answers it in full). */
  answer(request: HeadRequest, socket: Socket): DirectAnswer | DeferredAnswer | undefined;
  /** Whether node:http is between responses on this socket and the lane may answer the next request. */
  mayAnswer(socket: Socket): boolean;
}

export interface LaneOptions {
  /** node:http's keepAliveTimeout, announced in an answer on a socket without a timeout of its own. */
  keepAliveTimeoutMs: number;
  /** node:http's headersTimeout: a head the lane holds that long goes to node, whose own timeout then runs. */
  headersTimeoutMs: number;
  /** The largest request head; a longer one is node's to refuse. */
  maxHeadBytes: number;
}

type NodeOnData = (chunk: Buffer) => void;

/** Bodies up to this size are copied behind their head to go out in one write; larger ones are written after it. */
const COPY_BODY_BYTES = 16 * 1024;

/**
 * Puts a lane on a connection node:http has just taken. Returns false (and changes nothing) when node's
 * listeners are not as expected, so an unknown node version degrades to plain node:http.
 */
export function attachHitLane(socket: Socket, host: LaneHost, options: LaneOptions): boolean {
  const listeners = socket.listeners('data');
  if (listeners.length !== 1) return false;
  const nodeOnData = listeners[0] as NodeOnData;
  const lane = new HitLane(socket, nodeOnData, host, options);
  socket.removeListener('data', nodeOnData);
  socket.on('data', lane.onData);
  socket.once('close', lane.onClose);
  return true;
}

class HitLane {
  /** Bytes of the head of a request passed to node, until its blank line. */
  private partialHead: Buffer | undefined;
  /** Body bytes of the request passed to node still to come. */
  private bodyLeft = 0;
  /** Bytes held back while the socket drains answers already written. */
  private held: Buffer | undefined;
  /** The start of a request head, held until the rest of it arrives. */
  private headStart: Buffer | undefined;
  private headTimer: NodeJS.Timeout | undefined;
  /** Set while a deferred answer is awaited: what arrives meanwhile joins `held`. */
  private waiting = false;
  private readonly pending = new Set<() => void>();

  constructor(
    private readonly socket: Socket,
    private readonly nodeOnData: NodeOnData,
    private readonly host: LaneHost,
    private readonly options: LaneOptions,
  ) {}

  /**
   * How long the connection may idle, as its Keep-Alive header tells: the socket's own timeout, which node
   * sets to its keepAliveTimeout after each of its answers and which the lane leaves as it finds it.
   */
  private idleSeconds(): number {
    const timeoutMs = this.socket.timeout;
    return Math.floor((timeoutMs === undefined || timeoutMs === 0 ? this.options.keepAliveTimeoutMs : timeoutMs) / 1000);
  }

  readonly onData = (chunk: Buffer): void => {
    if (this.waiting) {
      this.held = this.held === undefined ? chunk : Buffer.concat([this.held, chunk]);
      return;
    }
    const data = this.takeHeadStart(chunk);
    if (this.partialHead === undefined && this.bodyLeft === 0 && this.host.mayAnswer(this.socket)) this.answerFrom(data);
    else this.passToNode(data);
  };

  readonly onClose = (): void => {
    this.held = undefined;
    this.takeHeadStart(undefined);
    for (const done of [...this.pending]) done();
  };

  /** Answers the plain hits at the start of `data`, then passes the rest to node. */
  private answerFrom(data: Buffer): void {
    let offset = 0;
    while (offset < data.length) {
      if (this.socket.writableNeedDrain) {
        this.holdUntilDrained(data.subarray(offset));
        return;
      }
      const end = data.indexOf(HEAD_END, offset);
      if (end === -1 || end - offset > this.options.maxHeadBytes) break;
      const request = parsePlainRequest(data.toString('latin1', offset, end));
      const answer = request === undefined ? undefined : this.host.answer(request, this.socket);
      if (answer === undefined) break;
      if ('later' in answer) {
        this.await(answer, offset === 0 ? data : data.subarray(offset), end + HEAD_END.length - offset);
        return;
      }
      const fields = fieldsOf(answer.headers);
      if (fields === undefined) {
        answer.done();
        break;
      }
      this.write(answer, fields);
      offset = end + HEAD_END.length;
    }
    if (offset === data.length) return;
    const rest = offset === 0 ? data : data.subarray(offset);
    if (rest.length <= this.options.maxHeadBytes && rest.indexOf(HEAD_END) === -1) this.holdHeadStart(rest);
    else this.passToNode(rest);
  }

  /**
   * Holds `rest` (the request's head of `headBytes`, then whatever followed it) and the connection's reading
   * until the answer comes: then writes it and goes on with what follows, or passes it all to node:http.
   */
  private await(deferred: DeferredAnswer, rest: Buffer, headBytes: number): void {
    this.waiting = true;
    this.held = rest;
    this.socket.pause();
    const settled = (answer: DirectAnswer | undefined): void => {
      this.waiting = false;
      const held = this.held ?? rest;
      this.held = undefined;
      if (this.socket.destroyed) {
        if (answer === undefined) deferred.declined();
        else answer.done();
        return;
      }
      this.socket.resume();
      const fields = answer === undefined ? undefined : fieldsOf(answer.headers);
      if (answer === undefined || fields === undefined) {
        // node:http counts the request as its own before the lane lets go of it.
        this.passToNode(held);
        if (answer === undefined) deferred.declined();
        else answer.done();
        return;
      }
      this.write(answer, fields);
      if (held.length > headBytes) this.onData(held.subarray(headBytes));
    };
    // Should going on throw, the connection is cut rather than the rejection left unhandled.
    deferred.later.then(settled, () => settled(undefined)).catch(() => this.socket.destroy());
  }

  /** Keeps the start of a head for the next chunk; should the rest not come in time, node gets it and times it out. */
  private holdHeadStart(start: Buffer): void {
    this.headStart = start;
    this.headTimer = setTimeout(() => {
      const held = this.takeHeadStart(undefined);
      if (held !== undefined && !this.socket.destroyed) this.passToNode(held);
    }, this.options.headersTimeoutMs);
    this.headTimer.unref();
  }

  /** The held start of a head followed by `chunk`, and nothing held any more. */
  private takeHeadStart(chunk: Buffer): Buffer;
  private takeHeadStart(chunk: undefined): Buffer | undefined;
  private takeHeadStart(chunk: Buffer | undefined): Buffer | undefined {
    const start = this.headStart;
    if (start === undefined) return chunk;
    clearTimeout(this.headTimer);
    this.headStart = undefined;
    this.headTimer = undefined;
    return chunk === undefined ? start : Buffer.concat([start, chunk]);
  }

  private holdUntilDrained(rest: Buffer): void {
    this.held = rest;
    this.socket.pause();
    this.socket.once('drain', () => {
      const held = this.held;
      this.held = undefined;
      if (held === undefined || this.socket.destroyed) return;
      this.socket.resume();
      this.onData(held);
    });
  }

  /** Gives `data` to node, keeping track of where node's parser will stand after it. */
  private passToNode(data: Buffer): void {
    if (!this.track(data)) this.giveBack();
    this.nodeOnData(data);
  }

  /** Follows request framing through `data`; false when it can no longer tell where requests end. */
  private track(data: Buffer): boolean {
    let rest = data;
    while (rest.length > 0) {
      if (this.bodyLeft > 0) {
        const taken = Math.min(this.bodyLeft, rest.length);
        this.bodyLeft -= taken;
        rest = rest.subarray(taken);
        continue;
      }
      const before = this.partialHead?.length ?? 0;
      const head = this.partialHead === undefined ? rest : Buffer.concat([this.partialHead, rest]);
      const end = head.indexOf(HEAD_END);
      if (end === -1) {
        if (head.length > this.options.maxHeadBytes) return false;
        this.partialHead = Buffer.from(head);
        return true;
      }
      const bodyLength = bodyLengthOf(head.toString('latin1', 0, end));
      if (bodyLength === undefined) return false;
      this.partialHead = undefined;
      this.bodyLeft = bodyLength;
      rest = rest.subarray(end + HEAD_END.length - before);
    }
    return true;
  }

  /** From now on node reads this connection alone, as if the lane had never been there. */
  private giveBack(): void {
    this.socket.removeListener('data', this.onData);
    this.socket.on('data', this.nodeOnData);
  }

  private write(answer: DirectAnswer, fields: string): void {
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      this.pending.delete(done);
      answer.done();
    };
    this.pending.add(done);
    const head = `HTTP/1.1 200 OK\r\n${fields}x-amz-request-id: ${answer.requestId}\r\nDate: ${httpDate()}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=${this.idleSeconds()}\r\n\r\n`;
    const body = answer.body;
    if (body !== undefined && body.length > COPY_BODY_BYTES) {
      this.socket.cork();
      this.socket.write(head, 'latin1');
      this.socket.write(body, done);
      this.socket.uncork();
      return;
    }
    // One buffer for the head and a small body: one allocation, one system call.
    const bodyLength = body?.length ?? 0;
    const bytes = Buffer.allocUnsafe(head.length + bodyLength);
    bytes.write(head, 0, 'latin1');
    if (body !== undefined) body.copy(bytes, head.length);
    this.socket.write(bytes, done);
  }
}

const fieldsText = new WeakMap<readonly string[], string | null>();

/** The header lines of `headers`, made once per array; undefined when node would refuse one of them. */
function fieldsOf(headers: readonly string[]): string | undefined {
  let text = fieldsText.get(headers);
  if (text === undefined) {
    text = '';
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = headers[i] as string;
      const value = headers[i + 1] as string;
      if (!isHeaderField(name, value)) {
        text = null;
        break;
      }
      text += `${name}: ${value}\r\n`;
    }
    fieldsText.set(headers, text);
  }
  return text ?? undefined;
}

let dateSecond = -1;
let dateText = '';

/** The Date header's value, made once a second as node makes it. */
function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}
