import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
/** tsx by absolute URL, so that the CLI (and the processes it forks) can run from any working directory. */
const TSX = import.meta.resolve('tsx');

/**
 * The node flags the image starts Falcon with: a small young generation, so that the network chunks
 * copied into blocks are collected (and their memory returned) every few MiB instead of every few tens.
 */
export const IMAGE_NODE_FLAGS = ['--max-semi-space-size=2'];

export interface FalconProcess {
  url: string;
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Compiles Falcon as `npm run build` does, into a folder of its own inside the repository (so that its
 * imports find node_modules): what the image runs, for tests that measure the process itself.
 */
export async function buildFalcon(): Promise<{ cli: string; remove(): Promise<void> }> {
  const outDir = join(REPO_ROOT, `.falcon-build-${process.pid}`);
  const tsc = spawn(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(REPO_ROOT, 'tsconfig.build.json'), '--outDir', outDir], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  tsc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  tsc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const [code] = (await once(tsc, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`build failed: ${output}`);
  return { cli: join(outDir, 'cli.js'), remove: () => rm(outDir, { recursive: true, force: true }) };
}

/** Runs the falcon CLI in its own process (from source, or a build's `cli`) and waits until it serves. */
export async function startFalconProcess(args: string[], env: NodeJS.ProcessEnv = {}, options: { cwd?: string; cli?: string } = {}): Promise<FalconProcess> {
  // A build runs as the image runs it (see the Dockerfile's ENTRYPOINT).
  const command = options.cli === undefined ? ['--import', TSX, CLI, ...args] : [...IMAGE_NODE_FLAGS, options.cli, ...args];
  const child = spawn(process.execPath, command, {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const check = (): void => {
      const match = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (match?.[1]) {
        // Searching the whole output again on every line would grow quadratic with a chatty node.
        child.stdout?.off('data', check);
        resolve(match[1]);
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => reject(new Error(`falcon exited with ${code}: ${output}`)));
  });
  return {
    url,
    child,
    output: () => output,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Runs the CLI to completion, for flags that print and exit. */
export async function runFalcon(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

export interface KeyPair {
  accessKeyId: string;
  secretAccessKey: string;
}

/** A Falcon process on a free loopback port with the embedded upstream in `dir`, requiring signatures by `keys`. */
export function startLocalFalcon(dir: string, keys: KeyPair): Promise<FalconProcess> {
  return startFalconProcess([
    '--host', '127.0.0.1',
    '--port', '0',
    '--local-upstream', join(dir, 'data'),
    '--access-key', keys.accessKeyId,
    '--secret-key', keys.secretAccessKey,
  ]);
}

/** How many requests with this method a node has sent upstream, from its metrics. */
export async function upstreamRequestCount(falconUrl: string, method: string): Promise<number> {
  const text = await (await fetch(`${falconUrl}/_falcon/metrics`)).text();
  const match = new RegExp(`^falcon_upstream_requests_total\\{method="${method}"\\} (\\d+)`, 'm').exec(text);
  return Number(match?.[1] ?? 0);
}

/** Environment for the AWS CLI that uses `keys` and nothing of the machine's own AWS configuration. */
export function awsCliEnv(dir: string, keys: KeyPair): NodeJS.ProcessEnv {
  return {
    AWS_ACCESS_KEY_ID: keys.accessKeyId,
    AWS_SECRET_ACCESS_KEY: keys.secretAccessKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: join(dir, 'aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'aws-credentials'),
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_PAGER: '',
  };
}
