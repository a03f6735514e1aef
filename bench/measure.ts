import { type LoadResult, LoadGenerator, type TargetSource } from './load.js';
import { type SeededObject, sha256 } from './objects.js';
import { fetchArguments } from './request-modes.js';
import { type BenchServer, type RequestTargets, requestTarget, requestTargets, withBadSignature } from './presign.js';
import { machineBusyMs, processCpuMs } from './process-cpu.js';

export interface LoadSettings {
  /** Measured seconds per server per round. */
  seconds: number;
  /** Unmeasured load on the same connections just before each measurement. */
  warmupSeconds: number;
}

/** What a measurement sends its load to, and whose CPU it counts as the server's. */
export interface Target {
  name: string;
  /** Origin the load goes to. */
  url: string;
  /** The presigned request targets sent for each object. */
  targets: RequestTargets;
  /** Processes whose CPU time together is the "server CPU" of the measurement. */
  pids: readonly number[];
}

export function targetOf(server: BenchServer): Target {
  return { name: server.name, url: server.url, targets: server.targets, pids: [server.pid] };
}

export interface BenchSettings extends LoadSettings {
  /** Alternating falcon/bare rounds per object size. */
  rounds: number;
  /** Unmeasured load on each server before the first round of each object size. */
  primeSeconds: number;
}

export interface Measurement {
  object: string;
  server: string;
  /** 1-based round number. */
  round: number;
  connections: number;
  durationSeconds: number;
  requests: number;
  requestsPerSec: number;
  /** Response body bytes received per second. */
  bytesPerSec: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  non2xx: number;
  /** Bodies whose received length differed from their Content-Length. */
  lengthMismatches: number;
  errors: number;
  timeouts: number;
  /** CPU the load generator used, as a fraction of one core. */
  loadGeneratorCpu: number;
  /**
   * CPU the server process used (for a cluster, all its nodes together), as a fraction of one core; null where
   * /proc is unavailable.
   */
  serverCpu: number | null;
  /**
   * CPU the rest of the machine used (busy time of all cores in /proc/stat less client and server), as a fraction
   * of one core: other processes, and kernel work not charged to any process. Null where /proc is unavailable.
   */
  otherCpu: number | null;
}

/** Above this the load generator, not the server, is likely what limits throughput. */
export const CLIENT_BOUND_CPU = 0.9;

export interface FetchedObject {
  status: number;
  headers: Headers;
  sha256: string;
}

const COMPARED_HEADERS = ['content-type', 'etag', 'content-length'] as const;

export async function fetchObject(url: string, init: RequestInit = {}): Promise<FetchedObject> {
  const response = await fetch(url, init);
  const body = new Uint8Array(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, sha256: sha256(body) };
}

export async function warmCache(falcon: BenchServer, objects: readonly SeededObject[]): Promise<void> {
  for (const object of objects) {
    const fetched = await fetchObject(falcon.url + requestTarget(falcon, object));
    if (fetched.status !== 200) throw new Error(`warming ${object.path} through Falcon answered ${fetched.status}`);
  }
}

/** Where a response differs from the seeded object: status, bytes (SHA-256), Content-Type, ETag, Content-Length. */
export function objectProblems(name: string, object: SeededObject, fetched: FetchedObject): string[] {
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
  return problems.map((problem) => `${name} ${object.path}: ${problem}`);
}

function errorCode(body: string): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
}

/** A request `falcon` must refuse: answered 403 with this S3 error code. */
async function refusalProblems(falcon: BenchServer, object: SeededObject, what: string, target: string, code: string): Promise<string[]> {
  const response = await fetch(falcon.url + target);
  const actual = errorCode(await response.text());
  if (response.status === 403 && actual === code) return [];
  return [`${falcon.name} ${object.path}: ${what} answered ${response.status} ${actual ?? '(no error code)'}, expected 403 ${code}`];
}

/**
 * Falcon must authenticate: refuse the object's path without a signature (AccessDenied), and with a signature
 * that does not verify (SignatureDoesNotMatch). The valid presigned target is checked by objectProblems.
 */
export async function authProblems(falcon: BenchServer, object: SeededObject): Promise<string[]> {
  const target = requestTarget(falcon, object);
  const [unsigned, badSignature] = await Promise.all([
    refusalProblems(falcon, object, 'an unsigned GET', object.path, 'AccessDenied'),
    refusalProblems(falcon, object, 'a GET with a bad signature', withBadSignature(target), 'SignatureDoesNotMatch'),
  ]);
  return [...unsigned, ...badSignature];
}

/**
 * Both servers must return the seeded bytes and headers for their presigned target (so the bare server does ignore
 * the query), Falcon must serve from its cache, and Falcon must refuse unsigned and badly signed requests.
 */
export async function verifyPair(falcon: BenchServer, bare: BenchServer, object: SeededObject): Promise<void> {
  const [viaFalcon, viaBare, auth] = await Promise.all([
    fetchObject(falcon.url + requestTarget(falcon, object)),
    fetchObject(bare.url + requestTarget(bare, object)),
    authProblems(falcon, object),
  ]);
  const problems = [...objectProblems(falcon.name, object, viaFalcon), ...objectProblems(bare.name, object, viaBare), ...auth];
  const cacheStatus = viaFalcon.headers.get('x-cache');
  if (cacheStatus !== 'HIT') problems.push(`${falcon.name} ${object.path}: x-cache is ${JSON.stringify(cacheStatus)}, expected "HIT"`);
  if (problems.length > 0) throw new Error(`verification failed:\n  ${problems.join('\n  ')}`);
}

/**
 * One request of each source (the next it would send) must get the seeded object: the request form a case
 * measures is accepted by Falcon, and from its cache.
 */
export async function verifyRequests(
  [falcon, falconSource]: [BenchServer, TargetSource],
  [bare, bareSource]: [BenchServer, TargetSource],
  object: SeededObject,
): Promise<void> {
  const [viaFalcon, viaBare] = await Promise.all([
    fetchObject(...fetchArguments(falcon.url, falconSource.next())),
    fetchObject(...fetchArguments(bare.url, bareSource.next())),
  ]);
  const problems = [...objectProblems(falcon.name, object, viaFalcon), ...objectProblems(bare.name, object, viaBare)];
  const cacheStatus = viaFalcon.headers.get('x-cache');
  if (cacheStatus !== 'HIT') problems.push(`${falcon.name} ${object.path}: x-cache is ${JSON.stringify(cacheStatus)}, expected "HIT"`);
  if (problems.length > 0) throw new Error(`verification failed:\n  ${problems.join('\n  ')}`);
}

/** Load on `server`: GETs of `object` by default, or the requests of `source` (labelled as `object`). */
export async function measure(
  server: Target,
  object: SeededObject,
  connections: number,
  settings: LoadSettings,
  round: number,
  source: TargetSource = requestTargets(server, object),
): Promise<Measurement> {
  const generator = new LoadGenerator(server.url, connections);
  try {
    if (settings.warmupSeconds > 0) await generator.run(source, settings.warmupSeconds);
    const before = await readCpu(server.pids);
    const clientBefore = process.cpuUsage();
    const result = await generator.run(source, settings.seconds);
    const client = process.cpuUsage(clientBefore);
    const after = await readCpu(server.pids);
    const cpu = cpuUsed((client.user + client.system) / 1000, before, after);
    return toMeasurement(server, object, round, connections, result, cpu);
  } finally {
    await generator.close();
  }
}

/** CPU time all `pids` have used so far, or undefined when any of them cannot be read. */
async function totalCpuMs(pids: readonly number[]): Promise<number | undefined> {
  const each = await Promise.all(pids.map(processCpuMs));
  return each.some((ms) => ms === undefined) ? undefined : each.reduce<number>((sum, ms) => sum + (ms ?? 0), 0);
}

export interface CpuReading {
  serverMs: number | undefined;
  machineMs: number | undefined;
}

/** CPU time used so far by `pids` together, and by the whole machine. */
export async function readCpu(pids: readonly number[]): Promise<CpuReading> {
  const [serverMs, machineMs] = await Promise.all([totalCpuMs(pids), machineBusyMs()]);
  return { serverMs, machineMs };
}

function elapsed(before: number | undefined, after: number | undefined): number | undefined {
  return before === undefined || after === undefined ? undefined : after - before;
}

/** CPU used between two readings by the client (`clientMs`, measured by the caller), the server and the rest. */
export function cpuUsed(clientMs: number, before: CpuReading, after: CpuReading): CpuUsed {
  const serverMs = elapsed(before.serverMs, after.serverMs);
  const machineMs = elapsed(before.machineMs, after.machineMs);
  // /proc/stat counts in 10 ms ticks, so a small negative difference is rounding, not a measurement.
  const otherMs = serverMs === undefined || machineMs === undefined ? undefined : Math.max(0, machineMs - clientMs - serverMs);
  return { clientMs, serverMs, otherMs };
}

/** Unmeasured load, so a server's JIT and heap have settled before its first measured round. */
export async function prime(
  server: Pick<Target, 'name' | 'url' | 'targets'>,
  object: SeededObject,
  connections: number,
  seconds: number,
  source: TargetSource = requestTargets(server, object),
): Promise<void> {
  const generator = new LoadGenerator(server.url, connections);
  try {
    await generator.run(source, seconds);
  } finally {
    await generator.close();
  }
}

export interface CpuUsed {
  clientMs: number;
  serverMs: number | undefined;
  otherMs: number | undefined;
}

function toMeasurement(
  server: Target,
  object: SeededObject,
  round: number,
  connections: number,
  result: LoadResult,
  cpu: CpuUsed,
): Measurement {
  const seconds = result.elapsedMs / 1000;
  return {
    object: object.label,
    server: server.name,
    round,
    connections,
    durationSeconds: seconds,
    requests: result.responses,
    requestsPerSec: result.responses / seconds,
    bytesPerSec: result.bytes / seconds,
    p50LatencyMs: result.latency.percentile(0.5),
    p99LatencyMs: result.latency.percentile(0.99),
    non2xx: result.non2xx,
    lengthMismatches: result.lengthMismatches,
    errors: result.errors,
    timeouts: result.timeouts,
    loadGeneratorCpu: cpu.clientMs / result.elapsedMs,
    serverCpu: cpu.serverMs === undefined ? null : cpu.serverMs / result.elapsedMs,
    otherCpu: cpu.otherMs === undefined ? null : cpu.otherMs / result.elapsedMs,
  };
}

export function measurementProblems(m: Measurement): string[] {
  const problems: string[] = [];
  if (m.requests === 0) problems.push('no requests completed');
  if (m.non2xx > 0) problems.push(`${m.non2xx} non-2xx responses`);
  if (m.lengthMismatches > 0) problems.push(`${m.lengthMismatches} bodies whose length differed from Content-Length`);
  if (m.errors > 0) problems.push(`${m.errors} request errors (${m.timeouts} timeouts)`);
  return problems.map((problem) => `${m.object} via ${m.server} (round ${m.round}): ${problem}`);
}
