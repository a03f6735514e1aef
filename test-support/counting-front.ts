import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A misbehaviour the front applies to the next requests that match. */
export type Fault =
  | { kind: 'delay'; ms: number }
  /** Sends the headers and the first `bytes` of the body, then resets the connection. */
  | { kind: 'truncate'; bytes: number }
  /** Answers with this status and an S3 XML error without asking the upstream. */
  | { kind: 'status'; statusCode: number; code: string }
  /** Relays the body in `pieces` parts, `gapMs` apart, so a test can see bytes arrive before the end. */
  | { kind: 'slow-body'; pieces: number; gapMs: number }
  /** Relays the answer chunked, without its Content-Length. */
  | { kind: 'no-content-length' }
  /** Relays the upstream's answer with these headers set (an upstream that misreports what it stored). */
  | { kind: 'response-headers'; headers: Record<string, string> }
  /** Forwards the request without this header, as an upstream that ignores it would answer. */
  | { kind: 'drop-header'; name: string }
  /** Answers with `Connection: close` and closes the connection once the body is sent, as S3 does at times. */
  | { kind: 'connection-close' }
  /** Closes the connection on receiving the request, without an answer (a kept-alive connection closed under it). */
  | { kind: 'reset' }
  /**
   * Forwards the request to another object's decoded path, so the object seems replaced at once. s3rver
   * rewrites an object's file in place and a read during the write gets torn bytes; S3 swaps versions atomically.
   */
  | { kind: 'serve-path'; path: string }
  /** Forwards the request only once `until` resolves, so a test decides what happens at the upstream first. */
  | { kind: 'hold'; until: Promise<void> };

export interface FaultRule {
  method?: string;
  /** Decoded path to match, e.g. /bucket/key. */
  path?: string;
  fault: Fault;
  /** How many matching requests get the fault; unlimited when undefined. */
  times?: number;
}

/**
 * An HTTP front before a real S3 server: forwards every request unchanged, counts them by
 * method and decoded path, and injects faults on demand.
 */
export class CountingFront {
  readonly requests: Array<{ method: string; path: string; query: string; headers: IncomingMessage['headers'] }> = [];
  private rules: FaultRule[] = [];
  private readonly inFlight = new Map<string, number>();
  /** The most requests of each method that were in progress at once since the last reset. */
  readonly peakInFlight = new Map<string, number>();
  /** Response body bytes received from the upstream so far, all requests together. */
  bytesRelayed = 0;
  /** True while a slow-body fault is still sending, so a test can tell bytes arrived before the end. */
  slowBodyInProgress = false;
  private server: Server | undefined;
  url = '';

  constructor(private readonly target: URL) {}

  /** Listens on `port` (a free one by default; a closed front's own to bring it back). */
  async start(port = 0): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /** Requests seen with this method (and decoded path, when given). */
  count(method: string, path?: string): number {
    return this.requests.filter((r) => r.method === method && (path === undefined || r.path === path)).length;
  }

  reset(): void {
    this.requests.length = 0;
    this.rules = [];
    this.peakInFlight.clear();
  }

  inject(rule: FaultRule): void {
    this.rules.push({ ...rule });
  }

  /** Holds the upstream's answer to the next request of this method and decoded path until the returned function is called. */
  holdNext(method: string, path: string): () => void {
    let release = (): void => {};
    const until = new Promise<void>((resolve) => (release = resolve));
    this.inject({ method, path, fault: { kind: 'hold', until }, times: 1 });
    return release;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private takeFault(method: string, path: string): Fault | undefined {
    const rule = this.rules.find(
      (r) => (r.method === undefined || r.method === method) && (r.path === undefined || r.path === path) && (r.times ?? 1) > 0,
    );
    if (rule === undefined) return undefined;
    if (rule.times !== undefined) rule.times--;
    return rule.fault;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = decodeURIComponent(q === -1 ? url : url.slice(0, q));
    const method = req.method ?? 'GET';
    const inFlight = (this.inFlight.get(method) ?? 0) + 1;
    this.inFlight.set(method, inFlight);
    this.peakInFlight.set(method, Math.max(inFlight, this.peakInFlight.get(method) ?? 0));
    res.on('close', () => this.inFlight.set(method, (this.inFlight.get(method) ?? 1) - 1));
    this.requests.push({ method, path, query: q === -1 ? '' : url.slice(q + 1), headers: req.headers });
    const fault = this.takeFault(method, path);
    if (fault?.kind === 'delay') await sleep(fault.ms);
    if (fault?.kind === 'hold') await fault.until;
    if (fault?.kind === 'reset') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'status') {
      req.resume();
      const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code}</Code><Message>injected</Message></Error>`;
      res.writeHead(fault.statusCode, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const headers = { ...req.headers };
    if (fault?.kind === 'drop-header') delete headers[fault.name.toLowerCase()];
    const forwardedUrl = fault?.kind === 'serve-path' ? fault.path.split('/').map(encodeURIComponent).join('/') + (q === -1 ? '' : url.slice(q)) : url;
    const upstream = httpRequest(
      { host: this.target.hostname, port: this.target.port, method, path: forwardedUrl, headers },
      (upstreamRes) => void this.relay(upstreamRes, res, fault),
    );
    upstream.on('error', () => res.destroy());
    // A client that gives up mid-request must not leave the upstream request hanging.
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.on('error', () => upstream.destroy());
    req.on('close', () => {
      if (!req.complete) upstream.destroy();
    });
    req.pipe(upstream);
  }

  private async relay(upstreamRes: IncomingMessage, res: ServerResponse, fault: Fault | undefined): Promise<void> {
    upstreamRes.on('error', () => res.destroy());
    if (fault?.kind === 'no-content-length') {
      const { 'content-length': _length, ...headers } = upstreamRes.headers;
      res.writeHead(upstreamRes.statusCode ?? 502, { ...headers, 'transfer-encoding': 'chunked' });
      upstreamRes.pipe(res);
      return;
    }
    upstreamRes.on('data', (chunk: Buffer) => (this.bytesRelayed += chunk.length));
    const headers =
      fault?.kind === 'response-headers'
        ? { ...upstreamRes.headers, ...fault.headers }
        : fault?.kind === 'connection-close'
          ? { ...upstreamRes.headers, connection: 'close' }
          : upstreamRes.headers;
    res.writeHead(upstreamRes.statusCode ?? 502, headers);
    if (fault?.kind !== 'truncate' && fault?.kind !== 'slow-body') {
      upstreamRes.pipe(res);
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of upstreamRes) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    if (fault.kind === 'truncate') {
      res.write(body.subarray(0, fault.bytes));
      await sleep(20);
      res.destroy();
      return;
    }
    const pieceBytes = Math.ceil(body.length / fault.pieces);
    this.slowBodyInProgress = true;
    for (let offset = 0; offset < body.length; offset += pieceBytes) {
      res.write(body.subarray(offset, offset + pieceBytes));
      await sleep(fault.gapMs);
    }
    this.slowBodyInProgress = false;
    res.end();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
