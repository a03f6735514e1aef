import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopChild } from './child-server.js';
import { SERVER_CPU, pinnedCommand } from './pinning.js';

const READY_TIMEOUT_MS = 30_000;
const READY_POLL_MS = 50;
/** Kept of a competitor's stdout and stderr, to show when it fails to start. */
const OUTPUT_TAIL_CHARS = 4000;

/** A competing server (nginx, Varnish) running as a child process of the bench on a loopback port. */
export interface CompetitorProcess {
  name: string;
  url: string;
  /** The process started and its long-lived children (workers): together, the server's CPU. */
  pids: readonly number[];
  stop(): Promise<void>;
}

export interface CompetitorLaunch {
  name: string;
  command: string;
  args: readonly string[];
  port: number;
  /** Whether a child process of the started one (by its command line) serves for the whole run. */
  isServingChild(cmdline: string): boolean;
}

class OutputTail {
  private text = '';

  append(chunk: Buffer): void {
    this.text = (this.text + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  }

  toString(): string {
    return this.text.trim() === '' ? '(no output)' : this.text.trim();
  }
}

/** Starts `launch` and waits until it answers HTTP on its port and its serving children are up. */
export async function spawnCompetitor(launch: CompetitorLaunch): Promise<CompetitorProcess> {
  // On the server core, as Falcon and bare are: each server gets the same one core.
  const [command, args] = pinnedCommand(launch.command, launch.args, SERVER_CPU);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = new OutputTail();
  child.on('error', (err) => output.append(Buffer.from(`\nspawn error: ${err.message}\n`)));
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('error', () => {}); // The process's own exit is what matters; a broken pipe adds nothing.
    stream.on('data', (chunk: Buffer) => output.append(chunk));
  }
  const url = `http://127.0.0.1:${launch.port}`;
  try {
    await waitUntilAnswering(child, url, launch.name);
    const pid = child.pid;
    if (pid === undefined) throw new Error(`${launch.name} has no pid`);
    const children = await waitForServingChildren(pid, launch);
    const pids = [pid, ...children.map((c) => c.pid)];
    const reportUnexpectedExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      console.error(`${launch.name} exited unexpectedly (${signal ?? `code ${code}`}):\n${output}`);
    child.once('exit', reportUnexpectedExit);
    const stop = async (): Promise<void> => {
      child.off('exit', reportUnexpectedExit);
      await stopChild(child);
      await killLeftovers(children);
    };
    return { name: launch.name, url, pids, stop };
  } catch (err) {
    await stopChild(child);
    throw new Error(`${launch.name} did not start: ${err instanceof Error ? err.message : String(err)}\n${output}`, { cause: err });
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Any HTTP answer will do (the path does not exist upstream): the server accepts and forwards requests. */
async function waitUntilAnswering(child: ChildProcess, url: string, name: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (hasExited(child)) throw new Error(`${name} exited (${child.signalCode ?? `code ${child.exitCode}`})`);
    try {
      const response = await fetch(`${url}/`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      return;
    } catch {
      await sleep(READY_POLL_MS);
    }
  }
  throw new Error(`${name} did not answer on ${url} within ${READY_TIMEOUT_MS} ms`);
}

async function waitForServingChildren(pid: number, launch: CompetitorLaunch): Promise<ChildInfo[]> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const children = await childProcesses(pid);
    const serving = children.filter((c) => launch.isServingChild(c.cmdline));
    if (serving.length > 0) return serving;
    await sleep(READY_POLL_MS);
  }
  throw new Error(`${launch.name} started no serving child process within ${READY_TIMEOUT_MS} ms`);
}

interface ChildInfo {
  pid: number;
  cmdline: string;
}

/** The parent pid is field 4 of /proc/<pid>/stat; counted from the state field (3) it is 1. */
const PPID_AFTER_COMM = 1;

/** Processes whose parent is `parent`, from /proc. Empty where /proc is not available. */
async function childProcesses(parent: number): Promise<ChildInfo[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const children: ChildInfo[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[PPID_AFTER_COMM]);
      if (ppid !== parent) continue;
      children.push({ pid: Number(entry), cmdline: await readCmdline(Number(entry)) });
    } catch {
      // The process ended while being read.
    }
  }
  return children;
}

async function readCmdline(pid: number): Promise<string> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ').trim();
}

/**
 * Children the stopped server left behind (it was killed before it could stop them). A pid is only killed while
 * it still runs the same command line, so a pid reused by another process is left alone.
 */
async function killLeftovers(children: readonly ChildInfo[]): Promise<void> {
  for (const child of children) {
    try {
      if ((await readCmdline(child.pid)) === child.cmdline) process.kill(child.pid, 'SIGKILL');
    } catch {
      // Already gone, as it should be.
    }
  }
}
