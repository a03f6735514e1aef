import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, beforeEach, describe, test } from 'node:test';
import { request } from 'undici';
import { type Harness, startHarness } from '../test-support/harness.js';

let h: Harness;

before(async () => {
  h = await startHarness({ buckets: ['test', 'other'] });
});
after(async () => {
  await h.close();
});
beforeEach(() => h.front.reset());

/** A PUT with the path exactly as given: URL parsers (fetch, undici) would resolve its dot segments first. */
function rawPut(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${h.falcon.url}/`, { method: 'PUT', path, headers: { 'content-length': '1' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end('x');
  });
}

describe('keys with dot segments', () => {
  test('are refused with InvalidArgument before reaching the upstream, however they are encoded', async () => {
    const paths = ['/test/..%2Fother%2Fx', '/test/a/../../other/x', '/test/%2E%2E/other/x', '/test/%2e%2e%2fother/x', '/test/./x', '/test/a/.', '/test/a%2F..'];
    for (const path of paths) {
      const res = await rawPut(path);
      assert.equal(res.status, 400, path);
      assert.match(res.body, /<Code>InvalidArgument<\/Code>/, path);
    }
    const bucket = await rawPut('/../other/x');
    assert.equal(bucket.status, 400);
    assert.match(bucket.body, /<Code>InvalidBucketName<\/Code>/);
    assert.equal(h.front.requests.length, 0);
  });

  test('keys that merely contain dots still work', async () => {
    for (const key of ['a..b', '.hidden', 'dir/..name', '...', 'x./y']) {
      const path = `/test/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
      const put = await request(`${h.falcon.url}${path}`, { method: 'PUT', body: key });
      assert.equal(put.statusCode, 200, key);
      await put.body.dump();
      const get = await request(`${h.falcon.url}${path}`);
      assert.equal(await get.body.text(), key);
    }
  });
});
