import { createHash } from 'node:crypto';
import { Crc32, Crc32c, Crc64Nvme } from '@aws-sdk/checksums/crc';
import { S3Error } from '../../errors.js';

/** The flexible checksums S3 accepts, by the suffix of their x-amz-checksum-* header. */
export const CHECKSUM_ALGORITHMS = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

interface Hasher {
  update(data: Uint8Array): void;
  digest(): Promise<Uint8Array>;
}

function hasherFor(algorithm: ChecksumAlgorithm): Hasher {
  switch (algorithm) {
    case 'crc32':
      return new Crc32();
    case 'crc32c':
      return new Crc32c();
    case 'crc64nvme':
      return new Crc64Nvme();
    case 'sha1':
    case 'sha256': {
      const hash = createHash(algorithm);
      return { update: (data) => hash.update(data), digest: async () => hash.digest() };
    }
  }
}

export function checksumAlgorithmOf(header: string): ChecksumAlgorithm | undefined {
  const name = header.toLowerCase().replace(/^x-amz-checksum-/, '');
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(name) ? (name as ChecksumAlgorithm) : undefined;
}

/** Computes one flexible checksum over a body as it streams and checks it against the value the client sent. */
export class BodyChecksum {
  private readonly hasher: Hasher;

  constructor(readonly algorithm: ChecksumAlgorithm) {
    this.hasher = hasherFor(algorithm);
  }

  update(data: Uint8Array): void {
    this.hasher.update(data);
  }

  /** Throws BadDigest when the base64 value differs from what was computed. */
  async verify(expectedBase64: string): Promise<void> {
    const actual = Buffer.from(await this.hasher.digest()).toString('base64');
    if (actual !== expectedBase64.trim()) {
      throw new S3Error('BadDigest', {
        message: `The ${this.algorithm.toUpperCase()} you specified did not match the calculated checksum.`,
      });
    }
  }
}
