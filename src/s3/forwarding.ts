import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { HeaderMap, ResponseHeaders, UpstreamRequest, UpstreamResponse } from '../upstream/upstream.js';
import { AwsChunkedDecoder, isAwsChunked } from './aws-chunked.js';
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

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Turns a client request into the upstream request: same method, bucket, key, query and body,
 * without the client's signature and with aws-chunked framing removed.
 */
export function toUpstreamRequest(s3: S3Request, req: IncomingMessage, body?: Buffer): UpstreamRequest {
  const headers: HeaderMap = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined || DROPPED_REQUEST_HEADERS.has(name)) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  const query = s3.query.filter(([name]) => !isPresignParam(name));
  const request: UpstreamRequest = { method: s3.method, bucket: s3.bucket, key: s3.key, query, headers };
  if (body !== undefined) {
    request.body = body;
    return request;
  }
  if (!hasBody(req)) return request;

  const contentSha256 = header(req, 'x-amz-content-sha256');
  if (isAwsChunked(contentSha256, header(req, 'content-encoding'))) {
    const decodedLength = header(req, 'x-amz-decoded-content-length');
    const expected = decodedLength !== undefined && /^\d+$/.test(decodedLength) ? Number(decodedLength) : undefined;
    const decoder = new AwsChunkedDecoder(expected);
    req.pipe(decoder);
    req.on('error', (err) => decoder.destroy(err));
    request.body = decoder;
    delete headers['x-amz-decoded-content-length'];
    delete headers['x-amz-trailer'];
    const encodings = (headers['content-encoding'] ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '' && t.toLowerCase() !== 'aws-chunked');
    if (encodings.length > 0) headers['content-encoding'] = encodings.join(', ');
    else delete headers['content-encoding'];
    if (expected !== undefined) headers['content-length'] = String(expected);
    return request;
  }
  const length = header(req, 'content-length');
  if (length !== undefined) headers['content-length'] = length;
  request.body = req;
  // A client that signed the payload's hash lets the upstream check the bytes end to end.
  if (contentSha256 !== undefined && SHA256_HEX.test(contentSha256)) request.payloadSha256 = contentSha256;
  return request;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function hasBody(req: IncomingMessage): boolean {
  const length = header(req, 'content-length');
  if (length !== undefined) return length !== '0';
  return header(req, 'transfer-encoding') !== undefined;
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

export async function pipeBody(body: Readable, res: ServerResponse): Promise<void> {
  try {
    await pipeline(body, res);
  } catch {
    // pipeline destroyed both ends: the client sees an aborted response, never a complete one.
    res.destroy();
  }
}
