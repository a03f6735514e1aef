import { S3Error } from '../errors.js';
import { headerValue, type ResponseHeaders } from '../upstream/upstream.js';

/** What Falcon sent the upstream as an object's (or part's) bytes. */
export interface SentBody {
  /** Hex MD5 of the bytes the upstream should store, when it was computed. */
  md5Hex: string | undefined;
  /** The x-amz-checksum-* values sent with them (headers or trailers), by header name. */
  checksums: Record<string, string>;
}

const PLAIN_MD5_ETAG = /^"?([0-9a-fA-F]{32})"?$/;
/** With these, S3's ETag is not the MD5 of the object's bytes. */
const KMS_ENCRYPTION = new Set(['aws:kms', 'aws:kms:dsse']);

/**
 * Checks a successful PutObject or UploadPart answer against the bytes sent: the ETag must be
 * their MD5 (unless the object is KMS- or customer-key-encrypted, or the ETag is not a plain MD5),
 * and every x-amz-checksum-* the upstream returns that Falcon sent must be the one sent. A store
 * that kept other bytes (one that cannot read aws-chunked keeps the framing) fails the check.
 * Returns what differs, or undefined when nothing does.
 */
export function upstreamWriteMismatch(headers: ResponseHeaders, sent: SentBody): string | undefined {
  const etag = PLAIN_MD5_ETAG.exec(headerValue(headers, 'etag') ?? '')?.[1]?.toLowerCase();
  const encryption = headerValue(headers, 'x-amz-server-side-encryption')?.toLowerCase() ?? '';
  const customerKey = headerValue(headers, 'x-amz-server-side-encryption-customer-algorithm') !== undefined;
  if (sent.md5Hex !== undefined && etag !== undefined && !KMS_ENCRYPTION.has(encryption) && !customerKey && etag !== sent.md5Hex) {
    return `ETag ${etag} is not the MD5 ${sent.md5Hex} of the bytes sent`;
  }
  for (const [name, value] of Object.entries(sent.checksums)) {
    const returned = headerValue(headers, name);
    if (returned !== undefined && returned.trim() !== value) return `${name} ${returned} is not the ${value} sent`;
  }
  return undefined;
}

export function storedWrongBytes(mismatch: string): S3Error {
  return new S3Error('BadGateway', {
    message: `The upstream S3 service stored bytes other than the ones sent (${mismatch}); the key may now hold them.`,
  });
}
