import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnServer } from './child-server.js';
import type { Cleanup } from './cleanup.js';
import { positiveNumberFromEnv, runScript } from './script.js';
import { type BenchCluster, CLUSTER_SIZE, startCluster } from './cluster.js';
import { monotonicUs, readProfile, selfTimes, type Window } from './cpu-profile.js';
import { useCompiledFalcon } from './falcon-build.js';
import { LoadGenerator } from './load.js';
import { type Measurement, fetchObject, measure, measurementProblems, objectProblems, prime, type Target, targetOf } from './measure.js';
import { seedObjects } from './objects.js';
import { type BenchServer, requestTarget, requestTargets, withTargets } from './presign.js';
import { median } from './report.js';
import { BENCH_BUCKET } from './shared.js';

/**
 * Reads of a cached 1 KiB object through a non-owner without a hot copy (a 3-node cluster started with
 * --hot-cache-size 0), against the same reads sent to the owner: throughput under load and the median latency at
 * one connection, in alternating rounds. Beside them, as the floor under any read through another process, a bare
 * node:http proxy (bench/bare-proxy.ts) in front of a bare node:http server, against that server alone: throughput
 * under the same load, and the one-connection latency. With PEER_PROFILE=1 the owner and the non-owner run with --cpu-prof
 * instead, and after a load on the non-owner the top self-time functions of both processes are printed.
 */


const SECONDS = positiveNumberFromEnv('PEER_SECONDS', 2);
const ROUNDS = positiveNumberFromEnv('PEER_ROUNDS', 3);
const CONNECTIONS = positiveNumberFromEnv('PEER_CONNECTIONS', 32);
const TOP = positiveNumberFromEnv('PROFILE_TOP', 15);
const PROFILE = process.env.PEER_PROFILE === '1';
const OBJECT = { label: '1 KiB', key: 'obj-1k', size: 1024 } as const;
const HIT_TRIES = 50;

function nodeAt(cluster: BenchCluster, index: number): BenchServer {
  const node = cluster.nodes[index];
  if (node === undefined) throw new Error(`no node ${index}`);
  return node;
}

function targetOfNode(cluster: BenchCluster, index: number, name: string): Target {
  const node = nodeAt(cluster, index);
  return { name, url: node.url, targets: node.targets, pids: cluster.pids };
}

function checked(m: Measurement): Measurement {
  const problems = measurementProblems(m);
  if (problems.length > 0) throw new Error(`the run is invalid:\n  ${problems.join('\n  ')}`);
  return m;
}

/** CPU per read of the cluster's nodes together and of the load generator, µs; and the nodes' share of their core. */
function cpuText(m: Measurement): string {
  const perRead = (cores: number): string => ((cores * 1e6) / m.requestsPerSec).toFixed(1);
  const nodes = m.serverCpu === null ? 'n/a' : `${perRead(m.serverCpu)} µs (nodes at ${(100 * m.serverCpu).toFixed(0)}% of a core)`;
  return `${nodes}, client ${perRead(m.loadGeneratorCpu)} µs`;
}

async function run(cleanup: Cleanup): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-peer-profile-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  await useCompiledFalcon(cleanup);
  const upstream = await spawnServer('upstream', './upstream-server.ts', [join(dir, 'upstream')]);
  cleanup.add(upstream.stop);
  const [object] = await seedObjects(new URL(upstream.url), dir, [OBJECT]);
  if (object === undefined) throw new Error('no object seeded');
  const profileDir = (index: number): string => join(dir, `profile-${index}`);
  const nodeFlags = (index: number): string[] => (PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${profileDir(index)}`] : []);
  const cluster = await startCluster('peer', new URL(upstream.url), [object], 1, ['--hot-cache-size', '0'], nodeFlags);
  let stopped = false;
  cleanup.add(async () => {
    if (!stopped) await cluster.stop();
  });
  const ownerIndex = cluster.ownerIndex(BENCH_BUCKET, OBJECT.key);
  const entryIndex = (ownerIndex + 1) % CLUSTER_SIZE;
  const owner = targetOfNode(cluster, ownerIndex, 'owner');
  const entry = targetOfNode(cluster, entryIndex, 'non-owner, no hot copy');

  for (let attempt = 1; ; attempt++) {
    const fetched = await fetchObject(owner.url + requestTarget(owner, object));
    const problems = objectProblems('owner', object, fetched);
    if (problems.length > 0) throw new Error(problems.join('\n'));
    if (fetched.headers.get('x-cache') === 'HIT') break;
    if (attempt === HIT_TRIES) throw new Error('the owner never answered from its cache');
  }
  const viaEntry = objectProblems('non-owner', object, await fetchObject(entry.url + requestTarget(entry, object)));
  if (viaEntry.length > 0) throw new Error(viaEntry.join('\n'));

  if (PROFILE) {
    const generator = new LoadGenerator(entry.url, CONNECTIONS);
    let window: Window;
    try {
      await generator.run(requestTargets(entry, object), 1);
      const fromUs = monotonicUs();
      const result = await generator.run(requestTargets(entry, object), SECONDS);
      window = { fromUs, toUs: monotonicUs() };
      const rate = result.responses / (result.elapsedMs / 1000);
      console.log(`${result.responses} GETs of ${object.label} through the non-owner (${rate.toFixed(0)} req/s, ${CONNECTIONS} connections)`);
      if (result.non2xx > 0 || result.errors > 0 || result.lengthMismatches > 0) throw new Error('the run is invalid');
    } finally {
      await generator.close();
    }
    stopped = true;
    await cluster.stop();
    if (process.env.PEER_KEEP_PROFILE) await cp(dir, process.env.PEER_KEEP_PROFILE, { recursive: true });
    for (const [name, index] of [
      ['non-owner', entryIndex],
      ['owner', ownerIndex],
    ] as const) {
      const top = (await selfTimes(await readProfile(profileDir(index)), window)).slice(0, TOP);
      console.log(`\ntop ${top.length} self-time functions of the ${name}'s process (% of its busy time):`);
      console.log('| self % | self ms | function | file:line |');
      console.log('|---:|---:|---|---|');
      for (const t of top) console.log(`| ${t.selfPercent.toFixed(1)} | ${t.selfMs.toFixed(0)} | ${t.name} | ${t.location} |`);
    }
    return;
  }

  // The floor of any read through another process: a bare node:http proxy in front of a bare node:http server.
  const manifest = join(dir, 'manifest.json');
  await writeFile(manifest, JSON.stringify([object]));
  const bareProcess = await spawnServer('bare', './bare-server.ts', [manifest]);
  cleanup.add(bareProcess.stop);
  const proxyProcess = await spawnServer('bare proxy', './bare-proxy.ts', [bareProcess.url]);
  cleanup.add(proxyProcess.stop);
  const bare = targetOf(await withTargets(bareProcess, [object], 1));
  const proxy = { ...targetOf(await withTargets(proxyProcess, [object], 1)), pids: [proxyProcess.pid, bareProcess.pid] };

  // Unmeasured load first, so that neither node is measured while its JIT and connections settle.
  for (const target of [owner, entry, bare, proxy]) await prime(target, object, CONNECTIONS, 1);
  const settings = { seconds: SECONDS, warmupSeconds: 0.5 };
  const loaded: number[] = [];
  const p50Owner: number[] = [];
  const p50Entry: number[] = [];
  const p50Floor: number[] = [];
  const loadedFloor: number[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Alternating order, so that drift over a round favours neither.
    const order = round % 2 === 1 ? [owner, entry] : [entry, owner];
    const rates = new Map<Target, number>();
    const cpuPerRead = new Map<Target, string>();
    const p50s = new Map<Target, number>();
    for (const target of order) {
      const loadedRun = checked(await measure(target, object, CONNECTIONS, settings, round));
      rates.set(target, loadedRun.requestsPerSec);
      cpuPerRead.set(target, cpuText(loadedRun));
    }
    for (const target of order) p50s.set(target, checked(await measure(target, object, 1, settings, round)).p50LatencyMs);
    const floorOrder = round % 2 === 1 ? [bare, proxy] : [proxy, bare];
    for (const target of floorOrder) rates.set(target, checked(await measure(target, object, CONNECTIONS, settings, round)).requestsPerSec);
    for (const target of floorOrder) p50s.set(target, checked(await measure(target, object, 1, settings, round)).p50LatencyMs);
    p50Floor.push((p50s.get(proxy) ?? 0) / (p50s.get(bare) ?? 1));
    loadedFloor.push((rates.get(proxy) ?? 0) / (rates.get(bare) ?? 1));
    const ratio = (rates.get(entry) ?? 0) / (rates.get(owner) ?? 1);
    loaded.push(ratio);
    p50Owner.push(p50s.get(owner) ?? 0);
    p50Entry.push(p50s.get(entry) ?? 0);
    console.log(
      `round ${round}: x${CONNECTIONS} owner ${rates.get(owner)?.toFixed(0)} req/s, non-owner ${rates.get(entry)?.toFixed(0)} (${ratio.toFixed(2)}x); ` +
        `CPU per read owner ${cpuPerRead.get(owner)}, non-owner ${cpuPerRead.get(entry)}; ` +
        `x1 p50 owner ${p50s.get(owner)?.toFixed(3)} ms, non-owner ${p50s.get(entry)?.toFixed(3)} ms; ` +
        `floor: x${CONNECTIONS} bare ${rates.get(bare)?.toFixed(0)} req/s, bare proxy ${rates.get(proxy)?.toFixed(0)}; x1 p50 bare ${p50s.get(bare)?.toFixed(3)} ms, bare proxy ${p50s.get(proxy)?.toFixed(3)} ms`,
    );
  }
  const metrics = await (await fetch(`${entry.url}/_falcon/metrics`)).text();
  console.log(metrics.split('\n').filter((line) => /^falcon_(cache|block)_reads_total\{/.test(line)).join('\n'));
  const latencyRatio = median(p50Entry) / median(p50Owner);
  console.log(
    `median: non-owner/owner throughput ${median(loaded).toFixed(2)}x; one connection p50 ${median(p50Entry).toFixed(3)} ms ` +
      `vs ${median(p50Owner).toFixed(3)} ms local (${latencyRatio.toFixed(2)}x); a bare proxy hop alone: throughput ${median(loadedFloor).toFixed(2)}x ` +
      `a bare server, one connection p50 ${median(p50Floor).toFixed(2)}x`,
  );
}

await runScript('peer profile', run);
