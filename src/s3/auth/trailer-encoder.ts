import { Transform, type TransformCallback } from 'node:stream';

/**
 * Frames a verified body as aws-chunked with unsigned trailers (STREAMING-UNSIGNED-PAYLOAD-TRAILER)
 * so the upstream receives the client's trailing checksums and stores them with the object.
 */
export class TrailerEncoder extends Transform {
  constructor(private readonly trailers: () => Record<string, string>, private readonly names: readonly string[]) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length > 0) this.push(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]));
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const values = this.trailers();
    const lines = this.names.map((name) => `${name}:${values[name] ?? ''}\r\n`).join('');
    this.push(Buffer.from(`0\r\n${lines}\r\n`));
    callback();
  }
}
