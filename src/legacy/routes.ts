import { Readable } from 'node:stream';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { LegacyError, S3Error } from '../errors.js';
import type { Gateway } from '../gateway.js';
import { discardBody, drainBody } from '../http/discard-body.js';
import type { ClientAuth } from '../s3/auth/client-auth.js';
import { sendBody } from '../s3/forwarding.js';
import { prepareBody } from '../s3/request-body.js';
import type { BodyPace } from '../s3/request-body-reader.js';
import { checkObjectPath } from '../s3/request.js';
import { legacySignature, requireLegacyCredentials } from './auth.js';
import { type FormFile, parseFormFiles } from './form-files.js';
import { queryParam, requireQueryParam } from './query.js';

/** Files of one form sent upstream at once: enough to overlap round trips, few enough to bound sockets and file descriptors. */
const UPLOAD_CONCURRENCY = 4;

export interface LegacyRoutesOptions {
  gateway: Gateway;
  /** Authenticates /get, /upload and /invalidate as S3 requests are (SigV4), and checks bucket access. */
  auth: ClientAuth;
  maxMultipartMemoryBytes: number;
  /** Most files one /upload form may carry. */
  maxUploadFiles: number;
  /** How long and how slowly clients may take to send an /upload form. */
  bodyPace: BodyPace;
  version: string;
  /** When set, `Authorization: Bearer <token>` is accepted too, and unsigned requests never are. */
  token: string | undefined;
  logger: Logger;
}

/** The original Falcon's routes: /get, /upload, /invalidate and /healthz, with JSON answers. */
export function createLegacyRouter(options: LegacyRoutesOptions): express.Router {
  const { gateway, logger } = options;
  const router = express.Router();

  router.get('/healthz', (_req, res) => {
    res.type('text/plain').send(`Version: ${options.version}`);
  });

  router.use(requireLegacyCredentials({ auth: options.auth, token: options.token }));

  router.get('/get', async (req, res) => {
    const bucket = requireQueryParam(req, 'bucket');
    const key = requireQueryParam(req, 'key');
    checkObjectPath(bucket, key);
    const opened = await gateway.open(bucket, key, { method: 'GET', headers: {}, params: new URLSearchParams(), sink: res });
    if (opened.statusCode !== 200) {
      if (opened.body instanceof Readable) discardBody(opened.body);
      if (opened.statusCode === 404) throw new LegacyError(404, `Blob '${bucket}#${key}' not found`);
      throw new LegacyError(opened.statusCode >= 500 ? 502 : opened.statusCode, `Upstream S3 answered ${opened.statusCode} for '${bucket}#${key}'`);
    }
    const headers: Record<string, string | string[]> = downloadHeaders(key, Number(opened.headers['content-length']));
    for (const name of ['x-cache', 'warning']) {
      const value = opened.headers[name];
      if (value !== undefined) headers[name] = value;
    }
    res.writeHead(200, headers);
    await sendBody(res, opened.body ?? Buffer.alloc(0));
  });

  router.post('/upload', async (req, res) => {
    // The signed payload hash, Content-MD5 and checksums are verified before the form is complete,
    // and the form is complete before anything is written upstream.
    const prepared = prepareBody(req, legacySignature(res), { pace: options.bodyPace });
    let form: Awaited<ReturnType<typeof parseFormFiles>>;
    try {
      form = await parseFormFiles(req.headers, prepared?.stream ?? Readable.from([]), {
        field: 'files',
        memoryBytes: options.maxMultipartMemoryBytes,
        maxFiles: options.maxUploadFiles,
      });
    } catch (err) {
      // What the form did not read is discarded as it comes, so the answer reaches the client.
      prepared?.dispose();
      req.unpipe();
      drainBody(req, Number.POSITIVE_INFINITY);
      // A body that failed its own checks (digest, pace) answers with that failure.
      throw prepared?.error instanceof S3Error ? prepared.error : err;
    }
    try {
      if (form.files.length === 0) throw new LegacyError(400, "'files' not found in multipart form");
      const bucket = requireQueryParam(req, 'bucket');
      const path = queryParam(req, 'path');
      const prefix = path === undefined ? '' : path.endsWith('/') ? path : `${path}/`;
      for (const file of form.files) checkObjectPath(bucket, `${prefix}${file.name}`);
      const failed: string[] = [];
      await forEachLimited(form.files, UPLOAD_CONCURRENCY, async (file: FormFile) => {
        const key = `${prefix}${file.name}`;
        try {
          const response = await gateway.forward(
            {
              method: 'PUT',
              bucket,
              key,
              query: [],
              headers: { 'content-type': file.contentType, 'content-length': String(file.size) },
              body: file.open(),
            },
            [[bucket, key]],
          );
          drainBody(response.body);
          if (response.statusCode !== 200) failed.push(key);
        } catch (err) {
          logger.warn({ err, bucket, key }, 'legacy upload failed');
          failed.push(key);
        }
      });
      if (failed.length > 0) throw new LegacyError(500, 'Failed to upload some blobs', { uploadsFailed: failed.sort() });
      res.json({ error: '', message: `Uploaded ${form.files.length} object(s) to S3 bucket '${bucket}'` });
    } finally {
      await form.dispose();
    }
  });

  router.post('/invalidate', async (req, res) => {
    const bucket = requireQueryParam(req, 'bucket');
    const key = requireQueryParam(req, 'key');
    checkObjectPath(bucket, key);
    await gateway.invalidateEverywhere([[bucket, key]]);
    res.json({ error: '', message: `'${bucket}#${key}' invalidated from cache` });
  });

  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof LegacyError) {
      res.status(err.statusCode).json({ error: err.message, ...err.extra });
      return;
    }
    if (err instanceof S3Error) {
      res.status(err.statusCode).json({ error: err.message, code: err.code });
      return;
    }
    logger.error({ err }, 'legacy request failed');
    res.status(500).json({ error: 'Internal error' });
    void next;
  });
  return router;
}

/** Runs `task` over `items`, at most `limit` at a time. */
async function forEachLimited<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await task(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function downloadHeaders(key: string, size: number): Record<string, string> {
  return {
    'content-type': 'application/octet-stream',
    'content-length': String(size),
    'content-disposition': contentDisposition(key),
  };
}

/** `attachment; filename="K"` as the original sent it, made safe for header bytes. */
function contentDisposition(key: string): string {
  const ascii = key.replace(/[^\x20-\x7e]|["\\]/g, '_');
  if (ascii === key) return `attachment; filename="${key}"`;
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(key)}`;
}
