import type { Logger } from 'pino';
import { Agent, type Dispatcher } from 'undici';
import { completeBodiesBeforePausing } from '../http/complete-bodies.js';
import { drainBody } from '../http/discard-body.js';
import type { UpstreamResponse } from '../upstream/upstream.js';
import type { PeerAuth } from './peer-auth.js';

export const PEER_OBJECT_PATH = '/_falcon/peer/object';
export const PEER_INVALIDATE_PATH = '/_falcon/peer/invalidate';
/** Set by an owner on an error it relays from the upstream, as opposed to a failure of the owner itself. */
export const UPSTREAM_ERROR_HEADER = 'x-falcon-upstream-error';

/** The peer could not answer: the caller should go to the upstream itself. */
export class PeerUnavailableError extends Error {
  constructor(
    readonly peer: string,
    options: { cause?: unknown; message?: string } = {},
  ) {
    super(options.message ?? `peer ${peer} is unavailable`, { cause: options.cause });
    this.name = 'PeerUnavailableError';
  }
}

export interface PeerClientOptions {
  auth: PeerAuth;
  /** Connect and response-header timeout for peer requests. */
  timeoutMs: number;
  logger: Logger;
  now?: () => number;
}

interface PeerHealth {
  failures: number;
  downUntilMs: number;
}

const MIN_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;

/** HTTP client for the peer API, over undici keep-alive pools, with a circuit breaker per peer. */
export class PeerClient {
  private readonly agent: Dispatcher;
  private readonly health = new Map<string, PeerHealth>();
  private readonly now: () => number;

  constructor(private readonly options: PeerClientOptions) {
    this.now = options.now ?? Date.now;
    this.agent = new Agent({
      connect: { timeout: options.timeoutMs },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000,
    }).compose(completeBodiesBeforePausing);
  }

  /** False while a peer is in back-off after failures; it is tried again once the back-off has passed. */
  isUp(peer: string): boolean {
    const health = this.health.get(peer);
    return health === undefined || health.downUntilMs <= this.now();
  }

  downPeers(): string[] {
    return [...this.health.entries()].filter(([, h]) => h.downUntilMs > this.now()).map(([peer]) => peer);
  }

  /** Asks the owner for an object; resolves with the owner's 200 or relayed upstream error. */
  async fetchObject(peer: string, bucket: string, key: string): Promise<UpstreamResponse> {
    const path = `${PEER_OBJECT_PATH}?bucket=${encodeURIComponent(bucket)}&key=${encodeURIComponent(key)}`;
    const response = await this.send(peer, 'GET', path);
    if (response.statusCode === 200 || response.headers[UPSTREAM_ERROR_HEADER] !== undefined) {
      this.markUp(peer);
      const { [UPSTREAM_ERROR_HEADER]: _marker, ...headers } = response.headers;
      return { statusCode: response.statusCode, headers, body: response.body };
    }
    drainBody(response.body);
    this.markDown(peer, `answered ${response.statusCode}`);
    throw new PeerUnavailableError(peer, { message: `peer ${peer} answered ${response.statusCode}` });
  }

  /** Tells a peer to drop keys from its caches. */
  async invalidate(peer: string, keys: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const response = await this.send(peer, 'POST', PEER_INVALIDATE_PATH, JSON.stringify({ keys }));
    await response.body.dump();
    if (response.statusCode !== 204) {
      throw new PeerUnavailableError(peer, { message: `peer ${peer} answered ${response.statusCode} to an invalidation` });
    }
    this.markUp(peer);
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private async send(peer: string, method: 'GET' | 'POST', path: string, body?: string) {
    const headers: Record<string, string> = { ...this.options.auth.sign(method, path) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await this.agent.request({ origin: peer, path, method, headers, body });
    } catch (err) {
      this.markDown(peer, (err as Error).message);
      throw new PeerUnavailableError(peer, { cause: err });
    }
  }

  private markDown(peer: string, reason: string): void {
    const health = this.health.get(peer) ?? { failures: 0, downUntilMs: 0 };
    health.failures += 1;
    const backoff = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** (health.failures - 1));
    health.downUntilMs = this.now() + backoff;
    this.health.set(peer, health);
    this.options.logger.warn({ peer, reason, backoffMs: backoff }, 'peer marked down');
  }

  private markUp(peer: string): void {
    if (this.health.delete(peer)) this.options.logger.info({ peer }, 'peer is back');
  }
}
