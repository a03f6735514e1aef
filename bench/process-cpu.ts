import { readFile } from 'node:fs/promises';

/** Linux reports /proc/<pid>/stat CPU times in USER_HZ ticks, which is 100 per second on every mainstream kernel. */
const MS_PER_TICK = 10;
/** utime and stime are fields 14 and 15 of /proc/<pid>/stat; counted from the state field (3) they are 11 and 12. */
const UTIME_AFTER_COMM = 11;
const STIME_AFTER_COMM = 12;

/**
 * CPU time (user + system, ms) another process has used so far, or undefined where /proc is not available.
 * Used to show how busy a server child was while the load generator measured it.
 */
export async function processCpuMs(pid: number): Promise<number | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is parenthesised and may contain spaces, so split after its closing paren.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[UTIME_AFTER_COMM]);
  const stime = Number(fields[STIME_AFTER_COMM]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) * MS_PER_TICK;
}

/** Fields of the aggregate "cpu" line of /proc/stat counted as busy: user, nice, system, irq, softirq, steal. */
const BUSY_FIELDS = [0, 1, 2, 5, 6, 7] as const;

/**
 * CPU time (ms, summed over all cores) the whole machine has been busy so far, or undefined where /proc/stat is
 * not available. Used to see how much CPU processes other than the bench's took during a measurement.
 */
export async function machineBusyMs(): Promise<number | undefined> {
  let stat: string;
  try {
    stat = await readFile('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  const line = stat.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) return undefined;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = BUSY_FIELDS.reduce<number>((sum, index) => sum + (fields[index] ?? Number.NaN), 0);
  return Number.isFinite(busy) ? busy * MS_PER_TICK : undefined;
}
