import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { type DirectHit, type FalconNode, PEER_PREFIX } from './node.js';
import { drainBody } from './http/discard-body.js';
import { attachHitLane, type DirectAnswer, type LaneHost } from './http/hit-lane.js';
import type { HeadRequest } from './http/request-head.js';
import { OverloadGuard, type OverloadOptions } from './http/overload.js';
import { errorXml } from './s3/xml.js';

/** The whole request head (request line and headers) a client may send; S3 allows about 8 KiB of headers. */
export const MAX_REQUEST_HEAD_BYTES = 16 * 1024;

export interface ServeOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Closes a connection that neither sends nor reads for this long: stalled downloads and uploads. */
  clientIdleTimeoutMs: number;
  /** When the node sheds new requests with 503 SlowDown. */
  overload: OverloadOptions;
  logger: Logger;
}

export interface ServingNode {
  /** Base URL clients use, e.g. http://127.0.0.1:8080. */
  url: string;
  port: number;
  /**
   * Stops serving. New connections are refused at once and idle ones closed; with `graceMs`, responses
   * in flight may finish for that long (each connection closes as its last response ends), after which
   * every connection is cut. Without it, every connection is cut at once.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** Attaches the node to an HTTP server, listens, and drains connections on close. */
export async function serve(node: FalconNode, options: ServeOptions): Promise<ServingNode> {
  const server = createServer({
    requestTimeout: 0,
    headersTimeout: 60_000,
    keepAliveTimeout: 65_000,
    maxHeaderSize: MAX_REQUEST_HEAD_BYTES,
  });
  const connections = new Connections();
  // server.close() would also cut every connection node deems idle, which includes one still sending
  // a response written with a single end(buffer); the drain below decides that per connection instead.
  server.closeIdleConnections = () => {};
  server.setTimeout(options.clientIdleTimeoutMs);
  const overload = new OverloadGuard(options.overload);
  const lane: LaneHost = {
    mayAnswer: (socket) => connections.idle(socket),
    answer(request, socket) {
      const admitted = isExempt(request.url) ? NOT_COUNTED : overload;
      if (admitted === overload && !overload.admit()) return undefined;
      const hit = directHitOrNone(node, request, options.logger);
      if (hit === undefined) {
        admitted.done();
        return undefined;
      }
      const finished = connections.beginDirect(socket, admitted);
      if (!(hit instanceof Promise)) return directAnswerOf(hit, finished);
      return { later: hit.then((read) => (read === undefined ? undefined : directAnswerOf(read, finished))), declined: finished };
    },
  };
  const laneOptions = { keepAliveTimeoutMs: server.keepAliveTimeout, headersTimeoutMs: server.headersTimeout, maxHeadBytes: MAX_REQUEST_HEAD_BYTES };
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    attachHitLane(socket, lane, laneOptions);
  });
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const admitted = isExempt(req.url ?? '') ? undefined : overload.admit();
    // One listener per response does all the bookkeeping of its end.
    connections.begin(req, res, admitted === true ? overload : undefined);
    if (admitted === false) {
      slowDown(req, res);
      return;
    }
    node.handle(req, res);
  };
  server.on('request', onRequest);
  // "Expect: 100-continue" is answered by the handler once the request is authenticated; any other
  // expectation is ignored, as S3 does, instead of node's bare 417.
  server.on('checkContinue', onRequest);
  server.on('checkExpectation', onRequest);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket, options.logger));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => options.logger.error({ err }, 'server error'));
  const address = server.address() as AddressInfo;
  await node.listening({ host: options.host, port: address.port });
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${options.host === 'localhost' ? 'localhost' : hostForUrl}:${address.port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    close(closeOptions = {}) {
      closing ??= (async () => {
        node.drain();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        const graceMs = closeOptions.graceMs ?? 0;
        if (graceMs > 0) {
          connections.drain();
          const timer = setTimeout(() => connections.destroyAll(), graceMs);
          await closed;
          clearTimeout(timer);
        } else {
          connections.destroyAll();
          await closed;
        }
        overload.close();
        await node.close();
      })();
      return closing;
    },
  };
}

/** A throw on the direct path is a bug, and must not take the process down: node:http answers the request instead. */
function directHitOrNone(node: FalconNode, request: HeadRequest, logger: Logger): ReturnType<FalconNode['directHit']> {
  try {
    return node.directHit(request);
  } catch (err) {
    logger.error({ err, url: request.url }, 'direct answer failed; node:http answers the request');
    return undefined;
  }
}

function directAnswerOf(hit: DirectHit, finished: () => void): DirectAnswer {
  return {
    headers: hit.headers,
    requestId: hit.requestId,
    body: hit.body,
    done() {
      hit.release?.();
      finished();
    },
  };
}

/**
 * Liveness and readiness probes are answered even when the node sheds load, and so are requests from
 * other nodes: each of those stands for a client request a peer already admitted under its own limit,
 * and refusing it would only make the peer read from the upstream itself.
 */
function isExempt(url: string): boolean {
  return url === '/healthz' || url === '/readyz' || url.startsWith(PEER_PREFIX);
}

/** What an exempt request's answer tells when it is done: nothing was counted for it. */
const NOT_COUNTED = { done(): void {} };

function slowDown(req: IncomingMessage, res: ServerResponse): void {
  drainBody(req);
  const body = errorXml({
    code: 'SlowDown',
    message: 'Please reduce your request rate.',
    resource: (req.url ?? '/').split('?')[0] ?? '/',
    requestId: randomBytes(8).toString('hex').toUpperCase(),
    details: {},
  });
  res.writeHead(503, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), 'retry-after': '1', connection: 'close' });
  res.end(body);
}

/**
 * The open connections and how many responses each has in flight, so that a draining server closes
 * a connection when (and only when) its last response has gone out.
 */
class Connections {
  /** Per open connection, the responses node:http is answering and the answers of the hit lane still being sent. */
  private readonly inFlight = new Map<Socket, { node: number; direct: number }>();
  private draining = false;

  add(socket: Socket): void {
    this.inFlight.set(socket, { node: 0, direct: 0 });
    socket.once('close', () => this.inFlight.delete(socket));
  }

  /** Counts the response on its connection until it closes, and then tells `admitted` it is done. */
  begin(req: IncomingMessage, res: ServerResponse, admitted: { done(): void } | undefined): void {
    const counts = this.inFlight.get(req.socket);
    if (counts !== undefined) counts.node++;
    if (this.draining) res.setHeader('connection', 'close');
    res.once('close', () => {
      if (counts !== undefined) counts.node--;
      this.finish(req.socket, admitted);
    });
    req.once('close', () => closeIfQueuedOnDeadConnection(req, res));
  }

  /** Counts an answer of the hit lane on its connection; the function returned ends it, once its bytes left. */
  beginDirect(socket: Socket, admitted: { done(): void }): () => void {
    const counts = this.inFlight.get(socket);
    if (counts !== undefined) counts.direct++;
    return () => {
      if (counts !== undefined) counts.direct--;
      this.finish(socket, admitted);
    };
  }

  /**
   * True when node:http answers nothing on the connection and the server is not draining: the lane may
   * answer next (its own answers still being sent go out in order anyway).
   */
  idle(socket: Socket): boolean {
    return !this.draining && this.inFlight.get(socket)?.node === 0;
  }

  private finish(socket: Socket, admitted: { done(): void } | undefined): void {
    admitted?.done();
    const counts = this.inFlight.get(socket);
    // The response's bytes are with the kernel, so ending the socket sends them and then closes,
    // without waiting for the client to ask for another request.
    if (this.draining && counts !== undefined && counts.node + counts.direct === 0) socket.end();
  }

  /** Closes idle connections now and every other one as soon as its responses have gone out. */
  drain(): void {
    this.draining = true;
    for (const [socket, counts] of this.inFlight) if (counts.node + counts.direct === 0) socket.destroy();
  }

  destroyAll(): void {
    for (const socket of this.inFlight.keys()) socket.destroy();
  }
}

/**
 * node:http never closes a response still queued behind an earlier one (a pipelined request) when the
 * connection goes: it would wait for a socket forever, and what its reader holds with it. Closed here
 * as node closes the response in progress.
 */
function closeIfQueuedOnDeadConnection(req: IncomingMessage, res: ServerResponse): void {
  if (res.socket !== null || res.writableFinished || !req.socket.destroyed || res.destroyed) return;
  res.destroy();
  res.emit('close');
}

/**
 * Answers a request node's HTTP parser refused (headers too large, an invalid Content-Length, broken
 * framing) with an S3 error document, when no response has started on the connection yet.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket, logger: Logger): void {
  logger.debug({ err: { code: err.code, message: err.message } }, 'client error');
  // node keeps the response in progress on the socket; a started one cannot be followed by another.
  const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (!socket.writable || current?.headersSent === true || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const [status, reason, code, message] = describeClientError(err);
  const body = errorXml({ code, message, resource: '/', requestId: randomBytes(8).toString('hex').toUpperCase(), details: {} });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function describeClientError(err: NodeJS.ErrnoException): [number, string, string, string] {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return [400, 'Bad Request', 'RequestHeaderSectionTooLarge', `Your request header section exceeds the maximum allowed size (${MAX_REQUEST_HEAD_BYTES} bytes with the request line).`];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      return [400, 'Bad Request', 'RequestTimeout', 'Your socket connection to the server was not read from or written to within the timeout period.'];
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return [400, 'Bad Request', 'InvalidArgument', 'The Content-Length header is not valid.'];
    default:
      return [400, 'Bad Request', 'InvalidRequest', 'The request is not valid HTTP/1.1.'];
  }
}
