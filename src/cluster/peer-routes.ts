import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { readBounded } from '../http/read-bounded.js';
import type { PeerAuth, PeerCheck, SignedPeerRequest } from './peer-auth.js';
import { PEER_BLOCK_PATH, PEER_FLUSH_PATH, PEER_INVALIDATE_PATH, PEER_OBJECT_PATH, UPSTREAM_ERROR_HEADER } from './peer-client.js';
import { S3Error } from '../errors.js';
import { drainBody } from '../http/discard-body.js';
import { type Gateway, type OpenedObject, type PlainHit, VersionChangedError } from '../gateway.js';
import type { HeadRequest } from '../http/request-head.js';
import { sendBody } from '../s3/forwarding.js';
import { firstHeader } from '../s3/request.js';
import { errorXml } from '../s3/xml.js';

/** Bodies are invalidation lists; a sender keeps them far smaller (see InvalidationFanout). */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface PeerRoutesOptions {
  gateway: Gateway;
  auth: PeerAuth;
  logger: Logger;
}

export interface PeerRoutes {
  handle(req: IncomingMessage, res: ServerResponse, path: string, requestId: string): Promise<void>;
  /**
   * The answer to a peer's read of an object this node holds in one cached block, when the request is
   * one `handle` would answer so (its MAC valid and its nonce new, which it then remembers); undefined
   * for anything else, which `handle` then answers (refusals included).
   */
  plainObject(request: HeadRequest): PlainHit | undefined;
}

/** The internal API other nodes call: read an object as its owner, and drop keys (or everything) from the caches. */
export function createPeerRoutes(options: PeerRoutesOptions): PeerRoutes {
  const { gateway, auth, logger } = options;

  /** Answers as the object's owner, like an upstream would: a HEAD, or a GET of the first block. */
  async function serveObject(req: IncomingMessage, url: URL, res: ServerResponse, requestId: string): Promise<void> {
    const bucket = url.searchParams.get('bucket');
    const key = url.searchParams.get('key');
    if (!bucket || key === null || key === '') return plain(res, 400, 'bucket and key are required');
    const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
    // Without a Range the asking node wants the whole answer, checksums included.
    const checksums = req.headers.range === undefined;
    await answer(res, requestId, `/${bucket}/${key}`, () => gateway.openForPeer(bucket, key, method, res, checksums));
  }

  /** Answers as a block's owner: the block's bytes as a ranged GET pinned with If-Match would bring them. */
  async function serveBlock(url: URL, res: ServerResponse, requestId: string): Promise<void> {
    const bucket = url.searchParams.get('bucket');
    const key = url.searchParams.get('key');
    const etag = url.searchParams.get('etag');
    const size = Number(url.searchParams.get('size'));
    const index = Number(url.searchParams.get('index'));
    if (!bucket || !key || !etag || !Number.isSafeInteger(size) || size <= 0 || !Number.isSafeInteger(index) || index < 0 || index * gateway.blockBytes >= size) {
      return plain(res, 400, 'bucket, key, etag, size and index are required');
    }
    await answer(res, requestId, `/${bucket}/${key}`, () => gateway.openBlockForPeer(bucket, key, etag, size, index, res));
  }

  async function answer(res: ServerResponse, requestId: string, resource: string, open: () => Promise<OpenedObject>): Promise<void> {
    try {
      const opened = await open();
      const marker = opened.statusCode < 300 ? {} : { [UPSTREAM_ERROR_HEADER]: '1' };
      res.writeHead(opened.statusCode, { ...opened.headers, ...marker });
      if (opened.body === undefined) res.end();
      else await sendBody(res, opened.body);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const s3Error = err instanceof S3Error ? err : new S3Error('InternalError', { cause: err });
      if (!(err instanceof S3Error)) logger.error({ err, resource }, 'peer read failed');
      const status = err instanceof VersionChangedError ? 412 : s3Error.statusCode;
      const code = err instanceof VersionChangedError ? 'PreconditionFailed' : s3Error.code;
      const body = errorXml({ code, message: s3Error.message, resource, requestId, details: s3Error.details });
      // The upstream failed for the owner; the asking node relays this rather than trying again.
      res.writeHead(status, { 'content-type': 'application/xml', [UPSTREAM_ERROR_HEADER]: '1' });
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

  /** The MAC check of a request's method, path with query and headers, before its body is read. */
  function checkSignature(method: string, url: URL, headers: IncomingHttpHeaders): PeerCheck<{ request: SignedPeerRequest }> {
    return auth.checkSignature(method, `${url.pathname}${url.search}`, (name) => firstHeader(headers, name));
  }

  function plainObject(request: HeadRequest): PlainHit | undefined {
    const { method, headers } = request;
    if (method !== 'GET' && method !== 'HEAD') return undefined;
    const url = new URL(request.url, 'http://peer');
    if (url.pathname !== PEER_OBJECT_PATH) return undefined;
    const signed = checkSignature(method, url, headers);
    if (!signed.ok) return undefined;
    const bucket = url.searchParams.get('bucket');
    const key = url.searchParams.get('key');
    if (!bucket || !key) return undefined;
    const answer = gateway.plainAnswerForPeer(bucket, key, method, headers.range === undefined);
    if (answer === undefined) return undefined;
    // Only an answer that will be sent takes the nonce: a declined request is checked again by `handle`.
    if (!auth.admit(signed.request, NO_BODY).ok) {
      answer.release?.();
      return undefined;
    }
    return answer;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, path: string, requestId: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://peer');
    const method = req.method ?? 'GET';
    const signed = checkSignature(method, url, req.headers);
    if (!signed.ok) return refuse(req, res, path, signed.reason);
    // Only requests with a valid MAC get this far, so only peers can make a node read a body.
    let body: Buffer = NO_BODY;
    if (hasBody(req)) {
      try {
        body = await readBounded(req, MAX_BODY_BYTES + 1);
      } catch {
        res.destroy();
        return;
      }
    }
    if (body.length > MAX_BODY_BYTES) return plain(res, 413, 'peer request body too large');
    const admitted = auth.admit(signed.request, body);
    if (!admitted.ok) return refuse(req, res, path, admitted.reason);
    if ((method === 'GET' || method === 'HEAD') && path === PEER_OBJECT_PATH) return serveObject(req, url, res, requestId);
    if (method === 'GET' && path === PEER_BLOCK_PATH) return serveBlock(url, res, requestId);
    if (method === 'POST' && path === PEER_INVALIDATE_PATH) return invalidate(body, res);
    if (method === 'POST' && path === PEER_FLUSH_PATH) return flush(res);
    return plain(res, 404, 'no such peer route');
  }

  return { handle, plainObject };
}

const NO_BODY = Buffer.alloc(0);

/** Reads send no body: in HTTP/1.1 a request has one only when it says so (RFC 9112, 6.3). */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function isKeyList(value: unknown): value is Array<[string, string]> {
  return Array.isArray(value) && value.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && typeof p[1] === 'string');
}

function plain(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(message);
}
