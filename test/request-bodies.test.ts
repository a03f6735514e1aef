import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import type { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { LOCAL_UPSTREAM_CREDENTIALS, type LocalUpstream, startLocalUpstream } from '../src/upstream/local-upstream.js';
import { uniqueKey } from '../test-support/bytes.js';
import { signHeaders } from '../test-support/chunked-upload.js';
import { CountingFront } from '../test-support/counting-front.js';
import { type FalconProcess, startFalconProcess } from '../test-support/falcon-process.js';
import { CLIENT_CREDENTIALS, getObjectBytes, sdkClient } from '../test-support/harness.js';
import { type RawResponse, rawRequest } from '../test-support/raw-http.js';

// Falcon runs as a child process here: a request that crashed it shows as a failed test, not a dead test runner.
let dir: string;
let upstream: LocalUpstream;
let front: CountingFront;
let direct: S3Client;
let falcon: FalconProcess;

async function startFalcon(): Promise<FalconProcess> {
  return startFalconProcess(
    [
      '--host', '127.0.0.1',
      '--port', '0',
      '--s3-endpoint', front.url,
      '--s3-force-path-style',
      '--access-key', CLIENT_CREDENTIALS.accessKeyId,
      '--secret-key', CLIENT_CREDENTIALS.secretAccessKey,
      '--request-body-timeout', '1000',
    ],
    {
      AWS_ACCESS_KEY_ID: LOCAL_UPSTREAM_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_UPSTREAM_CREDENTIALS.secretAccessKey,
      AWS_CONFIG_FILE: join(dir, 'aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'aws-credentials'),
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  );
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'falcon-bodies-'));
  upstream = await startLocalUpstream(join(dir, 's3'), ['test']);
  front = await new CountingFront(upstream.endpoint).start();
  direct = sdkClient(upstream.endpoint.origin, LOCAL_UPSTREAM_CREDENTIALS);
  falcon = await startFalcon();
});
after(async () => {
  await falcon.stop();
  direct.destroy();
  await front.close();
  await upstream.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  front.reset();
  // One test that kills the node must not take the next ones with it.
  if (falcon.child.exitCode !== null || falcon.child.signalCode !== null) falcon = await startFalcon();
});

async function stored(key: string): Promise<Buffer | undefined> {
  try {
    return await getObjectBytes(direct, 'test', key);
  } catch (err) {
    if ((err as S3ServiceException).name === 'NoSuchKey') return undefined;
    throw err;
  }
}

async function assertRefused(res: RawResponse, key: string, status: number, code: string): Promise<void> {
  assert.equal(res.status, status, `status (body: ${res.body})`);
  assert.match(res.body, new RegExp(`<Code>${code}</Code>`));
  const health = await fetch(`${falcon.url}/healthz`);
  assert.equal(health.status, 200, 'the node is still serving');
  assert.equal(await stored(key), undefined, 'nothing stored upstream');
}

/** A PutObject whose aws-chunked body (unsigned chunks) is sent byte for byte as given. */
function putChunked(key: string, framed: string | Buffer, decodedLength: number, extra: Record<string, string> = {}): Promise<RawResponse> {
  const body = Buffer.from(framed);
  const path = `/test/${key}`;
  const { headers } = signHeaders(
    falcon.url,
    'PUT',
    path,
    {
      'Content-Encoding': 'aws-chunked',
      'X-Amz-Content-Sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
      'X-Amz-Decoded-Content-Length': String(decodedLength),
      ...extra,
    },
    CLIENT_CREDENTIALS,
  );
  return rawRequest(falcon.url, { method: 'PUT', path, headers: { ...headers, 'Content-Length': String(body.length) }, body: [body] });
}

/** A PutObject with signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD); `framing` turns the signer into the body. */
function putSignedChunks(key: string, decodedLength: number, framing: (signer: ReturnType<typeof signHeaders>['chunkSigner']) => Buffer, contentLength?: number): Promise<RawResponse> {
  const path = `/test/${key}`;
  const { headers, chunkSigner } = signHeaders(
    falcon.url,
    'PUT',
    path,
    {
      'Content-Encoding': 'aws-chunked',
      'X-Amz-Content-Sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'X-Amz-Decoded-Content-Length': String(decodedLength),
    },
    CLIENT_CREDENTIALS,
  );
  const body = framing(chunkSigner);
  return rawRequest(falcon.url, { method: 'PUT', path, headers: { ...headers, 'Content-Length': String(contentLength ?? body.length) }, body: [body] });
}

describe('malformed aws-chunked bodies get an S3 error and the node stays up', () => {
  test('a well-formed aws-chunked upload is stored (the baseline the other cases break)', async () => {
    const key = uniqueKey('chunked-ok');
    const res = await putChunked(key, '3\r\nabc\r\n0\r\n\r\n', 3);
    assert.equal(res.status, 200, res.body);
    assert.equal((await stored(key))?.toString(), 'abc');
  });

  test('a chunk size that is not hexadecimal', async () => {
    const key = uniqueKey('not-hex');
    await assertRefused(await putChunked(key, 'zz\r\nabc\r\n0\r\n\r\n', 3), key, 400, 'IncompleteBody');
  });

  test('a chunk size of 17 hex digits', async () => {
    const key = uniqueKey('17-digits');
    await assertRefused(await putChunked(key, '00000000000000003\r\nabc\r\n0\r\n\r\n', 3), key, 400, 'IncompleteBody');
  });

  test('a chunk size of ffffffffffffffff', async () => {
    const key = uniqueKey('all-f');
    await assertRefused(await putChunked(key, 'ffffffffffffffff\r\nabc\r\n0\r\n\r\n', 3), key, 400, 'IncompleteBody');
  });

  test('a negative chunk size', async () => {
    const key = uniqueKey('negative');
    await assertRefused(await putChunked(key, '-3\r\nabc\r\n0\r\n\r\n', 3), key, 400, 'IncompleteBody');
  });

  test('a chunk shorter than its size', async () => {
    const key = uniqueKey('short-chunk');
    await assertRefused(await putChunked(key, '10\r\nabc\r\n0\r\n\r\n', 16), key, 400, 'IncompleteBody');
  });

  test('a chunk longer than its size', async () => {
    const key = uniqueKey('long-chunk');
    await assertRefused(await putChunked(key, '3\r\nabcdef\r\n0\r\n\r\n', 3), key, 400, 'IncompleteBody');
  });

  test('an understated x-amz-decoded-content-length', async () => {
    const key = uniqueKey('understated');
    await assertRefused(await putChunked(key, '6\r\nabcdef\r\n0\r\n\r\n', 3), key, 400, 'IncompleteBody');
  });

  test('a malformed trailer line', async () => {
    const key = uniqueKey('bad-trailer');
    const res = await putChunked(key, '3\r\nabc\r\n0\r\nx-amz-checksum-crc32 NSRBwg==\r\n\r\n', 3, { 'X-Amz-Trailer': 'x-amz-checksum-crc32' });
    await assertRefused(res, key, 400, 'MalformedTrailerError');
  });

  test('a signed chunk larger than 16 MiB', async () => {
    const key = uniqueKey('oversized');
    const size = 32 * 1024 * 1024;
    // Only the chunk's size line and a few bytes are sent: the size alone must be refused.
    const res = await putSignedChunks(key, size, () => Buffer.from(`${size.toString(16)};chunk-signature=${'0'.repeat(64)}\r\nabc`), size + 200);
    await assertRefused(res, key, 400, 'InvalidArgument');
  });

  test('a wrong chunk signature', async () => {
    const key = uniqueKey('bad-signature');
    const res = await putSignedChunks(key, 9000, (signer) => {
      const framed = signer.frame([Buffer.alloc(8192, 'a'), Buffer.alloc(808, 'b')]);
      // One byte of the second chunk's data changed after signing.
      framed[framed.indexOf('bbbb')] = 'c'.charCodeAt(0);
      return framed;
    });
    await assertRefused(res, key, 403, 'SignatureDoesNotMatch');
  });

  test('a body that ends before its final chunk', async () => {
    const key = uniqueKey('no-final');
    await assertRefused(await putChunked(key, '3\r\nabc\r\n', 3), key, 400, 'IncompleteBody');
  });
});

describe('slow and oversized request bodies', () => {
  /** An unsigned-payload PutObject whose head declares `contentLength` and whose body is `pieces`, `gapMs` apart. */
  function putRaw(key: string, contentLength: number, pieces: Buffer[], gapMs = 0): Promise<RawResponse> {
    const path = `/test/${key}`;
    const { headers } = signHeaders(falcon.url, 'PUT', path, { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' }, CLIENT_CREDENTIALS);
    return rawRequest(falcon.url, { method: 'PUT', path, headers: { ...headers, 'Content-Length': String(contentLength) }, body: pieces, gapMs });
  }

  test('a body that stops arriving gets RequestTimeout, and the upstream request is cut', async () => {
    const key = uniqueKey('stalled');
    // 5 bytes of a declared 1 MB, then silence (the node runs with --request-body-timeout 1000).
    const res = await putRaw(key, 1_000_000, [Buffer.from('hello')]);
    await assertRefused(res, key, 400, 'RequestTimeout');
    assert.equal(res.headers.connection, 'close');
  });

  test('a body trickling a byte at a time gets RequestTimeout', async () => {
    const key = uniqueKey('trickle');
    // A byte every 100 ms never leaves the node idle for a second, but stays far under 1 KiB/s.
    const pieces = Array.from({ length: 200 }, () => Buffer.from('x'));
    await assertRefused(await putRaw(key, pieces.length, pieces, 100), key, 400, 'RequestTimeout');
  });

  test('an aws-chunked body that stops arriving gets RequestTimeout', async () => {
    const key = uniqueKey('stalled-chunked');
    const path = `/test/${key}`;
    const { headers } = signHeaders(
      falcon.url,
      'PUT',
      path,
      { 'Content-Encoding': 'aws-chunked', 'X-Amz-Content-Sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'X-Amz-Decoded-Content-Length': '100' },
      CLIENT_CREDENTIALS,
    );
    const res = await rawRequest(falcon.url, { method: 'PUT', path, headers: { ...headers, 'Content-Length': '200' }, body: [Buffer.from('64\r\nabc')] });
    await assertRefused(res, key, 400, 'RequestTimeout');
  });

  test('a client that goes away mid-body leaves nothing stored and the node serving', async () => {
    for (const hash of ['UNSIGNED-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER']) {
      const key = uniqueKey('hang-up');
      const path = `/test/${key}`;
      const chunked = hash.startsWith('STREAMING');
      const extra: Record<string, string> = chunked ? { 'Content-Encoding': 'aws-chunked', 'X-Amz-Decoded-Content-Length': '100000' } : {};
      const { headers } = signHeaders(falcon.url, 'PUT', path, { 'X-Amz-Content-Sha256': hash, ...extra }, CLIENT_CREDENTIALS);
      const body = chunked ? Buffer.from(`186a0\r\n${'x'.repeat(50_000)}`) : Buffer.alloc(50_000, 'x');
      const res = await rawRequest(falcon.url, { method: 'PUT', path, headers: { ...headers, 'Content-Length': '100200' }, body: [body], hangUp: true });
      assert.equal(res.status, 0, 'nobody left to answer');
      // The node notices the hang-up, fails the body and cuts the upstream request; give it a moment.
      await new Promise((r) => setTimeout(r, 200));
      const health = await fetch(`${falcon.url}/healthz`);
      assert.equal(health.status, 200, 'the node is still serving');
      assert.equal(await stored(key), undefined, 'nothing stored upstream');
    }
  });

  test('a PutObject declaring more than 5 GiB gets EntityTooLarge without reaching the upstream', async () => {
    const key = uniqueKey('too-large');
    const res = await putRaw(key, 10_000_000_000, [Buffer.from('hello')]);
    await assertRefused(res, key, 400, 'EntityTooLarge');
    assert.match(res.body, /<ProposedSize>10000000000<\/ProposedSize>/);
    assert.equal(front.count('PUT'), 0);
  });

  test('an UploadPart whose decoded length is over 5 GiB gets EntityTooLarge without reaching the upstream', async () => {
    const key = uniqueKey('part-too-large');
    const path = `/test/${key}?partNumber=1&uploadId=abc`;
    const { headers } = signHeaders(
      falcon.url,
      'PUT',
      path,
      { 'Content-Encoding': 'aws-chunked', 'X-Amz-Content-Sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'X-Amz-Decoded-Content-Length': String(6 * 1024 ** 3) },
      CLIENT_CREDENTIALS,
    );
    const res = await rawRequest(falcon.url, { method: 'PUT', path, headers: { ...headers, 'Content-Length': '100' }, body: [Buffer.from('5\r\nhello')] });
    await assertRefused(res, key, 400, 'EntityTooLarge');
    assert.equal(front.count('PUT'), 0);
  });
});
