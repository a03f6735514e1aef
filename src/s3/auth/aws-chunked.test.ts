import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { test } from 'node:test';
import { AwsChunkedDecoder, isAwsChunked } from './aws-chunked.js';

function frame(chunks: string[], trailer = '', signed = false): string {
  const sig = signed ? ';chunk-signature=0123456789abcdef' : '';
  const data = chunks.map((c) => `${Buffer.byteLength(c).toString(16)}${sig}\r\n${c}\r\n`).join('');
  return `${data}0${sig}\r\n${trailer}\r\n`;
}

/** Feeds the body in pieces of `step` bytes so that framing splits across writes. */
async function decode(body: string, expected: number | undefined, step = 3, maxBytes?: number): Promise<{ data: string; decoder: AwsChunkedDecoder }> {
  const bytes = Buffer.from(body);
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += step) pieces.push(bytes.subarray(i, i + step));
  const decoder = new AwsChunkedDecoder({ expectedBytes: expected, maxBytes, checksums: [] });
  const data = await buffer(Readable.from(pieces).pipe(decoder));
  return { data: data.toString(), decoder };
}

test('decodes signed and unsigned aws-chunked bodies split anywhere', async () => {
  for (const signed of [false, true]) {
    for (const step of [1, 2, 7, 1000]) {
      const { data } = await decode(frame(['hello ', 'aws-chunked', ' world'], '', signed), 23, step);
      assert.equal(data, 'hello aws-chunked world');
    }
  }
});

test('collects trailing checksum headers', async () => {
  const { data, decoder } = await decode(frame(['abc'], 'x-amz-checksum-crc32:NSRBwg==\r\n'), 3);
  assert.equal(data, 'abc');
  assert.deepEqual(decoder.trailers, { 'x-amz-checksum-crc32': 'NSRBwg==' });
});

test('fails a body whose decoded length differs from x-amz-decoded-content-length', async () => {
  await assert.rejects(decode(frame(['abc']), 4), { code: 'IncompleteBody' });
  await assert.rejects(decode(frame(['abcde']), 4), { code: 'IncompleteBody' });
});

test('fails a body cut before its final chunk or with bad framing', async () => {
  await assert.rejects(decode('5\r\nabc', undefined), { code: 'IncompleteBody' });
  await assert.rejects(decode('zz\r\nabc\r\n0\r\n\r\n', undefined), { code: 'IncompleteBody' });
  await assert.rejects(decode('-3\r\nabc\r\n0\r\n\r\n', undefined), { code: 'IncompleteBody' });
  await assert.rejects(decode('00000000000000003\r\nabc\r\n0\r\n\r\n', undefined), { code: 'IncompleteBody' });
  await assert.rejects(decode('2\r\nabc\r\n0\r\n\r\n', undefined), { code: 'IncompleteBody' });
  await assert.rejects(decode('ffffffffffffffff\r\nabc\r\n0\r\n\r\n', 3), { code: 'IncompleteBody' });
  await assert.rejects(decode('ffffffffffffffff\r\nabc\r\n0\r\n\r\n', undefined, 3, 5 * 1024 ** 3), { code: 'EntityTooLarge' });
  await assert.rejects(decode('3\r\nabc\r\n0\r\nx-amz-checksum-crc32 NSRBwg==\r\n\r\n', 3), { code: 'MalformedTrailerError' });
});

test('streams unsigned chunks of any size; holds signed ones whole, up to 16 MiB', async () => {
  const big = 'x'.repeat(17 * 1024 * 1024);
  const { data } = await decode(frame([big]), big.length, 1024 * 1024);
  assert.equal(data.length, big.length);
  const signing = { signingKey: Buffer.alloc(32), amzDate: '20130524T000000Z', scope: 's', seedSignature: 'seed', signedTrailer: false };
  const decoder = new AwsChunkedDecoder({ signing, checksums: [] });
  await assert.rejects(buffer(Readable.from([Buffer.from(`1000001;chunk-signature=${'0'.repeat(64)}\r\nabc`)]).pipe(decoder)), { code: 'InvalidArgument' });
});

test('recognises aws-chunked from the payload hash or the content encoding', () => {
  assert.equal(isAwsChunked('STREAMING-UNSIGNED-PAYLOAD-TRAILER', undefined), true);
  assert.equal(isAwsChunked(undefined, 'gzip, aws-chunked'), true);
  assert.equal(isAwsChunked('UNSIGNED-PAYLOAD', 'gzip'), false);
});

test('verifies the chunk signature chain of the AWS documentation example', async () => {
  const { deriveSigningKey } = await import('./sigv4.js');
  const signing = {
    signingKey: deriveSigningKey('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', '20130524', 'us-east-1', 's3'),
    amzDate: '20130524T000000Z',
    scope: '20130524/us-east-1/s3/aws4_request',
    seedSignature: '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
    signedTrailer: false,
  };
  const chunk = (size: number, sig: string, fill = 'a') => Buffer.concat([Buffer.from(`${size.toString(16)};chunk-signature=${sig}\r\n`), Buffer.alloc(size, fill), Buffer.from('\r\n')]);
  const body = (second = 'a') =>
    Buffer.concat([
      chunk(65536, 'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648'),
      chunk(1024, '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497', second),
      chunk(0, 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9'),
    ]);
  const run = (input: Buffer) => buffer(Readable.from([input.subarray(0, 40_000), input.subarray(40_000)]).pipe(new AwsChunkedDecoder({ expectedBytes: 66560, signing, checksums: [] })));
  const decoded = await run(body());
  assert.equal(decoded.length, 66560);
  assert.ok(decoded.every((b) => b === 0x61));
  await assert.rejects(run(body('b')), { code: 'SignatureDoesNotMatch' });
});
