import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { type FalconProcess, startFalconProcess } from '../falcon-process.js';

const TAIL_CHARS = 12_000;
const MAX_STRAY_LINES = 200;

export interface NodeCrash {
  at: number;
  restartedAt: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What the process printed outside its JSON log just before it died: the uncaught error and its stack. */
  stderrTail: string;
}

/** A log entry at error level or above. */
export interface ErrorLog {
  at: number;
  requestId: string | undefined;
  msg: string;
  errType: string | undefined;
  errMessage: string | undefined;
  stack: string | undefined;
}

interface PinoLine {
  level?: number;
  msg?: string;
  requestId?: string;
  err?: { type?: string; message?: string; stack?: string };
}

/**
 * A Falcon node running the real CLI in a child process, watched: every exit is a crash (it is
 * started again on the same port so the run can go on), every error-level log line is kept by
 * request id, and anything printed that is not a log line is kept too.
 */
export class FuzzedNode {
  readonly crashes: NodeCrash[] = [];
  readonly errorLogs: ErrorLog[] = [];
  readonly strayLines: string[] = [];
  private readonly byRequestId = new Map<string, ErrorLog>();
  private process: FalconProcess | undefined;
  private ready: Promise<void> = Promise.resolve();
  private closing = false;
  private stderrTail = '';
  /** Called with every line the process prints (for replaying a case by hand). */
  onLine: ((line: string) => void) | undefined;
  /** Called as soon as the process is seen to exit. */
  onCrash: ((crash: NodeCrash) => void) | undefined;

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly args: readonly string[],
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get up(): boolean {
    const child = this.process?.child;
    return child !== undefined && child.exitCode === null && child.signalCode === null;
  }

  start(): Promise<void> {
    this.ready = this.spawn();
    return this.ready;
  }

  whenReady(): Promise<void> {
    return this.ready;
  }

  errorLogFor(requestId: string): ErrorLog | undefined {
    return this.byRequestId.get(requestId);
  }

  async stop(): Promise<void> {
    this.closing = true;
    await this.ready.catch(() => {});
    await this.process?.stop();
  }

  private async spawn(): Promise<void> {
    const falcon = await startFalconProcess([...this.args], this.env);
    this.process = falcon;
    this.watch(falcon.child.stdout, false);
    this.watch(falcon.child.stderr, true);
    falcon.child.once('exit', (code, signal) => {
      if (this.closing) return;
      const crash: NodeCrash = { at: Date.now(), restartedAt: undefined, code, signal, stderrTail: '' };
      this.crashes.push(crash);
      this.onCrash?.(crash);
      this.ready = (async () => {
        // Give the pipes a moment to deliver the last lines (the uncaught error's stack).
        await new Promise((resolve) => setTimeout(resolve, 50));
        crash.stderrTail = this.stderrTail;
        this.stderrTail = '';
        await this.spawn();
        crash.restartedAt = Date.now();
      })();
      this.ready.catch(() => {});
    });
  }

  private watch(stream: Readable | null, isStderr: boolean): void {
    if (stream === null) return;
    const lines = createInterface({ input: stream });
    lines.on('line', (line) => {
      this.onLine?.(line);
      if (isStderr) this.stderrTail = `${this.stderrTail}${line}\n`.slice(-TAIL_CHARS);
      let parsed: PinoLine | undefined;
      if (line.startsWith('{')) {
        // Only error and fatal lines matter; most lines are 4xx answers logged at info.
        if (!/^\{"level":[56]0,/.test(line)) return;
        try {
          parsed = JSON.parse(line) as PinoLine;
        } catch {
          parsed = undefined;
        }
      }
      if (parsed === undefined) {
        if (this.strayLines.length < MAX_STRAY_LINES && line.trim() !== '' && !isStartupBanner(line)) this.strayLines.push(line);
        return;
      }
      if ((parsed.level ?? 0) < 50) return;
      const entry: ErrorLog = {
        at: Date.now(),
        requestId: parsed.requestId,
        msg: parsed.msg ?? '',
        errType: parsed.err?.type,
        errMessage: parsed.err?.message,
        stack: parsed.err?.stack,
      };
      this.errorLogs.push(entry);
      if (entry.requestId !== undefined) this.byRequestId.set(entry.requestId, entry);
    });
  }
}

/** Lines the CLI prints on start for people, not problems. */
function isStartupBanner(line: string): boolean {
  return /^(Falcon .* is serving|Try it with|\s+export |\s+aws |No client keys configured)/.test(line);
}
