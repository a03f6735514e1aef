import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerProcess, spawnServer } from './child-server.js';
import type { Cleanup } from './cleanup.js';
import { runScript } from './script.js';
import { COLD_LARGE_BYTES } from './cold-bench.js';
import { monotonicUs, readProfile, selfTimes, totalTimes, type Window } from './cpu-profile.js';
import { spawnFalcon, useCompiledFalcon } from './falcon-build.js';
import { readObject } from './full-read.js';
import { LARGE_FALCON_FLAGS } from './large-bench.js';
import { sizeLabel } from './large-object.js';
import { seedLargeObject } from './large-object.js';
import { requestTarget, withTargets } from './presign.js';

/**
 * Where a cold miss spends CPU: Falcon and the upstream each run with --cpu-prof, one large object is read whole
 * through Falcon for the first time, and the top self-time functions of both processes during that read are
 * printed. PROFILE_READS (default 1) reads that many fresh objects in turn.
 */

const TOP = Number(process.env.PROFILE_TOP ?? 20);
const READS = Number(process.env.PROFILE_READS ?? 1);
/** More Falcon flags, e.g. "--readahead-blocks 4", to see how they change the read. */
/** Reads before the profiled ones, e.g. to fill a small cache so that the profiled reads reuse evicted blocks' buffers. */
const UNPROFILED_READS = Number(process.env.PROFILE_SKIP_READS ?? 0);
const EXTRA_FLAGS = (process.env.PROFILE_FALCON_FLAGS ?? '').split(' ').filter((flag) => flag !== '');

async function printTop(name: string, dir: string, window: Window): Promise<void> {
  const profiled = await readProfile(dir);
  const all = await selfTimes(profiled, window);
  const busyMs = all.reduce((sum, t) => sum + t.selfMs, 0);
  console.log(`\n${name}: busy ${busyMs.toFixed(0)} ms of ${((window.toUs - window.fromUs) / 1000).toFixed(0)} ms; top self time:`);
  console.log('| self % | self ms | function | file:line |');
  console.log('|---:|---:|---|---|');
  for (const t of all.slice(0, TOP)) console.log(`| ${t.selfPercent.toFixed(1)} | ${t.selfMs.toFixed(0)} | ${t.name} | ${t.location} |`);
  const totals = (await totalTimes(profiled, window)).slice(0, TOP);
  if (totals.length === 0) return;
  console.log(`\n${name}: Falcon's functions by total time:`);
  console.log('| total % | total ms | function | file:line |');
  console.log('|---:|---:|---|---|');
  for (const t of totals) console.log(`| ${t.selfPercent.toFixed(1)} | ${t.selfMs.toFixed(0)} | ${t.name} | ${t.location} |`);
}

async function profile(cleanup: Cleanup): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-cold-profile-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  await useCompiledFalcon(cleanup);
  const flags = (name: string): string[] => ['--cpu-prof', `--cpu-prof-dir=${join(dir, name)}`];
  const upstream = await spawnServer('upstream', './upstream-server.ts', [join(dir, 'upstream')], flags('upstream-profile'), { pinned: false });
  let upstreamStopped = false;
  cleanup.add(async () => {
    if (!upstreamStopped) await upstream.stop();
  });
  const falcon: ServerProcess = await spawnFalcon('falcon', [upstream.url, ...LARGE_FALCON_FLAGS, ...EXTRA_FLAGS], flags('falcon-profile'));
  let falconStopped = false;
  cleanup.add(async () => {
    if (!falconStopped) await falcon.stop();
  });
  const objects = [];
  for (let i = 0; i < UNPROFILED_READS + READS; i++) {
    objects.push(await seedLargeObject(new URL(upstream.url), dir, { label: sizeLabel(COLD_LARGE_BYTES), key: `cold-profile-${i}`, size: COLD_LARGE_BYTES }));
  }
  const server = await withTargets(falcon, objects, 1);
  let fromUs = monotonicUs();
  for (const [i, object] of objects.entries()) {
    if (i === UNPROFILED_READS) fromUs = monotonicUs();
    const response = await readObject(server.url, requestTarget(server, object));
    if (response.bytes !== object.size) throw new Error(`read ${response.bytes} bytes of ${object.size}`);
    const mbps = response.bytes / 1e6 / (response.elapsedMs / 1000);
    console.log(`cold read of ${object.label} through Falcon: ${response.elapsedMs.toFixed(0)} ms (${mbps.toFixed(0)} MB/s), first byte ${response.firstByteMs.toFixed(1)} ms`);
  }
  const window = { fromUs, toUs: monotonicUs() };
  falconStopped = true;
  await falcon.stop();
  upstreamStopped = true;
  await upstream.stop();
  await printTop('Falcon', join(dir, 'falcon-profile'), window);
  await printTop('upstream (s3rver)', join(dir, 'upstream-profile'), window);
}

await runScript('cold profile', profile);
