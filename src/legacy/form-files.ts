import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import { LegacyError } from '../errors.js';
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

/**
 * Reads the `files` fields of a multipart form. Up to `memoryBytes` of file data stay in memory
 * (shared by all files of the form); a file that does not fit is written to a temporary file.
 */
export async function parseFormFiles(req: IncomingMessage, field: string, memoryBytes: number): Promise<ParsedForm> {
  if (!/^multipart\/form-data/i.test(req.headers['content-type'] ?? '')) {
    throw new LegacyError(400, 'Expecting a multipart form');
  }
  let spoolDir: string | undefined;
  const dispose = async (): Promise<void> => {
    if (spoolDir !== undefined) await rm(spoolDir, { recursive: true, force: true });
  };
  const files: FormFile[] = [];
  let memoryLeft = memoryBytes;
  const pending: Array<Promise<void>> = [];

  let parser: busboy.Busboy;
  try {
    parser = busboy({ headers: req.headers });
  } catch (err) {
    throw new LegacyError(400, 'Expecting a multipart form', { cause: String(err) });
  }
  parser.on('file', (name, stream, info) => {
    if (name !== field) {
      drainBody(stream, Number.POSITIVE_INFINITY);
      return;
    }
    const fileName = basename(info.filename ?? '') || 'file';
    const contentType = info.mimeType || 'application/octet-stream';
    pending.push(
      (async () => {
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
            for (const c of chunks) memoryLeft += c.length;
            for (const c of chunks.splice(0)) if (!spool.write(c)) await onceDrain(spool);
          }
          if (!spool.write(buf)) await onceDrain(spool);
        }
        if (spool !== undefined && spoolPath !== undefined) {
          const path = spoolPath;
          await new Promise<void>((resolve, reject) => spool.end((err?: Error | null) => (err ? reject(err) : resolve())));
          files.push({ name: fileName, contentType, size, open: () => createReadStream(path) });
        } else {
          const body = Buffer.concat(chunks, size);
          files.push({ name: fileName, contentType, size, open: () => body });
        }
      })(),
    );
  });
  try {
    await pipeline(req, parser);
    await Promise.all(pending);
  } catch (err) {
    await Promise.allSettled(pending);
    await dispose();
    throw err instanceof LegacyError ? err : new LegacyError(400, 'Expecting a multipart form', { cause: String(err) });
  }
  return { files, dispose };
}

function onceDrain(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => stream.once('drain', resolve));
}
