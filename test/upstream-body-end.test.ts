import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { randomBody, sha256 } from '../test-support/bytes.js';
import { CountingFront } from '../test-support/counting-front.js';
import { LOCAL_UPSTREAM_CREDENTIALS, startLocalUpstream } from '../src/upstream/local-upstream.js';
import { S3Upstream } from '../src/upstream/s3-upstream.js';

const MIB = 1024 * 1024;

/** A reader that takes the first bytes at once and the last MiB slowly, as a client on a slow link does. */
function slowAtTheEnd(size: number, chunks: Buffer[]): Writable {
  let received = 0;
  return new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk);
      received += chunk.length;
      if (received < size - MIB) done();
      else setTimeout(done, 5);
    },
  });
}

test('a slow reader gets every byte of an upstream body that ends with the upstream closing the connection', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-body-end-'));
  const local = await startLocalUpstream(dir, ['test']);
  const f = await new CountingFront(local.endpoint).start();
  const upstream = new S3Upstream({
    endpoint: new URL(f.url),
    region: 'us-east-1',
    forcePathStyle: true,
    timeoutMs: 10_000,
    credentials: async () => LOCAL_UPSTREAM_CREDENTIALS,
  });
  t.after(async () => {
    await upstream.close();
    await f.close();
    await local.close();
    await rm(dir, { recursive: true, force: true });
  });
  const size = 8 * MIB;
  const body = randomBody(size);
  const put = await upstream.request({ method: 'PUT', bucket: 'test', key: 'object', query: [], headers: {}, body });
  assert.equal(put.statusCode, 200);
  put.body.resume();
  // S3 answers some requests with Connection: close; undici must not be caught paused on the last bytes.
  f.inject({ method: 'GET', fault: { kind: 'connection-close' } });
  for (let i = 0; i < 8; i++) {
    const got = await upstream.request({ method: 'GET', bucket: 'test', key: 'object', query: [], headers: {} });
    assert.equal(got.statusCode, 200);
    const chunks: Buffer[] = [];
    await pipeline(got.body, slowAtTheEnd(size, chunks));
    assert.equal(sha256(Buffer.concat(chunks)), sha256(body), `read ${i}`);
  }
});
