import { RequestCycle, headerSignedPool } from './header-sign.js';
import type { LoadRequest, TargetSource } from './load.js';
import type { SeededObject } from './objects.js';
import { type BenchServer, requestTargets } from './presign.js';

/**
 * How the bench's requests authenticate:
 * - `header-signed`: SigV4 in the Authorization header, each request with its own x-amz-date and signature, as
 *   every SDK and the AWS CLI send them; Falcon verifies each in full.
 * - `presigned`: one presigned URL per object, repeated (as a browser or a CDN would send a shared link); Falcon
 *   remembers a URL it verified and then checks only its expiry.
 * - `unsigned`: plain GETs, to a node run with --anonymous.
 */
export type RequestMode = 'header-signed' | 'presigned' | 'unsigned';

/**
 * Distinct header-signed requests per object and server. Falcon never remembers a header signature, so the pool
 * only has to be large enough that request bytes are not suspiciously repetitive; it is signed before the load,
 * so the client's signing is not measured.
 */
export const HEADER_SIGNED_POOL = 20_000;

/** The requests sent to `server` for `object` in `mode`, in turn. */
export function requestSource(server: Pick<BenchServer, 'name' | 'url' | 'targets'>, object: SeededObject, mode: RequestMode): TargetSource {
  switch (mode) {
    case 'header-signed':
      return new RequestCycle(headerSignedPool(server.url, object.path, HEADER_SIGNED_POOL));
    case 'presigned':
      return requestTargets(server, object);
    case 'unsigned':
      return new RequestCycle([object.path]);
  }
}

/** One request of `source`, as fetch sends it: for checks before and after a case. */
export function fetchArguments(origin: string, request: LoadRequest): [string, RequestInit] {
  return typeof request === 'string' ? [origin + request, {}] : [origin + request.path, { headers: request.headers }];
}
