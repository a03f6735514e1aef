import { createHash } from 'node:crypto';
import type { PeerAuth } from '../../src/cluster/peer-auth.js';
import type { Rng } from './prng.js';
import type { AwsChunk, AwsChunkedBody, RawRequest } from './raw-request.js';
import { crc32Base64 } from './raw-request.js';
import { type SigningKey, signPeer, signSigV4 } from './signing.js';

export type SeedFamily = 's3' | 'legacy' | 'peer' | 'internal';
export type BodyKind = 'none' | 'binary' | 'xml' | 'form' | 'json' | 'aws-chunked';

/** What the recorded requests refer to: objects, open multipart uploads and credentials set up before the run. */
export interface FuzzFixtures {
  bucket: string;
  clientKey: SigningKey;
  peerAuth: PeerAuth;
  /** Bearer token of the legacy routes on the node that requires one. */
  legacyToken: string;
  /** ETag of stable/small.txt, for conditional requests. */
  smallEtag: string;
  /**
   * Multipart uploads opened at set-up, each with part 1 uploaded. Aborts take the first two,
   * completions the next four, and parts go to all but the aborted ones, so most stay open all run.
   */
  uploads: ReadonlyArray<{ key: string; uploadId: string; partEtag: string }>;
}

/** Objects present before the run: cacheable, uncacheable by Cache-Control, and larger than --max-object-size. */
export const STABLE_OBJECTS = {
  small: 'stable/small.txt',
  noStore: 'stable/no-store.txt',
  big: 'stable/big.bin',
} as const;

/** A valid request of one kind, recorded as it goes on the wire: valid once authenticated (see authenticate()). */
export interface Seed {
  name: string;
  family: SeedFamily;
  body: BodyKind;
  /** How often it is picked, relative to the others. */
  weight: number;
  /** Why s3rver refuses it even unmutated, when it does: the node's part is still worth fuzzing. */
  upstreamRefuses?: string;
  /** The request without credentials, for a node reached at `host`. */
  build(fixtures: FuzzFixtures, host: string, rng: Rng): RawRequest;
}

/** How a request proves who sends it. */
export type Credentials = 'sigv4' | 'bearer' | 'peer-mac' | 'none';

/** Adds credentials to a request in place: a SigV4 signature, the legacy bearer token or a peer MAC. */
export function authenticate(req: RawRequest, credentials: Credentials, fixtures: FuzzFixtures, now: Date): void {
  if (credentials === 'sigv4') signSigV4(req, fixtures.clientKey, now);
  else if (credentials === 'bearer') req.headers.push(['Authorization', `Bearer ${fixtures.legacyToken}`]);
  else if (credentials === 'peer-mac') signPeer(req, fixtures.peerAuth);
}

const FORM_BOUNDARY = '----falconfuzzboundary7MA4YWxkTrZu0gW';

function text(length: number, salt: string): Buffer {
  return Buffer.from(`${salt}:`.repeat(Math.ceil(length / (salt.length + 1))).slice(0, length), 'latin1');
}

function request(method: string, target: string, host: string, headers: Array<[string, string]>, body: Buffer | AwsChunkedBody = Buffer.alloc(0)): RawRequest {
  return { method, target, version: 'HTTP/1.1', headers: [['Host', host], ...headers], body, framing: { kind: 'length' } };
}

function s3(name: string, body: BodyKind, weight: number, make: (f: FuzzFixtures, host: string, rng: Rng) => RawRequest): Seed {
  return { name, family: 's3', body, weight, build: (f, host, rng) => make(f, host, rng) };
}

function md5(data: Buffer): string {
  return createHash('md5').update(data).digest('base64');
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function awsChunked(data: Buffer, pieces: number[], trailers: AwsChunkedBody['trailers'], signed: boolean): AwsChunkedBody {
  const chunks: AwsChunk[] = [];
  let at = 0;
  for (const size of pieces) {
    chunks.push({ data: data.subarray(at, at + size), signature: signed ? 'valid' : 'none' });
    at += size;
  }
  return {
    kind: 'aws-chunked',
    chunks,
    final: { data: Buffer.alloc(0), signature: signed ? 'valid' : 'none' },
    trailers,
    trailerSignature: signed ? 'valid' : 'none',
  };
}

function formBody(files: Array<[string, Buffer]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, data] of files) {
    parts.push(
      Buffer.from(`--${FORM_BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="${name}"\r\nContent-Type: text/plain\r\n\r\n`, 'latin1'),
      data,
      Buffer.from('\r\n', 'latin1'),
    );
  }
  // A plain field and a file under another field name: both are read past, not uploaded.
  parts.push(
    Buffer.from(
      `--${FORM_BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n` +
        `--${FORM_BOUNDARY}\r\nContent-Disposition: form-data; name="attachment"; filename="c.txt"\r\nContent-Type: text/plain\r\n\r\n${'ignored '.repeat(40)}\r\n` +
        `--${FORM_BOUNDARY}--\r\n`,
      'latin1',
    ),
  );
  return Buffer.concat(parts);
}

/** Every request kind the node serves, each valid as recorded. */
export function seeds(): Seed[] {
  const b = (f: FuzzFixtures): string => f.bucket;
  const put = (f: FuzzFixtures, rng: Rng, kind: string): string => `/${b(f)}/scratch/${kind}-${rng.int(0, 7)}.txt`;
  return [
    s3('s3-get', 'none', 4, (f, host) => request('GET', `/${b(f)}/${STABLE_OBJECTS.small}`, host, [['x-amz-content-sha256', sha256(Buffer.alloc(0))]])),
    s3('s3-get-range', 'none', 3, (f, host) =>
      request('GET', `/${b(f)}/${STABLE_OBJECTS.small}`, host, [['Range', 'bytes=2-9'], ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']]),
    ),
    s3('s3-get-conditional', 'none', 2, (f, host) =>
      request('GET', `/${b(f)}/${STABLE_OBJECTS.small}`, host, [
        ['If-None-Match', f.smallEtag],
        ['If-Modified-Since', 'Sat, 01 Jan 2000 00:00:00 GMT'],
        ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD'],
      ]),
    ),
    s3('s3-get-if-match-range', 'none', 2, (f, host) =>
      request('GET', `/${b(f)}/${STABLE_OBJECTS.small}`, host, [['If-Match', f.smallEtag], ['Range', 'bytes=-10'], ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']]),
    ),
    s3('s3-get-big-range', 'none', 2, (f, host) =>
      request('GET', `/${b(f)}/${STABLE_OBJECTS.big}`, host, [['Range', 'bytes=0-99'], ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']]),
    ),
    s3('s3-get-no-store', 'none', 2, (f, host) => request('GET', `/${b(f)}/${STABLE_OBJECTS.noStore}`, host, [['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']])),
    s3('s3-get-no-store-range', 'none', 2, (f, host) =>
      request('GET', `/${b(f)}/${STABLE_OBJECTS.noStore}`, host, [['Range', 'bytes=0-4'], ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']]),
    ),
    s3('s3-head', 'none', 2, (f, host) => request('HEAD', `/${b(f)}/${STABLE_OBJECTS.small}`, host, [['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']])),
    s3('s3-list-objects-v2', 'none', 2, (f, host) =>
      request('GET', `/${b(f)}?list-type=2&prefix=stable%2F&max-keys=5`, host, [['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']]),
    ),
    s3('s3-put-signed-payload', 'binary', 3, (f, host, rng) => {
      const body = text(300, 'signed');
      return request('PUT', put(f, rng, 'signed'), host, [['Content-Type', 'text/plain'], ['x-amz-content-sha256', sha256(body)]], body);
    }),
    s3('s3-put-unsigned-payload', 'binary', 2, (f, host, rng) => {
      const body = text(300, 'unsigned');
      return request('PUT', put(f, rng, 'unsigned'), host, [['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']], body);
    }),
    s3('s3-put-content-md5', 'binary', 2, (f, host, rng) => {
      const body = text(300, 'md5');
      return request('PUT', put(f, rng, 'md5'), host, [['Content-MD5', md5(body)], ['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']], body);
    }),
    s3('s3-put-checksum-crc32', 'binary', 2, (f, host, rng) => {
      const body = text(300, 'crc');
      return request('PUT', put(f, rng, 'crc'), host, [['x-amz-checksum-crc32', crc32Base64(body)], ['x-amz-sdk-checksum-algorithm', 'CRC32'], ['x-amz-content-sha256', sha256(body)]], body);
    }),
    s3('s3-put-aws-chunked-signed', 'aws-chunked', 5, (f, host, rng) => {
      const data = text(700, 'chunk');
      return request(
        'PUT',
        put(f, rng, 'chunked-signed'),
        host,
        [['Content-Encoding', 'aws-chunked'], ['x-amz-decoded-content-length', String(data.length)], ['x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD']],
        awsChunked(data, [300, 300, 100], [], true),
      );
    }),
    s3('s3-put-aws-chunked-trailer', 'aws-chunked', 5, (f, host, rng) => {
      const data = text(700, 'trailer');
      const req = request(
        'PUT',
        put(f, rng, 'chunked-trailer'),
        host,
        [
          ['Content-Encoding', 'aws-chunked'],
          ['x-amz-decoded-content-length', String(data.length)],
          ['x-amz-trailer', 'x-amz-checksum-crc32'],
          ['x-amz-sdk-checksum-algorithm', 'CRC32'],
          ['x-amz-content-sha256', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'],
        ],
        awsChunked(data, [512, 188], [['x-amz-checksum-crc32', 'crc32']], false),
      );
      req.framing = { kind: 'chunked', pieceBytes: 256 };
      return req;
    }),
    s3('s3-put-aws-chunked-signed-trailer', 'aws-chunked', 3, (f, host, rng) => {
      const data = text(500, 'signed-trailer');
      return request(
        'PUT',
        put(f, rng, 'chunked-signed-trailer'),
        host,
        [
          ['Content-Encoding', 'aws-chunked'],
          ['x-amz-decoded-content-length', String(data.length)],
          ['x-amz-trailer', 'x-amz-checksum-crc32'],
          ['x-amz-content-sha256', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'],
        ],
        awsChunked(data, [400, 100], [['x-amz-checksum-crc32', 'crc32']], true),
      );
    }),
    s3('s3-create-multipart-upload', 'none', 1, (f, host, rng) =>
      request('POST', `/${b(f)}/scratch/mpu-${rng.int(0, 3)}?uploads`, host, [['Content-Type', 'text/plain'], ['x-amz-content-sha256', sha256(Buffer.alloc(0))]]),
    ),
    s3('s3-upload-part', 'binary', 3, (f, host, rng) => {
      const upload = rng.pick(f.uploads.slice(2));
      const body = text(400, 'part');
      return request('PUT', `/${b(f)}/${upload.key}?partNumber=2&uploadId=${upload.uploadId}`, host, [['x-amz-content-sha256', sha256(body)], ['Content-MD5', md5(body)]], body);
    }),
    s3('s3-upload-part-aws-chunked', 'aws-chunked', 3, (f, host, rng) => {
      const upload = rng.pick(f.uploads.slice(2));
      const data = text(600, 'part-trailer');
      const req = request(
        'PUT',
        `/${b(f)}/${upload.key}?partNumber=3&uploadId=${upload.uploadId}`,
        host,
        [
          ['Content-Encoding', 'aws-chunked'],
          ['x-amz-decoded-content-length', String(data.length)],
          ['x-amz-trailer', 'x-amz-checksum-crc32'],
          ['x-amz-content-sha256', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'],
        ],
        awsChunked(data, [600], [['x-amz-checksum-crc32', 'crc32']], false),
      );
      req.framing = { kind: 'chunked', pieceBytes: 1024 };
      return req;
    }),
    s3('s3-complete-multipart-upload', 'xml', 4, (f, host, rng) => {
      const upload = rng.pick(f.uploads.slice(2, 6));
      const body = Buffer.from(
        `<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber><ETag>${upload.partEtag}</ETag></Part></CompleteMultipartUpload>`,
        'latin1',
      );
      return request('POST', `/${b(f)}/${upload.key}?uploadId=${upload.uploadId}`, host, [['Content-Type', 'application/xml'], ['x-amz-content-sha256', sha256(body)]], body);
    }),
    {
      ...s3('s3-abort-multipart-upload', 'none', 1, (f, host, rng) => {
        const upload = rng.pick(f.uploads.slice(0, 2));
        return request('DELETE', `/${b(f)}/${upload.key}?uploadId=${upload.uploadId}`, host, [['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']]);
      }),
      upstreamRefuses: 's3rver does not implement AbortMultipartUpload (405)',
    },
    s3('s3-delete-object', 'none', 2, (f, host, rng) => request('DELETE', put(f, rng, 'signed'), host, [['x-amz-content-sha256', 'UNSIGNED-PAYLOAD']])),
    s3('s3-delete-objects', 'xml', 4, (f, host, rng) => {
      const keys = [put(f, rng, 'unsigned'), put(f, rng, 'md5')].map((p) => p.slice(b(f).length + 2));
      const body = Buffer.from(
        `<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${keys.map((k) => `<Object><Key>${k}</Key></Object>`).join('')}<Quiet>true</Quiet></Delete>`,
        'latin1',
      );
      return request('POST', `/${b(f)}?delete`, host, [['Content-Type', 'application/xml'], ['Content-MD5', md5(body)], ['x-amz-content-sha256', sha256(body)]], body);
    }),
    s3('s3-presigned-get', 'none', 2, (f, host) =>
      request('GET', `/${b(f)}/${STABLE_OBJECTS.small}?x-id=GetObject&X-Amz-Signature=unsigned`, host, []),
    ),
    {
      name: 'legacy-get',
      family: 'legacy',
      body: 'none',
      weight: 3,
      build: (f, host, rng) =>
        request('GET', `/get?bucket=${b(f)}&key=${encodeURIComponent(rng.pick([STABLE_OBJECTS.small, STABLE_OBJECTS.noStore, STABLE_OBJECTS.big]))}`, host, []),
    },
    {
      name: 'legacy-upload',
      family: 'legacy',
      body: 'form',
      weight: 5,
      build: (f, host, rng) => {
        const req = request(
          'POST',
          `/upload?bucket=${b(f)}&path=scratch/legacy-${rng.int(0, 3)}`,
          host,
          [['Content-Type', `multipart/form-data; boundary=${FORM_BOUNDARY}`]],
          formBody([['a.txt', text(200, 'form-a')], ['b.txt', text(120, 'form-b')]]),
        );
        return req;
      },
    },
    {
      name: 'legacy-invalidate',
      family: 'legacy',
      body: 'none',
      weight: 1,
      build: (f, host) => request('POST', `/invalidate?bucket=${b(f)}&key=${encodeURIComponent(STABLE_OBJECTS.small)}`, host, []),
    },
    { name: 'health-probes', family: 'legacy', body: 'none', weight: 1, build: (_f, host, rng) => request('GET', rng.pick(['/healthz', '/readyz']), host, []) },
    {
      name: 'peer-object',
      family: 'peer',
      body: 'none',
      weight: 3,
      build: (f, host, rng) => {
        const key = rng.pick([STABLE_OBJECTS.small, STABLE_OBJECTS.noStore, STABLE_OBJECTS.big]);
        return request('GET', `/_falcon/peer/object?bucket=${b(f)}&key=${encodeURIComponent(key)}`, host, []);
      },
    },
    {
      name: 'peer-invalidate',
      family: 'peer',
      body: 'json',
      weight: 3,
      build: (f, host) => {
        const body = Buffer.from(JSON.stringify({ keys: [[b(f), STABLE_OBJECTS.small], [b(f), 'scratch/signed-1.txt']] }), 'latin1');
        return request('POST', '/_falcon/peer/invalidate', host, [['Content-Type', 'application/json']], body);
      },
    },
    {
      name: 'internal-status',
      family: 'internal',
      body: 'none',
      weight: 1,
      build: (_f, host, rng) => request('GET', rng.pick(['/_falcon/status', '/_falcon/metrics']), host, []),
    },
  ];
}
