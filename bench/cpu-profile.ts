import { readdir, readFile } from 'node:fs/promises';
import { findSourceMap } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BUILD_ENV } from './falcon-build.js';

/** The parts of a V8 .cpuprofile (as node --cpu-prof writes it) that self time needs. */
interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[];
  /** Monotonic clock, µs: the same clock as process.hrtime() on Linux. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A span of the monotonic clock, µs (process.hrtime.bigint() / 1000). */
export interface Window {
  fromUs: number;
  toUs: number;
}

/** Now on the clock V8's profiler stamps samples with, µs. */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

interface CallFrame {
  functionName: string;
  url: string;
  /** 0-based, in the code V8 ran. */
  lineNumber: number;
  columnNumber: number;
}

export interface SelfTime {
  name: string;
  /** file:line, relative to the repository where inside it; empty for V8's own entries (GC, program). */
  location: string;
  selfMs: number;
  /** Share of busy time: every sample but (idle). */
  selfPercent: number;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCE_ROOT = new URL('../src/', import.meta.url).href;

/** Falcon's own code: the source under tsx, or the compiled build the bench runs. */
function isFalconCode(url: string): boolean {
  const build = process.env[BUILD_ENV];
  return url.startsWith(SOURCE_ROOT) || (build !== undefined && url.startsWith(`${pathToFileURL(build).href}/`));
}

/**
 * file:line of a function in the TypeScript source. The profiled node ran code tsx compiled (without line
 * breaks), so positions go back through tsx's source maps, which this process gets by loading the same module
 * through tsx itself.
 */
async function locationOf(frame: CallFrame): Promise<string> {
  if (frame.url === '') return '';
  let line = frame.lineNumber;
  // Only Falcon's modules are loaded here: the bench's server scripts start servers when imported.
  if (frame.url.startsWith(SOURCE_ROOT) && frame.url.endsWith('.ts')) {
    await import(frame.url);
    const entry = findSourceMap(frame.url)?.findEntry(frame.lineNumber, frame.columnNumber);
    if (entry !== undefined && 'originalLine' in entry) line = entry.originalLine;
  }
  const path = frame.url.startsWith('file://') ? relative(REPO_ROOT, fileURLToPath(frame.url)) : frame.url;
  // V8 and source maps count lines from 0.
  return `${path}:${line + 1}`;
}

/** Calls `visit` with the node and duration of every sample in `window` but idle ones; returns their total µs. */
function forEachBusySample(profile: CpuProfile, frameOf: ReadonlyMap<number, CallFrame>, window: Window, visit: (id: number, us: number) => void): number {
  let busyUs = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    at += us;
    if (at < window.fromUs || at > window.toUs || frameOf.get(id)?.functionName === '(idle)') return;
    busyUs += us;
    visit(id, us);
  });
  return busyUs;
}

/** Self time per function (same name and place summed over call sites) in samples taken within `window`, largest first. */
export async function selfTimes(profile: CpuProfile, window: Window): Promise<SelfTime[]> {
  const frameOf = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const usByNode = new Map<number, number>();
  const busyUs = forEachBusySample(profile, frameOf, window, (id, us) => usByNode.set(id, (usByNode.get(id) ?? 0) + us));
  const totals = new Map<string, { name: string; location: string; us: number }>();
  for (const [id, us] of usByNode) {
    const frame = frameOf.get(id);
    if (frame === undefined) continue;
    const location = await locationOf(frame);
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    const key = `${name}\u0000${location}`;
    const total = totals.get(key) ?? { name, location, us: 0 };
    total.us += us;
    totals.set(key, total);
  }
  return [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .map((t) => ({ name: t.name, location: t.location, selfMs: t.us / 1000, selfPercent: busyUs === 0 ? 0 : (100 * t.us) / busyUs }));
}

/**
 * Total time (the function and everything it called) of Falcon's own functions in samples within `window`,
 * as a share of busy time, largest first: where a request's time goes, stage by stage.
 */
export async function totalTimes(profile: CpuProfile, window: Window): Promise<SelfTime[]> {
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const frameOf = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const totals = new Map<string, { frame: CallFrame; us: number }>();
  const busyUs = forEachBusySample(profile, frameOf, window, (id, us) => {
    // A recursive function counts once per sample.
    const seen = new Set<string>();
    for (let node: number | undefined = id; node !== undefined; node = parentOf.get(node)) {
      const frame = frameOf.get(node);
      if (frame === undefined || !isFalconCode(frame.url)) continue;
      const key = `${frame.functionName}\u0000${frame.url}\u0000${frame.lineNumber}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const total = totals.get(key) ?? { frame, us: 0 };
      total.us += us;
      totals.set(key, total);
    }
  });
  const result: SelfTime[] = [];
  for (const { frame, us } of totals.values()) {
    result.push({
      name: frame.functionName === '' ? '(anonymous)' : frame.functionName,
      location: await locationOf(frame),
      selfMs: us / 1000,
      selfPercent: busyUs === 0 ? 0 : (100 * us) / busyUs,
    });
  }
  return result.sort((a, b) => b.selfMs - a.selfMs);
}

/**
 * Reads the main thread's profile from `dir`: node writes one per thread (tsx's loader runs in a thread of its
 * own), named CPU.<date>.<time>.<pid>.<thread id>.<sequence>.cpuprofile, the main thread's id being 0.
 */
export async function readProfile(dir: string): Promise<CpuProfile> {
  const files = (await readdir(dir)).filter((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  if (files.length !== 1) throw new Error(`expected one main-thread .cpuprofile in ${dir}, found ${files.length}`);
  return JSON.parse(await readFile(join(dir, files[0] as string), 'utf8')) as CpuProfile;
}
