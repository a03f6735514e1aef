import { buildFalcon, IMAGE_NODE_FLAGS } from '../test-support/falcon-process.js';
import { type ServerProcess, spawnServer } from './child-server.js';
import type { Cleanup } from './cleanup.js';

/** Where bench/falcon-server.ts finds the compiled build it runs; from source (under tsx) when unset. */
export const BUILD_ENV = 'FALCON_BENCH_BUILD';

/**
 * Compiles Falcon as the image does (tsc, the build's tsconfig) and makes every Falcon node the bench starts
 * run that build with the image's node flags: what users run, not the source under a loader that adds work to
 * every function. BENCH_FROM_SOURCE=1 keeps running the source.
 */
export async function useCompiledFalcon(cleanup: Cleanup): Promise<void> {
  if (process.env.BENCH_FROM_SOURCE?.trim() === '1') return;
  console.error('compiling Falcon for the bench...');
  const build = await buildFalcon();
  cleanup.add(build.remove);
  process.env[BUILD_ENV] = build.cli.replace(/\/cli\.js$/, '');
}

/** A Falcon node (bench/falcon-server.ts) with these arguments, run as the image runs it when compiled. */
export function spawnFalcon(name: string, args: readonly string[], nodeFlags: readonly string[] = []): Promise<ServerProcess> {
  const imageFlags = process.env[BUILD_ENV] === undefined ? [] : IMAGE_NODE_FLAGS;
  return spawnServer(name, './falcon-server.ts', args, [...imageFlags, ...nodeFlags]);
}
