import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SERVER_CPU, pinnedCommand } from './pinning.js';
import { parseReadyLine, type ReadyLine } from './shared.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

export interface ServerProcess {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Runs a bench server script under tsx in its own process and waits for the port it reports. `nodeFlags` go to
 * node itself (e.g. --cpu-prof). Measured servers run on the server core (see pinning.ts); the upstream, which
 * only matters where Falcon reads from it, is left to the scheduler.
 */
export async function spawnServer(
  name: string,
  script: string,
  args: readonly string[],
  nodeFlags: readonly string[] = [],
  { pinned = true }: { pinned?: boolean } = {},
): Promise<ServerProcess> {
  const scriptPath = fileURLToPath(new URL(script, import.meta.url));
  const nodeArgs = [...nodeFlags, '--import', 'tsx', scriptPath, ...args];
  const [command, commandArgs] = pinned ? pinnedCommand(process.execPath, nodeArgs, SERVER_CPU) : [process.execPath, nodeArgs];
  const child = spawn(command, commandArgs, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const { port } = await waitForReadyLine(child, name);
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${name} server has no pid`);
    const reportUnexpectedExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      console.error(`${name} server exited unexpectedly (${signal ?? `code ${code}`})`);
    child.once('exit', reportUnexpectedExit);
    const stop = (): Promise<void> => {
      child.off('exit', reportUnexpectedExit);
      return stopChild(child);
    };
    return { name, url: `http://127.0.0.1:${port}`, pid, stop };
  } catch (err) {
    await stopChild(child);
    throw err;
  }
}

function waitForReadyLine(child: ChildProcess, name: string): Promise<ReadyLine> {
  const stdout = child.stdout;
  if (stdout === null) return Promise.reject(new Error(`${name}: no stdout pipe`));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: stdout });
    const finish = (settle: () => void): void => {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('error', onError);
      lines.close();
      stdout.resume();
      settle();
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      finish(() => reject(new Error(`${name} server exited (${signal ?? `code ${code}`}) before reporting its port`)));
    const onError = (err: Error): void => finish(() => reject(err));
    const timer = setTimeout(
      () => finish(() => reject(new Error(`${name} server did not report its port within ${READY_TIMEOUT_MS} ms`))),
      READY_TIMEOUT_MS,
    );
    child.once('exit', onExit);
    child.once('error', onError);
    lines.once('line', (line) =>
      finish(() => {
        try {
          resolve(parseReadyLine(line));
        } catch (err) {
          reject(err);
        }
      }),
    );
  });
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}
