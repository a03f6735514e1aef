import { connect } from 'node:net';

export interface RawResponse {
  /** 0 when the connection closed before a status line arrived. */
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface RawRequest {
  method: string;
  /** Path and query as sent on the request line. */
  path: string;
  /** Header names as given; Host is added. */
  headers: Record<string, string>;
  /**
   * The body exactly as sent, in pieces; each piece waits `gapMs` before it is written, so a test can
   * send a body slowly. Writing stops once a response arrived.
   */
  body: Buffer[];
  gapMs?: number;
  /** Close the connection once the body pieces are written, as a client that goes away mid-upload. */
  hangUp?: boolean;
}

/**
 * Sends one HTTP/1.1 request byte for byte over a new TCP connection (no client library that would
 * fix a Content-Length or the framing) and reads the response, answered early or not.
 */
export function rawRequest(baseUrl: string, request: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const socket = connect(Number(url.port), url.hostname);
  const head = [`${request.method} ${request.path} HTTP/1.1`, `Host: ${url.host}`, ...Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`)].join('\r\n');
  let received = Buffer.alloc(0);
  let answered = false;
  return new Promise<RawResponse>((resolve) => {
    const finish = (): void => {
      socket.destroy();
      resolve(parseResponse(received));
    };
    socket.on('data', (data: Buffer) => {
      received = Buffer.concat([received, data]);
      const parsed = parseResponse(received);
      const length = Number(parsed.headers['content-length'] ?? Number.NaN);
      if (parsed.status !== 0) answered = true;
      if (parsed.status !== 0 && Buffer.byteLength(parsed.body) >= length) finish();
    });
    socket.on('error', () => {});
    socket.on('close', finish);
    socket.on('connect', async () => {
      socket.write(`${head}\r\n\r\n`);
      for (const piece of request.body) {
        if (request.gapMs) await new Promise((r) => setTimeout(r, request.gapMs));
        if (answered || socket.destroyed) return;
        socket.write(piece);
      }
      if (request.hangUp) socket.destroy();
    });
  });
}

function parseResponse(bytes: Buffer): RawResponse {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) return { status: 0, headers: {}, body: '' };
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body: bytes.subarray(end + 4).toString('utf8') };
}
