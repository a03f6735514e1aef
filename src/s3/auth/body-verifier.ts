import { createHash, type Hash } from 'node:crypto';
import type { TransformCallback } from 'node:stream';
import { S3Error } from '../../errors.js';
import type { BodyChecksum } from './checksums.js';
import { HeldBackTransform } from './held-back-transform.js';

export interface ExpectedChecksum {
  checksum: BodyChecksum;
  /** Base64 value from the header or trailer; read when the body has ended. */
  expected: () => string | undefined;
}

export interface BodyChecks {
  /** Hex SHA-256 the client signed as x-amz-content-sha256. */
  sha256?: string;
  /** Base64 Content-MD5. */
  md5?: string;
  checksums: ExpectedChecksum[];
}

/** Verifies a plain request body against its signed hash, Content-MD5 and x-amz-checksum-* headers while it streams. */
export class BodyVerifier extends HeldBackTransform {
  private readonly sha256: Hash | undefined;
  private readonly md5: Hash | undefined;

  constructor(private readonly checks: BodyChecks) {
    super();
    this.sha256 = checks.sha256 === undefined ? undefined : createHash('sha256');
    this.md5 = checks.md5 === undefined ? undefined : createHash('md5');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sha256?.update(chunk);
    this.md5?.update(chunk);
    for (const { checksum } of this.checks.checksums) checksum.update(chunk);
    this.hold(chunk);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.releaseAfter(callback);
  }

  protected async finish(): Promise<void> {
    if (this.sha256 !== undefined) {
      const computed = this.sha256.digest('hex');
      if (computed !== this.checks.sha256) {
        throw new S3Error('XAmzContentSHA256Mismatch', {
          details: { ClientComputedContentSHA256: this.checks.sha256 ?? '', S3ComputedContentSHA256: computed },
        });
      }
    }
    if (this.md5 !== undefined && this.md5.digest('base64') !== this.checks.md5) {
      throw new S3Error('BadDigest', { message: 'The Content-MD5 you specified did not match what we received.' });
    }
    await verifyChecksums(this.checks.checksums);
  }
}

export async function verifyChecksums(checksums: readonly ExpectedChecksum[]): Promise<void> {
  for (const { checksum, expected } of checksums) {
    const value = expected();
    if (value === undefined) {
      throw new S3Error('InvalidRequest', { message: `The x-amz-checksum-${checksum.algorithm} value is missing.` });
    }
    await checksum.verify(value);
  }
}

/** A Content-MD5 must be the base64 of 16 bytes. */
export function validContentMd5(value: string): boolean {
  return /^[A-Za-z0-9+/]{22}==$/.test(value.trim());
}
