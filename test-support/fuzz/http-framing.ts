/**
 * What the bytes of a request and of its responses say about where each message ends, read the
 * way Node's HTTP parser reads them. Used to tell a server that waits for bytes the client never
 * sent (fine) from one that has the whole request and does not answer (a hang).
 */

export type RequestFraming =
  /** The whole first request is there; `leftover` bytes follow it (a second request, or garbage). */
  | { kind: 'complete'; method: string; leftover: number }
  /** The parser needs more bytes than were sent: waiting is the server's right. */
  | { kind: 'incomplete'; method: string }
  /** The parser must reject it at once. */
  | { kind: 'invalid'; method: string };

const MAX_CONTENT_LENGTH = 2n ** 64n - 1n;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function requestFraming(bytes: Buffer): RequestFraming {
  const headEnd = bytes.indexOf('\r\n\r\n');
  const firstSpace = bytes.indexOf(' ');
  const method = bytes.subarray(0, firstSpace === -1 ? Math.min(bytes.length, 16) : firstSpace).toString('latin1');
  if (headEnd === -1) return { kind: 'incomplete', method };
  const lines = bytes.subarray(0, headEnd).toString('latin1').split('\r\n');
  const lengths: string[] = [];
  const encodings: string[] = [];
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) return { kind: 'invalid', method };
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') lengths.push(value);
    if (name === 'transfer-encoding') encodings.push(value);
  }
  const bodyStart = headEnd + 4;
  if (encodings.length > 0) {
    if (lengths.length > 0) return { kind: 'invalid', method };
    const codings = encodings.join(',').split(',').map((c) => c.trim().toLowerCase());
    if (codings[codings.length - 1] !== 'chunked') return { kind: 'invalid', method };
    const end = chunkedEnd(bytes, bodyStart);
    if (end === 'invalid') return { kind: 'invalid', method };
    if (end === 'incomplete') return { kind: 'incomplete', method };
    return { kind: 'complete', method, leftover: bytes.length - end };
  }
  if (lengths.length > 0) {
    if (lengths.some((l) => l !== lengths[0]) || !/^\d+$/.test(lengths[0] ?? '')) return { kind: 'invalid', method };
    // The parser takes any length that fits in 64 bits, and then waits for that many bytes.
    const length = BigInt(lengths[0] as string);
    if (length > MAX_CONTENT_LENGTH) return { kind: 'invalid', method };
    if (BigInt(bytes.length - bodyStart) < length) return { kind: 'incomplete', method };
    return { kind: 'complete', method, leftover: bytes.length - bodyStart - Number(length) };
  }
  return { kind: 'complete', method, leftover: bytes.length - bodyStart };
}

/** Offset just past a chunked body starting at `start`. */
function chunkedEnd(bytes: Buffer, start: number): number | 'incomplete' | 'invalid' {
  let at = start;
  for (;;) {
    const eol = bytes.indexOf('\r\n', at);
    if (eol === -1) return 'incomplete';
    const sizeText = bytes.subarray(at, eol).toString('latin1').split(';')[0]?.trim() ?? '';
    if (!/^[0-9a-fA-F]{1,16}$/.test(sizeText)) return 'invalid';
    const size = Number.parseInt(sizeText, 16);
    at = eol + 2;
    if (size === 0) {
      for (;;) {
        const end = bytes.indexOf('\r\n', at);
        if (end === -1) return 'incomplete';
        if (end === at) return at + 2;
        at = end + 2;
      }
    }
    if (bytes.length < at + size + 2) return 'incomplete';
    if (bytes[at + size] !== 0x0d || bytes[at + size + 1] !== 0x0a) return 'invalid';
    at += size + 2;
  }
}

export interface ParsedResponse {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
}

/** Reads HTTP/1.1 responses from a stream of bytes, skipping 1xx answers. */
export class ResponseReader {
  readonly responses: ParsedResponse[] = [];
  /** Set while a response has started but not ended. */
  partial: ParsedResponse | undefined;
  private buffer: Buffer = Buffer.alloc(0);
  private bodyMode: { kind: 'length'; remaining: number } | { kind: 'chunked' } | { kind: 'close' } | undefined;
  private chunks: Buffer[] = [];
  malformed = false;

  /** `firstIsHead`: the first request was a HEAD, so its response has no body. */
  constructor(private readonly firstIsHead: boolean) {}

  push(data: Buffer): void {
    this.buffer = this.buffer.length === 0 ? data : Buffer.concat([this.buffer, data]);
    this.parse();
  }

  /** The server closed the connection: a close-delimited body ends here. */
  end(): void {
    if (this.partial !== undefined && this.bodyMode?.kind === 'close') {
      this.chunks.push(this.buffer);
      this.finish();
    }
  }

  private parse(): void {
    for (;;) {
      if (this.malformed) return;
      if (this.partial === undefined) {
        const headEnd = this.buffer.indexOf('\r\n\r\n');
        if (headEnd === -1) return;
        const lines = this.buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
        this.buffer = this.buffer.subarray(headEnd + 4);
        const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
        if (match === null) {
          this.malformed = true;
          return;
        }
        const status = Number(match[1]);
        const headers = new Map<string, string>();
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          if (colon > 0) {
            const name = line.slice(0, colon).trim().toLowerCase();
            const value = line.slice(colon + 1).trim();
            headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
          }
        }
        if (status >= 100 && status < 200) continue;
        this.partial = { status, headers, body: Buffer.alloc(0) };
        this.chunks = [];
        const noBody = (this.responses.length === 0 && this.firstIsHead) || status === 204 || status === 304;
        if (noBody) this.bodyMode = { kind: 'length', remaining: 0 };
        else if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) this.bodyMode = { kind: 'chunked' };
        else if (headers.has('content-length')) this.bodyMode = { kind: 'length', remaining: Number(headers.get('content-length')) };
        else this.bodyMode = { kind: 'close' };
      }
      if (!this.readBody()) return;
    }
  }

  /** True when the current response ended. */
  private readBody(): boolean {
    const mode = this.bodyMode;
    if (mode === undefined) return false;
    if (mode.kind === 'close') return false;
    if (mode.kind === 'length') {
      const take = Math.min(mode.remaining, this.buffer.length);
      this.chunks.push(this.buffer.subarray(0, take));
      this.buffer = this.buffer.subarray(take);
      mode.remaining -= take;
      if (mode.remaining > 0) return false;
      this.finish();
      return true;
    }
    for (;;) {
      const eol = this.buffer.indexOf('\r\n');
      if (eol === -1) return false;
      const size = Number.parseInt(this.buffer.subarray(0, eol).toString('latin1'), 16);
      if (Number.isNaN(size)) {
        this.malformed = true;
        return false;
      }
      if (size === 0) {
        const end = this.buffer.indexOf('\r\n\r\n', eol);
        if (end === -1) return false;
        this.buffer = this.buffer.subarray(end + 4);
        this.finish();
        return true;
      }
      if (this.buffer.length < eol + 2 + size + 2) return false;
      this.chunks.push(this.buffer.subarray(eol + 2, eol + 2 + size));
      this.buffer = this.buffer.subarray(eol + 2 + size + 2);
    }
  }

  private finish(): void {
    const response = this.partial as ParsedResponse;
    response.body = Buffer.concat(this.chunks);
    this.responses.push(response);
    this.partial = undefined;
    this.bodyMode = undefined;
    this.chunks = [];
  }
}
