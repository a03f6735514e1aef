import assert from 'node:assert/strict';
import { test } from 'node:test';
import { S3Error } from '../errors.js';
import { checkObjectPath, isCacheableRead, parseS3Request } from './request.js';

test('parses path-style requests, decoding keys once and keeping +', () => {
  const r = parseS3Request('get', '/bucket/a%20b+c/%25/%C3%BC//x/?x-id=GetObject', {}, undefined);
  assert.equal(r.method, 'GET');
  assert.equal(r.bucket, 'bucket');
  assert.equal(r.key, 'a b+c/%/ü//x/');
  assert.deepEqual(r.query, [['x-id', 'GetObject']]);
  assert.equal(parseS3Request('GET', '/', {}, undefined).bucket, undefined);
  assert.equal(parseS3Request('GET', '/bucket/', {}, undefined).key, undefined);
  assert.equal(parseS3Request('GET', '/bucket', {}, undefined).bucket, 'bucket');
});

test('parses virtual-hosted-style requests under the configured domain', () => {
  const r = parseS3Request('GET', '/dir/key', { host: 'my-bucket.s3.local:8080' }, 's3.local');
  assert.equal(r.bucket, 'my-bucket');
  assert.equal(r.key, 'dir/key');
  const other = parseS3Request('GET', '/b/k', { host: 'elsewhere:8080' }, 's3.local');
  assert.deepEqual([other.bucket, other.key], ['b', 'k']);
});

test('rejects undecodable paths with InvalidURI', () => {
  assert.throws(() => parseS3Request('GET', '/b/%E0%A4%A', {}, undefined), (e: unknown) => e instanceof S3Error && e.code === 'InvalidURI');
});

test('caches plain object reads only', () => {
  const read = (url: string, headers = {}, method = 'GET'): boolean => isCacheableRead(parseS3Request(method, url, headers, undefined), headers);
  assert.equal(read('/b/k'), true);
  assert.equal(read('/b/k', {}, 'HEAD'), true);
  assert.equal(read('/b/k?response-content-type=x&x-id=GetObject&X-Amz-Signature=abc'), true);
  assert.equal(read('/b/k', { 'x-amz-checksum-mode': 'ENABLED' }), true);
  assert.equal(read('/b/k?versionId=1'), false);
  assert.equal(read('/b/k?partNumber=1'), false);
  assert.equal(read('/b/k?acl'), false);
  assert.equal(read('/b/k?tagging'), false);
  assert.equal(read('/b/k', { 'x-amz-server-side-encryption-customer-algorithm': 'AES256' }), false);
  assert.equal(read('/b/k', {}, 'PUT'), false);
  assert.equal(read('/b'), false);
});

test('checkObjectPath refuses dot segments and dot buckets, and nothing else with dots', () => {
  for (const key of ['..', '.', '../x', 'a/../b', 'a/./b', 'a/..', 'a/.']) {
    assert.throws(() => checkObjectPath('b', key), (err: unknown) => err instanceof S3Error && err.code === 'InvalidArgument', key);
  }
  for (const bucket of ['.', '..', 'a/b']) {
    assert.throws(() => checkObjectPath(bucket, 'k'), (err: unknown) => err instanceof S3Error && err.code === 'InvalidBucketName', bucket);
  }
  for (const key of ['a..b', '.hidden', 'x/..y', '...', 'a//b', undefined]) checkObjectPath('b', key);
  checkObjectPath(undefined, undefined);
});

test('reads query pairs exactly as URLSearchParams does', () => {
  const queries = [
    '',
    '&',
    '&&a=1&&',
    'a',
    'a=',
    '=b',
    'a=b=c',
    'a+b=c+d&%2B=%2b',
    'X-Amz-Credential=AKIA%2F20261203%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=ab12',
    '100%=50%25&%zz=%4&%E0%A4%A=x&%ED%A0%80=surrogate&%C3%BC=%EF%BB%BFbom',
    'prefix=%F0%9F%98%80/%2F&delimiter=%2F&list-type=2',
  ];
  // Random strings over the characters that matter to decoding.
  const alphabet = ['a', 'Z', '=', '&', '+', '%', '2', 'B', 'F', 'C', '3', 'E', '0', 'ü', ' '];
  let seed = 7;
  const random = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let i = 0; i < 2000; i++) {
    let query = '';
    for (let j = random(24); j > 0; j--) query += alphabet[random(alphabet.length)];
    queries.push(query);
  }
  for (const query of queries) {
    const parsed = parseS3Request('GET', `/b/k?${query}`, {}, undefined);
    assert.deepEqual(parsed.query, [...new URLSearchParams(query)], query);
    assert.deepEqual([...parsed.params], [...new URLSearchParams(query)], query);
  }
});
