import type { Logger } from 'pino';
import { objectKey } from '../cache/object-cache.js';
import type { PeerClient } from './peer-client.js';

export interface InvalidationFanoutOptions {
  peers: PeerClient;
  /** The current peers, without this node. */
  others: () => readonly string[];
  logger: Logger;
  /**
   * Most distinct keys kept for a peer in back-off; past it they are dropped and the peer is told to
   * drop its whole cache when it is back instead.
   */
  maxQueuedKeys?: number;
  /** Most keys in one invalidation request (a DeleteObjects names up to 1,000). */
  maxKeysPerRequest?: number;
}

type Keys = ReadonlyArray<readonly [string, string]>;

/** What a peer in back-off missed. */
interface Missed {
  keys: Map<string, readonly [string, string]>;
  /** More was missed than is kept: the peer must drop everything. */
  everything: boolean;
}

/**
 * Sends invalidations to every peer. A peer in back-off is sent nothing: what it misses is kept
 * (each key once, up to a bound) and delivered in one go by the probe that ends its back-off, so
 * it is marked up only once it has dropped everything written meanwhile.
 */
export class InvalidationFanout {
  private readonly missed = new Map<string, Missed>();

  constructor(private readonly options: InvalidationFanoutOptions) {}

  /** Resolves once every live peer answered or failed; peers in back-off get the keys when they are back. */
  async broadcast(keys: Keys): Promise<void> {
    if (keys.length === 0) return;
    const { peers } = this.options;
    await Promise.all(
      this.options.others().map(async (peer) => {
        if (!peers.isUp(peer)) return this.keep(peer, keys);
        try {
          await peers.invalidate(peer, keys);
        } catch {
          this.keep(peer, keys);
        }
      }),
    );
  }

  /** The probe of a peer in back-off: delivers what it missed (or an empty list, to see it answers). */
  async deliverMissed(peer: string): Promise<void> {
    const { peers } = this.options;
    if (!this.options.others().includes(peer)) {
      this.missed.delete(peer);
      peers.forget(peer);
      return;
    }
    do {
      const missed = this.missed.get(peer);
      this.missed.delete(peer);
      try {
        if (missed === undefined) await peers.invalidate(peer, [], { probe: true });
        else if (missed.everything) await peers.flush(peer, { probe: true });
        else {
          const keys = [...missed.keys.values()];
          const step = this.options.maxKeysPerRequest ?? 1_000;
          for (let i = 0; i < keys.length; i += step) await peers.invalidate(peer, keys.slice(i, i + step), { probe: true });
        }
      } catch (err) {
        if (missed?.everything) this.keepEverything(peer);
        else if (missed !== undefined) this.keep(peer, [...missed.keys.values()]);
        throw err;
      }
      // Writes made while this was on its way were kept too; the peer is up only once it has them all.
    } while (this.missed.has(peer));
  }

  close(): void {
    this.missed.clear();
  }

  private keep(peer: string, keys: Keys): void {
    const missed = this.missedBy(peer);
    if (missed.everything) return;
    for (const pair of keys) missed.keys.set(objectKey(pair[0], pair[1]), pair);
    if (missed.keys.size > (this.options.maxQueuedKeys ?? 10_000)) this.keepEverything(peer);
  }

  private keepEverything(peer: string): void {
    const missed = this.missedBy(peer);
    if (missed.everything) return;
    missed.everything = true;
    missed.keys.clear();
    this.options.logger.warn({ peer }, 'too many invalidations missed; the peer will drop its whole cache when it is back');
  }

  private missedBy(peer: string): Missed {
    let missed = this.missed.get(peer);
    if (missed === undefined) {
      missed = { keys: new Map(), everything: false };
      this.missed.set(peer, missed);
    }
    return missed;
  }
}
