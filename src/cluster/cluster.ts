import { BoundedMemo } from '../bounded-memo.js';
import type { UpstreamResponse } from '../upstream/upstream.js';
import type { InvalidationFanout } from './invalidation.js';
import type { Membership } from './membership.js';
import type { PeerClient } from './peer-client.js';
import type { PeerHealth } from './peer-health.js';
import { RendezvousRing } from './ring.js';

/** Owners remembered per set of live members; past it they are forgotten and computed again. */
const MAX_REMEMBERED_OWNERS = 10_000;

export interface ClusterOptions {
  membership: Membership;
  peers: PeerClient;
  health: PeerHealth;
  fanout: InvalidationFanout;
}

export interface ClusterStatus {
  self: string;
  members: readonly string[];
  down: string[];
}

/** Who owns a key, how to ask the owner, and how to tell every node about a write. */
export class Cluster {
  /** The ring of the live members last seen, and the owners it gave, until the live members change. */
  private ring: { live: string; owners: BoundedMemo<string, string | undefined>; ownerOf: (key: string) => string | undefined } | undefined;

  constructor(private readonly options: ClusterOptions) {}

  /** The key's owner when it is another live node; undefined when this node owns it. */
  remoteOwner(cacheKey: string): string | undefined {
    const { membership, peers } = this.options;
    const live = membership.members().filter((m) => m === membership.self || peers.isUp(m));
    const liveKey = live.join('\n');
    if (this.ring?.live !== liveKey) {
      const ring = new RendezvousRing(live);
      // Hashing every member with the key costs more than the read of a small cached object.
      this.ring = { live: liveKey, owners: new BoundedMemo(MAX_REMEMBERED_OWNERS), ownerOf: (key) => ring.owner(key) };
    }
    const owner = this.ring.owners.get(cacheKey, this.ring.ownerOf);
    return owner === membership.self ? undefined : owner;
  }

  /** Asks an object's owner what the upstream would answer to a HEAD or a GET (of the first block, with a Range). */
  fetchFromOwner(owner: string, bucket: string, key: string, method: 'GET' | 'HEAD', headers: Record<string, string>): Promise<UpstreamResponse> {
    return this.options.peers.fetchObject(owner, bucket, key, method, headers);
  }

  /** Asks a block's owner for block `index` of one version of an object; answered like a ranged GET pinned with If-Match. */
  fetchBlock(owner: string, bucket: string, key: string, etag: string, size: number, index: number): Promise<UpstreamResponse> {
    return this.options.peers.fetchBlock(owner, bucket, key, etag, size, index);
  }

  broadcastInvalidation(keys: ReadonlyArray<readonly [string, string]>): Promise<void> {
    return this.options.fanout.broadcast(keys);
  }

  /** Sets the cluster's nodes (this one included, as `self` when given), replacing --peers. */
  setPeers(peers: readonly string[], self?: string): void {
    this.options.membership.setStaticPeers(peers, self);
  }

  status(): ClusterStatus {
    const { membership, peers } = this.options;
    return { self: membership.self, members: membership.members(), down: peers.downPeers() };
  }

  async close(): Promise<void> {
    this.options.membership.close();
    this.options.health.close();
    this.options.fanout.close();
    await this.options.peers.close();
  }
}
