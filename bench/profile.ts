import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ServerProcess, spawnServer } from './child-server.js';
import type { Cleanup } from './cleanup.js';
import { positiveNumberFromEnv, runScript } from './script.js';
import { spawnFalcon, useCompiledFalcon } from './falcon-build.js';
import { monotonicUs, readProfile, selfTimes, totalTimes, type Window } from './cpu-profile.js';
import { RequestCycle, headerSignedPool } from './header-sign.js';
import { type LoadRequest, LoadGenerator } from './load.js';
import { type SeededObject, seedObjects } from './objects.js';
import { presignTargets } from './presign.js';

/**
 * Where a signed 1 KiB hit (or one of PROFILE_KIB) spends Falcon's CPU: one Falcon node run with --cpu-prof in its own process, its
 * cache primed with the object, then the load of the bench's 1 KiB case with every request signed afresh in its
 * Authorization header (as the SDKs sign). Prints the top self-time functions of Falcon's process.
 */


const SECONDS = positiveNumberFromEnv('PROFILE_SECONDS', 5);
const CONNECTIONS = positiveNumberFromEnv('PROFILE_CONNECTIONS', 32);
const TOP = positiveNumberFromEnv('PROFILE_TOP', 25);
/** More requests than the run sends at any plausible rate, so none is sent twice. */
const POOL_SIZE = positiveNumberFromEnv('PROFILE_REQUESTS', 100_000);
/** PROFILE_KIB=64 profiles hits of a 64 KiB object instead (any size up to one cache block answers in the lane). */
const OBJECT_KIB = positiveNumberFromEnv('PROFILE_KIB', 1);
const OBJECT = { label: `${OBJECT_KIB} KiB`, key: `obj-${OBJECT_KIB}k`, size: OBJECT_KIB * 1024 } as const;
/** PROFILE_UNSIGNED=1 sends plain GETs (to a node run with --anonymous): the cost of everything but verification. */
const UNSIGNED = process.env.PROFILE_UNSIGNED?.trim() === '1';
/** PROFILE_PRESIGNED=1 sends one presigned URL again and again, as the bench's presigned case does. */
const PRESIGNED = process.env.PROFILE_PRESIGNED?.trim() === '1';
/** PROFILE_SERVER=bare profiles the bare node:http server the bench compares with, under the same load. */
const SERVER = readServer();

function readServer(): 'falcon' | 'bare' {
  const text = process.env.PROFILE_SERVER?.trim() ?? '';
  if (text === '' || text === 'falcon') return 'falcon';
  if (text === 'bare') return 'bare';
  throw new Error(`PROFILE_SERVER must be falcon or bare, got "${text}"`);
}

async function requestPool(origin: string, object: SeededObject): Promise<LoadRequest[]> {
  if (UNSIGNED) return [{ path: object.path, headers: {} }];
  if (!PRESIGNED) return headerSignedPool(origin, object.path, POOL_SIZE);
  const target = (await presignTargets(origin, [object], 1)).get(object.path)?.first;
  if (target === undefined) throw new Error(`no presigned URL for ${object.path}`);
  return [{ path: target, headers: {} }];
}

async function profile(cleanup: Cleanup): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-profile-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  await useCompiledFalcon(cleanup);
  const upstream = await spawnServer('upstream', './upstream-server.ts', [join(dir, 'upstream')], [], { pinned: false });
  cleanup.add(upstream.stop);
  const [object] = await seedObjects(new URL(upstream.url), dir, [OBJECT]);
  if (object === undefined) throw new Error('no object seeded');
  const profileDir = join(dir, 'profile');
  const profileFlags = ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  let falcon: ServerProcess;
  if (SERVER === 'falcon') {
    falcon = await spawnFalcon('falcon', [upstream.url, ...(UNSIGNED ? ['--anonymous'] : [])], profileFlags);
  } else {
    const manifest = join(dir, 'manifest.json');
    await writeFile(manifest, JSON.stringify([object]));
    falcon = await spawnServer('bare', './bare-server.ts', [manifest], profileFlags);
  }
  let stopped = false;
  cleanup.add(async () => {
    if (!stopped) await falcon.stop();
  });

  const requests = new RequestCycle(await requestPool(falcon.url, object));
  const generator = new LoadGenerator(falcon.url, CONNECTIONS);
  let window: Window;
  let responses = 0;
  try {
    const primed = await generator.run(requests, 0.5);
    if (primed.responses === 0 || primed.non2xx > 0 || primed.errors > 0) {
      throw new Error(`priming failed: ${primed.responses} responses, ${primed.non2xx} non-2xx, ${primed.errors} errors`);
    }
    const fromUs = monotonicUs();
    const result = await generator.run(requests, SECONDS);
    window = { fromUs, toUs: monotonicUs() };
    responses = result.responses;
    const rate = result.responses / (result.elapsedMs / 1000);
    console.log(`${result.responses} ${UNSIGNED ? 'unsigned' : PRESIGNED ? 'presigned' : 'signed'} GETs of ${object.label} in ${(result.elapsedMs / 1000).toFixed(1)} s (${rate.toFixed(0)} req/s, ${CONNECTIONS} connections)`);
    if (result.non2xx > 0 || result.errors > 0 || result.lengthMismatches > 0) {
      throw new Error(`the run is invalid: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.lengthMismatches} length mismatches`);
    }
  } finally {
    await generator.close();
  }
  stopped = true;
  await falcon.stop();

  // Only the samples of the measured load count: not startup, not priming.
  const profiled = await readProfile(profileDir);
  const all = await selfTimes(profiled, window);
  const top = all.slice(0, TOP);
  if (top.length === 0) throw new Error('the profile has no samples from the measured load');
  const busyMs = all.reduce((sum, t) => sum + t.selfMs, 0);
  console.log(`busy ${busyMs.toFixed(0)} ms: ${((busyMs * 1000) / responses).toFixed(1)} µs per request (profiling included)`);
  console.log(`top ${top.length} self-time functions of the ${SERVER} server's process during the load (% of its busy time):`);
  console.log('| self % | self ms | function | file:line |');
  console.log('|---:|---:|---|---|');
  for (const t of top) console.log(`| ${t.selfPercent.toFixed(1)} | ${t.selfMs.toFixed(0)} | ${t.name} | ${t.location} |`);
  const totals = (await totalTimes(profiled, window)).slice(0, TOP);
  if (totals.length === 0) return;
  console.log(`\ntop ${totals.length} of Falcon's functions by total time (with what they call, % of busy time):`);
  console.log('| total % | total ms | function | file:line |');
  console.log('|---:|---:|---|---|');
  for (const t of totals) console.log(`| ${t.selfPercent.toFixed(1)} | ${t.selfMs.toFixed(0)} | ${t.name} | ${t.location} |`);
}

await runScript('profile', profile);
