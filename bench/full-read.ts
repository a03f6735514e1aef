import { createHash } from 'node:crypto';
import { Client, type Dispatcher } from 'undici';
import { type CpuUsed, cpuUsed, readCpu } from './measure.js';

/**
 * One GET of a whole (large) object on a fresh connection, its body counted (and optionally hashed), never kept:
 * how fast one client can read it from a server.
 */

const TIMEOUT_MS = 120_000;

export interface ReadResponse {
  status: number;
  /** Response headers the bench looks at, lower-case names. */
  headers: Record<string, string | undefined>;
  /** Body bytes received. */
  bytes: number;
  /** From sending the request to the end of the body. */
  elapsedMs: number;
  /** SHA-256 of the body, when asked for. */
  sha256?: string;
}

const KEPT_HEADERS = ['content-length', 'content-range', 'content-type', 'etag', 'x-cache'] as const;

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** GET `target` (path and query) from `origin`; never buffers the body. */
export async function readObject(
  origin: string,
  target: string,
  options: { headers?: Record<string, string>; hash?: boolean } = {},
): Promise<ReadResponse> {
  const client = new Client(origin, { headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS });
  const hash = options.hash === true ? createHash('sha256') : undefined;
  try {
    return await new Promise<ReadResponse>((resolve, reject) => {
      const started = performance.now();
      const response: ReadResponse = { status: 0, headers: {}, bytes: 0, elapsedMs: 0 };
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart: () => {},
        onResponseStart: (_controller, statusCode, headers) => {
          response.status = statusCode;
          for (const name of KEPT_HEADERS) response.headers[name] = headerText(headers[name]);
        },
        onResponseData: (_controller, chunk) => {
          response.bytes += chunk.length;
          hash?.update(chunk);
        },
        onResponseEnd: () => {
          response.elapsedMs = performance.now() - started;
          if (hash !== undefined) response.sha256 = hash.digest('hex');
          resolve(response);
        },
        onResponseError: (_controller, error) => reject(error),
      };
      client.dispatch({ method: 'GET', path: target, headers: options.headers }, handler);
    });
  } finally {
    await client.close();
  }
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
