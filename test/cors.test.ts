import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PutBucketCorsCommand } from '@aws-sdk/client-s3';
import { startHarness, upstreamClient } from '../test-support/harness.js';

test('forwards an unsigned CORS preflight to the upstream, which answers it from the bucket CORS rules', async (t) => {
  const h = await startHarness({ anonymous: false });
  t.after(() => h.close());
  const direct = upstreamClient(h);
  t.after(() => direct.destroy());
  await direct.send(
    new PutBucketCorsCommand({
      Bucket: 'test',
      CORSConfiguration: { CORSRules: [{ AllowedOrigins: ['https://app.example'], AllowedMethods: ['GET', 'PUT'], AllowedHeaders: ['*'] }] },
    }),
  );
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
