/** The few Prometheus counters of a Falcon node (GET /_falcon/metrics) that tell how its reads were served. */

/**
 * Cacheable reads by outcome: hit (main or hot cache), miss (started an upstream fetch), coalesced (joined a
 * fetch in flight), peer (started a fetch from the key's owner).
 */
export interface ReadCounts {
  hit: number;
  miss: number;
  coalesced: number;
  peer: number;
}

export interface NodeCounters {
  reads: ReadCounts;
  upstreamGets: number;
}

const SAMPLE = /^(\w+)\{(\w+)="([^"]*)"\} (\S+)$/;

function counterValue(samples: ReadonlyMap<string, number>, name: string, label: string, value: string): number {
  return samples.get(`${name}{${label}="${value}"}`) ?? 0;
}

function parseSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = SAMPLE.exec(line.trim());
    if (match === null) continue;
    const [, name, label, value, number] = match;
    samples.set(`${name}{${label}="${value}"}`, Number(number));
  }
  return samples;
}

export async function readCounters(nodeUrl: string): Promise<NodeCounters> {
  const response = await fetch(`${nodeUrl}/_falcon/metrics`);
  if (response.status !== 200) throw new Error(`${nodeUrl}/_falcon/metrics answered ${response.status}`);
  const samples = parseSamples(await response.text());
  const reads = (outcome: keyof ReadCounts): number => counterValue(samples, 'falcon_cache_reads_total', 'outcome', outcome);
  return {
    reads: { hit: reads('hit'), miss: reads('miss'), coalesced: reads('coalesced'), peer: reads('peer') },
    upstreamGets: counterValue(samples, 'falcon_upstream_requests_total', 'method', 'GET'),
  };
}

export function emptyReadCounts(): ReadCounts {
  return { hit: 0, miss: 0, coalesced: 0, peer: 0 };
}

export function addReads(a: ReadCounts, b: ReadCounts): ReadCounts {
  return { hit: a.hit + b.hit, miss: a.miss + b.miss, coalesced: a.coalesced + b.coalesced, peer: a.peer + b.peer };
}

export function readsBetween(before: ReadCounts, after: ReadCounts): ReadCounts {
  return {
    hit: after.hit - before.hit,
    miss: after.miss - before.miss,
    coalesced: after.coalesced - before.coalesced,
    peer: after.peer - before.peer,
  };
}

export function totalReads(reads: ReadCounts): number {
  return reads.hit + reads.miss + reads.coalesced + reads.peer;
}
