import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface CacheGauges {
  bytes: () => number;
  entries: () => number;
}

/** The node's Prometheus metrics, in a registry of its own so several nodes can share a process. */
export class Metrics {
  readonly registry = new Registry();
  readonly cacheReads: Counter<'outcome'>;
  readonly upstreamRequests: Counter<'method'>;

  constructor(cache: CacheGauges) {
    collectDefaultMetrics({ register: this.registry, prefix: 'falcon_' });
    this.cacheReads = new Counter({
      name: 'falcon_cache_reads_total',
      help: 'Cacheable object reads by outcome: hit, miss (started an upstream fetch), coalesced (joined one)',
      labelNames: ['outcome'],
      registers: [this.registry],
    });
    this.upstreamRequests = new Counter({
      name: 'falcon_upstream_requests_total',
      help: 'Requests sent to the upstream S3, by HTTP method',
      labelNames: ['method'],
      registers: [this.registry],
    });
    new Gauge({
      name: 'falcon_cache_bytes',
      help: 'Bytes held by the object cache',
      registers: [this.registry],
      collect() {
        this.set(cache.bytes());
      },
    });
    new Gauge({
      name: 'falcon_cache_entries',
      help: 'Objects held by the object cache',
      registers: [this.registry],
      collect() {
        this.set(cache.entries());
      },
    });
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
