import type { Rng } from './prng.js';
import { BODY_MUTATORS, STRUCTURED_BODY_MUTATORS } from './body-mutators.js';
import { getHeader, type HttpChunkEdit, type RawRequest, removeHeader, setHeader } from './raw-request.js';
import type { Seed } from './seeds.js';

/** One kind of damage to a request's structure; returns a label saying what it did. */
export interface Mutator {
  name: string;
  weight: number;
  applies(req: RawRequest, seed: Seed): boolean;
  apply(req: RawRequest, rng: Rng, seed: Seed): string;
}

const always = (): boolean => true;
const hasBodyBytes = (req: RawRequest): boolean => (Buffer.isBuffer(req.body) ? req.body.length > 0 : true);

function splitTarget(target: string): [string, string | undefined] {
  const q = target.indexOf('?');
  return q === -1 ? [target, undefined] : [target.slice(0, q), target.slice(q + 1)];
}

function joinTarget(path: string, query: string | undefined): string {
  return query === undefined ? path : `${path}?${query}`;
}

function insertAt(text: string, at: number, piece: string): string {
  return text.slice(0, at) + piece + text.slice(at);
}

/** Byte strings that tend to find edge cases in header values. */
const EDGE_VALUES = [
  '',
  ' ',
  '\t',
  '-1',
  '0',
  '1',
  '18446744073709551616',
  '9007199254740993',
  '1e3',
  '0x10',
  ' 5 ',
  '+5',
  'null',
  'undefined',
  '%00',
  '\x01',
  '\x7f',
  '\xff\xfe',
  '\xc3\x28',
  'a'.repeat(9000),
  '"',
  ',',
  ',,,',
  ';',
  '=',
  '*',
  '../../../etc/passwd',
];

const INTERESTING_HEADERS: Array<[string, string[]]> = [
  ['Range', ['bytes=0-0', 'bytes=-1', 'bytes=5-2', 'bytes=0-99999999999999999999', 'bytes=1-2,3-4', 'items=0-1', 'bytes=', 'bytes=-0', 'bytes=100000-', 'bytes= 0-1', 'bytes=0-1,', 'bytes=99-100']],
  ['If-Match', ['*', '"nope"', 'W/"x"', '', '"a", "b"', '"'.repeat(3000)]],
  ['If-None-Match', ['*', '"nope"', 'W/"x"', '', '""']],
  ['If-Modified-Since', ['garbage', 'Thu, 01 Jan 1970 00:00:00 GMT', 'Fri, 31 Dec 9999 23:59:59 GMT', '0']],
  ['If-Unmodified-Since', ['garbage', 'Thu, 01 Jan 1970 00:00:00 GMT']],
  ['If-Range', ['"nope"', 'Thu, 01 Jan 1970 00:00:00 GMT', 'garbage']],
  ['x-amz-checksum-mode', ['ENABLED', 'enabled', 'x']],
  ['x-amz-checksum-crc32', ['AAAAAA==', 'not base64!', '', 'AAAA']],
  ['x-amz-checksum-sha256', ['AAAAAA==', '47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=']],
  ['x-amz-checksum-crc64nvme', ['AAAAAAAAAAA=', 'x']],
  ['x-amz-checksum-crc32c', ['AAAAAA==']],
  ['x-amz-checksum-foo', ['AAAAAA==']],
  ['Content-MD5', ['1B2M2Y8AsgTpgAZPz8vdlw==', 'bad', '', 'AAAA']],
  ['x-amz-content-sha256', ['UNSIGNED-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'xyz']],
  ['x-amz-decoded-content-length', ['-1', '0', '99999999999999999999', 'abc', '1', '10']],
  ['x-amz-trailer', ['x-amz-checksum-crc32', 'x-amz-checksum-crc64nvme', 'x-amz-checksum-sha1,x-amz-checksum-crc32', 'x-amz-foo', '', ',']],
  ['Content-Encoding', ['aws-chunked', 'gzip', 'aws-chunked,gzip', 'AWS-CHUNKED', 'identity', 'gzip, aws-chunked']],
  ['Expect', ['100-continue', '100-Continue', 'something-else']],
  ['Connection', ['close', 'keep-alive', 'upgrade', 'te']],
  ['Upgrade', ['websocket', 'h2c']],
  ['x-amz-server-side-encryption-customer-algorithm', ['AES256']],
  ['Cache-Control', ['no-store', 'no-cache', 'max-age=0']],
  ['Host', ['', 'fuzz.localhost', 'a'.repeat(300), '127.0.0.1:1', '[::1]:80', 'exa mple']],
  ['Content-Type', ['multipart/form-data', 'multipart/form-data; boundary=', 'multipart/form-data; boundary="x"', 'application/xml; charset=utf-16', 'text/plain', '']],
  ['x-falcon-peer-timestamp', ['0', '99999999999999999', String(Date.now())]],
  ['x-falcon-peer-signature', ['00', 'zz', 'a'.repeat(64)]],
  [
    'Authorization',
    [
      'AWS AKID:sig',
      'Bearer x',
      'AWS4-HMAC-SHA256',
      'AWS4-HMAC-SHA256 Credential=falcon/20200101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00',
      'AWS4-HMAC-SHA256 Credential=/, SignedHeaders=, Signature=',
      'AWS4-HMAC-SHA256 Credential=a/b/c/d/e/f/g, SignedHeaders=date, Signature=x',
      'AWS4-HMAC-SHA256 Credential=falcon/20200101/us-east-1/iam/aws4_request, SignedHeaders=host;x-amz-date, Signature=x',
    ],
  ],
  ['x-amz-date', ['20200101T000000Z', 'garbage', '99991231T235959Z', '']],
  ['Date', ['Thu, 01 Jan 1970 00:00:00 GMT', 'garbage']],
  ['x-amz-copy-source', ['/fuzz/stable/small.txt', '/fuzz/missing', 'garbage']],
  ['x-amz-meta-fuzz', ['\xff', 'a'.repeat(3000)]],
  ['Transfer-Encoding', ['chunked', 'gzip', 'identity']],
  ['Content-Length', ['0', '-1', 'abc']],
];

const QUERY_ADDITIONS = [
  'uploads',
  'delete',
  'partNumber=1',
  'partNumber=0',
  'partNumber=-1',
  'partNumber=10001',
  'partNumber=abc',
  'uploadId=nope',
  'uploadId=',
  'versionId=null',
  'versionId=abc',
  'acl',
  'tagging',
  'attributes',
  'list-type=2',
  'list-type=2&max-keys=-1',
  'max-keys=99999999999999',
  'continuation-token=garbage',
  'prefix=%ff',
  'delimiter=%2F',
  'response-content-type=text%2Fhtml',
  'response-content-disposition=%0d%0aSet-Cookie%3a%20x',
  'x-id=GetObject',
  'X-Amz-Signature=00',
  'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x&X-Amz-Date=x&X-Amz-Expires=1&X-Amz-SignedHeaders=host&X-Amz-Signature=0',
  'X-Amz-Expires=99999999',
  'x-amz-checksum-mode=ENABLED',
  'bucket=fuzz',
  'bucket=',
  'bucket=%20',
  'key=',
  'key=..%2F..%2Fx',
  'key=a%23b',
  'key=%E2%82',
  'path=../..',
  'path=%00',
  '=',
  '&&&',
  'a=1&a=2',
  '%',
  '%zz=1',
];

const BUCKET_SWAPS = ['FUZZ', 'fu', 'no-such-bucket', '_falcon', 'a'.repeat(64), 'x..y', '-bad', '', '.', '..', 'fuzz.', '%66uzz'];
const KEY_SWAPS = [
  'stable/small.txt',
  'stable/big.bin',
  'stable/no-store.txt',
  'scratch/x',
  '',
  '%2F',
  'a%23b',
  'k%3Fx',
  '%00',
  'a+b',
  'a%20b',
  '%E2%82%AC',
  // Over S3's 1,024 bytes, in segments a file system takes.
  `${'x'.repeat(200)}/`.repeat(6),
  '.',
  '..',
  '../stable/small.txt',
];
const METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND', 'get', 'GETT', 'G ET', '', 'CONNECT'];
const VERSIONS = ['HTTP/1.0', 'HTTP/1.2', 'HTTP/2.0', 'HTTP/0.9', 'http/1.1', 'HTTP/1.1 x', '', 'HTTP/1.10', 'HTTP/9.9'];

const targetMutators: Mutator[] = [
  {
    name: 'method',
    weight: 3,
    applies: always,
    apply(req, rng) {
      req.method = rng.pick(METHODS);
      return `method(${JSON.stringify(req.method)})`;
    },
  },
  {
    name: 'version',
    weight: 1,
    applies: always,
    apply(req, rng) {
      req.version = rng.pick(VERSIONS);
      return `version(${JSON.stringify(req.version)})`;
    },
  },
  {
    name: 'path-percent-encode',
    weight: 2,
    applies: always,
    apply(req, rng) {
      const [path, query] = splitTarget(req.target);
      const positions = [...path].map((c, i) => (c !== '/' && c !== '%' ? i : -1)).filter((i) => i >= 0);
      if (positions.length === 0) return 'path-percent-encode(none)';
      const at = rng.pick(positions);
      const hex = path.charCodeAt(at).toString(16).padStart(2, '0');
      req.target = joinTarget(`${path.slice(0, at)}%${rng.chance(0.5) ? hex.toUpperCase() : hex}${path.slice(at + 1)}`, query);
      return `path-percent-encode(@${at})`;
    },
  },
  {
    name: 'path-bad-percent',
    weight: 2,
    applies: always,
    apply(req, rng) {
      const [path, query] = splitTarget(req.target);
      const piece = rng.pick(['%', '%zz', '%C3%28', '%00', '%2', '%FF%FE', '%E2%82', '%0D%0A', '%2F%2F', '%5C']);
      req.target = joinTarget(insertAt(path, rng.int(1, path.length), piece), query);
      return `path-bad-percent(${piece})`;
    },
  },
  {
    name: 'path-dot-segments',
    weight: 2,
    applies: always,
    apply(req, rng) {
      const [path, query] = splitTarget(req.target);
      const slashes = [...path].map((c, i) => (c === '/' ? i : -1)).filter((i) => i >= 0);
      const piece = rng.pick(['/.', '/..', '/%2e%2e', '/.%2E', '/', '/../../../..', '/..%2F..%2F', '/.//']);
      req.target = joinTarget(insertAt(path, slashes.length === 0 ? 0 : rng.pick(slashes), piece), query);
      return `path-dot-segments(${piece})`;
    },
  },
  {
    name: 'path-long',
    weight: 1,
    applies: always,
    apply(req, rng) {
      const [path, query] = splitTarget(req.target);
      // S3 takes keys of up to 1,024 bytes. Longer segments than a file name, or paths longer than
      // the file system's, kill s3rver (ENAMETOOLONG): a minority, so restarting it does not eat the run.
      const oneSegment = rng.chance(0.05);
      const length = oneSegment ? rng.pick([300, 1025, 4000]) : rng.pick([1025, 2000, 3500]);
      const piece = oneSegment ? 'k'.repeat(length) : `${'s'.repeat(200)}/`.repeat(Math.ceil(length / 201));
      req.target = joinTarget(`${path}${path.endsWith('/') ? '' : '/'}${piece}`, query);
      return `path-long(${length}${oneSegment ? ',one segment' : ''})`;
    },
  },
  {
    name: 'path-raw-bytes',
    weight: 1,
    applies: always,
    apply(req, rng) {
      const [path, query] = splitTarget(req.target);
      const piece = rng.pick(['\xe9', '\xc3\xa9', '\x00', ' ', '\t', '"', '<', '\\', '#frag', '\x7f']);
      req.target = joinTarget(insertAt(path, rng.int(1, path.length), piece), query);
      return `path-raw-bytes(${JSON.stringify(piece)})`;
    },
  },
  {
    name: 'target-form',
    weight: 1,
    applies: always,
    apply(req, rng) {
      const form = rng.pick(['absolute', 'asterisk', 'no-slash', 'empty']);
      if (form === 'absolute') req.target = `http://${getHeader(req, 'host') ?? 'x'}${req.target}`;
      else if (form === 'asterisk') req.target = '*';
      else if (form === 'no-slash') req.target = req.target.replace(/^\/+/, '');
      else req.target = '';
      return `target-form(${form})`;
    },
  },
  {
    name: 'query-add',
    weight: 3,
    applies: always,
    apply(req, rng) {
      const [path, query] = splitTarget(req.target);
      const piece = rng.pick(QUERY_ADDITIONS);
      req.target = joinTarget(path, query === undefined || query === '' ? piece : rng.chance(0.5) ? `${query}&${piece}` : `${piece}&${query}`);
      return `query-add(${piece})`;
    },
  },
  {
    name: 'query-edit',
    weight: 2,
    applies: (req) => splitTarget(req.target)[1] !== undefined,
    apply(req, rng) {
      const [path, query = ''] = splitTarget(req.target);
      const params = query.split('&');
      const at = rng.int(0, params.length - 1);
      const op = rng.pick(['remove', 'duplicate', 'empty-value', 'edge-value', 'drop-equals']);
      const param = params[at] ?? '';
      const name = param.split('=')[0] ?? '';
      if (op === 'remove') params.splice(at, 1);
      else if (op === 'duplicate') params.splice(at, 0, param);
      else if (op === 'empty-value') params[at] = `${name}=`;
      else if (op === 'edge-value') params[at] = `${name}=${encodeURIComponent(rng.pick(EDGE_VALUES).slice(0, 2000))}`;
      else params[at] = name;
      req.target = joinTarget(path, params.join('&'));
      return `query-edit(${op} ${name})`;
    },
  },
  {
    name: 'bucket-swap',
    weight: 2,
    applies: (_req, seed) => seed.family === 's3' || seed.family === 'legacy' || seed.family === 'peer',
    apply(req, rng, seed) {
      const bucket = rng.pick(BUCKET_SWAPS);
      if (seed.family === 's3') {
        req.target = req.target.replace(/^\/[^/?]*/, `/${bucket}`);
      } else {
        req.target = req.target.replace(/([?&])bucket=[^&]*/, `$1bucket=${bucket}`);
      }
      return `bucket-swap(${bucket.slice(0, 20)})`;
    },
  },
  {
    name: 'key-swap',
    weight: 2,
    applies: (_req, seed) => seed.family === 's3' || seed.family === 'legacy' || seed.family === 'peer',
    apply(req, rng, seed) {
      const key = rng.pick(KEY_SWAPS);
      if (seed.family === 's3') {
        const [path, query] = splitTarget(req.target);
        const bucketEnd = path.indexOf('/', 1);
        req.target = joinTarget(bucketEnd === -1 ? `${path}/${key}` : `${path.slice(0, bucketEnd + 1)}${key}`, query);
      } else if (/[?&]key=/.test(req.target)) {
        req.target = req.target.replace(/([?&])key=[^&]*/, `$1key=${key}`);
      } else req.target = `${req.target}${req.target.includes('?') ? '&' : '?'}key=${key}`;
      return `key-swap(${key.slice(0, 20)})`;
    },
  },
];

function headerIndex(req: RawRequest, rng: Rng): number {
  // Headers that steer the code paths are damaged more often than the rest.
  const steering = /^(host|content-length|transfer-encoding|content-encoding|content-type|content-md5|authorization|range|if-|x-amz-|x-falcon-|expect)/i;
  const preferred = req.headers.map(([n], i) => (steering.test(n) ? i : -1)).filter((i) => i >= 0);
  return preferred.length > 0 && rng.chance(0.75) ? rng.pick(preferred) : rng.int(0, req.headers.length - 1);
}

const headerMutators: Mutator[] = [
  {
    name: 'header-remove',
    weight: 3,
    applies: (req) => req.headers.length > 0,
    apply(req, rng) {
      const at = headerIndex(req, rng);
      const [name] = req.headers.splice(at, 1)[0] ?? [''];
      return `header-remove(${name})`;
    },
  },
  {
    name: 'header-duplicate',
    weight: 2,
    applies: (req) => req.headers.length > 0,
    apply(req, rng) {
      const at = headerIndex(req, rng);
      const [name, value] = req.headers[at] ?? ['', ''];
      const known = INTERESTING_HEADERS.find(([n]) => n.toLowerCase() === name.toLowerCase());
      const second = rng.chance(0.5) ? value : known ? rng.pick(known[1]) : rng.pick(EDGE_VALUES);
      req.headers.splice(rng.int(0, req.headers.length), 0, [name, second]);
      return `header-duplicate(${name})`;
    },
  },
  {
    name: 'header-swap-values',
    weight: 1,
    applies: (req) => req.headers.length > 1,
    apply(req, rng) {
      const a = headerIndex(req, rng);
      const b = rng.int(0, req.headers.length - 1);
      const ha = req.headers[a] as [string, string];
      const hb = req.headers[b] as [string, string];
      [ha[1], hb[1]] = [hb[1], ha[1]];
      return `header-swap-values(${ha[0]},${hb[0]})`;
    },
  },
  {
    name: 'header-value-edge',
    weight: 3,
    applies: (req) => req.headers.length > 0,
    apply(req, rng) {
      const at = headerIndex(req, rng);
      const header = req.headers[at] as [string, string];
      const op = rng.pick(['edge', 'truncate', 'double', 'pad', 'flip']);
      if (op === 'edge') header[1] = rng.pick(EDGE_VALUES);
      else if (op === 'truncate') header[1] = header[1].slice(0, rng.int(0, header[1].length));
      else if (op === 'double') header[1] = header[1] + header[1];
      else if (op === 'pad') header[1] = `  ${header[1]}\t `;
      else if (header[1].length > 0) {
        const i = rng.int(0, header[1].length - 1);
        header[1] = header[1].slice(0, i) + String.fromCharCode(header[1].charCodeAt(i) ^ (1 << rng.int(0, 6))) + header[1].slice(i + 1);
      }
      return `header-value-${op}(${header[0]})`;
    },
  },
  {
    name: 'header-name-edit',
    weight: 1,
    applies: (req) => req.headers.length > 0,
    apply(req, rng) {
      const at = headerIndex(req, rng);
      const header = req.headers[at] as [string, string];
      const op = rng.pick(['upper', 'space-before-colon', 'underscore', 'bad-char', 'empty']);
      const before = header[0];
      if (op === 'upper') header[0] = header[0].toUpperCase();
      else if (op === 'space-before-colon') header[0] = `${header[0]} `;
      else if (op === 'underscore') header[0] = header[0].replaceAll('-', '_');
      else if (op === 'bad-char') header[0] = `${header[0]}\x7f`;
      else header[0] = '';
      return `header-name-${op}(${before})`;
    },
  },
  {
    name: 'header-add',
    weight: 5,
    applies: always,
    apply(req, rng) {
      const [name, values] = rng.pick(INTERESTING_HEADERS);
      const value = rng.pick(values);
      if (rng.chance(0.5)) setHeader(req, name, value);
      else req.headers.splice(rng.int(0, req.headers.length), 0, [name, value]);
      return `header-add(${name}: ${JSON.stringify(value.slice(0, 40))})`;
    },
  },
  {
    name: 'header-obs-fold',
    weight: 1,
    applies: (req) => req.headers.length > 0,
    apply(req, rng) {
      const header = req.headers[headerIndex(req, rng)] as [string, string];
      header[1] = `${header[1].slice(0, 3)}\r\n ${header[1].slice(3)}`;
      return `header-obs-fold(${header[0]})`;
    },
  },
  {
    name: 'header-flood',
    weight: 1,
    applies: always,
    apply(req, rng) {
      const count = rng.pick([100, 2001, 40]);
      for (let i = 0; i < count; i++) req.headers.push([`x-amz-meta-f${i}`, 'v'.repeat(rng.pick([1, 200]))]);
      return `header-flood(${count})`;
    },
  },
];

const HTTP_CHUNK_EDITS: HttpChunkEdit[] = ['bad-hex', 'no-last-chunk', 'size-too-large', 'size-too-small', 'extension', 'trailer', 'lf-only', 'leading-zeros', 'huge-size', 'negative-size'];

const framingMutators: Mutator[] = [
  {
    name: 'content-length-off',
    weight: 3,
    applies: hasBodyBytes,
    apply(req, rng) {
      // Mostly fewer bytes than announced (the client's body is short) or more (the rest is another request).
      const delta = rng.chance(0.5) ? -rng.int(1, 16) : rng.int(1, 16);
      req.framing = { kind: 'length-edit', delta };
      return `content-length-off(${delta > 0 ? '+' : ''}${delta})`;
    },
  },
  {
    name: 'content-length-text',
    weight: 2,
    applies: always,
    apply(req, rng) {
      const text = rng.pick(['-1', '18446744073709551616', '9007199254740993', '1e3', '0x10', ' 5', 'abc', '', '00000000000000000000', '99999999999', '1,1', '+1']);
      req.framing = { kind: 'length-edit', text };
      return `content-length-text(${JSON.stringify(text)})`;
    },
  },
  {
    name: 'content-length-duplicate',
    weight: 1,
    applies: hasBodyBytes,
    apply(req, rng) {
      const differ = rng.chance(0.5);
      req.framing = { kind: 'length-duplicate', differ };
      return `content-length-duplicate(${differ ? 'different' : 'same'})`;
    },
  },
  {
    name: 'chunked-transport',
    weight: 3,
    applies: always,
    apply(req, rng) {
      const edit = rng.chance(0.6) ? rng.pick(HTTP_CHUNK_EDITS) : undefined;
      const keepLength = rng.chance(0.15);
      req.framing = { kind: 'chunked', pieceBytes: rng.pick([1, 7, 100, 4096]), edit, keepLength };
      return `chunked-transport(${edit ?? 'ok'}${keepLength ? ',+content-length' : ''})`;
    },
  },
  {
    name: 'transfer-encoding-value',
    weight: 1,
    applies: always,
    apply(req, rng) {
      const value = rng.pick(['chunked, gzip', 'gzip, chunked', 'Chunked', 'chunked ', 'identity', 'xchunked', 'chunked, chunked', 'gzip']);
      removeHeader(req, 'content-length');
      setHeader(req, 'Transfer-Encoding', value);
      req.framing = { kind: 'chunked', pieceBytes: 64 };
      return `transfer-encoding(${value})`;
    },
  },
  {
    name: 'framing-removed',
    weight: 1,
    applies: hasBodyBytes,
    apply(req) {
      removeHeader(req, 'content-length');
      removeHeader(req, 'transfer-encoding');
      req.framing = { kind: 'as-is' };
      return 'framing-removed';
    },
  },
];

const ALL_MUTATORS = [...targetMutators, ...headerMutators, ...framingMutators, ...BODY_MUTATORS, ...STRUCTURED_BODY_MUTATORS];

/** Applies 1-3 structural mutations chosen for what the request carries; returns their labels. */
export function mutateStructure(req: RawRequest, seed: Seed, rng: Rng): string[] {
  const count = rng.weighted([
    [6, 1],
    [3, 2],
    [1, 3],
  ] as const);
  const labels: string[] = [];
  for (let i = 0; i < count; i++) {
    const applicable = ALL_MUTATORS.filter((m) => m.applies(req, seed));
    // The body kinds a seed is about get more of the attention.
    const weighted = applicable.map((m) => [m.weight * (STRUCTURED_BODY_MUTATORS.includes(m) ? 2 : 1), m] as const);
    labels.push(rng.weighted(weighted).apply(req, rng, seed));
  }
  return labels;
}

type Region = 'request-line' | 'headers' | 'body';

/** Damages the serialized bytes directly, in one region: what no structured edit can express. */
export function mutateBytes(bytes: Buffer, rng: Rng): [Buffer, string] {
  const lineEnd = bytes.indexOf('\r\n');
  const headEnd = bytes.indexOf('\r\n\r\n');
  const regions: Array<[Region, number, number]> = [];
  if (lineEnd > 0) regions.push(['request-line', 0, lineEnd]);
  if (headEnd > lineEnd && lineEnd > 0) regions.push(['headers', lineEnd + 2, headEnd + 2]);
  if (headEnd > 0 && bytes.length > headEnd + 4) regions.push(['body', headEnd + 4, bytes.length]);
  if (regions.length === 0) return [bytes, 'raw-none'];
  const [region, start, end] = rng.pick(regions);
  const at = rng.int(start, Math.max(start, end - 1));
  const op = rng.pick(['bitflip', 'byte', 'insert', 'delete', 'control', 'lf-only']);
  switch (op) {
    case 'bitflip': {
      const out = Buffer.from(bytes);
      out[at] = (out[at] as number) ^ (1 << rng.int(0, 7));
      return [out, `raw-bitflip(${region}@${at})`];
    }
    case 'byte': {
      const out = Buffer.from(bytes);
      out[at] = rng.int(0, 255);
      return [out, `raw-byte(${region}@${at})`];
    }
    case 'insert':
      return [Buffer.concat([bytes.subarray(0, at), rng.bytes(rng.int(1, 8)), bytes.subarray(at)]), `raw-insert(${region}@${at})`];
    case 'delete':
      return [Buffer.concat([bytes.subarray(0, at), bytes.subarray(Math.min(end, at + rng.int(1, 8)))]), `raw-delete(${region}@${at})`];
    case 'control': {
      const piece = rng.pick(['\r\n', '\n', '\r', '\x00', ' ', '\t', ':', '\r\n\r\n']);
      return [Buffer.concat([bytes.subarray(0, at), Buffer.from(piece, 'latin1'), bytes.subarray(at)]), `raw-control(${region}@${at},${JSON.stringify(piece)})`];
    }
    default: {
      const head = bytes.subarray(0, headEnd + 4).toString('latin1').replaceAll('\r\n', '\n');
      return [Buffer.concat([Buffer.from(head, 'latin1'), bytes.subarray(headEnd + 4)]), 'raw-lf-only'];
    }
  }
}
