import { hostname, networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { Cluster } from './cluster.js';
import { InvalidationFanout } from './invalidation.js';
import { Membership } from './membership.js';
import { PeerAuth } from './peer-auth.js';
import { PeerClient } from './peer-client.js';
import { PeerHealth } from './peer-health.js';
import type { ClusterConfig } from '../config.js';

export interface ClusterSetup {
  cluster: Cluster;
  auth: PeerAuth;
}

/** Builds the cluster parts for a node listening on `host:port`, and resolves its first members. */
export async function setUpCluster(config: ClusterConfig, host: string, port: number, logger: Logger): Promise<ClusterSetup> {
  const log = logger.child({ module: 'peers' });
  const auth = new PeerAuth(config.secret);
  // A peer in back-off is probed by delivering the invalidations it missed, so it is up again only once it has them.
  const health: PeerHealth = new PeerHealth({ logger: log, probe: (peer): Promise<void> => fanout.deliverMissed(peer) });
  const peers = new PeerClient({ auth, health, timeoutMs: config.peerTimeoutMs, ca: config.peerCa });
  const listening = selfMatcher(host, port);
  const membership = new Membership({
    staticPeers: config.peers,
    isSelf: (origin) => origin === config.advertiseUrl || listening(origin),
    fallbackSelf: config.advertiseUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    dns: config.peersDns && { ...config.peersDns, port },
    logger: log,
  });
  await membership.start();
  const fanout = new InvalidationFanout({ peers, others: () => membership.others(), logger: log });
  log.info({ self: membership.self, members: membership.members() }, 'cluster members');
  return { cluster: new Cluster({ membership, peers, health, fanout }), auth };
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/**
 * Recognises this node's own origin among peers: its port on one of its names. A node bound to
 * one address is known by that address only; a node bound to all of them by every interface
 * address and the machine's host name.
 */
export function selfMatcher(host: string, port: number): (origin: string) => boolean {
  const bound = host.toLowerCase().replace(/^\[|\]$/g, '');
  const names = new Set([bound]);
  if (bound === 'localhost') {
    names.add('127.0.0.1');
    names.add('::1');
  }
  if (WILDCARDS.has(bound)) {
    names.add('localhost');
    names.add(hostname().toLowerCase());
    for (const addresses of Object.values(networkInterfaces())) {
      for (const address of addresses ?? []) names.add(address.address.toLowerCase());
    }
  }
  return (origin) => {
    const url = new URL(origin);
    const originPort = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    return originPort === port && names.has(url.hostname.replace(/^\[|\]$/g, '').toLowerCase());
  };
}
