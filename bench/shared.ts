/** Shared between the bench driver and its server child processes. */

export const BENCH_BUCKET = 'bench';

/** The only key pair the bench's Falcon nodes accept (--access-key/--secret-key); the bench's clients sign with it. */
export const BENCH_CLIENT_KEY = { accessKeyId: 'bench', secretAccessKey: 'bench-secret-key-0123' } as const;

export interface ServedObject {
  /** Request path, e.g. /bench/obj-1k. */
  path: string;
  /** File holding the exact bytes stored upstream. */
  file: string;
  contentType: string;
  etag: string;
}

export interface ReadyLine {
  port: number;
}

export function announceReady(port: number): void {
  const line: ReadyLine = { port };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

export function parseReadyLine(text: string): ReadyLine {
  const value: unknown = JSON.parse(text);
  if (typeof value === 'object' && value !== null && 'port' in value && typeof value.port === 'number') {
    return { port: value.port };
  }
  throw new Error(`unexpected ready line from server: ${text}`);
}

export function parseManifest(text: string): ServedObject[] {
  const value: unknown = JSON.parse(text);
  if (!Array.isArray(value) || !value.every(isServedObject)) throw new Error('malformed object manifest');
  return value;
}

function isServedObject(value: unknown): value is ServedObject {
  if (typeof value !== 'object' || value === null) return false;
  const fields: (keyof ServedObject)[] = ['path', 'file', 'contentType', 'etag'];
  return fields.every((field) => field in value && typeof (value as Record<string, unknown>)[field] === 'string');
}
