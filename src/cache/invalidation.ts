import type { Logger } from 'pino';
import type { PeerClient } from './peer-client.js';

export interface InvalidationFanoutOptions {
  peers: PeerClient;
  /** The current peers, without this node. */
  others: () => readonly string[];
  logger: Logger;
  /** Pause between retries to a peer that could not be reached. */
  retryDelayMs?: number;
  /** How long a failed invalidation is retried before it is given up (the TTL still bounds staleness). */
  retryForMs?: number;
}

type Keys = ReadonlyArray<readonly [string, string]>;

/** Sends invalidations to every peer, retrying in the background while a peer is briefly unreachable. */
export class InvalidationFanout {
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(private readonly options: InvalidationFanoutOptions) {}

  /**
   * Resolves once every live peer was tried once; failures keep being retried afterwards. Peers in
   * back-off are not waited for: they are tried in the background.
   */
  async broadcast(keys: Keys): Promise<void> {
    if (keys.length === 0) return;
    const now = Date.now();
    const attempts: Array<Promise<void>> = [];
    for (const peer of this.options.others()) {
      const attempt = this.send(peer, keys, now);
      if (this.options.peers.isUp(peer)) attempts.push(attempt);
    }
    await Promise.all(attempts);
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private async send(peer: string, keys: Keys, firstTryMs: number): Promise<void> {
    try {
      await this.options.peers.invalidate(peer, keys);
    } catch (err) {
      const retryForMs = this.options.retryForMs ?? 30_000;
      if (Date.now() - firstTryMs > retryForMs) {
        this.options.logger.error({ peer, keys: keys.length, err }, 'invalidation given up');
        return;
      }
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        void this.send(peer, keys, firstTryMs);
      }, this.options.retryDelayMs ?? 500);
      timer.unref();
      this.timers.add(timer);
    }
  }
}
