import { Agent, type Dispatcher } from 'undici';
import { completeBodiesBeforePausing } from '../http/complete-bodies.js';
import { drainBody } from '../http/discard-body.js';
import type { UpstreamResponse } from '../upstream/upstream.js';
import type { PeerAuth } from './peer-auth.js';
import type { PeerHealth } from './peer-health.js';

export const PEER_OBJECT_PATH = '/_falcon/peer/object';
export const PEER_BLOCK_PATH = '/_falcon/peer/block';
export const PEER_INVALIDATE_PATH = '/_falcon/peer/invalidate';
export const PEER_FLUSH_PATH = '/_falcon/peer/flush';
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
  health: PeerHealth;
  /** Connect and response-header timeout for peer requests. */
  timeoutMs: number;
  /** PEM of the CAs trusted for https:// peers, instead of the system's. */
  ca?: string;
}

export interface PeerRequestOptions {
  /** Extra request headers. */
  headers?: Record<string, string>;
  /**
   * Sent to a peer in back-off, as the probe that finds out whether it is back; its failure is the
   * prober's to report. Other requests to a peer in back-off fail at once without being sent.
   */
  probe?: boolean;
}

type Keys = ReadonlyArray<readonly [string, string]>;

/** HTTP client for the peer API, over undici keep-alive pools, sending nothing to peers in back-off. */
export class PeerClient {
  private readonly agent: Dispatcher;

  constructor(private readonly options: PeerClientOptions) {
    this.agent = new Agent({
      connect: { timeout: options.timeoutMs, ...(options.ca === undefined ? {} : { ca: options.ca }) },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000,
    }).compose(completeBodiesBeforePausing);
  }

  /** False while a peer is in back-off after a failure. */
  isUp(peer: string): boolean {
    return this.options.health.isUp(peer);
  }

  downPeers(): string[] {
    return this.options.health.downPeers();
  }

  /** Stops tracking a peer that left the cluster. */
  forget(peer: string): void {
    this.options.health.forget(peer);
  }

  /**
   * Asks the owner for an object as the upstream would answer a HEAD or a GET (a Range header asks
   * for the first block only); resolves with the owner's answer or relayed upstream error.
   */
  async fetchObject(peer: string, bucket: string, key: string, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<UpstreamResponse> {
    const path = `${PEER_OBJECT_PATH}?bucket=${encodeURIComponent(bucket)}&key=${encodeURIComponent(key)}`;
    return this.answerOf(peer, await this.send(peer, method, path, '', { headers }));
  }

  /** Asks a block's owner for one block of one version of an object: a 206, or a relayed 412 when the version is gone. */
  async fetchBlock(peer: string, bucket: string, key: string, etag: string, size: number, index: number): Promise<UpstreamResponse> {
    const query = new URLSearchParams({ bucket, key, etag, size: String(size), index: String(index) });
    return this.answerOf(peer, await this.send(peer, 'GET', `${PEER_BLOCK_PATH}?${query}`, '', {}));
  }

  private answerOf(peer: string, response: Dispatcher.ResponseData): UpstreamResponse {
    if (response.statusCode === 200 || response.statusCode === 206 || response.headers[UPSTREAM_ERROR_HEADER] !== undefined) {
      const { [UPSTREAM_ERROR_HEADER]: _marker, ...headers } = response.headers;
      return { statusCode: response.statusCode, headers, body: response.body };
    }
    drainBody(response.body);
    throw this.failed(peer, `answered ${response.statusCode}`, {});
  }

  /** Tells a peer to drop keys from its caches (an empty list only asks whether it answers). */
  async invalidate(peer: string, keys: Keys, options: PeerRequestOptions = {}): Promise<void> {
    await this.expectNoContent(peer, PEER_INVALIDATE_PATH, JSON.stringify({ keys }), options);
  }

  /** Tells a peer to drop its whole cache, when it missed more invalidations than were kept for it. */
  async flush(peer: string, options: PeerRequestOptions = {}): Promise<void> {
    await this.expectNoContent(peer, PEER_FLUSH_PATH, '', options);
  }

  close(): Promise<void> {
    // Probes may be waiting on a peer that never answers; nothing else is in flight at shutdown.
    return this.agent.destroy();
  }

  private async expectNoContent(peer: string, path: string, body: string, options: PeerRequestOptions): Promise<void> {
    const response = await this.send(peer, 'POST', path, body, options);
    drainBody(response.body);
    if (response.statusCode !== 204) throw this.failed(peer, `answered ${response.statusCode} to ${path}`, options);
  }

  private async send(peer: string, method: 'GET' | 'HEAD' | 'POST', path: string, body: string, options: PeerRequestOptions) {
    if (!options.probe && !this.options.health.isUp(peer)) {
      throw new PeerUnavailableError(peer, { message: `peer ${peer} is in back-off` });
    }
    const headers: Record<string, string> = { ...options.headers, ...this.options.auth.sign(method, path, body) };
    if (method === 'POST') headers['content-type'] = 'application/json';
    try {
      return await this.agent.request({ origin: peer, path, method, headers, body: method === 'POST' ? body : undefined });
    } catch (err) {
      throw this.failed(peer, (err as Error).message, options, err);
    }
  }

  private failed(peer: string, reason: string, options: PeerRequestOptions, cause?: unknown): PeerUnavailableError {
    if (!options.probe) this.options.health.reportFailure(peer, reason);
    return new PeerUnavailableError(peer, { message: `peer ${peer}: ${reason}`, cause });
  }
}
