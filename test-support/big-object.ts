import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, mkdtemp, open, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { freemem, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import FilesystemStore from 's3rver/lib/stores/filesystem.js';
import { request } from 'undici';

export const MIB = 1024 * 1024;
export const GIB = 1024 * MIB;

/** Bytes generated at a time: no test holds more than a chunk or a few of an object it writes or checks. */
const CHUNK_BYTES = MIB;
/** Every STAMP_STRIDE bytes the chunk carries its absolute offset, so no two windows of an object match. */
const STAMP_STRIDE = 4096;

/**
 * A large object's bytes, a pure function of a seed and an offset: random-looking bytes of the seed,
 * with the absolute offset written every 4 KiB so that a block served at the wrong place never hashes
 * right. Produced chunk by chunk, for any range, so objects of gigabytes are written and checked
 * without being held in memory.
 */
export class BigObject {
  private readonly base: Buffer;

  constructor(
    readonly seed: string,
    readonly size: number,
  ) {
    const key = createHash('sha256').update(seed).digest();
    const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
    this.base = Buffer.concat([cipher.update(Buffer.alloc(CHUNK_BYTES)), cipher.final()]);
  }

  /**
   * Bytes [start, end) in chunks of at most 1 MiB, all views of one buffer: each is valid until the
   * next is asked for. Fresh memory for every chunk would cost more than the bytes themselves.
   */
  *views(start = 0, end = this.size): Generator<Buffer> {
    if (start < 0 || end > this.size || start > end) throw new RangeError(`bytes ${start}-${end} of a ${this.size}-byte object`);
    const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
    for (let index = Math.floor(start / CHUNK_BYTES); index * CHUNK_BYTES < end; index++) {
      this.fill(chunk, index);
      const chunkStart = index * CHUNK_BYTES;
      yield chunk.subarray(Math.max(0, start - chunkStart), Math.min(CHUNK_BYTES, end - chunkStart));
    }
  }

  /** Bytes [start, end) as a byte stream, for request bodies. */
  stream(start = 0, end = this.size): Readable {
    const views = this.views(start, end);
    return Readable.from(
      (function* () {
        for (const view of views) yield Buffer.from(view);
      })(),
      { objectMode: false, highWaterMark: 4 * CHUNK_BYTES },
    );
  }

  /** SHA-256 of bytes [start, end), computed chunk by chunk. */
  sha256(start = 0, end = this.size): string {
    const hash = createHash('sha256');
    for (const view of this.views(start, end)) hash.update(view);
    return hash.digest('hex');
  }

  private fill(chunk: Buffer, index: number): void {
    this.base.copy(chunk);
    for (let at = 0; at < CHUNK_BYTES; at += STAMP_STRIDE) {
      const offset = index * CHUNK_BYTES + at;
      chunk.writeUInt32LE(offset % 2 ** 32, at);
      chunk.writeUInt32LE(Math.floor(offset / 2 ** 32), at + 4);
    }
  }
}

/**
 * Stores the object straight into an upstream that takes unsigned writes (the embedded s3rver),
 * streaming it in a PUT.
 */
export async function putBigObject(endpoint: URL, bucket: string, key: string, object: BigObject): Promise<void> {
  // A connection of its own, so none is reused just as the server closes it.
  const res = await request(`${endpoint.origin}/${bucket}/${encodeURIComponent(key).replaceAll('%2F', '/')}`, {
    method: 'PUT',
    body: object.stream(),
    headers: { 'content-length': String(object.size) },
    reset: true,
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const answer = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`seeding ${bucket}/${key}: ${res.statusCode} ${answer}`);
}

/** Part size of the multipart upload the stored objects pretend to come from, for their ETag. */
const PART_BYTES = 8 * MIB;

/**
 * Writes the object into the folder an embedded upstream (s3rver) serves, as s3rver's store lays it
 * out, streaming: many times quicker for gigabytes than a PUT through the local upstream, which
 * spools every body to a temporary file and hashes it with MD5 on the way. The ETag is shaped like
 * the one S3 gives an object uploaded in parts (a hash, a dash, the part count), as large objects
 * are; clients do not check such an ETag against the bytes. Resolves with the bytes' SHA-256 and the
 * ETag.
 */
export async function storeBigObject(directory: string, bucket: string, key: string, object: BigObject): Promise<{ sha256: string; etag: string }> {
  const store = new FilesystemStore(directory);
  const path = store.getResourcePath(bucket, key, 'object');
  await mkdir(dirname(path), { recursive: true });
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  try {
    for (const view of object.views()) {
      hash.update(view);
      await file.write(view);
    }
  } finally {
    await file.close();
  }
  const sha256 = hash.digest('hex');
  const etag = `${sha256.slice(0, 32)}-${Math.max(1, Math.ceil(object.size / PART_BYTES))}`;
  await writeFile(`${path}.md5`, etag);
  await writeFile(store.getResourcePath(bucket, key, 'metadata.json'), JSON.stringify({ 'content-type': 'application/octet-stream' }));
  return { sha256, etag: `"${etag}"` };
}

const SHM = '/dev/shm';

/**
 * A new folder for gigabytes of test objects: in memory (/dev/shm) when it and the machine have room
 * to spare, since writing them to disk and reading them back costs more than the rest of the test;
 * else in the temporary folder. Its name carries the process id, so that folders left in memory by
 * a test process that was killed are found and removed by the next.
 */
export async function bigObjectsDirectory(prefix: string, bytes: number): Promise<string> {
  const spare = 4 * GIB;
  const shm = await statfs(SHM).catch(() => undefined);
  const inMemory = shm !== undefined && shm.bavail * shm.bsize > bytes + spare && freemem() > bytes + spare;
  if (!inMemory) return mkdtemp(join(tmpdir(), `${prefix}${process.pid}-`));
  for (const name of await readdir(SHM)) {
    const pid = Number(new RegExp(`^${prefix}(\\d+)-`).exec(name)?.[1]);
    if (pid > 0 && !alive(pid)) await rm(join(SHM, name), { recursive: true, force: true });
  }
  return mkdtemp(join(SHM, `${prefix}${process.pid}-`));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export interface ReadPacing {
  /** Stop reading this many times, spread evenly over the body. */
  pauses: number;
  pauseMs: number;
  /** Expected body length, to place the pauses. */
  bytes: number;
}

/** What a client received: its length and SHA-256. */
export interface ReadResult {
  bytes: number;
  sha256: string;
}

/**
 * Reads a body to its end, hashing it; a paced reader stops reading at evenly spread points, as a
 * slow consumer does, so the sender sees back-pressure, and then still reads everything.
 */
export async function readAll(body: AsyncIterable<Uint8Array>, pacing?: ReadPacing): Promise<ReadResult> {
  const hash = createHash('sha256');
  let bytes = 0;
  const every = pacing === undefined ? Number.POSITIVE_INFINITY : Math.max(1, Math.floor(pacing.bytes / (pacing.pauses + 1)));
  let nextPause = every;
  for await (const chunk of body) {
    hash.update(chunk);
    bytes += chunk.length;
    while (pacing !== undefined && bytes >= nextPause && nextPause <= every * pacing.pauses) {
      nextPause += every;
      await sleep(pacing.pauseMs);
    }
  }
  return { bytes, sha256: hash.digest('hex') };
}
