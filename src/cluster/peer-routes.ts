import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { readBounded } from '../cache/object-fill.js';
import type { PeerAuth } from './peer-auth.js';
import { PEER_FLUSH_PATH, PEER_INVALIDATE_PATH, PEER_OBJECT_PATH, UPSTREAM_ERROR_HEADER } from './peer-client.js';
import { S3Error } from '../errors.js';
import { drainBody } from '../http/discard-body.js';
import { type Gateway, objectBytes, STALE_WARNING } from '../gateway.js';
import { pipeBody, relayHeaders, sendBody } from '../s3/forwarding.js';
import { firstHeader } from '../s3/request.js';
import { errorXml } from '../s3/xml.js';

/** Bodies are invalidation lists; a sender keeps them far smaller (see InvalidationFanout). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface PeerRoutesOptions {
  gateway: Gateway;
  auth: PeerAuth;
  logger: Logger;
}

export type PeerRoutes = (req: IncomingMessage, res: ServerResponse, path: string, requestId: string) => Promise<void>;

/** The internal API other nodes call: read an object as its owner, and drop keys (or everything) from the caches. */
export function createPeerRoutes(options: PeerRoutesOptions): PeerRoutes {
  const { gateway, auth, logger } = options;

  async function serveObject(url: URL, res: ServerResponse, requestId: string): Promise<void> {
    const bucket = url.searchParams.get('bucket');
    const key = url.searchParams.get('key');
    if (!bucket || key === null || key === '') return plain(res, 400, 'bucket and key are required');
    try {
      const read = await gateway.read(bucket, key, { acceptsLiveBody: true, asOwner: true });
      switch (read.kind) {
        case 'hit':
        case 'shared':
        case 'live':
          // A stale copy keeps its mark, so the asking node passes it on without keeping it.
          res.writeHead(200, {
            ...read.meta.headers,
            'content-length': String(read.meta.size),
            ...(read.kind === 'hit' && read.stale ? { warning: STALE_WARNING } : {}),
          });
          await sendBody(res, objectBytes(read, res));
          return;
        case 'error':
          res.writeHead(read.statusCode, { ...relayHeaders(read.headers), [UPSTREAM_ERROR_HEADER]: '1' });
          res.end(read.body);
          return;
        case 'uncacheable': {
          const response = await gateway.forward({ method: 'GET', bucket, key, query: [], headers: {} }, []);
          const marker = response.statusCode === 200 ? {} : { [UPSTREAM_ERROR_HEADER]: '1' };
          res.writeHead(response.statusCode, { ...relayHeaders(response.headers), ...marker });
          await pipeBody(response.body, res);
          return;
        }
      }
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const s3Error = err instanceof S3Error ? err : new S3Error('InternalError', { cause: err });
      if (!(err instanceof S3Error)) logger.error({ err, bucket, key }, 'peer read failed');
      const body = errorXml({ code: s3Error.code, message: s3Error.message, resource: `/${bucket}/${key}`, requestId, details: s3Error.details });
      // The upstream failed for the owner; the asking node relays this rather than trying again.
      res.writeHead(s3Error.statusCode, { 'content-type': 'application/xml', [UPSTREAM_ERROR_HEADER]: '1' });
      res.end(body);
    }
  }

  function invalidate(body: Buffer, res: ServerResponse): void {
    let keys: unknown;
    try {
      keys = (JSON.parse(body.toString('utf8')) as { keys?: unknown }).keys;
    } catch {
      keys = undefined;
    }
    if (!isKeyList(keys)) {
      plain(res, 400, 'expected {"keys":[[bucket,key],...]}');
      return;
    }
    for (const [bucket, key] of keys) gateway.invalidate(bucket, key);
    res.writeHead(204);
    res.end();
  }

  /** A peer that could not reach this node missed more invalidations than it kept: nothing cached here is trusted. */
  function flush(res: ServerResponse): void {
    gateway.invalidateAll();
    logger.warn('cache dropped: a peer could not reach this node for a while and missed too many invalidations');
    res.writeHead(204);
    res.end();
  }

  function refuse(req: IncomingMessage, res: ServerResponse, path: string, reason: string): void {
    logger.warn({ remote: req.socket.remoteAddress, path, method: req.method, reason }, 'peer request refused');
    drainBody(req);
    plain(res, 403, 'peer authentication failed');
  }

  return async function handlePeer(req, res, path, requestId) {
    const url = new URL(req.url ?? '/', 'http://peer');
    const method = req.method ?? 'GET';
    const signed = auth.checkSignature(method, `${url.pathname}${url.search}`, (name) => firstHeader(req.headers, name));
    if (!signed.ok) return refuse(req, res, path, signed.reason);
    // Only requests with a valid MAC get this far, so only peers can make a node read a body.
    let body: Buffer;
    try {
      body = await readBounded(req, MAX_BODY_BYTES + 1);
    } catch {
      res.destroy();
      return;
    }
    if (body.length > MAX_BODY_BYTES) return plain(res, 413, 'peer request body too large');
    const admitted = auth.admit(signed.request, body);
    if (!admitted.ok) return refuse(req, res, path, admitted.reason);
    if (method === 'GET' && path === PEER_OBJECT_PATH) return serveObject(url, res, requestId);
    if (method === 'POST' && path === PEER_INVALIDATE_PATH) return invalidate(body, res);
    if (method === 'POST' && path === PEER_FLUSH_PATH) return flush(res);
    return plain(res, 404, 'no such peer route');
  };
}

function isKeyList(value: unknown): value is Array<[string, string]> {
  return Array.isArray(value) && value.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string');
}

function plain(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(message);
}
