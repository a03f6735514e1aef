import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { type CpuUsed, cpuUsed, readCpu } from './measure.js';

/**
 * One GET of a whole (large) object on a fresh connection, its body counted (and optionally hashed), never kept:
 * how fast one client can read it from a server.
 *
 * A bare socket rather than undici: undici's parser copies every chunk of the body, and one client reading one large
 * body then needs a whole core for less than a GB/s, so it, not the server, would set the pace. Here the kernel
 * reads into one reused buffer, and the client does nothing else but count (or hash) the bytes. It speaks only
 * what the bench's servers answer: HTTP/1.1 with a Content-Length, or a body that ends with the connection.
 */

const TIMEOUT_MS = 120_000;
const READ_BUFFER_BYTES = 1024 * 1024;
const MAX_HEAD_BYTES = 64 * 1024;
const HEAD_END = Buffer.from('\r\n\r\n');

export interface ReadResponse {
  status: number;
  /** Response headers the bench looks at, lower-case names. */
  headers: Record<string, string | undefined>;
  /** Body bytes received. */
  bytes: number;
  /** From connecting to the end of the body. */
  elapsedMs: number;
  /** From connecting to the first body byte (to the end of the head for an empty body). */
  firstByteMs: number;
  /** SHA-256 of the body, when asked for. */
  sha256?: string;
}

const KEPT_HEADERS = new Set(['content-length', 'content-range', 'content-type', 'etag', 'x-cache', 'transfer-encoding']);

function parseHead(head: string): { status: number; headers: Record<string, string | undefined> } {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1];
  if (status === undefined) throw new Error(`not an HTTP/1.1 status line: ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string | undefined> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    if (colon > 0 && KEPT_HEADERS.has(name)) headers[name] = line.slice(colon + 1).trim();
  }
  return { status: Number(status), headers };
}

/** GET `target` (path and query) from `origin` (http://host:port); never buffers the body. */
export function readObject(
  origin: string,
  target: string,
  options: { headers?: Record<string, string>; hash?: boolean } = {},
): Promise<ReadResponse> {
  const url = new URL(origin);
  const hash = options.hash === true ? createHash('sha256') : undefined;
  const extra = Object.entries(options.headers ?? {}).map(([name, value]) => `${name}: ${value}\r\n`);
  const request = `GET ${target} HTTP/1.1\r\nHost: ${url.host}\r\n${extra.join('')}Connection: close\r\n\r\n`;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const response: ReadResponse = { status: 0, headers: {}, bytes: 0, elapsedMs: 0, firstByteMs: 0 };
    let head: Buffer | undefined = Buffer.alloc(0);
    let expected: number | undefined;
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (err !== undefined) {
        reject(err);
        return;
      }
      response.elapsedMs = performance.now() - started;
      if (hash !== undefined) response.sha256 = hash.digest('hex');
      resolve(response);
    };
    const body = (bytes: Buffer): void => {
      if (response.bytes === 0 && bytes.length > 0) response.firstByteMs = performance.now() - started;
      response.bytes += bytes.length;
      hash?.update(bytes);
      if (expected !== undefined && response.bytes >= expected) {
        finish(response.bytes === expected ? undefined : new Error(`${origin}${target}: more body bytes than Content-Length`));
      }
    };
    const onRead = (length: number, buffer: Buffer): boolean => {
      if (head === undefined) {
        body(buffer.subarray(0, length));
        return true;
      }
      head = Buffer.concat([head, buffer.subarray(0, length)]);
      const end = head.indexOf(HEAD_END);
      if (end === -1) {
        if (head.length > MAX_HEAD_BYTES) finish(new Error(`${origin}${target}: response head too large`));
        return true;
      }
      try {
        Object.assign(response, parseHead(head.subarray(0, end).toString('latin1')));
      } catch (err) {
        finish(err as Error);
        return false;
      }
      if (response.headers['transfer-encoding'] !== undefined) {
        finish(new Error(`${origin}${target}: a chunked answer, which this reader does not decode`));
        return false;
      }
      const contentLength = response.headers['content-length'];
      expected = contentLength === undefined ? undefined : Number(contentLength);
      const rest = head.subarray(end + HEAD_END.length);
      head = undefined;
      if (expected === 0) {
        response.firstByteMs = performance.now() - started;
        finish();
      } else body(rest);
      return true;
    };
    const socket = connect({
      host: url.hostname,
      port: Number(url.port),
      onread: { buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES), callback: onRead },
    });
    socket.setTimeout(TIMEOUT_MS, () => finish(new Error(`${origin}${target}: no data for ${TIMEOUT_MS} ms`)));
    socket.on('error', (err) => finish(err));
    socket.on('connect', () => socket.write(request));
    socket.on('close', () => {
      if (head !== undefined || expected !== undefined) finish(new Error(`${origin}${target}: connection closed after ${response.bytes} body bytes`));
      else finish();
    });
  });
}

/** Where a timed read goes, and whose CPU counts as the server's. */
export interface ReadSubject {
  name: string;
  url: string;
  /** Request target (path and query) of the object on this server. */
  target: string;
  pids: readonly number[];
}

export interface TimedRead {
  response: ReadResponse;
  cpu: CpuUsed;
}

/** `readObject` with the CPU the client, the subject's processes and the rest of the machine used meanwhile. */
export async function timedRead(subject: ReadSubject): Promise<TimedRead> {
  const before = await readCpu(subject.pids);
  const clientBefore = process.cpuUsage();
  const response = await readObject(subject.url, subject.target);
  const client = process.cpuUsage(clientBefore);
  const after = await readCpu(subject.pids);
  return { response, cpu: cpuUsed((client.user + client.system) / 1000, before, after) };
}
