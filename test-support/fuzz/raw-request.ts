import { createHmac } from 'node:crypto';
import { sha256Hex } from '../../src/sha256.js';

/**
 * A request as bytes on the wire, kept in parts so that mutations can work on its structure
 * before it is serialized. Strings are byte strings (latin1): a mutation can put any byte anywhere.
 */
export interface RawRequest {
  method: string;
  target: string;
  version: string;
  /** In wire order; names and values as written. */
  headers: Array<[string, string]>;
  body: Buffer | AwsChunkedBody;
  framing: Framing;
}

/** How the body is delimited on the wire. */
export type Framing =
  /** Every Content-Length header says the body's true length (one is added for a non-empty body). */
  | { kind: 'length' }
  /** Content-Length written as `text`, or as the true length plus `delta`. */
  | { kind: 'length-edit'; text?: string; delta?: number }
  /** Two Content-Length headers: the true length and the same again or a different one. */
  | { kind: 'length-duplicate'; differ: boolean }
  /** Transfer-Encoding: chunked framing of the body, optionally damaged. */
  | { kind: 'chunked'; pieceBytes: number; edit?: HttpChunkEdit; keepLength?: boolean }
  /** Headers exactly as they are, body bytes after them: whatever framing the headers claim. */
  | { kind: 'as-is' };

export type HttpChunkEdit =
  | 'bad-hex'
  | 'no-last-chunk'
  | 'size-too-large'
  | 'size-too-small'
  | 'extension'
  | 'trailer'
  | 'lf-only'
  | 'leading-zeros'
  | 'huge-size'
  | 'negative-size';

/** One chunk of an aws-chunked body. */
export interface AwsChunk {
  data: Buffer;
  /** The size as written, when a mutation lies about it. */
  sizeText?: string;
  /** Everything between the size and the line end, verbatim, replacing the chunk-signature extension. */
  extensionText?: string;
  /** 'valid' is computed when the body is written; 'none' leaves the extension out. */
  signature: 'valid' | 'none' | { text: string };
  /** What follows the data; CRLF unless mutated. */
  dataEnd?: string;
}

/** What chunk signatures chain from, known once the request's headers are signed. */
export interface ChunkSigningContext {
  signingKey: Buffer;
  amzDate: string;
  scope: string;
  seedSignature: string;
  signedTrailer: boolean;
}

/** An aws-chunked body (`<hex>;chunk-signature=..\r\n<data>\r\n ... 0..\r\n<trailers>\r\n`), kept structured. */
export interface AwsChunkedBody {
  kind: 'aws-chunked';
  chunks: AwsChunk[];
  /** The zero-size last chunk; undefined when a mutation dropped it. */
  final: AwsChunk | undefined;
  /** Trailer lines; 'crc32' stands for the CRC32 of the data actually sent. */
  trailers: Array<[string, string | 'crc32']>;
  /** x-amz-trailer-signature for signed-trailer bodies: computed, left out, or verbatim. */
  trailerSignature: 'valid' | 'none' | { text: string };
  /** What ends the body after the trailers; CRLF unless mutated. */
  endText?: string;
  signing?: ChunkSigningContext;
}

export function cloneRequest(req: RawRequest): RawRequest {
  return {
    method: req.method,
    target: req.target,
    version: req.version,
    headers: req.headers.map(([n, v]) => [n, v]),
    body: Buffer.isBuffer(req.body) ? Buffer.from(req.body) : cloneAwsChunked(req.body),
    framing: { ...req.framing },
  };
}

function cloneAwsChunked(body: AwsChunkedBody): AwsChunkedBody {
  const chunk = (c: AwsChunk): AwsChunk => ({ ...c, data: Buffer.from(c.data) });
  return {
    ...body,
    chunks: body.chunks.map(chunk),
    final: body.final && chunk(body.final),
    trailers: body.trailers.map(([n, v]) => [n, v]),
  };
}

export function getHeader(req: RawRequest, name: string): string | undefined {
  const lower = name.toLowerCase();
  return req.headers.find(([n]) => n.toLowerCase() === lower)?.[1];
}

export function hasHeader(req: RawRequest, name: string): boolean {
  return getHeader(req, name) !== undefined;
}

/** Replaces the first header of that name (dropping later ones), or appends it. */
export function setHeader(req: RawRequest, name: string, value: string): void {
  const lower = name.toLowerCase();
  const at = req.headers.findIndex(([n]) => n.toLowerCase() === lower);
  if (at === -1) {
    req.headers.push([name, value]);
    return;
  }
  req.headers[at] = [req.headers[at]?.[0] ?? name, value];
  req.headers = req.headers.filter(([n], i) => i <= at || n.toLowerCase() !== lower);
}

export function removeHeader(req: RawRequest, name: string): void {
  const lower = name.toLowerCase();
  req.headers = req.headers.filter(([n]) => n.toLowerCase() !== lower);
}

/** The body as the application sees it: aws-chunked data joined, transport framing aside. */
export function decodedBody(req: RawRequest): Buffer {
  if (Buffer.isBuffer(req.body)) return req.body;
  return Buffer.concat(req.body.chunks.map((c) => c.data));
}

/** The body bytes before transport framing: aws-chunked framing is written here, signatures included. */
export function entityBytes(req: RawRequest): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : writeAwsChunked(req.body);
}

function writeAwsChunked(body: AwsChunkedBody): Buffer {
  const signing = body.signing;
  let previous = signing?.seedSignature;
  const parts: Buffer[] = [];
  const chunkSignature = (data: Buffer): string | undefined => {
    if (signing === undefined || previous === undefined) return undefined;
    const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', signing.amzDate, signing.scope, previous, sha256Hex(''), sha256Hex(data)].join('\n');
    previous = createHmac('sha256', signing.signingKey).update(stringToSign).digest('hex');
    return previous;
  };
  const writeChunk = (chunk: AwsChunk, last: boolean): void => {
    const valid = chunkSignature(chunk.data);
    const signature = chunk.signature === 'valid' ? valid : chunk.signature === 'none' ? undefined : chunk.signature.text;
    const extension = chunk.extensionText ?? (signature === undefined ? '' : `;chunk-signature=${signature}`);
    parts.push(Buffer.from(`${chunk.sizeText ?? chunk.data.length.toString(16)}${extension}\r\n`, 'latin1'));
    if (last) return;
    parts.push(chunk.data, Buffer.from(chunk.dataEnd ?? '\r\n', 'latin1'));
  };
  for (const chunk of body.chunks) writeChunk(chunk, false);
  if (body.final !== undefined) writeChunk(body.final, true);
  const crc = crc32Base64(Buffer.concat(body.chunks.map((c) => c.data)));
  const trailerLines = body.trailers.map(([name, value]) => `${name}:${value === 'crc32' ? crc : value}`);
  if (signing?.signedTrailer && body.trailerSignature !== 'none' && previous !== undefined) {
    let value: string;
    if (body.trailerSignature === 'valid') {
      const canonical = trailerLines.map((line) => `${line}\n`).join('');
      const stringToSign = ['AWS4-HMAC-SHA256-TRAILER', signing.amzDate, signing.scope, previous, sha256Hex(canonical)].join('\n');
      value = createHmac('sha256', signing.signingKey).update(stringToSign).digest('hex');
    } else value = body.trailerSignature.text;
    trailerLines.push(`x-amz-trailer-signature:${value}`);
  }
  parts.push(Buffer.from(`${trailerLines.map((l) => `${l}\r\n`).join('')}${body.endText ?? '\r\n'}`, 'latin1'));
  return Buffer.concat(parts);
}

export function crc32Base64(data: Buffer): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data));
  return out.toString('base64');
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE), as S3's x-amz-checksum-crc32 uses it. */
export function crc32(data: Buffer): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = (crcTable[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Writes the request: request line, headers adjusted to the framing, and the framed body. */
export function serialize(req: RawRequest): Buffer {
  const entity = entityBytes(req);
  let headers = req.headers.map(([n, v]): [string, string] => [n, v]);
  const isLength = (n: string): boolean => n.toLowerCase() === 'content-length';
  let body = entity;
  const framing = req.framing;
  switch (framing.kind) {
    case 'length': {
      const length = String(entity.length);
      if (headers.some(([n]) => isLength(n))) headers = headers.map(([n, v]) => [n, isLength(n) ? length : v]);
      else if (entity.length > 0) headers.push(['Content-Length', length]);
      break;
    }
    case 'length-duplicate': {
      const length = String(entity.length);
      headers = headers.filter(([n]) => !isLength(n));
      headers.push(['Content-Length', length], ['Content-Length', framing.differ ? String(entity.length + 1) : length]);
      break;
    }
    case 'length-edit': {
      const text = framing.text ?? String(entity.length + (framing.delta ?? 0));
      if (headers.some(([n]) => isLength(n))) headers = headers.map(([n, v]) => [n, isLength(n) ? text : v]);
      else headers.push(['Content-Length', text]);
      break;
    }
    case 'chunked':
      if (!framing.keepLength) headers = headers.filter(([n]) => !isLength(n));
      if (!headers.some(([n]) => n.toLowerCase() === 'transfer-encoding')) headers.push(['Transfer-Encoding', 'chunked']);
      body = httpChunked(entity, framing.pieceBytes, framing.edit);
      break;
    case 'as-is':
      break;
  }
  const head = `${req.method} ${req.target} ${req.version}\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), body]);
}

function httpChunked(entity: Buffer, pieceBytes: number, edit: HttpChunkEdit | undefined): Buffer {
  const parts: Buffer[] = [];
  const eol = edit === 'lf-only' ? '\n' : '\r\n';
  const size = Math.max(1, pieceBytes);
  let first = true;
  for (let at = 0; at < entity.length; at += size) {
    const piece = entity.subarray(at, at + size);
    let sizeText = piece.length.toString(16);
    if (first) {
      if (edit === 'bad-hex') sizeText = `${sizeText}g`;
      if (edit === 'size-too-large') sizeText = (piece.length + 3).toString(16);
      if (edit === 'size-too-small') sizeText = Math.max(0, piece.length - 1).toString(16);
      if (edit === 'extension') sizeText = `${sizeText};name="value";x=${'y'.repeat(40)}`;
      if (edit === 'leading-zeros') sizeText = `0000000000000000${sizeText}`;
      if (edit === 'huge-size') sizeText = 'fffffffffffffffff';
      if (edit === 'negative-size') sizeText = `-${sizeText}`;
    }
    first = false;
    parts.push(Buffer.from(`${sizeText}${eol}`, 'latin1'), piece, Buffer.from(eol, 'latin1'));
  }
  if (edit !== 'no-last-chunk') {
    const trailer = edit === 'trailer' ? `x-amz-checksum-crc32: AAAAAA==${eol}Content-Length: 5${eol}` : '';
    parts.push(Buffer.from(`0${eol}${trailer}${eol}`, 'latin1'));
  }
  return Buffer.concat(parts);
}
