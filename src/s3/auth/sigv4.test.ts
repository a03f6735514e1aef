import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import aws4 from 'aws4';
import { S3Error } from '../../errors.js';
import { KeyStore } from './keys.js';
import { canonicalHeaders, type RequestToVerify, SigV4Verifier } from './sigv4.js';

/** The SDK signer's hash interface over node:crypto. */
class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: string | Uint8Array | ArrayBuffer | ArrayBufferView) {
    const key = secret instanceof ArrayBuffer ? new Uint8Array(secret) : ArrayBuffer.isView(secret) ? new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength) : secret;
    this.hash = key === undefined ? createHash('sha256') : createHmac('sha256', key);
  }
  update(data: string | Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

// The examples of the AWS S3 SigV4 documentation.
const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EXAMPLE_TIME = Date.UTC(2013, 4, 24);
const keys = new KeyStore([{ accessKeyId: AKID, secretAccessKey: SECRET }]);

function request(method: string, url: string, headers: Array<[string, string]>): RequestToVerify {
  const lower: Record<string, string> = {};
  for (const [k, v] of headers) lower[k.toLowerCase()] = v;
  return { method, url, headers: lower, rawHeaders: headers.flat() };
}

function code(expected: string) {
  return (err: unknown) => err instanceof S3Error && err.code === expected;
}

const getObject = (signature: string, time = '20130524T000000Z') =>
  request('GET', '/test.txt', [
    ['Host', 'examplebucket.s3.amazonaws.com'],
    ['Range', 'bytes=0-9'],
    ['x-amz-content-sha256', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['x-amz-date', time],
    [
      'Authorization',
      `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=${signature}`,
    ],
  ]);

describe('SigV4 verification against the AWS documentation examples', () => {
  const verifier = new SigV4Verifier({ keys, now: () => EXAMPLE_TIME });

  test('accepts the GetObject example', () => {
    const verified = verifier.verify(getObject('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41'));
    assert.equal(verified.accessKeyId, AKID);
    assert.equal(verified.scope, '20130524/us-east-1/s3/aws4_request');
  });

  test('accepts the PutObject example with a signed payload hash', () => {
    const put = request('PUT', '/test%24file.text', [
      ['Host', 'examplebucket.s3.amazonaws.com'],
      ['Date', 'Fri, 24 May 2013 00:00:00 GMT'],
      ['x-amz-date', '20130524T000000Z'],
      ['x-amz-storage-class', 'REDUCED_REDUNDANCY'],
      ['x-amz-content-sha256', '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072'],
      [
        'Authorization',
        `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd`,
      ],
    ]);
    assert.equal(verifier.verify(put).payloadHash, '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072');
  });

  test('accepts the presigned URL example until it expires', () => {
    const url =
      '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
    const presigned = request('GET', url, [['Host', 'examplebucket.s3.amazonaws.com']]);
    assert.equal(verifier.verify(presigned).payloadHash, 'UNSIGNED-PAYLOAD');
    const later = new SigV4Verifier({ keys, now: () => EXAMPLE_TIME + 86_401_000 });
    assert.throws(() => later.verify(presigned), (e: unknown) => code('AccessDenied')(e) && (e as Error).message === 'Request has expired');
  });

  test('a request verified before is checked against the clock again, and any change to it is verified anew', () => {
    let now = EXAMPLE_TIME;
    const clocked = new SigV4Verifier({ keys, now: () => now });
    const url =
      '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404';
    const presigned = request('GET', url, [['Host', 'examplebucket.s3.amazonaws.com']]);
    clocked.verify(presigned);
    clocked.verify(presigned);
    assert.throws(() => clocked.verify(request('GET', url, [['Host', 'otherbucket.s3.amazonaws.com']])), code('SignatureDoesNotMatch'));
    assert.throws(() => clocked.verify(request('GET', url.replace('test.txt', 'other.txt'), [['Host', 'examplebucket.s3.amazonaws.com']])), code('SignatureDoesNotMatch'));
    now += 86_401_000;
    assert.throws(() => clocked.verify(presigned), (e: unknown) => code('AccessDenied')(e) && (e as Error).message === 'Request has expired');

    now = EXAMPLE_TIME;
    const good = getObject('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
    clocked.verify(good);
    const otherRange = { ...good, rawHeaders: good.rawHeaders.map((v) => (v === 'bytes=0-9' ? 'bytes=0-99' : v)) };
    assert.throws(() => clocked.verify(otherRange), code('SignatureDoesNotMatch'));
    now += 16 * 60_000;
    assert.throws(() => clocked.verify(good), code('RequestTimeTooSkewed'));
  });

  test('answers a wrong signature with SignatureDoesNotMatch carrying the canonical request', () => {
    assert.throws(
      () => verifier.verify(getObject('0'.repeat(64))),
      (e: unknown) =>
        code('SignatureDoesNotMatch')(e) &&
        (e as S3Error).details.CanonicalRequest?.startsWith('GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n') === true &&
        (e as S3Error).details.StringToSign?.startsWith('AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n') === true,
    );
  });

  test('refuses unknown keys, skewed clocks, malformed headers and missing payload hashes', () => {
    const skewed = new SigV4Verifier({ keys, now: () => EXAMPLE_TIME + 16 * 60_000 });
    assert.throws(() => skewed.verify(getObject('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41')), code('RequestTimeTooSkewed'));
    const nearly = new SigV4Verifier({ keys, now: () => EXAMPLE_TIME + 14 * 60_000 });
    assert.doesNotThrow(() => nearly.verify(getObject('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41')));
    const other = new SigV4Verifier({ keys: new KeyStore([]), now: () => EXAMPLE_TIME });
    assert.throws(() => other.verify(getObject('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41')), code('InvalidAccessKeyId'));
    const bad = request('GET', '/x', [['Host', 'h'], ['Authorization', 'AWS4-HMAC-SHA256 Credential=x']]);
    assert.throws(() => verifier.verify(bad), code('AuthorizationHeaderMalformed'));
    const v2 = request('GET', '/x', [['Host', 'h'], ['Authorization', 'AWS AKID:sig']]);
    assert.throws(() => verifier.verify(v2), code('InvalidRequest'));
    const noHash = request('GET', '/x', [
      ['Host', 'h'],
      ['x-amz-date', '20130524T000000Z'],
      ['Authorization', `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date,Signature=abc`],
    ]);
    assert.throws(() => verifier.verify(noHash), code('MissingSecurityHeader'));
    const week = '/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=abc';
    assert.throws(() => verifier.verify(request('GET', week, [['Host', 'h']])), code('AuthorizationQueryParametersError'));
  });
});

describe('SigV4 verification of requests signed by independent signers', () => {
  const now = Date.now();
  const verifier = new SigV4Verifier({ keys, now: () => now });
  const awkwardPath = "/bucket/a b+c/%/ü/~!'()*=&.txt";

  test('accepts the AWS SDK signer, header form and presigned, with awkward keys and queries', async () => {
    const signer = new SignatureV4({ credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, region: 'eu-west-1', service: 's3', sha256: NodeSha256, uriEscapePath: false, applyChecksum: false });
    const encodedPath = awkwardPath.split('/').map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)).join('/');
    const base = {
      method: 'GET',
      protocol: 'http:',
      hostname: 'falcon.local',
      port: 8080,
      path: encodedPath,
      query: { prefix: 'a b', 'list-type': '2', empty: '' },
      headers: { host: 'falcon.local:8080', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    };
    const signed = await signer.sign(base, { signingDate: new Date(now) });
    const qs = 'prefix=a%20b&list-type=2&empty=';
    const headers = Object.entries(signed.headers) as Array<[string, string]>;
    assert.equal(verifier.verify(request('GET', `${encodedPath}?${qs}`, headers)).accessKeyId, AKID);
    // As S3's presigner does: the payload of a presigned request is UNSIGNED-PAYLOAD.
    const presigned = await signer.presign(
      { ...base, headers: { host: 'falcon.local:8080', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
      { expiresIn: 300, signingDate: new Date(now) },
    );
    const pq = Object.entries(presigned.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&');
    assert.equal(verifier.verify(request('GET', `${encodedPath}?${pq}`, [['host', 'falcon.local:8080']])).payloadHash, 'UNSIGNED-PAYLOAD');
  });

  test('accepts aws4, which encodes the path its own way', () => {
    const opts = aws4.sign(
      { host: 'falcon.local', path: '/bucket/key%20with%20space?list-type=2&prefix=x', method: 'GET', service: 's3', region: 'us-east-1', headers: { 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' } },
      { accessKeyId: AKID, secretAccessKey: SECRET },
    );
    const headers = Object.entries(opts.headers ?? {}).map(([k, v]) => [k, String(v)] as [string, string]);
    const verifierNow = new SigV4Verifier({ keys });
    assert.equal(verifierNow.verify(request('GET', opts.path ?? '', headers)).accessKeyId, AKID);
  });
});

describe('SigV4 canonical headers', () => {
  test('fold every run of whitespace, as \\s matches it, into one space after trimming', () => {
    const alphabet = ['a', 'Z', '0', ' ', ' ', '\t', '\n', '\v', '\f', '\r', '\u0085', '\u00a0', '\u00ff', '\u2003', '\u3000', ',', ':'];
    let seed = 7;
    const next = (): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed;
    };
    for (let i = 0; i < 3000; i++) {
      let value = '';
      for (let n = next() % 12; n > 0; n--) value += alphabet[next() % alphabet.length];
      const expected = `x-amz-meta-v:${value.trim().replace(/\s+/g, ' ')}\n`;
      assert.equal(canonicalHeaders(['X-Amz-Meta-V', value], ['x-amz-meta-v']), expected, JSON.stringify(value));
    }
  });
});

describe('SigV4 verification: what S3 refuses besides a wrong signature', () => {
  const GOOD = 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41';

  test('refuses x-amz-* headers outside SignedHeaders, naming them', () => {
    const verifier = new SigV4Verifier({ keys, now: () => EXAMPLE_TIME });
    const signed = getObject(GOOD);
    const extra = { ...signed, rawHeaders: [...signed.rawHeaders, 'X-Amz-Acl', 'public-read', 'x-amz-meta-a', '1'] };
    assert.throws(
      () => verifier.verify(extra),
      (err: unknown) => err instanceof S3Error && err.code === 'AccessDenied' && err.details.HeadersNotSigned === 'x-amz-acl, x-amz-meta-a',
    );
    assert.equal(verifier.verify(signed).accessKeyId, AKID);
  });

  test('accepts only the configured regions, and any without a list', () => {
    const euOnly = new SigV4Verifier({ keys, regions: ['eu-west-1'], now: () => EXAMPLE_TIME });
    assert.throws(
      () => euOnly.verify(getObject(GOOD)),
      (err: unknown) => err instanceof S3Error && err.code === 'AuthorizationHeaderMalformed' && err.details.Region === 'eu-west-1',
    );
    const both = new SigV4Verifier({ keys, regions: ['eu-west-1', 'us-east-1'], now: () => EXAMPLE_TIME });
    assert.equal(both.verify(getObject(GOOD)).accessKeyId, AKID);
  });

  test('answers Signature Version 2 presigned URLs with InvalidRequest', () => {
    const verifier = new SigV4Verifier({ keys, now: () => EXAMPLE_TIME });
    const v2 = request('GET', `/test.txt?AWSAccessKeyId=${AKID}&Expires=1369353600&Signature=abc%3D`, [['Host', 'examplebucket.s3.amazonaws.com']]);
    assert.equal(SigV4Verifier.isAnonymous(v2), false);
    assert.throws(() => verifier.verify(v2), code('InvalidRequest'));
  });
});
