import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { HeaderMap, ResponseHeaders, UpstreamRequest, UpstreamResponse } from '../upstream/upstream.js';
import { TrailerEncoder } from './auth/trailer-encoder.js';
import type { PreparedBody } from './request-body.js';
import { isPresignParam, type S3Request } from './request.js';

/** Request headers that belong to the client's connection or signature, never to the upstream request. */
const DROPPED_REQUEST_HEADERS = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'authorization',
  'x-amz-date',
  'x-amz-content-sha256',
  'x-amz-security-token',
  'content-length',
]);

/** Response headers that describe the upstream connection; the rest is relayed. */
const DROPPED_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'x-amz-request-id',
]);

/**
 * Turns a client request into the upstream request: same method, bucket, key, query and body,
 * without the client's signature, with aws-chunked framing removed and the body verified.
 */
export function toUpstreamRequest(
  s3: S3Request,
  req: IncomingMessage,
  body: Buffer | PreparedBody | undefined,
  forwardTrailers = false,
): UpstreamRequest {
  const headers: HeaderMap = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || DROPPED_REQUEST_HEADERS.has(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  // Headers a presigner moved into the query go back to being headers in the re-signed request.
  const query: Array<[string, string]> = [];
  for (const [name, value] of s3.query) {
    if (isPresignParam(name)) continue;
    if (/^x-amz-/i.test(name)) headers[name.toLowerCase()] ??= value;
    else query.push([name, value]);
  }
  const request: UpstreamRequest = { method: s3.method, bucket: s3.bucket, key: s3.key, query, headers };
  if (body === undefined || Buffer.isBuffer(body)) {
    if (body !== undefined) request.body = body;
    return request;
  }
  request.signal = body.signal;
  for (const name of body.framingHeaders) delete headers[name];
  if (body.framingHeaders.length > 0) {
    const encodings = (headers['content-encoding'] ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '' && t.toLowerCase() !== 'aws-chunked');
    if (encodings.length > 0) headers['content-encoding'] = encodings.join(', ');
    else delete headers['content-encoding'];
  }
  if (forwardTrailers && body.trailers !== undefined) {
    // Re-framed with the verified trailers, so the upstream keeps the client's checksums.
    headers['content-encoding'] = ['aws-chunked', headers['content-encoding']].filter(Boolean).join(', ');
    if (body.contentLength !== undefined) headers['x-amz-decoded-content-length'] = body.contentLength;
    headers['x-amz-trailer'] = body.trailers.names.join(',');
    request.body = body.through(new TrailerEncoder(body.trailers.values, body.trailers.names));
    request.payloadSha256 = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
    return request;
  }
  if (body.contentLength !== undefined) headers['content-length'] = body.contentLength;
  request.body = body.stream;
  // A client that signed the payload's hash lets the upstream check the bytes end to end.
  if (body.payloadSha256 !== undefined) request.payloadSha256 = body.payloadSha256;
  return request;
}

export function relayHeaders(headers: ResponseHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !DROPPED_RESPONSE_HEADERS.has(name)) out[name] = value;
  }
  return out;
}

/** Sends an upstream response to the client as it arrives; a failed body aborts the client connection. */
export async function relayResponse(res: ServerResponse, response: UpstreamResponse, extra: Record<string, string>): Promise<void> {
  res.writeHead(response.statusCode, { ...relayHeaders(response.headers), ...extra });
  await pipeBody(response.body, res);
}

/** Sends "100 Continue" to a client that waits for it before sending its body. */
export function continueIfExpected(req: IncomingMessage, res: ServerResponse): void {
  if (String(req.headers.expect ?? '').toLowerCase() === '100-continue') res.writeContinue();
}

/** Ends the response with a body from memory or a stream. */
export async function sendBody(res: ServerResponse, body: Buffer | Readable): Promise<void> {
  if (Buffer.isBuffer(body)) res.end(body);
  else await pipeBody(body, res);
}

export async function pipeBody(body: Readable, res: ServerResponse): Promise<void> {
  try {
    await pipeline(body, res);
  } catch {
    // pipeline destroyed both ends: the client sees an aborted response, never a complete one.
    res.destroy();
  }
}
