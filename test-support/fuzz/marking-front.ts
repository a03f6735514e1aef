import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Set on every response the front relays from the upstream: a 5xx without it is the node's own. */
export const UPSTREAM_MARKER = 'x-fuzz-upstream-status';

export interface RelayedResponse {
  method: string;
  /** Decoded path, e.g. /bucket/key. */
  path: string;
  status: number;
  at: number;
}

/** The front could not get an answer from the upstream and cut the node's request off. */
export interface TransportFailure {
  method: string;
  path: string;
  reason: string;
  at: number;
}

/** Enough for a whole run: a node's 5xx is explained from what its upstream answered once the run is over. */
const KEEP_RELAYED = 200_000;
const NOTICE_MS = 1000;
/** Nearly the nodes' upstream timeout: a node that waited this long gave up on a slow upstream. */
const SLOW_UPSTREAM_MS = 4000;

function decodePath(url: string): string {
  const q = url.indexOf('?');
  const raw = q === -1 ? url : url.slice(0, q);
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * A relay between the nodes and the upstream that marks every upstream answer, so the node's own
 * 5xx can be told from relayed ones, and remembers recent statuses and failures to explain them.
 * While the upstream is down it cuts connections off, as a dead upstream would.
 */
export class MarkingFront {
  readonly relayed: RelayedResponse[] = [];
  readonly failures: TransportFailure[] = [];
  readonly received: Array<{ method: string; path: string; url: string; at: number }> = [];
  url = '';
  private target: URL | undefined;
  private server: Server | undefined;
  private readonly agent = new Agent({ keepAlive: true });

  setTarget(endpoint: string | undefined): void {
    this.target = endpoint === undefined ? undefined : new URL(endpoint);
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => this.relay(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  /**
   * Whether the upstream failed a request (or was unreachable) at any moment in [from, to], give or
   * take the moment the front takes to notice that a node gave up.
   */
  failedDuring(from: number, to: number): boolean {
    return this.failures.some((f) => f.at >= from && f.at <= to + NOTICE_MS);
  }

  /** What the front saw of requests for `path` in [from, to]: for a finding's report. */
  historyOf(path: string, from: number, to: number): string {
    const within = (r: { path: string; at: number }): boolean => r.path === path && r.at >= from && r.at <= to + NOTICE_MS;
    const events = [
      ...this.received.filter(within).map((r) => [r.at, `${r.method} ${r.url.slice(r.url.indexOf('?') === -1 ? r.url.length : r.url.indexOf('?'))} received`] as const),
      ...this.relayed.filter(within).map((r) => [r.at, `${r.method} answered ${r.status}`] as const),
      ...this.failures.filter(within).map((r) => [r.at, `${r.method} failed: ${r.reason}`] as const),
    ].sort((a, b) => a[0] - b[0]);
    return events.length === 0 ? 'the upstream saw nothing' : `the upstream saw ${events.map(([at, what]) => `+${at - from}ms ${what}`).join(', ')}`;
  }

  /** The statuses the upstream gave to `method path` since `from`. */
  statusesSince(method: string, path: string, from: number): number[] {
    return this.relayed.filter((r) => r.method === method && r.path === path && r.at >= from).map((r) => r.status);
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
    this.agent.destroy();
  }

  private relay(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const path = decodePath(url);
    this.received.push({ method, path, url, at: Date.now() });
    if (this.received.length > KEEP_RELAYED) this.received.splice(0, this.received.length - KEEP_RELAYED);
    const fail = (reason: string): void => {
      this.failures.push({ method, path, reason, at: Date.now() });
      req.resume();
      res.destroy();
    };
    const target = this.target;
    if (target === undefined) {
      fail('upstream down');
      return;
    }
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method, path: url, headers: req.headers, agent: this.agent },
      (upstreamRes) => {
        answered = true;
        const status = upstreamRes.statusCode ?? 502;
        this.relayed.push({ method, path, status, at: Date.now() });
        if (this.relayed.length > KEEP_RELAYED) this.relayed.splice(0, this.relayed.length - KEEP_RELAYED);
        upstreamRes.on('error', () => (nodeGone ? res.destroy() : fail('upstream response failed')));
        res.writeHead(status, { ...upstreamRes.headers, [UPSTREAM_MARKER]: String(status) });
        // Headers go on at once, as the upstream sent them, even when its body is slow to follow.
        res.flushHeaders();
        upstreamRes.pipe(res);
      },
    );
    // When the node gives up on a request, the upstream request is cut off: not an upstream failure.
    let nodeGone = false;
    const cutOff = (): void => {
      nodeGone = true;
      upstream.destroy();
    };
    upstream.on('error', (err) => (nodeGone ? res.destroy() : fail(err.message)));
    const startedAt = Date.now();
    let answered = false;
    res.on('close', () => {
      if (res.writableFinished) return;
      // The node gave up on an answer (or the rest of a body) the upstream was slow to give: the upstream's failure.
      if (Date.now() - startedAt >= SLOW_UPSTREAM_MS) {
        this.failures.push({ method, path, reason: answered ? 'body stalled' : 'no answer in time', at: Date.now() });
      }
      cutOff();
    });
    req.on('error', cutOff);
    req.on('close', () => {
      if (!req.complete) cutOff();
    });
    req.pipe(upstream);
  }
}
