import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';

/**
 * Servers on one core, the load generator on another (as with `taskset`): on a small machine the scheduler
 * otherwise moves them onto each other's core, and a server's time then depends on how often the client
 * preempts it. BENCH_PIN=0 turns it off; it is off by itself with fewer than two cores or without taskset.
 */
export const CLIENT_CPU = 0;
export const SERVER_CPU = 1;
const TASKSET = '/usr/bin/taskset';

export function pinningEnabled(): boolean {
  return process.env.BENCH_PIN?.trim() !== '0' && cpus().length >= 2 && existsSync(TASKSET);
}

/** The command and arguments that run `command` on `cpu` when pinning is on, else unchanged. */
export function pinnedCommand(command: string, args: readonly string[], cpu: number): [string, string[]] {
  return pinningEnabled() ? [TASKSET, ['-c', String(cpu), command, ...args]] : [command, [...args]];
}

/** Moves this process (every thread of it) to the load generator's core when pinning is on. */
export function pinClient(): void {
  if (pinningEnabled()) execFileSync(TASKSET, ['-a', '-p', '-c', String(CLIENT_CPU), String(process.pid)], { stdio: 'ignore' });
}
