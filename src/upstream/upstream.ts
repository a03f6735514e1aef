import type { Readable } from 'node:stream';

export type HeaderMap = Record<string, string>;
export type ResponseHeaders = Record<string, string | string[] | undefined>;

/** One request to the upstream S3, already stripped of the client's signature. */
export interface UpstreamRequest {
  method: string;
  /** Undefined for service-level requests such as ListBuckets. */
  bucket?: string;
  /** Decoded object key; undefined for bucket-level requests. */
  key?: string;
  /** Decoded query pairs in the order received. */
  query: ReadonlyArray<readonly [string, string]>;
  /** Lower-case header names; hop-by-hop and signature headers already removed. */
  headers: HeaderMap;
  body?: Readable | Buffer;
  /** x-amz-content-sha256: the payload's SHA-256 in hex, or a STREAMING-* mode; UNSIGNED-PAYLOAD when unset. */
  payloadSha256?: string;
  signal?: AbortSignal;
}

export interface UpstreamResponse {
  statusCode: number;
  headers: ResponseHeaders;
  body: Readable;
}

/** The S3 service behind Falcon. Implementations translate their transport errors into S3Error. */
export interface Upstream {
  request(request: UpstreamRequest): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

export function headerValue(headers: ResponseHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}
