import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { upstreamWriteMismatch } from './write-verification.js';

const md5Hex = createHash('md5').update('bytes').digest('hex');
const sent = { md5Hex, checksums: { 'x-amz-checksum-crc32': 'AAAAAA==' } };

test('an ETag that is the MD5 of the bytes sent passes, quoted or not', () => {
  assert.equal(upstreamWriteMismatch({ etag: `"${md5Hex}"` }, sent), undefined);
  assert.equal(upstreamWriteMismatch({ etag: md5Hex.toUpperCase() }, sent), undefined);
});

test('an ETag that is another MD5 is a mismatch', () => {
  assert.match(upstreamWriteMismatch({ etag: `"${'0'.repeat(32)}"` }, sent) ?? '', /ETag/);
});

test('ETags that are not an MD5 by design are not checked', () => {
  const other = `"${'0'.repeat(32)}"`;
  assert.equal(upstreamWriteMismatch({ etag: other, 'x-amz-server-side-encryption': 'aws:kms' }, sent), undefined);
  assert.equal(upstreamWriteMismatch({ etag: other, 'x-amz-server-side-encryption': 'aws:kms:dsse' }, sent), undefined);
  assert.equal(upstreamWriteMismatch({ etag: other, 'x-amz-server-side-encryption-customer-algorithm': 'AES256' }, sent), undefined);
  assert.equal(upstreamWriteMismatch({ etag: `"${'0'.repeat(32)}-2"` }, sent), undefined);
  assert.equal(upstreamWriteMismatch({}, sent), undefined);
  assert.equal(upstreamWriteMismatch({ etag: other }, { ...sent, md5Hex: undefined }), undefined);
});

test('a returned checksum must be the one sent; one not returned is not checked', () => {
  assert.equal(upstreamWriteMismatch({ etag: md5Hex, 'x-amz-checksum-crc32': 'AAAAAA==' }, sent), undefined);
  assert.match(upstreamWriteMismatch({ etag: md5Hex, 'x-amz-checksum-crc32': 'BBBBBB==' }, sent) ?? '', /x-amz-checksum-crc32/);
  assert.equal(upstreamWriteMismatch({ etag: md5Hex, 'x-amz-checksum-crc64nvme': 'CCCCCCCCCCC=' }, sent), undefined);
});
