import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ByteBudget } from '../cache/byte-budget.js';
import { readBounded } from '../http/read-bounded.js';
import type { TrailingChecksums } from '../config.js';
import { S3Error } from '../errors.js';
import { discardBody, drainBody } from '../http/discard-body.js';
import type { Gateway, PlainHit } from '../gateway.js';
import type { HeadRequest } from '../http/request-head.js';
import type { UpstreamResponse } from '../upstream/upstream.js';
import type { ClientAuth } from './auth/client-auth.js';
import type { VerifiedSignature } from './auth/sigv4.js';
import { CorsAnswers } from './cors-answers.js';
import { sendS3Error } from './error-response.js';
import { continueIfExpected, relayResponse, sendBody, toUpstreamRequest } from './forwarding.js';
import { accessesOf } from './auth/access.js';
import { CHECKSUM_HEADER_BUDGET_BYTES, type HeldBody, readForChecksumHeaders } from './checksum-headers.js';
import { declaredBodyBytes, MAX_SINGLE_PUT_BYTES, type PreparedBody, prepareBody } from './request-body.js';
import type { BodyPace } from './request-body-reader.js';
import { isPlainRead } from './object-response.js';
import { checkObjectPath, checkPartNumber, isCacheableRead, parseS3Request, type S3Request } from './request.js';
import { type SentBody, storedWrongBytes, upstreamWriteMismatch } from './write-verification.js';
import { parseDeleteObjectsKeys } from './xml.js';

/** DeleteObjects names at most 1,000 keys of at most 1,024 bytes: a few MiB of XML at the very most. */
const MAX_DELETE_BODY_BYTES = 4 * 1024 * 1024;

export interface S3HandlerOptions {
  gateway: Gateway;
  auth: ClientAuth;
  /** How clients' trailing checksums reach the upstream. */
  trailingChecksums: TrailingChecksums;
  /** How long and how slowly clients may take to send request bodies. */
  bodyPace: BodyPace;
  /** Check the upstream's ETag and returned checksums against the bytes of each upload. */
  verifyWrites: boolean;
  /** Base domain for virtual-hosted-style requests. */
  domain: string | undefined;
  logger: Logger;
}

export interface S3Handler {
  handle(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void>;
  /**
   * The plain hit a GET or HEAD is, when it is one and passes every check the full handler makes, or the
   * promise of one for a small object read through its owner (settling undefined when it was not one);
   * undefined for anything else. The full handler answers whatever this does not (errors included).
   */
  plainHit(request: HeadRequest): PlainHit | Promise<PlainHit | undefined> | undefined;
}

export function createS3Handler(options: S3HandlerOptions): S3Handler {
  const { gateway, domain, logger, auth } = options;
  const cors = new CorsAnswers(gateway);
  const checksumHeaderBudget = new ByteBudget(CHECKSUM_HEADER_BUDGET_BYTES);

  async function serveRead(s3: S3Request, bucket: string, key: string, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const method = s3.method === 'HEAD' ? 'HEAD' : 'GET';
    const hit = isPlainRead(req.headers, s3.query) ? gateway.plainHit(bucket, key, method) : undefined;
    if (hit !== undefined) {
      // The whole head in one call: no header set before it for node to merge.
      res.writeHead(200, hit.headers.concat(REQUEST_ID_HEADER, requestId));
      if (hit.release !== undefined) res.once('close', hit.release);
      res.end(hit.body);
      return;
    }
    res.setHeader(REQUEST_ID_HEADER, requestId);
    // A part of a multipart object has its own bytes and headers: read from the upstream, not the cache.
    if (s3.params.has('partNumber')) return forward(s3, req, res, undefined, 'BYPASS', {});
    const opened = await gateway.open(bucket, key, { method, headers: req.headers, params: s3.params, sink: res });
    res.writeHead(opened.statusCode, opened.headers);
    if (opened.body === undefined) res.end();
    else await sendBody(res, opened.body);
  }

  async function forward(
    s3: S3Request,
    req: IncomingMessage,
    res: ServerResponse,
    signature: VerifiedSignature | undefined,
    cacheStatus: string | undefined,
    exchange: Exchange,
  ): Promise<void> {
    const upload = isUpload(s3, req);
    const prepared =
      s3.method === 'GET' || s3.method === 'HEAD'
        ? undefined
        : prepareBody(req, signature, { pace: options.bodyPace, md5: upload && options.verifyWrites });
    exchange.body = prepared;
    let bytes: Buffer | undefined;
    let held: HeldBody | undefined;
    let changes: Array<[string, string]> = [];
    const { bucket, key } = s3;
    let trailingChecksums = options.trailingChecksums;
    let response: UpstreamResponse;
    try {
      if (bucket !== undefined && key === undefined && s3.method === 'POST' && s3.params.has('delete')) {
        bytes = prepared === undefined ? Buffer.alloc(0) : await readBounded(prepared.stream, MAX_DELETE_BODY_BYTES + 1);
        if (bytes.length > MAX_DELETE_BODY_BYTES) throw new S3Error('MalformedXML', { message: 'The Delete request body is too large.' });
        changes = parseDeleteObjectsKeys(bytes).map((k) => [bucket, k]);
      } else {
        if (bucket !== undefined && key !== undefined && changesObject(s3)) changes = [[bucket, key]];
        if (prepared?.trailers !== undefined && trailingChecksums === 'headers') {
          held = await readForChecksumHeaders(prepared, checksumHeaderBudget);
          bytes = held?.bytes;
          if (held === undefined) trailingChecksums = 'none';
        }
      }
      response = await gateway.forward(toUpstreamRequest(s3, req, { prepared, bytes, trailingChecksums }), changes);
    } catch (err) {
      throw clientBodyFailure(prepared) ?? err;
    } finally {
      held?.release();
    }
    const failure = clientBodyFailure(prepared);
    if (failure !== undefined && response.statusCode < 300) {
      discardBody(response.body);
      throw failure;
    }
    if (prepared !== undefined) {
      abandonBody(prepared, req, res);
      if (upload && options.verifyWrites) await refuseIfStoredOtherBytes(response, sentBody(prepared, trailingChecksums), changes);
    }
    await relayResponse(res, response, cacheStatus === undefined ? {} : { 'x-cache': cacheStatus });
  }

  /** A 200 for an upload that shows the upstream stored other bytes than sent becomes a 502, and the key leaves every cache. */
  async function refuseIfStoredOtherBytes(response: UpstreamResponse, sent: SentBody, changes: Array<[string, string]>): Promise<void> {
    if (response.statusCode !== 200) return;
    const mismatch = upstreamWriteMismatch(response.headers, sent);
    if (mismatch === undefined) return;
    discardBody(response.body);
    await gateway.invalidateEverywhere(changes);
    throw storedWrongBytes(mismatch);
  }

  function plainHit(request: HeadRequest): PlainHit | Promise<PlainHit | undefined> | undefined {
    const { method, headers } = request;
    if ((method !== 'GET' && method !== 'HEAD') || headers.origin !== undefined || headers.expect !== undefined) return undefined;
    try {
      const s3 = parseS3Request(method, request.url, headers, domain);
      const { bucket, key } = s3;
      if (bucket === undefined || key === undefined) return undefined;
      checkObjectPath(bucket, key);
      // A plain read has no partNumber (nor any other subresource) to check.
      if (!isCacheableRead(s3, headers) || !isPlainRead(headers, s3.query)) return undefined;
      const signature = auth.authenticate(request);
      for (const [name, access] of accessesOf(s3, headers)) auth.authorize(signature, name, access);
      return gateway.plainHit(bucket, key, method) ?? gateway.plainPeerRead(bucket, key, method);
    } catch {
      return undefined;
    }
  }

  async function handleS3(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    let s3: S3Request | undefined;
    const exchange: Exchange = {};
    try {
      s3 = parseS3Request(req.method ?? 'GET', req.url ?? '/', req.headers, domain);
      checkObjectPath(s3.bucket, s3.key);
      checkPartNumber(s3.params);
      // A browser's CORS preflight carries no credentials by design: the upstream answers it from the
      // bucket's CORS configuration.
      const preflight = isCorsPreflight(req);
      const signature = preflight ? undefined : auth.authenticate(req);
      if (!preflight) for (const [bucket, access] of accessesOf(s3, req.headers)) auth.authorize(signature, bucket, access);
      refuseOversizedUpload(s3, req, res);
      // Only now may a client waiting on "Expect: 100-continue" send its body: a rejected one never does.
      continueIfExpected(req, res);
      const { bucket, key } = s3;
      if (bucket !== undefined && key !== undefined && isCacheableRead(s3, req.headers)) {
        const origin = req.headers.origin;
        if (origin !== undefined) {
          for (const [name, value] of Object.entries(await cors.headersFor(bucket, key, origin, s3.method))) res.setHeader(name, value);
        }
        await serveRead(s3, bucket, key, req, res, requestId);
      } else {
        res.setHeader(REQUEST_ID_HEADER, requestId);
        await forward(s3, req, res, signature, s3.method === 'GET' || s3.method === 'HEAD' ? 'BYPASS' : undefined, exchange);
      }
    } catch (err) {
      if (exchange.body !== undefined) abandonBody(exchange.body, req, res);
      if (!res.headersSent) res.setHeader(REQUEST_ID_HEADER, requestId);
      sendS3Error(res, err, { method: req.method ?? 'GET', resource: s3?.resource ?? '/', requestId, logger });
    }
  }

  return { handle: handleS3, plainHit };
}

const REQUEST_ID_HEADER = 'x-amz-request-id';

function isCorsPreflight(req: IncomingMessage): boolean {
  return req.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined;
}

/** What one S3 request has under way, for its error path. */
interface Exchange {
  /** The request body, once Falcon started reading it. */
  body?: PreparedBody;
}

/** What went upstream with an upload: the MD5 of its bytes, and the client's checksums unless they were dropped. */
function sentBody(body: PreparedBody, trailingChecksums: TrailingChecksums): SentBody {
  const trailers = trailingChecksums === 'none' ? {} : (body.trailers?.values() ?? {});
  return { md5Hex: body.md5Hex(), checksums: { ...body.headerChecksums, ...trailers } };
}

/** The body's own failure (a client fault, such as a bad chunk or a stalled upload), if it failed. */
function clientBodyFailure(body: PreparedBody | undefined): S3Error | undefined {
  return body?.error instanceof S3Error ? body.error : undefined;
}

/**
 * Stops reading a body whose answer is decided. A client still sending gets "Connection: close"
 * with the answer, and what it sends until the connection closes is discarded.
 */
function abandonBody(body: PreparedBody, req: IncomingMessage, res: ServerResponse): void {
  body.dispose();
  if (req.readableEnded) return;
  if (!req.complete && !res.headersSent) res.setHeader('connection', 'close');
  drainBody(req, Number.POSITIVE_INFINITY);
}

const UPLOAD_QUERY = /^(x-id|partnumber|uploadid)$/i;

/** PutObject and UploadPart: the requests whose body becomes the bytes of an object or a part. */
function isUpload(s3: S3Request, req: IncomingMessage): boolean {
  if (s3.method !== 'PUT' || s3.key === undefined || req.headers['x-amz-copy-source'] !== undefined) return false;
  // A presigned URL carries its signature and any x-amz-* headers in the query.
  return s3.query.every(([name]) => UPLOAD_QUERY.test(name) || (/^x-amz-/i.test(name) && name.toLowerCase() !== 'x-amz-copy-source'));
}

/** S3 refuses a single PUT over 5 GiB from its headers alone; so does Falcon, before any of the body is read. */
function refuseOversizedUpload(s3: S3Request, req: IncomingMessage, res: ServerResponse): void {
  if (!isUpload(s3, req)) return;
  const declared = declaredBodyBytes(req);
  if (declared === undefined || declared <= MAX_SINGLE_PUT_BYTES) return;
  // The body will not be read: the connection closes after the answer instead.
  res.setHeader('connection', 'close');
  throw new S3Error('EntityTooLarge', { details: { ProposedSize: String(declared), MaxSizeAllowed: String(MAX_SINGLE_PUT_BYTES) } });
}

/** Writes that can change what GetObject returns for the key; UploadPart only stages a part. */
function changesObject(s3: S3Request): boolean {
  if (s3.method === 'GET' || s3.method === 'HEAD' || s3.method === 'OPTIONS') return false;
  return !(s3.method === 'PUT' && s3.params.has('uploadId'));
}
