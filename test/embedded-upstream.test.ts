import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { CompleteMultipartUploadCommand, CreateBucketCommand, CreateMultipartUploadCommand, GetObjectCommand, PutObjectCommand, S3ServiceException, UploadPartCommand } from '@aws-sdk/client-s3';
import { type FalconProcess, startFalconProcess } from '../test-support/falcon-process.js';
import { CLIENT_CREDENTIALS, getObjectBytes, sdkClient } from '../test-support/harness.js';
import { LOCAL_UPSTREAM_CREDENTIALS, startLocalUpstream } from '../src/upstream/local-upstream.js';

async function embeddedFalcon(t: TestContext): Promise<FalconProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-embedded-'));
  const falcon = await startFalconProcess([
    '--host', '127.0.0.1', '--port', '0', '--local-upstream', join(dir, 'data'),
    '--access-key', CLIENT_CREDENTIALS.accessKeyId, '--secret-key', CLIENT_CREDENTIALS.secretAccessKey,
  ]);
  t.after(async () => {
    await falcon.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return falcon;
}

async function healthy(url: string): Promise<void> {
  const res = await fetch(`${url}/healthz`);
  assert.equal(res.status, 200);
  await res.arrayBuffer();
}

async function s3Error(promise: Promise<unknown>): Promise<S3ServiceException> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof S3ServiceException) return err;
    throw err;
  }
  assert.fail('expected an S3 error');
}

test('CompleteMultipartUpload naming parts never uploaded gets InvalidPart from the embedded upstream, and the node lives', async (t) => {
  const falcon = await embeddedFalcon(t);
  const s3 = sdkClient(falcon.url);
  t.after(() => s3.destroy());
  await s3.send(new CreateBucketCommand({ Bucket: 'parts' }));
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: 'parts', Key: 'object' }));
  const missing = await s3Error(
    s3.send(new CompleteMultipartUploadCommand({ Bucket: 'parts', Key: 'object', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"0123456789abcdef0123456789abcdef"' }] } })),
  );
  assert.equal(missing.name, 'InvalidPart');
  assert.equal(missing.$metadata.httpStatusCode, 400);
  await healthy(falcon.url);

  const part = await s3.send(new UploadPartCommand({ Bucket: 'parts', Key: 'object', UploadId, PartNumber: 1, Body: 'only part' }));
  const wrongTag = await s3Error(
    s3.send(new CompleteMultipartUploadCommand({ Bucket: 'parts', Key: 'object', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: '"ffffffffffffffffffffffffffffffff"' }] } })),
  );
  assert.equal(wrongTag.name, 'InvalidPart');
  const unknownUpload = await s3Error(
    s3.send(new CompleteMultipartUploadCommand({ Bucket: 'parts', Key: 'object', UploadId: 'no-such-upload', MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } })),
  );
  assert.equal(unknownUpload.name, 'NoSuchUpload');
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: 'parts', Key: 'object', UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] } }));
  assert.equal((await getObjectBytes(s3, 'parts', 'object')).toString(), 'only part');
  await healthy(falcon.url);
});

test('the embedded upstream runs in its own process and is restarted when it dies', { timeout: 60_000 }, async (t) => {
  const falcon = await embeddedFalcon(t);
  const s3 = sdkClient(falcon.url);
  t.after(() => s3.destroy());
  await s3.send(new CreateBucketCommand({ Bucket: 'survive' }));
  await s3.send(new PutObjectCommand({ Bucket: 'survive', Key: 'k', Body: 'kept on disk' }));
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(falcon.child.pid)], { encoding: 'utf8' })
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => pid > 0);
  assert.equal(children.length, 1, 'one embedded upstream process');
  process.kill(children[0] as number, 'SIGKILL');
  await healthy(falcon.url);
  for (let attempt = 0; ; attempt++) {
    try {
      // A fresh key each time: nothing of it is cached, so the read needs the restarted upstream.
      await s3.send(new PutObjectCommand({ Bucket: 'survive', Key: `after-${attempt}`, Body: 'after' }));
      break;
    } catch (err) {
      if (attempt > 50) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  assert.equal((await getObjectBytes(s3, 'survive', 'k')).toString(), 'kept on disk');
  assert.equal(falcon.child.exitCode, null);
});

test('the embedded upstream answers a suffix range with the last bytes of the object, as S3 does', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-embedded-range-'));
  const upstream = await startLocalUpstream(dir, ['test']);
  const s3 = sdkClient(upstream.endpoint.origin, LOCAL_UPSTREAM_CREDENTIALS);
  t.after(async () => {
    s3.destroy();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });
  const body = Buffer.from('0123456789abcdefghij');
  await s3.send(new PutObjectCommand({ Bucket: 'test', Key: 'dir/suffix', Body: body }));
  const last = await s3.send(new GetObjectCommand({ Bucket: 'test', Key: 'dir/suffix', Range: 'bytes=-5' }));
  assert.equal(last.ContentRange, 'bytes 15-19/20');
  assert.equal(Buffer.from(await (last.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).toString(), 'fghij');
  const more = await s3.send(new GetObjectCommand({ Bucket: 'test', Key: 'dir/suffix', Range: 'bytes=-50' }));
  assert.equal(more.ContentRange, 'bytes 0-19/20', 'a suffix longer than the object is all of it');
});
