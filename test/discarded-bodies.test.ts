import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { uniqueKey } from '../test-support/bytes.js';
import { type FalconProcess, startFalconProcess } from '../test-support/falcon-process.js';
import { CountingFront } from '../test-support/counting-front.js';
import { LOCAL_UPSTREAM_CREDENTIALS, startLocalUpstream } from '../src/upstream/local-upstream.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sdkClient } from '../test-support/harness.js';

/**
 * Answers whose upstream body Falcon throws away. Destroying an undici body that has already arrived
 * emits an error event; with no listener that kills the process. Falcon runs in a process of its own
 * here, so such a crash shows as a dead node rather than a dead test runner.
 */
interface Setup {
  falcon: FalconProcess;
  front: CountingFront;
  seed(key: string, body: string, extra?: Partial<ConstructorParameters<typeof PutObjectCommand>[0]>): Promise<void>;
}

async function setUp(t: TestContext): Promise<Setup> {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-discard-'));
  const upstream = await startLocalUpstream(dir, ['test']);
  const front = await new CountingFront(upstream.endpoint).start();
  const falcon = await startFalconProcess(
    ['--host', '127.0.0.1', '--port', '0', '--anonymous', '--s3-endpoint', front.url, '--s3-force-path-style', '--s3-checksum-trailers', 'false'],
    { AWS_ACCESS_KEY_ID: LOCAL_UPSTREAM_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_UPSTREAM_CREDENTIALS.secretAccessKey },
  );
  const direct = sdkClient(upstream.endpoint.origin, LOCAL_UPSTREAM_CREDENTIALS);
  t.after(async () => {
    direct.destroy();
    await falcon.stop();
    await front.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    falcon,
    front,
    async seed(key, body, extra = {}) {
      await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: body, ...extra }));
    },
  };
}

async function get(falcon: FalconProcess, key: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const res = await fetch(`${falcon.url}/test/${key}`, { headers });
  return { status: res.status, body: await res.text() };
}

async function assertAlive(falcon: FalconProcess): Promise<void> {
  // Give a late error event the chance to fire before looking.
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(falcon.child.exitCode, null, falcon.output());
  const res = await fetch(`${falcon.url}/healthz`);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
}

test('reads of an uncacheable (no-store) object that end without its body do not crash the node', async (t) => {
  const { falcon, seed } = await setUp(t);
  const key = uniqueKey('no-store');
  await seed(key, 'never cached bytes', { CacheControl: 'no-store' });
  const etag = (await fetch(`${falcon.url}/test/${key}`, { method: 'HEAD' })).headers.get('etag') ?? '';
  const cases: Array<[Record<string, string>, number, string]> = [
    [{ range: 'bytes=0-4' }, 206, 'never'],
    [{ 'if-none-match': etag }, 304, ''],
    [{ 'if-match': '"not-the-etag"' }, 412, '<Code>PreconditionFailed</Code>'],
    [{ 'if-modified-since': new Date(Date.now() + 86_400_000).toUTCString() }, 304, ''],
  ];
  for (const [headers, status, body] of cases) {
    const res = await get(falcon, key, headers);
    assert.equal(res.status, status, JSON.stringify(headers));
    assert.ok(res.body.includes(body), `${JSON.stringify(headers)}: ${res.body}`);
    await assertAlive(falcon);
  }
});

test('an upstream 200 without Content-Length gets a clear error and does not crash the node', async (t) => {
  const { falcon, front, seed } = await setUp(t);
  const key = uniqueKey('chunked');
  await seed(key, 'bytes of unknown length');
  front.inject({ method: 'GET', path: `/test/${key}`, fault: { kind: 'no-content-length' } });
  // Asking for checksums makes Falcon read the whole object with one GET, whose 200 needs a length.
  const res = await get(falcon, key, { 'x-amz-checksum-mode': 'ENABLED' });
  assert.equal(res.status, 502);
  assert.match(res.body, /<Code>BadGateway<\/Code>/);
  await assertAlive(falcon);
});
