import autocannon from 'autocannon';
import type { ServerProcess } from './child-server.js';
import { type SeededObject, sha256 } from './objects.js';

export interface LoadSettings {
  seconds: number;
  warmupSeconds: number;
}

export interface Measurement {
  object: string;
  server: string;
  connections: number;
  durationSeconds: number;
  requests: number;
  requestsPerSec: number;
  bytesPerSec: number;
  p99LatencyMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

interface FetchedObject {
  status: number;
  headers: Headers;
  sha256: string;
}

const COMPARED_HEADERS = ['content-type', 'etag', 'content-length'] as const;

async function fetchObject(url: string): Promise<FetchedObject> {
  const response = await fetch(url);
  const body = new Uint8Array(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, sha256: sha256(body) };
}

export async function warmCache(falcon: ServerProcess, objects: readonly SeededObject[]): Promise<void> {
  for (const object of objects) {
    const fetched = await fetchObject(falcon.url + object.path);
    if (fetched.status !== 200) throw new Error(`warming ${object.path} through Falcon answered ${fetched.status}`);
  }
}

function mismatches(server: ServerProcess, object: SeededObject, fetched: FetchedObject): string[] {
  const problems: string[] = [];
  const expected: Record<(typeof COMPARED_HEADERS)[number], string> = {
    'content-type': object.contentType,
    etag: object.etag,
    'content-length': String(object.size),
  };
  if (fetched.status !== 200) problems.push(`status ${fetched.status}`);
  if (fetched.sha256 !== object.sha256) problems.push('body differs from the seeded bytes');
  for (const name of COMPARED_HEADERS) {
    const actual = fetched.headers.get(name);
    if (actual !== expected[name]) problems.push(`${name} is ${JSON.stringify(actual)}, expected ${JSON.stringify(expected[name])}`);
  }
  return problems.map((problem) => `${server.name} ${object.path}: ${problem}`);
}

/** Both servers must return the seeded bytes and headers, and Falcon must serve from its cache. */
export async function verifyPair(falcon: ServerProcess, bare: ServerProcess, object: SeededObject): Promise<void> {
  const [viaFalcon, viaBare] = await Promise.all([fetchObject(falcon.url + object.path), fetchObject(bare.url + object.path)]);
  const problems = [...mismatches(falcon, object, viaFalcon), ...mismatches(bare, object, viaBare)];
  const cacheStatus = viaFalcon.headers.get('x-cache');
  if (cacheStatus !== 'HIT') problems.push(`${falcon.name} ${object.path}: x-cache is ${JSON.stringify(cacheStatus)}, expected "HIT"`);
  if (problems.length > 0) throw new Error(`verification failed:\n  ${problems.join('\n  ')}`);
}

async function load(url: string, connections: number, seconds: number): Promise<autocannon.Result> {
  return autocannon({ url, connections, duration: seconds });
}

export async function measure(
  server: ServerProcess,
  object: SeededObject,
  connections: number,
  settings: LoadSettings,
): Promise<Measurement> {
  const url = server.url + object.path;
  if (settings.warmupSeconds > 0) await load(url, connections, settings.warmupSeconds);
  const result = await load(url, connections, settings.seconds);
  return {
    object: object.label,
    server: server.name,
    connections,
    durationSeconds: result.duration,
    requests: result.requests.total,
    requestsPerSec: result.requests.average,
    bytesPerSec: result.throughput.average,
    p99LatencyMs: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

export function measurementProblems(m: Measurement): string[] {
  const problems: string[] = [];
  if (m.requests === 0) problems.push('no requests completed');
  if (m.non2xx > 0) problems.push(`${m.non2xx} non-2xx responses`);
  if (m.errors > 0) problems.push(`${m.errors} connection errors (${m.timeouts} timeouts)`);
  return problems.map((problem) => `${m.object} via ${m.server}: ${problem}`);
}
