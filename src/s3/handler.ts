import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { readBounded } from '../cache/object-fill.js';
import { S3Error } from '../errors.js';
import { discardBody } from '../http/discard-body.js';
import { cacheHeaders, type Gateway, type ObjectRead, objectBytes } from '../gateway.js';
import type { ClientAuth } from './auth/client-auth.js';
import type { VerifiedSignature } from './auth/sigv4.js';
import { sendS3Error } from './error-response.js';
import { continueIfExpected, pipeBody, relayHeaders, relayResponse, sendBody, toUpstreamRequest } from './forwarding.js';
import { type ObjectResponsePlan, planObjectResponse } from './object-response.js';
import { prepareBody } from './request-body.js';
import { isCacheableRead, parseS3Request, type S3Request } from './request.js';
import { parseDeleteObjectsKeys } from './xml.js';

/** DeleteObjects names at most 1,000 keys of at most 1,024 bytes: a few MiB of XML at the very most. */
const MAX_DELETE_BODY_BYTES = 4 * 1024 * 1024;

export interface S3HandlerOptions {
  gateway: Gateway;
  auth: ClientAuth;
  /** Send clients' trailing checksums on to the upstream (it must understand aws-chunked trailers). */
  forwardChecksumTrailers: boolean;
  /** Base domain for virtual-hosted-style requests. */
  domain: string | undefined;
  logger: Logger;
}

export type S3Handler = (req: IncomingMessage, res: ServerResponse, requestId: string) => Promise<void>;

export function createS3Handler(options: S3HandlerOptions): S3Handler {
  const { gateway, domain, logger, auth } = options;

  async function serveRead(s3: S3Request, bucket: string, key: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const read: ObjectRead =
      s3.method === 'HEAD'
        ? (gateway.cached(bucket, key) ?? { kind: 'uncacheable' })
        : await gateway.read(bucket, key, { acceptsLiveBody: req.headers.range === undefined });
    switch (read.kind) {
      case 'hit':
      case 'shared': {
        const plan = planObjectResponse(read.meta, s3.method, req.headers, s3.params);
        res.writeHead(plan.statusCode, { ...plan.headers, ...cacheHeaders(read) });
        if (plan.endExclusive === plan.start) res.end();
        else await sendBody(res, objectBytes(read, res, plan.start, plan.endExclusive));
        return;
      }
      case 'live': {
        let plan: ObjectResponsePlan;
        try {
          plan = planObjectResponse(read.meta, s3.method, req.headers, s3.params);
        } catch (err) {
          discardBody(read.body);
          throw err;
        }
        res.writeHead(plan.statusCode, { ...plan.headers, ...cacheHeaders(read) });
        if (plan.statusCode === 304) {
          discardBody(read.body);
          res.end();
        } else await pipeBody(read.body, res);
        return;
      }
      case 'error':
        res.writeHead(read.statusCode, { ...relayHeaders(read.headers), 'x-cache': 'MISS' });
        res.end(s3.method === 'HEAD' ? undefined : read.body);
        return;
      case 'uncacheable':
        await forward(s3, req, res, undefined, 'BYPASS');
        return;
    }
  }

  async function forward(
    s3: S3Request,
    req: IncomingMessage,
    res: ServerResponse,
    signature: VerifiedSignature | undefined,
    cacheStatus?: string,
  ): Promise<void> {
    const prepared = s3.method === 'GET' || s3.method === 'HEAD' ? undefined : prepareBody(req, signature);
    let body: Buffer | undefined;
    let changes: Array<[string, string]> = [];
    const { bucket, key } = s3;
    if (bucket !== undefined && key === undefined && s3.method === 'POST' && s3.params.has('delete')) {
      body = prepared === undefined ? Buffer.alloc(0) : await readBounded(prepared.stream, MAX_DELETE_BODY_BYTES + 1);
      if (body.length > MAX_DELETE_BODY_BYTES) throw new S3Error('MalformedXML', { message: 'The Delete request body is too large.' });
      changes = parseDeleteObjectsKeys(body).map((k) => [bucket, k]);
    } else if (bucket !== undefined && key !== undefined && changesObject(s3)) {
      changes = [[bucket, key]];
    }
    const response = await gateway.forward(toUpstreamRequest(s3, req, body ?? prepared, options.forwardChecksumTrailers), changes);
    await relayResponse(res, response, cacheStatus === undefined ? {} : { 'x-cache': cacheStatus });
  }

  return async function handleS3(req, res, requestId) {
    let s3: S3Request | undefined;
    try {
      s3 = parseS3Request(req.method ?? 'GET', req.url ?? '/', req.headers, domain);
      const signature = auth.authenticate(req);
      // Only now may a client waiting on "Expect: 100-continue" send its body: a rejected one never does.
      continueIfExpected(req, res);
      const { bucket, key } = s3;
      if (bucket !== undefined && key !== undefined && isCacheableRead(s3, req.headers)) {
        await serveRead(s3, bucket, key, req, res);
      } else {
        await forward(s3, req, res, signature, s3.method === 'GET' || s3.method === 'HEAD' ? 'BYPASS' : undefined);
      }
    } catch (err) {
      sendS3Error(res, err, { method: req.method ?? 'GET', resource: s3?.resource ?? '/', requestId, logger });
    }
  };
}

/** Writes that can change what GetObject returns for the key; UploadPart only stages a part. */
function changesObject(s3: S3Request): boolean {
  if (s3.method === 'GET' || s3.method === 'HEAD' || s3.method === 'OPTIONS') return false;
  return !(s3.method === 'PUT' && s3.params.has('uploadId'));
}
