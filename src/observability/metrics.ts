import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface CacheGauges {
  bytes: () => number;
  entries: () => number;
}

/**
 * The node's Prometheus metrics, in a registry of its own so several nodes can share a process. Counters of
 * the read path are counted as plain numbers (`counting`) and added to their prom-client counters whenever
 * metrics are read, so a cache hit costs an addition, not a counter update.
 */
export class Metrics {
  private readonly pendingCounts: Array<() => void> = [];
  private readonly addPendingCounts = (): void => {
    for (const add of this.pendingCounts) add();
  };
  readonly registry = new Registry();
  readonly cacheReads: Counter<'outcome'>;
  readonly upstreamRequests: Counter<'method'>;
  readonly blockReads: Counter<'outcome' | 'tier'>;
  readonly upstreamBytes: Counter;
  readonly directHits: Counter;

  constructor(cache: CacheGauges) {
    collectDefaultMetrics({ register: this.registry, prefix: 'falcon_' });
    this.cacheReads = new Counter({
      name: 'falcon_cache_reads_total',
      help: 'Object metadata reads by outcome: hit, miss (asked the upstream), peer (asked the owner), coalesced (joined a request in flight), revalidate (checked a cached entry)',
      labelNames: ['outcome'],
      registers: [this.registry],
      collect: this.addPendingCounts,
    });
    this.upstreamRequests = new Counter({
      name: 'falcon_upstream_requests_total',
      help: 'Requests sent to the upstream S3, by HTTP method',
      labelNames: ['method'],
      registers: [this.registry],
    });
    this.blockReads = new Counter({
      name: 'falcon_block_reads_total',
      help: 'Block reads (a whole small object is one block) by outcome: hit, miss (fetched from the upstream), coalesced (joined a fetch in flight), peer (fetched from its owner), bypass (streamed uncached), and by the cache tier that holds or will hold it: main or hot',
      labelNames: ['outcome', 'tier'],
      registers: [this.registry],
      collect: this.addPendingCounts,
    });
    this.upstreamBytes = new Counter({
      name: 'falcon_upstream_bytes_total',
      help: 'Object bytes read from the upstream into block fills (uncached streams not counted)',
      registers: [this.registry],
    });
    this.directHits = new Counter({
      name: 'falcon_direct_hits_total',
      help: 'Plain reads (GET or HEAD without conditions or ranges) answered straight from the socket, without node:http: hits of cached objects, and small objects read through the node that owns them',
      registers: [this.registry],
      collect: this.addPendingCounts,
    });
    new Gauge({
      name: 'falcon_cache_bytes',
      help: 'Bytes held by the cache (objects, blocks and metadata, main and hot tiers)',
      registers: [this.registry],
      collect() {
        this.set(cache.bytes());
      },
    });
    new Gauge({
      name: 'falcon_cache_entries',
      help: 'Entries held by the cache (metadata and blocks)',
      registers: [this.registry],
      collect() {
        this.set(cache.entries());
      },
    });
  }

  /**
   * An increment of `counter` for the labels an event names, counted as a number until metrics are read.
   * Each label set's child is looked up once.
   */
  counting<Args extends string[], Label extends string>(
    counter: Counter<Label>,
    labels: (...args: Args) => Partial<Record<Label, string>>,
  ): (...args: Args) => void {
    const counts = new Map<string, { child: { inc(value: number): void }; count: number }>();
    this.pendingCounts.push(() => {
      for (const entry of counts.values()) {
        if (entry.count === 0) continue;
        entry.child.inc(entry.count);
        entry.count = 0;
      }
    });
    return (...args) => {
      const id = args.length === 1 ? (args[0] as string) : args.join('\u0000');
      let entry = counts.get(id);
      if (entry === undefined) {
        entry = { child: counter.labels(labels(...args)), count: 0 };
        counts.set(id, entry);
      }
      entry.count++;
    };
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
