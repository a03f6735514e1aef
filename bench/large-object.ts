import { createCipheriv, createHash, type Hash, randomBytes } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SeededObject } from './objects.js';
import { BENCH_BUCKET } from './shared.js';

export const MIB = 1024 * 1024;
const CHUNK_BYTES = MIB;
const CONTENT_TYPE = 'application/octet-stream';

export interface LargeObjectSpec {
  label: string;
  key: string;
  size: number;
}

/** e.g. "1 GiB" for 1024 MiB, "64 MiB" otherwise. */
export function sizeLabel(bytes: number): string {
  const mib = bytes / MIB;
  return mib % 1024 === 0 ? `${mib / 1024} GiB` : `${mib} MiB`;
}

/**
 * Incompressible pseudo-random bytes (an AES-CTR keystream under a random key, several times faster than
 * randomBytes), one chunk at a time: each is hashed and written to `file` before it is handed on.
 */
async function* randomChunks(size: number, hash: Hash, file: FileHandle): AsyncGenerator<Buffer> {
  const keystream = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(CHUNK_BYTES);
  for (let offset = 0; offset < size; offset += CHUNK_BYTES) {
    const chunk = keystream.update(zeros.subarray(0, Math.min(CHUNK_BYTES, size - offset)));
    hash.update(chunk);
    await file.write(chunk);
    yield chunk;
  }
}

async function readText(response: IncomingMessage): Promise<string> {
  let text = '';
  response.setEncoding('utf8');
  for await (const chunk of response) text += chunk;
  return text;
}

/**
 * Puts a random object of `spec.size` bytes into the upstream as one streamed PUT, writing the same bytes to a file
 * under `dir` on the way (the bare server's copy, and what ranges are checked against). The object is never held in
 * memory in one piece.
 */
export async function seedLargeObject(upstream: URL, dir: string, spec: LargeObjectSpec): Promise<SeededObject> {
  const path = `/${BENCH_BUCKET}/${spec.key}`;
  const file = join(dir, spec.key);
  const hash = createHash('sha256');
  const handle = await open(file, 'w');
  try {
    // The embedded upstream accepts unsigned requests.
    const request = httpRequest(new URL(path, upstream), {
      method: 'PUT',
      headers: { 'content-length': String(spec.size), 'content-type': CONTENT_TYPE },
    });
    const answered = new Promise<IncomingMessage>((resolve) => request.once('response', resolve));
    await pipeline(Readable.from(randomChunks(spec.size, hash, handle)), request);
    const response = await answered;
    const body = await readText(response);
    const etag = response.headers.etag;
    if (response.statusCode !== 200 || etag === undefined) {
      throw new Error(`putting ${path} into the upstream answered ${response.statusCode}: ${body.slice(0, 200)}`);
    }
    return { label: spec.label, path, file, contentType: CONTENT_TYPE, etag, size: spec.size, sha256: hash.digest('hex') };
  } finally {
    await handle.close();
  }
}

/** Bytes `first` to `first + length - 1` of the object's copy on disk. */
export async function readSlice(object: SeededObject, first: number, length: number): Promise<Buffer> {
  const handle = await open(object.file, 'r');
  try {
    const slice = Buffer.alloc(length);
    const { bytesRead } = await handle.read(slice, 0, length, first);
    if (bytesRead !== length) throw new Error(`${object.file}: read ${bytesRead} of ${length} bytes at ${first}`);
    return slice;
  } finally {
    await handle.close();
  }
}
