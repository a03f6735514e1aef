import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import aws4 from 'aws4';
import { CLIENT_CREDENTIALS } from './harness.js';

/** A request head for the node at `baseUrl`, signed as the SDKs sign, with `extra` headers (signed too) and a body of `body` bytes. */
export function signedHead(baseUrl: string, method: string, path: string, extra: Record<string, string> = {}, body?: Buffer): string {
  const host = new URL(baseUrl).host;
  const signed = aws4.sign(
    { host, path, method, service: 's3', region: 'us-east-1', headers: { ...extra, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, body },
    CLIENT_CREDENTIALS,
  );
  const lines = [`${method} ${path} HTTP/1.1`];
  for (const [name, value] of Object.entries(signed.headers ?? {})) lines.push(`${name}: ${String(value)}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/** Reads answers off one connection, in order: `next` is told each request's method (a HEAD's answer has no body). */
export class AnswerReader {
  private buffered = Buffer.alloc(0);
  private readonly waiting: Array<() => void> = [];
  private ended = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  private wake(): void {
    for (const resolve of this.waiting.splice(0)) resolve();
  }

  private async more(): Promise<void> {
    if (this.ended) throw new Error(`connection closed with ${this.buffered.length} bytes unread`);
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  async next(method: string): Promise<Answer> {
    let end = this.buffered.indexOf('\r\n\r\n');
    while (end === -1) {
      await this.more();
      end = this.buffered.indexOf('\r\n\r\n');
    }
    const [statusLine = '', ...lines] = this.buffered.subarray(0, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = method === 'HEAD' ? 0 : Number(headers['content-length'] ?? 0);
    while (this.buffered.length < end + 4 + length) await this.more();
    const body = Buffer.from(this.buffered.subarray(end + 4, end + 4 + length));
    this.buffered = this.buffered.subarray(end + 4 + length);
    return { status: Number(statusLine.split(' ')[1]), headers, body };
  }
}

/** A new connection to the node at `baseUrl`, its answers read in order. */
export async function openReader(baseUrl: string): Promise<AnswerReader> {
  const url = new URL(baseUrl);
  const socket = connect(Number(url.port), url.hostname);
  await once(socket, 'connect');
  return new AnswerReader(socket);
}
