import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { request } from 'undici';
import { uniqueKey } from '../test-support/bytes.js';
import { startCluster } from '../test-support/cluster.js';
import { type Harness, sdkClient, startHarness, upstreamClient } from '../test-support/harness.js';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../src/upstream/local-upstream.js';

/** Long enough for an entry of age 0 to pass a one-second limit; a wait, never an assertion. */
const PAST_ONE_SECOND_MS = 1100;
const UPSTREAM_DOWN = { kind: 'status', statusCode: 503, code: 'ServiceUnavailable' } as const;

async function started(t: { after(fn: () => Promise<void>): void }, flags: string[]): Promise<{ h: Harness; direct: S3Client }> {
  const h = await startHarness({ flags });
  const direct = upstreamClient(h);
  t.after(async () => {
    direct.destroy();
    await h.close();
  });
  return { h, direct };
}

async function get(h: Harness, key: string, method = 'GET') {
  const res = await fetch(`${h.falcon.url}/test/${encodeURIComponent(key)}`, { method });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

async function seed(direct: S3Client, key: string, body: string): Promise<void> {
  await direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: body }));
}

describe('--revalidate-after', () => {
  test('a hit older than it is checked with a conditional GET; a 304 keeps the entry', async (t) => {
    const { h, direct } = await started(t, ['--revalidate-after', '1']);
    const key = uniqueKey('revalidate');
    await seed(direct, key, 'version 1');
    const first = await get(h, key);
    assert.equal(first.headers.get('x-cache'), 'MISS');
    assert.equal((await get(h, key)).headers.get('x-cache'), 'HIT');
    assert.equal(h.front.count('GET', `/test/${key}`), 1, 'young enough: no upstream request');

    await sleep(PAST_ONE_SECOND_MS);
    const checked = await get(h, key);
    assert.equal(checked.body, 'version 1');
    assert.equal(checked.headers.get('x-cache'), 'HIT');
    const gets = h.front.requests.filter((r) => r.method === 'GET' && r.path === `/test/${key}`);
    assert.equal(gets.length, 2);
    assert.equal(gets[1]?.headers['if-none-match'], first.headers.get('etag'), 'conditional on the cached ETag');
    assert.equal((await get(h, key)).headers.get('x-cache'), 'HIT');
    assert.equal(h.front.count('GET', `/test/${key}`), 2, 'the 304 refreshed the entry');
  });

  test('a write that bypassed Falcon is served once the entry is revalidated, and cached again', async (t) => {
    const { h, direct } = await started(t, ['--revalidate-after', '1']);
    const key = uniqueKey('bypassed');
    await seed(direct, key, 'old');
    assert.equal((await get(h, key)).body, 'old');
    await seed(direct, key, 'new, written behind Falcon');
    assert.equal((await get(h, key)).body, 'old', 'known staleness until the entry is due');
    await sleep(PAST_ONE_SECOND_MS);
    const fresh = await get(h, key);
    assert.equal(fresh.body, 'new, written behind Falcon');
    assert.equal(fresh.headers.get('x-cache'), 'MISS');
    const again = await get(h, key);
    assert.equal(again.body, 'new, written behind Falcon');
    assert.equal(again.headers.get('x-cache'), 'HIT');
    assert.equal(h.front.count('GET', `/test/${key}`), 2);
  });

  test('concurrent reads of a due entry share one conditional GET', async (t) => {
    const { h, direct } = await started(t, ['--revalidate-after', '1']);
    const key = uniqueKey('coalesced');
    await seed(direct, key, 'shared check');
    await get(h, key);
    await sleep(PAST_ONE_SECOND_MS);
    h.front.reset();
    h.front.inject({ method: 'GET', path: `/test/${key}`, fault: { kind: 'delay', ms: 300 } });
    const results = await Promise.all(Array.from({ length: 20 }, () => get(h, key)));
    for (const r of results) assert.equal(r.body, 'shared check');
    assert.equal(h.front.count('GET', `/test/${key}`), 1);
  });

  test('a due entry is served as a hit when the upstream fails, and an object deleted behind Falcon is gone', async (t) => {
    const { h, direct } = await started(t, ['--revalidate-after', '1']);
    const key = uniqueKey('due');
    await seed(direct, key, 'still within the TTL');
    await get(h, key);
    await sleep(PAST_ONE_SECOND_MS);
    h.front.inject({ method: 'GET', path: `/test/${key}`, fault: UPSTREAM_DOWN, times: 1 });
    const served = await get(h, key);
    assert.equal(served.status, 200);
    assert.equal(served.body, 'still within the TTL');
    assert.equal(served.headers.get('x-cache'), 'HIT');
    assert.equal(served.headers.get('warning'), null, 'not past its TTL: not stale');
    assert.equal((await get(h, 'x')).status, 404);

    await direct.send(new DeleteObjectCommand({ Bucket: 'test', Key: key }));
    const gone = await get(h, key);
    assert.equal(gone.status, 404);
    assert.match(gone.body, /<Code>NoSuchKey<\/Code>/);
    h.front.inject({ method: 'GET', path: `/test/${key}`, fault: UPSTREAM_DOWN });
    assert.equal((await get(h, key)).status, 503, 'the entry was dropped with the 404');
  });

  test('HEAD of a due entry asks the upstream', async (t) => {
    const { h, direct } = await started(t, ['--revalidate-after', '1']);
    const key = uniqueKey('head');
    await seed(direct, key, 'head');
    await get(h, key);
    await get(h, key, 'HEAD');
    assert.equal(h.front.count('HEAD', `/test/${key}`), 0);
    await sleep(PAST_ONE_SECOND_MS);
    await seed(direct, key, 'head, longer now');
    const head = await get(h, key, 'HEAD');
    assert.equal(head.headers.get('content-length'), String('head, longer now'.length));
    assert.equal(h.front.count('HEAD', `/test/${key}`), 1);
  });
});

describe('serve stale if error', () => {
  test('an expired entry is served marked stale while the upstream answers 5xx or cannot be reached', async (t) => {
    const { h, direct } = await started(t, ['--ttl', '1s', '--stale-if-error', '60']);
    const key = uniqueKey('stale');
    await seed(direct, key, 'last known bytes');
    assert.equal((await get(h, key)).headers.get('x-cache'), 'MISS');
    const status = async () => ((await (await fetch(`${h.falcon.url}/_falcon/status`)).json()) as { cache: { bytes: number; entries: number } }).cache;
    const before = await status();
    await sleep(PAST_ONE_SECOND_MS);
    assert.deepEqual(await status(), before, 'an expired entry still counts in the cache size');

    h.front.inject({ method: 'GET', path: `/test/${key}`, fault: UPSTREAM_DOWN });
    // A ranged read checks the metadata with a HEAD.
    h.front.inject({ method: 'HEAD', path: `/test/${key}`, fault: UPSTREAM_DOWN });
    const stale = await get(h, key);
    assert.equal(stale.status, 200);
    assert.equal(stale.body, 'last known bytes');
    assert.equal(stale.headers.get('x-cache'), 'STALE');
    assert.equal(stale.headers.get('warning'), '110 - "Response is Stale"');
    const ranged = await fetch(`${h.falcon.url}/test/${key}`, { headers: { range: 'bytes=5-9' } });
    assert.equal(ranged.status, 206);
    assert.equal(await ranged.text(), 'known');
    assert.equal(ranged.headers.get('warning'), '110 - "Response is Stale"');

    await h.front.close();
    const unreachable = await get(h, key);
    assert.equal(unreachable.status, 200);
    assert.equal(unreachable.body, 'last known bytes');
    assert.equal(unreachable.headers.get('x-cache'), 'STALE');
    const legacy = await fetch(`${h.falcon.url}/get?bucket=test&key=${encodeURIComponent(key)}`);
    assert.equal(await legacy.text(), 'last known bytes');
    assert.equal(legacy.headers.get('warning'), '110 - "Response is Stale"');
    const missing = await get(h, uniqueKey('never-cached'));
    assert.equal(missing.status, 503, 'nothing cached: the error as before');
  });

  test('an expired entry is replaced when the upstream answers', async (t) => {
    const { h, direct } = await started(t, ['--ttl', '1s', '--stale-if-error', '60']);
    const key = uniqueKey('expired');
    await seed(direct, key, 'one');
    await get(h, key);
    await sleep(PAST_ONE_SECOND_MS);
    const unchanged = await get(h, key);
    assert.equal(unchanged.body, 'one');
    assert.equal(unchanged.headers.get('x-cache'), 'HIT', 'a 304 renews the entry');
    assert.equal(unchanged.headers.get('warning'), null);
    await sleep(PAST_ONE_SECOND_MS);
    await seed(direct, key, 'two');
    const replaced = await get(h, key);
    assert.equal(replaced.body, 'two');
    assert.equal(replaced.headers.get('warning'), null);
    assert.equal((await get(h, key)).headers.get('x-cache'), 'HIT');
  });

  test('past the stale-if-error window, or with it off, an expired entry is not served', async (t) => {
    const { h, direct } = await started(t, ['--ttl', '1s', '--stale-if-error', '1']);
    const key = uniqueKey('too-old');
    await seed(direct, key, 'too old');
    await get(h, key);
    await sleep(2 * PAST_ONE_SECOND_MS);
    h.front.inject({ method: 'GET', path: `/test/${key}`, fault: UPSTREAM_DOWN });
    const res = await get(h, key);
    assert.equal(res.status, 503);
    assert.match(res.body, /<Code>ServiceUnavailable<\/Code>/);

    const off = await started(t, ['--ttl', '1s', '--stale-if-error', '0']);
    await seed(off.direct, key, 'never stale');
    await get(off.h, key);
    await sleep(PAST_ONE_SECOND_MS);
    off.h.front.inject({ method: 'GET', path: `/test/${key}`, fault: UPSTREAM_DOWN });
    assert.equal((await get(off.h, key)).status, 503);
  });

  test('an owner serving a stale copy marks it, and the asking node passes it on without keeping it', async (t) => {
    const cluster = await startCluster(2, ['--ttl', '1s', '--stale-if-error', '60']);
    const direct = sdkClient(cluster.upstreamEndpoint.origin, LOCAL_UPSTREAM_CREDENTIALS);
    t.after(async () => {
      direct.destroy();
      await cluster.close();
    });
    const key = uniqueKey('cluster-stale');
    const owner = cluster.ownerIndex('test', key);
    const asker = 1 - owner;
    const read = async (node: number) => {
      const res = await request(`${cluster.urls[node]}/test/${encodeURIComponent(key)}`);
      return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
    };
    await seed(direct, key, 'owned');
    assert.equal((await read(owner)).body, 'owned');
    await sleep(PAST_ONE_SECOND_MS);
    cluster.front.inject({ method: 'GET', path: `/test/${key}`, fault: UPSTREAM_DOWN });
    const stale = await read(asker);
    assert.equal(stale.status, 200);
    assert.equal(stale.body, 'owned');
    assert.equal(stale.headers.warning, '110 - "Response is Stale"');
    cluster.front.reset();
    const fresh = await read(asker);
    assert.equal(fresh.body, 'owned');
    assert.equal(fresh.headers.warning, undefined, 'the stale copy was not kept by the asking node');
    assert.equal(cluster.front.count('GET', `/test/${key}`), 1, 'the owner revalidated once more');
  });
});
