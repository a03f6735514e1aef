import type { Logger } from 'pino';

export interface PeerHealthOptions {
  logger: Logger;
  /**
   * The one request that finds out whether a peer in back-off is back, made when its back-off has
   * passed. Resolving means the peer answered and took what it missed: it is up again. Rejecting
   * doubles the back-off. A peer that is no longer a member is forgotten (`forget`) instead.
   */
  probe: (peer: string) => Promise<void>;
  now?: () => number;
  /** First back-off; it doubles with every failed probe. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** While a peer stays down, at most one log line per this interval, with the count of failures since the last. */
  logIntervalMs?: number;
}

interface DownPeer {
  sinceMs: number;
  backoffMs: number;
  timer: NodeJS.Timeout | undefined;
  reason: string;
  /** Failures since the last log line, and when that line was written. */
  unlogged: number;
  loggedAtMs: number;
}

/**
 * Which peers are in back-off, shared by everything that talks to peers (reads and invalidations):
 * while a peer is down nobody sends it requests but one probe per back-off. Logs transitions, and
 * while a peer stays down a line at most every `logIntervalMs`.
 */
export class PeerHealth {
  private readonly down = new Map<string, DownPeer>();
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly options: PeerHealthOptions) {
    this.now = options.now ?? Date.now;
  }

  isUp(peer: string): boolean {
    return !this.down.has(peer);
  }

  downPeers(): string[] {
    return [...this.down.keys()];
  }

  /** A request to the peer failed: it is down until a probe after its back-off gets through. */
  reportFailure(peer: string, reason: string): void {
    if (this.closed) return;
    const state = this.down.get(peer);
    if (state !== undefined) {
      this.noteFailure(peer, state, reason);
      return;
    }
    const now = this.now();
    const fresh: DownPeer = { sinceMs: now, backoffMs: this.options.minBackoffMs ?? 1_000, timer: undefined, reason, unlogged: 0, loggedAtMs: now };
    this.down.set(peer, fresh);
    this.options.logger.warn({ peer, reason, retryInMs: fresh.backoffMs }, 'peer marked down');
    this.schedule(peer, fresh);
  }

  /** Stops tracking a peer that left the cluster. */
  forget(peer: string): void {
    const state = this.down.get(peer);
    if (state?.timer) clearTimeout(state.timer);
    this.down.delete(peer);
  }

  close(): void {
    this.closed = true;
    for (const peer of [...this.down.keys()]) this.forget(peer);
  }

  private schedule(peer: string, state: DownPeer): void {
    state.timer = setTimeout(() => void this.probe(peer, state), state.backoffMs);
    state.timer.unref();
  }

  private async probe(peer: string, state: DownPeer): Promise<void> {
    state.timer = undefined;
    try {
      await this.options.probe(peer);
    } catch (err) {
      if (this.closed || this.down.get(peer) !== state) return;
      state.backoffMs = Math.min(this.options.maxBackoffMs ?? 30_000, state.backoffMs * 2);
      this.noteFailure(peer, state, (err as Error).message);
      this.schedule(peer, state);
      return;
    }
    if (this.closed || this.down.get(peer) !== state) return;
    this.down.delete(peer);
    this.options.logger.info({ peer, downForMs: this.now() - state.sinceMs, failuresNotLogged: state.unlogged }, 'peer is back');
  }

  private noteFailure(peer: string, state: DownPeer, reason: string): void {
    state.unlogged += 1;
    state.reason = reason;
    const now = this.now();
    if (now - state.loggedAtMs < (this.options.logIntervalMs ?? 30_000)) return;
    this.options.logger.warn({ peer, reason, failures: state.unlogged, downForMs: now - state.sinceMs, retryInMs: state.backoffMs }, 'peer still down');
    state.unlogged = 0;
    state.loggedAtMs = now;
  }
}
