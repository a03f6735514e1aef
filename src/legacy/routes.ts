import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { LegacyError, S3Error } from '../errors.js';
import { cacheHeaders, type Gateway, objectBytes } from '../gateway.js';
import { discardBody, drainBody } from '../http/discard-body.js';
import { pipeBody, sendBody } from '../s3/forwarding.js';
import { parseFormFiles } from './form-files.js';
import { queryParam, requireQueryParam } from './query.js';

export interface LegacyRoutesOptions {
  gateway: Gateway;
  maxMultipartMemoryBytes: number;
  version: string;
  /** When set, /get, /upload and /invalidate require `Authorization: Bearer <token>`. */
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

  if (options.token !== undefined) router.use(requireBearer(options.token));

  router.get('/get', async (req, res) => {
    const bucket = requireQueryParam(req, 'bucket');
    const key = requireQueryParam(req, 'key');
    const read = await gateway.read(bucket, key, { acceptsLiveBody: true });
    if (read.kind === 'error') {
      if (read.statusCode === 404) throw new LegacyError(404, `Blob '${bucket}#${key}' not found`);
      throw new LegacyError(read.statusCode >= 500 ? 502 : read.statusCode, `Upstream S3 answered ${read.statusCode} for '${bucket}#${key}'`);
    }
    if (read.kind === 'uncacheable') {
      const response = await gateway.forward({ method: 'GET', bucket, key, query: [], headers: {} }, []);
      if (response.statusCode !== 200) {
        discardBody(response.body);
        throw new LegacyError(response.statusCode === 404 ? 404 : 502, `Blob '${bucket}#${key}' not found`);
      }
      res.writeHead(200, downloadHeaders(key, Number(response.headers['content-length'])));
      await pipeBody(response.body, res);
      return;
    }
    res.writeHead(200, { ...downloadHeaders(key, read.meta.size), ...cacheHeaders(read) });
    await sendBody(res, objectBytes(read, res));
  });

  router.post('/upload', async (req, res) => {
    const form = await parseFormFiles(req, 'files', options.maxMultipartMemoryBytes);
    try {
      if (form.files.length === 0) throw new LegacyError(400, "'files' not found in multipart form");
      const bucket = requireQueryParam(req, 'bucket');
      const path = queryParam(req, 'path');
      const prefix = path === undefined ? '' : path.endsWith('/') ? path : `${path}/`;
      const failed: string[] = [];
      await Promise.all(
        form.files.map(async (file) => {
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
        }),
      );
      if (failed.length > 0) throw new LegacyError(500, 'Failed to upload some blobs', { uploadsFailed: failed.sort() });
      res.json({ error: '', message: `Uploaded ${form.files.length} object(s) to S3 bucket '${bucket}'` });
    } finally {
      await form.dispose();
    }
  });

  router.post('/invalidate', async (req, res) => {
    const bucket = requireQueryParam(req, 'bucket');
    const key = requireQueryParam(req, 'key');
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

function requireBearer(token: string) {
  const expected = createHash('sha256').update(token).digest();
  return (req: Request, res: Response, next: NextFunction): void => {
    const match = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    const given = createHash('sha256').update(match?.[1]?.trim() ?? '').digest();
    if (match && timingSafeEqual(given, expected)) {
      next();
      return;
    }
    drainBody(req);
    res.status(401).set('www-authenticate', 'Bearer').json({ error: 'Missing or invalid bearer token' });
  };
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
