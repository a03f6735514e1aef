import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BodyChecksum, type ChecksumAlgorithm, checksumAlgorithmOf } from './checksums.js';

/** The standard check values: each algorithm over the ASCII bytes "123456789". */
const CHECK_VALUES: Record<ChecksumAlgorithm, string> = {
  crc32: 'cbf43926',
  crc32c: 'e3069283',
  crc64nvme: 'ae8b14860a799888',
  sha1: 'f7c3bc1d808e04732adf679965ccc34ca7ae3441',
  sha256: '15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225',
};

test('computes the five flexible checksums to their standard check values', async () => {
  for (const [algorithm, hex] of Object.entries(CHECK_VALUES) as Array<[ChecksumAlgorithm, string]>) {
    const good = new BodyChecksum(algorithm);
    good.update(Buffer.from('1234'));
    good.update(Buffer.from('56789'));
    await good.verify(Buffer.from(hex, 'hex').toString('base64'));
    const bad = new BodyChecksum(algorithm);
    bad.update(Buffer.from('123456780'));
    await assert.rejects(bad.verify(Buffer.from(hex, 'hex').toString('base64')), { code: 'BadDigest' }, algorithm);
  }
});

test('recognises checksum headers by name only for the five algorithms', () => {
  assert.equal(checksumAlgorithmOf('x-amz-checksum-crc64nvme'), 'crc64nvme');
  assert.equal(checksumAlgorithmOf('X-Amz-Checksum-SHA256'), 'sha256');
  assert.equal(checksumAlgorithmOf('x-amz-checksum-type'), undefined);
  assert.equal(checksumAlgorithmOf('x-amz-checksum-mode'), undefined);
});
