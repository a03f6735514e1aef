import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT } from '../falcon-process.js';

const SCRIPT = fileURLToPath(new URL('./upstream-child.ts', import.meta.url));
/** tsx by absolute URL, as the CLI's launcher does, so the child does not depend on its working directory. */
const TSX = import.meta.resolve('tsx');
const OUTPUT_TAIL_CHARS = 64_000;

export interface UpstreamDeath {
  at: number;
  /** When it served again; undefined while it is still down. */
  restartedAt: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The end of what it printed, usually the stack of what killed it. */
  output: string;
}

/**
 * The s3rver upstream in a child process that is started again whenever it dies. Each death is
 * kept, with the window during which the upstream was unreachable.
 */
export class UpstreamProcess {
  readonly deaths: UpstreamDeath[] = [];
  private child: ChildProcess | undefined;
  private closing = false;
  private ready: Promise<void> = Promise.resolve();

  constructor(
    private readonly directory: string,
    private readonly buckets: readonly string[],
    /** Told the endpoint each time it (re)starts, and undefined when it dies. */
    private readonly onEndpoint: (endpoint: string | undefined) => void,
  ) {}

  start(): Promise<void> {
    this.ready = this.spawn();
    return this.ready;
  }

  /** Resolves once the upstream serves (again). */
  whenReady(): Promise<void> {
    return this.ready;
  }

  /** Whether the upstream was down at any moment in [from, to]. */
  downDuring(from: number, to: number): boolean {
    return this.deaths.some((d) => d.at <= to && (d.restartedAt ?? Number.POSITIVE_INFINITY) >= from);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.ready.catch(() => {});
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }

  private async spawn(): Promise<void> {
    const child = spawn(process.execPath, ['--import', TSX, SCRIPT, this.directory, ...this.buckets], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString()).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const endpoint = await new Promise<string>((resolve, reject) => {
      const check = (): void => {
        const match = /"endpoint":"(http:\/\/[^"]+)"/.exec(output);
        if (match?.[1]) resolve(match[1]);
      };
      child.stdout?.on('data', check);
      child.once('exit', (code) => reject(new Error(`the upstream exited with ${code} while starting: ${output}`)));
    });
    child.once('exit', (code, signal) => {
      if (this.closing) return;
      const death: UpstreamDeath = { at: Date.now(), restartedAt: undefined, code, signal, output };
      this.deaths.push(death);
      this.onEndpoint(undefined);
      this.ready = this.spawn().then(() => {
        death.restartedAt = Date.now();
      });
      this.ready.catch(() => {});
    });
    this.onEndpoint(endpoint);
  }
}
