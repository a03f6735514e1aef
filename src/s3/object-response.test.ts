import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ObjectMeta } from '../cache/object-meta.js';
import { S3Error } from '../errors.js';
import { etagListMatches, isPlainRead, parseRange, planObjectResponse } from './object-response.js';

const meta: ObjectMeta = {
  headers: {
    etag: '"abc"',
    'last-modified': 'Tue, 10 Nov 2026 10:00:00 GMT',
    'content-type': 'text/plain',
    'x-amz-checksum-crc32': 'AAAAAA==',
  },
  size: 100,
  etag: '"abc"',
  lastModifiedMs: Date.parse('Tue, 10 Nov 2026 10:00:00 GMT'),
  checksumsKnown: true,
};
const noQuery = new URLSearchParams();

describe('parseRange', () => {
  test('reads the three byte-range forms and clamps the end', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, endExclusive: 10 });
    assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, endExclusive: 100 });
    assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, endExclusive: 100 });
    assert.deepEqual(parseRange('bytes=-1000', 100), { start: 0, endExclusive: 100 });
    assert.deepEqual(parseRange('bytes=50-1000', 100), { start: 50, endExclusive: 100 });
  });

  test('ignores malformed ranges and multiple ranges', () => {
    for (const header of ['bytes=5-1', 'items=0-1', 'bytes=-', 'bytes=0-1,5-6', 'bytes=a-b']) {
      assert.equal(parseRange(header, 100), undefined, header);
    }
  });

  test('rejects ranges outside the object with InvalidRange', () => {
    for (const [header, size] of [['bytes=100-', 100], ['bytes=-0', 100], ['bytes=0-0', 0]] as const) {
      assert.throws(() => parseRange(header, size), (err: unknown) => err instanceof S3Error && err.code === 'InvalidRange' && err.statusCode === 416);
    }
  });
});

describe('planObjectResponse', () => {
  test('sends the whole object with its length and Accept-Ranges', () => {
    const plan = planObjectResponse(meta, 'GET', {}, noQuery);
    assert.equal(plan.statusCode, 200);
    assert.equal(plan.headers['content-length'], '100');
    assert.equal(plan.headers['accept-ranges'], 'bytes');
    assert.deepEqual([plan.start, plan.endExclusive], [0, 100]);
  });

  test('sends no body for HEAD but the full length', () => {
    const plan = planObjectResponse(meta, 'HEAD', {}, noQuery);
    assert.equal(plan.headers['content-length'], '100');
    assert.equal(plan.endExclusive - plan.start, 0);
  });

  test('shows checksums only when asked and only for whole objects', () => {
    assert.equal(planObjectResponse(meta, 'GET', {}, noQuery).headers['x-amz-checksum-crc32'], undefined);
    const asked = { 'x-amz-checksum-mode': 'ENABLED' };
    assert.equal(planObjectResponse(meta, 'GET', asked, noQuery).headers['x-amz-checksum-crc32'], 'AAAAAA==');
    assert.equal(planObjectResponse(meta, 'GET', { ...asked, range: 'bytes=0-1' }, noQuery).headers['x-amz-checksum-crc32'], undefined);
  });

  test('gives 304 for a matching If-None-Match with only validator headers', () => {
    const plan = planObjectResponse(meta, 'GET', { 'if-none-match': 'W/"abc"' }, noQuery);
    assert.equal(plan.statusCode, 304);
    assert.deepEqual(Object.keys(plan.headers).sort(), ['etag', 'last-modified']);
  });

  test('gives 412 naming the failed condition', () => {
    assert.throws(
      () => planObjectResponse(meta, 'GET', { 'if-match': '"x", "y"' }, noQuery),
      (err: unknown) => err instanceof S3Error && err.code === 'PreconditionFailed' && err.details.Condition === 'If-Match',
    );
  });

  test('ignores unparseable dates', () => {
    assert.equal(planObjectResponse(meta, 'GET', { 'if-modified-since': 'yesterday' }, noQuery).statusCode, 200);
  });

  test('applies response-* overrides', () => {
    const plan = planObjectResponse(meta, 'GET', {}, new URLSearchParams('response-content-type=a%2Fb&response-expires=never'));
    assert.equal(plan.headers['content-type'], 'a/b');
    assert.equal(plan.headers.expires, 'never');
  });
});

test('etagListMatches accepts *, lists and weak tags', () => {
  assert.equal(etagListMatches('*', undefined), true);
  assert.equal(etagListMatches('"x", "abc"', '"abc"'), true);
  assert.equal(etagListMatches('abc', '"abc"'), true);
  assert.equal(etagListMatches('"x"', '"abc"'), false);
});

test('a read is plain only without a range, conditions, overrides or checksum mode', () => {
  const params = (query: string): URLSearchParams => new URLSearchParams(query);
  assert.equal(isPlainRead({}, params('')), true);
  assert.equal(isPlainRead({}, params('x-id=GetObject&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab')), true);
  for (const name of ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'x-amz-checksum-mode']) {
    assert.equal(isPlainRead({ [name]: 'x' }, params('')), false, name);
  }
  for (const query of ['response-content-type=text/plain', 'partNumber=1', 'versionId=v', 'x-amz-checksum-mode=ENABLED', 'X-Amz-Checksum-Mode=ENABLED']) {
    assert.equal(isPlainRead({}, params(query)), false, query);
  }
});
