import { Resolver } from 'node:dns/promises';
import type { Logger } from 'pino';

export interface DnsDiscovery {
  /** A name whose A/AAAA records are the nodes, or an SRV name (`_falcon._tcp.name`) giving hosts and ports. */
  name: string;
  /** Port of the nodes found through A/AAAA records. */
  port: number;
  intervalMs: number;
  /** DNS servers to ask (host or host:port); the system's when empty. */
  servers: readonly string[];
}

export interface MembershipOptions {
  /** Peers from --peers, normalised origins; may include this node. */
  staticPeers: readonly string[];
  /** Whether an origin is this node. */
  isSelf: (origin: string) => boolean;
  /** This node's origin when no listed member is recognised as it. */
  fallbackSelf: string;
  dns?: DnsDiscovery;
  logger: Logger;
}

/** The nodes of the cluster: the static --peers list plus what --peers-dns resolves to, re-resolved periodically. */
export class Membership {
  private discovered: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private current: readonly string[];
  private staticPeers: readonly string[];
  private selfOrigin: string;

  constructor(private readonly options: MembershipOptions) {
    this.staticPeers = options.staticPeers;
    this.selfOrigin = options.staticPeers.find(options.isSelf) ?? options.fallbackSelf;
    this.current = this.compute();
  }

  /** This node's origin as the other members know it. */
  get self(): string {
    return this.selfOrigin;
  }

  /**
   * Replaces the static peer list (and, when given, the origin the others know this node by): nodes
   * started on port 0 learn each other's addresses only after they listen.
   */
  setStaticPeers(peers: readonly string[], self?: string): void {
    this.staticPeers = peers;
    this.selfOrigin = self ?? peers.find(this.options.isSelf) ?? this.selfOrigin;
    this.current = this.compute();
  }

  /** All members, this node included, sorted. */
  members(): readonly string[] {
    return this.current;
  }

  others(): string[] {
    return this.current.filter((m) => m !== this.self);
  }

  async start(): Promise<void> {
    if (this.options.dns === undefined) return;
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.dns.intervalMs);
    this.timer.unref();
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private async refresh(): Promise<void> {
    const dns = this.options.dns;
    if (dns === undefined) return;
    try {
      this.discovered = await resolveMembers(dns);
    } catch (err) {
      this.options.logger.warn({ err, name: dns.name }, 'peer DNS lookup failed; keeping the last members');
      return;
    }
    const next = this.compute();
    if (next.join() !== this.current.join()) {
      const added = next.filter((m) => !this.current.includes(m));
      const removed = this.current.filter((m) => !next.includes(m));
      this.options.logger.info({ members: next, added, removed }, 'membership changed');
      this.current = next;
    }
  }

  private compute(): readonly string[] {
    const all = new Set<string>([this.self, ...this.staticPeers]);
    for (const member of this.discovered) all.add(this.options.isSelf(member) ? this.self : member);
    return [...all].sort();
  }
}

async function resolveMembers(dns: DnsDiscovery): Promise<string[]> {
  const resolver = new Resolver({ timeout: Math.min(2_000, dns.intervalMs), tries: 2 });
  if (dns.servers.length > 0) resolver.setServers([...dns.servers]);
  if (dns.name.startsWith('_')) {
    const records = await resolver.resolveSrv(dns.name);
    const members: string[] = [];
    for (const record of records) {
      for (const address of await addresses(resolver, record.name)) members.push(origin(address, record.port));
    }
    return members;
  }
  return (await addresses(resolver, dns.name)).map((address) => origin(address, dns.port));
}

async function addresses(resolver: Resolver, name: string): Promise<string[]> {
  const results = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
  const found = results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
  if (found.length === 0) {
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    throw failure?.reason ?? new Error(`no addresses for ${name}`);
  }
  return found;
}

function origin(address: string, port: number): string {
  return address.includes(':') ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}
