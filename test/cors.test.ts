import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { type CORSRule, GetObjectCommand, PutBucketCorsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { type Harness, sdkClient, startHarness, upstreamClient } from '../test-support/harness.js';

/** A node with authentication on, over an upstream whose bucket `test` has this CORS rule. */
async function withCorsRule(t: TestContext, rule: CORSRule): Promise<{ h: Harness; direct: S3Client }> {
  const h = await startHarness({ anonymous: false });
  t.after(() => h.close());
  const direct = upstreamClient(h);
  t.after(() => direct.destroy());
  await direct.send(new PutBucketCorsCommand({ Bucket: 'test', CORSConfiguration: { CORSRules: [rule] } }));
  return { h, direct };
}

test('forwards an unsigned CORS preflight to the upstream, which answers it from the bucket CORS rules', async (t) => {
  const { h } = await withCorsRule(t, { AllowedOrigins: ['https://app.example'], AllowedMethods: ['GET', 'PUT'], AllowedHeaders: ['*'] });
  const preflight = await fetch(`${h.falcon.url}/test/some/key`, {
    method: 'OPTIONS',
    headers: { origin: 'https://app.example', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' },
  });
  assert.equal(preflight.status, 200, await preflight.text());
  // s3rver answers '*' where S3 echoes the origin; either allows it.
  assert.match(preflight.headers.get('access-control-allow-origin') ?? '', /^(https:\/\/app\.example|\*)$/);
  assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /PUT/);
  assert.equal(h.front.count('OPTIONS', '/test/some/key'), 1);

  const refused = await fetch(`${h.falcon.url}/test/some/key`, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'PUT' },
  });
  assert.equal(refused.status, 403, 'the upstream refuses an origin its rules do not allow');
  await refused.arrayBuffer();

  // Only a real preflight skips authentication: any other unsigned request is still refused by Falcon.
  const plain = await fetch(`${h.falcon.url}/test/some/key`, { method: 'OPTIONS' });
  assert.equal(plain.status, 403);
  assert.match(await plain.text(), /<Code>AccessDenied<\/Code>/);
  assert.equal(h.front.count('OPTIONS'), 2);
});

test('reads answered from the cache carry the CORS headers the bucket rules give the request origin', async (t) => {
  const { h, direct } = await withCorsRule(t, { AllowedOrigins: ['https://app.example'], AllowedMethods: ['GET', 'HEAD'], ExposeHeaders: ['ETag'] });
  await direct.send(new PutObjectCommand({ Bucket: 'test', Key: 'page.json', Body: '{"ok":true}' }));
  const presigned = await presignedGet(h.falcon.url, 'page.json');
  for (const cache of ['MISS', 'HIT']) {
    const res = await fetch(presigned, { headers: { origin: 'https://app.example' } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-cache'), cache);
    assert.match(res.headers.get('access-control-allow-origin') ?? '', /^(https:\/\/app\.example|\*)$/);
    assert.equal(await res.text(), '{"ok":true}');
  }
  assert.equal(h.front.count('OPTIONS'), 1, 'the rules are asked once for the origin and method');
  const other = await fetch(presigned, { headers: { origin: 'https://evil.example' } });
  assert.equal(other.status, 200);
  assert.equal(other.headers.get('access-control-allow-origin'), null);
  await other.arrayBuffer();
  const noOrigin = await fetch(presigned);
  assert.equal(noOrigin.headers.get('access-control-allow-origin'), null);
  await noOrigin.arrayBuffer();
});

function presignedGet(endpoint: string, key: string): Promise<string> {
  const client = sdkClient(endpoint);
  return getSignedUrl(client, new GetObjectCommand({ Bucket: 'test', Key: key }), { expiresIn: 600 }).finally(() => client.destroy());
}
