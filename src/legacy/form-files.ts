import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import busboy from 'busboy';
import { LegacyError, S3Error } from '../errors.js';
import { drainBody } from '../http/discard-body.js';

export interface FormFile {
  name: string;
  contentType: string;
  size: number;
  /** A fresh stream of the file's bytes each call. */
  open(): Readable | Buffer;
}

export interface ParsedForm {
  files: FormFile[];
  /** Removes any temporary files. */
  dispose(): Promise<void>;
}

export interface FormLimits {
  /** The form field whose files are wanted. */
  field: string;
  /** File data kept in memory for the whole form; the rest spills to temporary files. */
  memoryBytes: number;
  /** Most file parts (of any field) a form may have. */
  maxFiles: number;
}

/** Non-file fields are ignored but still parsed: few and small. */
const MAX_FIELDS = 100;
const MAX_FIELD_BYTES = 64 * 1024;

const ignore = (): void => {};

/**
 * Reads the files of one field of a multipart form from `body`. Up to `memoryBytes` of file data
 * stay in memory (shared by all files of the form); a file that does not fit is written to a
 * temporary file. A form with more than `maxFiles` files is refused with 413 as soon as the part
 * past the limit starts, so nothing of it is kept. `body` is read to its end only on success.
 */
export async function parseFormFiles(headers: IncomingHttpHeaders, body: Readable, limits: FormLimits): Promise<ParsedForm> {
  if (!/^multipart\/form-data/i.test(headers['content-type'] ?? '')) {
    throw new LegacyError(400, 'Expecting a multipart form');
  }
  let spoolDir: string | undefined;
  const dispose = async (): Promise<void> => {
    if (spoolDir !== undefined) await rm(spoolDir, { recursive: true, force: true });
  };
  const files: FormFile[] = [];
  let memoryLeft = limits.memoryBytes;
  const pending: Array<Promise<void>> = [];
  /** The file parts being read, so a form that fails can end them (each read waits for its part's end). */
  const parts: Readable[] = [];

  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers,
      limits: { files: limits.maxFiles, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES, parts: limits.maxFiles + MAX_FIELDS },
    });
  } catch {
    throw new LegacyError(400, 'Expecting a multipart form');
  }
  const stop = (err: Error): void => {
    body.unpipe(parser);
    parser.destroy(err);
  };
  parser.on('filesLimit', () => stop(new LegacyError(413, `Too many files in the multipart form: at most ${limits.maxFiles}`)));
  parser.on('partsLimit', () => stop(new LegacyError(413, 'Too many parts in the multipart form')));
  parser.on('fieldsLimit', () => stop(new LegacyError(413, 'Too many parts in the multipart form')));
  parser.on('file', (name, stream, info) => {
    if (name !== limits.field) {
      drainBody(stream, Number.POSITIVE_INFINITY);
      return;
    }
    parts.push(stream);
    const fileName = basename(info.filename ?? '') || 'file';
    const contentType = info.mimeType || 'application/octet-stream';
    const reading = (async () => {
      const chunks: Buffer[] = [];
      let size = 0;
      let spoolPath: string | undefined;
      let spool: ReturnType<typeof createWriteStream> | undefined;
      for await (const chunk of stream) {
        const buf = chunk as Buffer;
        size += buf.length;
        if (spool === undefined && buf.length <= memoryLeft) {
          memoryLeft -= buf.length;
          chunks.push(buf);
          continue;
        }
        if (spool === undefined) {
          spoolDir ??= await mkdtemp(join(tmpdir(), 'falcon-upload-'));
          spoolPath = join(spoolDir, String(files.length + pending.length + Math.random()).replace('.', ''));
          spool = createWriteStream(spoolPath);
          // A failed write (a full disk) ends the loop above with that error.
          spool.on('error', (err) => stream.destroy(err));
          for (const c of chunks) memoryLeft += c.length;
          for (const c of chunks.splice(0)) if (!spool.write(c)) await once(spool, 'drain');
        }
        if (!spool.write(buf)) await once(spool, 'drain');
      }
      if (spool !== undefined && spoolPath !== undefined) {
        const path = spoolPath;
        await new Promise<void>((resolve, reject) => spool.end((err?: Error | null) => (err ? reject(err) : resolve())));
        files.push({ name: fileName, contentType, size, open: () => createReadStream(path) });
      } else {
        const bytes = Buffer.concat(chunks, size);
        files.push({ name: fileName, contentType, size, open: () => bytes });
      }
    })();
    // Observed by Promise.all below; a part that fails before then must not be an unhandled rejection.
    reading.catch(ignore);
    pending.push(reading);
  });
  body.on('error', (err) => parser.destroy(err));
  try {
    body.pipe(parser);
    await finished(parser);
    await Promise.all(pending);
  } catch (err) {
    body.unpipe(parser);
    // The parser may still have a part open (busboy reports a malformed header and reads on), and a
    // read that waits for that part's end would wait forever.
    parser.destroy();
    for (const part of parts) part.destroy();
    await Promise.allSettled(pending);
    await dispose();
    if (err instanceof LegacyError || err instanceof S3Error) throw err;
    throw new LegacyError(400, 'Expecting a multipart form');
  }
  return { files, dispose };
}
