import { SliceStream } from '../read/block-stream.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { TrailingChecksums } from '../config.js';
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
  // Falcon signs with its own time; a client's Date would be taken for it (and may not even parse).
  'date',
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

/** The body of a forwarded request. */
export interface OutgoingBody {
  /** The client's verified body; the headers that described its framing are not forwarded. */
  prepared: PreparedBody | undefined;
  /** The body read into memory, sent instead of streaming `prepared`. */
  bytes?: Buffer;
  /**
   * How the client's trailing checksums travel: with `bytes` (read to the end, so they are known)
   * as headers unless 'none'; with a streamed body re-framed as trailers for 'trailers', else not at all.
   */
  trailingChecksums: TrailingChecksums;
}

/**
 * Turns a client request into the upstream request: same method, bucket, key, query and body,
 * without the client's signature, with aws-chunked framing removed and the body verified.
 */
export function toUpstreamRequest(s3: S3Request, req: IncomingMessage, body: OutgoingBody): UpstreamRequest {
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
  const { prepared, bytes } = body;
  if (prepared === undefined) {
    if (bytes !== undefined) request.body = bytes;
    return request;
  }
  request.signal = prepared.signal;
  for (const name of prepared.framingHeaders) delete headers[name];
  if (prepared.framingHeaders.length > 0) {
    const encodings = (headers['content-encoding'] ?? '')
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '' && t.toLowerCase() !== 'aws-chunked');
    if (encodings.length > 0) headers['content-encoding'] = encodings.join(', ');
    else delete headers['content-encoding'];
  }
  const trailers = prepared.trailers;
  if (bytes !== undefined) {
    request.body = bytes;
    // Read to its end, the body's trailers are known: they go first, as headers.
    if (trailers !== undefined && body.trailingChecksums !== 'none') Object.assign(headers, trailers.values());
    else if (trailers !== undefined) delete headers['x-amz-sdk-checksum-algorithm'];
    return request;
  }
  if (trailers !== undefined && body.trailingChecksums === 'trailers') {
    // Re-framed with the verified trailers, so the upstream keeps the client's checksums.
    headers['content-encoding'] = ['aws-chunked', headers['content-encoding']].filter(Boolean).join(', ');
    if (prepared.contentLength !== undefined) headers['x-amz-decoded-content-length'] = prepared.contentLength;
    headers['x-amz-trailer'] = trailers.names.join(',');
    request.body = prepared.through(new TrailerEncoder(trailers.values, trailers.names));
    request.payloadSha256 = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
    return request;
  }
  // The checksum the client announced does not go with the body: S3 refuses the algorithm without its value.
  if (trailers !== undefined) delete headers['x-amz-sdk-checksum-algorithm'];
  if (prepared.contentLength !== undefined) headers['content-length'] = prepared.contentLength;
  request.body = prepared.stream;
  // A client that signed the payload's hash lets the upstream check the bytes end to end.
  if (prepared.payloadSha256 !== undefined) request.payloadSha256 = prepared.payloadSha256;
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
export async function sendBody(res: ServerResponse, body: Buffer | Buffer[] | Readable | SliceStream): Promise<void> {
  if (body instanceof SliceStream) await sendSlices(res, body);
  else if (Buffer.isBuffer(body)) res.end(body);
  else if (Array.isArray(body)) {
    // One write of the head and every slice instead of one per slice.
    res.cork();
    for (const slice of body) res.write(slice);
    res.end();
  } else await pipeBody(body, res);
}

/**
 * Writes slices of shared buffers with back-pressure, releasing each block once the socket took its
 * last slice (or the response closed): only then may its buffer be reused. A failure cuts the response.
 */
async function sendSlices(res: ServerResponse, body: SliceStream): Promise<void> {
  const pending = new Set<() => void>();
  const releaseAll = (): void => {
    for (const release of pending) release();
    pending.clear();
  };
  res.once('close', releaseAll);
  try {
    for await (const { bytes, release } of body.slices) {
      let written: (() => void) | undefined;
      if (release !== undefined) {
        pending.add(release);
        written = () => {
          pending.delete(release);
          release();
        };
      }
      if (!res.write(bytes, written)) await drainedOrClosed(res);
      if (isGone(res)) break;
    }
    if (!isGone(res)) res.end();
  } catch {
    // The client sees an aborted response, never a complete one.
    res.destroy();
  }
  if (isGone(res)) releaseAll();
}

/**
 * Whether the response can take no more bytes. A client may have gone before the body's first slice
 * was ready: its 'close' was emitted already and will not be again.
 */
function isGone(res: ServerResponse): boolean {
  return res.destroyed || res.closed;
}

function drainedOrClosed(res: ServerResponse): Promise<void> {
  if (isGone(res)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

export async function pipeBody(body: Readable, res: ServerResponse): Promise<void> {
  try {
    await pipeline(body, res);
  } catch {
    // pipeline destroyed both ends: the client sees an aborted response, never a complete one.
    res.destroy();
  }
}
