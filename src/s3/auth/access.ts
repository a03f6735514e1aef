import type { IncomingHttpHeaders } from 'node:http';
import { firstHeader, type S3Request } from '../request.js';
import type { Access } from './client-auth.js';

/**
 * The buckets an S3 request touches and how: its own bucket (undefined for service-level requests),
 * and the source bucket of a copy. Reads are GET, HEAD and SelectObjectContent; the rest writes.
 */
export function accessesOf(s3: S3Request, headers: IncomingHttpHeaders): Array<[string | undefined, Access]> {
  const reads = s3.method === 'GET' || s3.method === 'HEAD' || s3.method === 'OPTIONS' || (s3.method === 'POST' && s3.params.has('select'));
  const accesses: Array<[string | undefined, Access]> = [[s3.bucket, reads ? 'read' : 'write']];
  const copySource = firstHeader(headers, 'x-amz-copy-source');
  if (copySource !== undefined) accesses.push([copySourceBucket(copySource), 'read']);
  return accesses;
}

/** The bucket of `x-amz-copy-source` (`[/]bucket/key[?versionId=..]`, URL-encoded); an access point ARN stays whole and so matches no bucket. */
function copySourceBucket(value: string): string {
  let decoded = value;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    // Left as sent: it then names no configured bucket.
  }
  const path = decoded.startsWith('/') ? decoded.slice(1) : decoded;
  if (path.startsWith('arn:')) return path;
  const slash = path.indexOf('/');
  return slash === -1 ? path : path.slice(0, slash);
}
