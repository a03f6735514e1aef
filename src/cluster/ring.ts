import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest-random-weight) hashing: each key belongs to the member with the highest
 * hash of (member, key). Every node computes the same owner from the same member list, and a
 * member joining or leaving moves only the keys it wins or held (about 1/n of them).
 */
export class RendezvousRing {
  private readonly members: readonly string[];

  constructor(members: Iterable<string>) {
    this.members = [...new Set(members)].sort();
  }

  get size(): number {
    return this.members.length;
  }

  list(): readonly string[] {
    return this.members;
  }

  /** The owner of `key`, or undefined for an empty ring. */
  owner(key: string): string | undefined {
    let best: string | undefined;
    let bestScore = -1n;
    for (const member of this.members) {
      const score = weight(member, key);
      if (score > bestScore) {
        best = member;
        bestScore = score;
      }
    }
    return best;
  }
}

function weight(member: string, key: string): bigint {
  return createHash('sha256').update(member).update('\u0000').update(key).digest().readBigUInt64BE(0);
}
