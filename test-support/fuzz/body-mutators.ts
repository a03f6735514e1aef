import type { Rng } from './prng.js';
import { type AwsChunkedBody, getHeader, type RawRequest, removeHeader, setHeader } from './raw-request.js';
import type { Mutator } from './mutators.js';

const bufferBody = (req: RawRequest): req is RawRequest & { body: Buffer } => Buffer.isBuffer(req.body) && req.body.length > 0;

function editBuffer(body: Buffer, rng: Rng): [Buffer, string] {
  const op = rng.pick(['bitflip', 'byte', 'insert', 'delete', 'duplicate', 'truncate', 'extend', 'empty']);
  const at = rng.int(0, Math.max(0, body.length - 1));
  switch (op) {
    case 'bitflip': {
      const out = Buffer.from(body);
      if (out.length > 0) out[at] = (out[at] as number) ^ (1 << rng.int(0, 7));
      return [out, `bitflip@${at}`];
    }
    case 'byte': {
      const out = Buffer.from(body);
      if (out.length > 0) out[at] = rng.int(0, 255);
      return [out, `byte@${at}`];
    }
    case 'insert':
      return [Buffer.concat([body.subarray(0, at), rng.bytes(rng.int(1, 16)), body.subarray(at)]), `insert@${at}`];
    case 'delete':
      return [Buffer.concat([body.subarray(0, at), body.subarray(at + rng.int(1, 16))]), `delete@${at}`];
    case 'duplicate': {
      const end = Math.min(body.length, at + rng.int(1, 64));
      return [Buffer.concat([body.subarray(0, end), body.subarray(at, end), body.subarray(end)]), `duplicate@${at}`];
    }
    case 'truncate':
      return [body.subarray(0, at), `truncate@${at}`];
    case 'extend':
      return [Buffer.concat([body, rng.bytes(rng.pick([1, 100, 70_000]))]), 'extend'];
    default:
      return [Buffer.alloc(0), 'empty'];
  }
}

const bodyMutators: Mutator[] = [
  {
    name: 'body-bytes',
    weight: 3,
    applies: bufferBody,
    apply(req, rng) {
      const [body, label] = editBuffer(req.body as Buffer, rng);
      req.body = body;
      return `body-${label}`;
    },
  },
  {
    name: 'body-on-bodiless',
    weight: 1,
    applies: (req) => Buffer.isBuffer(req.body) && req.body.length === 0,
    apply(req, rng) {
      req.body = rng.chance(0.5) ? Buffer.from('<Delete><Object><Key>x</Key></Object></Delete>') : rng.bytes(rng.pick([1, 1000]));
      return 'body-on-bodiless';
    },
  },
];

function editText(req: RawRequest, edit: (text: string) => string): void {
  req.body = Buffer.from(edit((req.body as Buffer).toString('latin1')), 'latin1');
}

const XML_EDITS: Array<[string, (text: string, rng: Rng) => string]> = [
  ['rename-tag', (t, rng) => t.replace(rng.pick([/<Part>/, /<Object>/, /<Key>/, /<PartNumber>/, /<ETag>/, /<Delete /, /<CompleteMultipartUpload /]), rng.pick(['<Prat>', '<object>', '<', '<Key/>', '<Delete>', '<X ']))],
  ['drop-close', (t, rng) => t.replace(rng.pick([/<\/Part>/, /<\/Object>/, /<\/Key>/, /<\/Delete>/, /<\/CompleteMultipartUpload>/, /<\/PartNumber>/]), '')],
  [
    'repeat-element',
    (t, rng) => {
      const m = /<(Part|Object)>[\s\S]*?<\/\1>/.exec(t);
      if (m === null) return t;
      return t.replace(m[0], m[0].repeat(rng.pick([2, 50, 1001, 1500])));
    },
  ],
  ['doctype-entity', (t) => t.replace(/<(Delete|CompleteMultipartUpload)/, '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaaaaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><$1')],
  ['external-entity', (t) => t.replace(/<(Delete|CompleteMultipartUpload)/, '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><$1').replace(/<Key>[^<]*/, '<Key>&x;')],
  ['entity', (t, rng) => t.replace(/<(Key|ETag|PartNumber)>/, `<$1>${rng.pick(['&amp;', '&#0;', '&#x110000;', '&unknown;', '&#65;', '&', '&lt;&gt;', '&#xD800;'])}`)],
  ['cdata', (t) => t.replace(/<Key>([^<]*)<\/Key>/, '<Key><![CDATA[$1]]></Key>').replace(/<PartNumber>([^<]*)/, '<PartNumber><![CDATA[$1]]>')],
  ['deep-nesting', (t, rng) => {
    const depth = rng.pick([1000, 20000]);
    return t.replace(/<(Key|PartNumber)>/, `<$1>${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}`);
  }],
  ['key-edit', (t, rng) => t.replace(/<Key>[^<]*<\/Key>/, `<Key>${rng.pick(['', 'x'.repeat(2000), '../../x', '\x01', 'stable/small.txt', '\xff\xfe'])}</Key>`)],
  ['part-number', (t, rng) => t.replace(/<PartNumber>[^<]*/, `<PartNumber>${rng.pick(['0', '-1', '10001', 'abc', '7', '1.5', '2', '', ' 1 ', '99999999999999999999'])}`)],
  ['duplicate-part-number', (t) => t.replace(/(<Part>[\s\S]*?<\/Part>)/, '$1<Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part>')],
  ['extra-part', (t, rng) => t.replace(/(<\/Part>)/, `$1<Part><PartNumber>${rng.pick(['2', '3', '9'])}</PartNumber><ETag>"${'0'.repeat(32)}"</ETag></Part>`)],
  ['etag-edit', (t, rng) => t.replace(/<ETag>[^<]*/, `<ETag>${rng.pick(['', '"nope"', 'nope', '"', '&quot;x&quot;'])}`)],
  ['attributes', (t) => t.replace(/<(Key|Part|Object)>/, '<$1 a="1" b=\'2\' c>')],
  ['comment-unclosed', (t) => t.replace(/<Key>/, '<!-- <Key>')],
  ['bom', (t) => `\xef\xbb\xbf${t}`],
  ['no-declaration', (t) => t.replace(/^<\?xml[^>]*>\s*/, '')],
  ['other-root', (t) => t.replace(/<(\/?)(Delete|CompleteMultipartUpload)\b/g, '<$1Root')],
  ['quiet-edit', (t, rng) => t.replace(/<Quiet>[^<]*/, `<Quiet>${rng.pick(['false', 'yes', ''])}`)],
  ['empty', () => ''],
  ['not-xml', () => '{"Delete":{"Object":[{"Key":"x"}]}}'],
];

const FORM_EDITS: Array<[string, (text: string, boundary: string, rng: Rng) => string]> = [
  ['boundary-body', (t, b) => t.replace(`--${b}\r\n`, `--${b}x\r\n`)],
  ['drop-final-delimiter', (t, b) => t.replace(`--${b}--\r\n`, '')],
  ['drop-crlf', (t, _b, rng) => {
    const at = [...t.matchAll(/\r\n/g)].map((m) => m.index ?? 0);
    const i = at.length === 0 ? 0 : rng.pick(at);
    return t.slice(0, i) + t.slice(i + 2);
  }],
  ['duplicate-part', (t, b, rng) => {
    const start = t.indexOf(`--${b}\r\n`);
    const end = t.indexOf(`--${b}`, start + 2);
    if (start === -1 || end === -1) return t;
    return t.slice(0, end) + t.slice(start, end).repeat(rng.pick([2, 8])) + t.slice(end);
  }],
  ['filename', (t, _b, rng) => t.replace(/filename="[^"]*"/, `filename="${rng.pick(['../../etc/passwd', '', '.', '..', 'a/b', 'x'.repeat(300), '\xc3\xa9.txt', 'a"b', 'C:\\x\\y.txt', '\x00'])}"`)],
  ['filename-star', (t) => t.replace(/filename="[^"]*"/, "filename*=UTF-8''%E2%82%AC%20rates.txt")],
  ['no-filename', (t) => t.replace(/; filename="[^"]*"/, '')],
  ['no-disposition', (t) => t.replace(/Content-Disposition: [^\r]*\r\n/, '')],
  ['field-name', (t, _b, rng) => t.replace(/name="files"/, `name="${rng.pick(['file', 'FILES', '', 'files[]'])}"`)],
  ['part-header-no-colon', (t) => t.replace(/Content-Type: text\/plain/, 'Content-Type text/plain')],
  ['part-header-long', (t) => t.replace(/Content-Type: text\/plain/, `Content-Type: ${'x'.repeat(20000)}`)],
  ['preamble', (t) => `junk before\r\n${t}`],
  ['epilogue', (t) => `${t}junk after`],
  ['empty-file', (t) => t.replace(/(filename="a.txt"\r\nContent-Type: text\/plain\r\n\r\n)[^\r]*/, '$1')],
  ['many-parts', (t, b) => {
    const part = `--${b}\r\nContent-Disposition: form-data; name="f"\r\n\r\nv\r\n`;
    return part.repeat(500) + t;
  }],
];

const JSON_EDITS = [
  '',
  '{',
  '{"keys":{}}',
  '{"keys":[["a"]]}',
  '{"keys":[[1,2]]}',
  `${'['.repeat(5000)}${']'.repeat(5000)}`,
  '{"keys":[["fuzz","stable/small.txt"]],"keys":1}',
  '{"__proto__":{"keys":[]}}',
  'null',
  '"keys"',
  '\xff\xfe{}',
  '{"keys":[]}',
  '{"keys":[["fuzz",""]]}',
  '{"keys":[["","x"]]}',
];

const structuredBodyMutators: Mutator[] = [
  {
    name: 'xml',
    weight: 6,
    applies: (req, seed) => seed.body === 'xml' && Buffer.isBuffer(req.body),
    apply(req, rng) {
      const [name, edit] = rng.pick(XML_EDITS);
      editText(req, (t) => edit(t, rng));
      return `xml-${name}`;
    },
  },
  {
    name: 'form',
    weight: 6,
    applies: (req, seed) => seed.body === 'form' && Buffer.isBuffer(req.body),
    apply(req, rng) {
      const contentType = getHeader(req, 'content-type') ?? '';
      const boundary = /boundary=([^;]+)/.exec(contentType)?.[1] ?? '';
      const [name, edit] = rng.pick(FORM_EDITS);
      editText(req, (t) => edit(t, boundary, rng));
      return `form-${name}`;
    },
  },
  {
    name: 'form-boundary-header',
    weight: 2,
    applies: (_req, seed) => seed.body === 'form',
    apply(req, rng) {
      const contentType = getHeader(req, 'content-type') ?? '';
      const replacement = rng.pick(['', 'boundary=', 'boundary="q"', `boundary=${'b'.repeat(80)}`, 'boundary=other', 'charset=utf-8']);
      setHeader(req, 'content-type', contentType.replace(/boundary=[^;]+/, replacement));
      return `form-boundary-header(${replacement.slice(0, 20)})`;
    },
  },
  {
    name: 'json',
    weight: 5,
    applies: (req, seed) => seed.body === 'json' && Buffer.isBuffer(req.body),
    apply(req, rng) {
      const text = rng.pick(JSON_EDITS);
      req.body = Buffer.from(text, 'latin1');
      return `json(${JSON.stringify(text.slice(0, 24))})`;
    },
  },
];

function awsBody(req: RawRequest): AwsChunkedBody {
  return req.body as AwsChunkedBody;
}

const AWS_CHUNKED_EDITS: Array<[string, (body: AwsChunkedBody, rng: Rng) => string]> = [
  ['size-lie', (body, rng) => {
    const chunk = rng.pick(body.chunks);
    const delta = rng.pick([-2, -1, 1, 2, 100]);
    chunk.sizeText = Math.max(0, chunk.data.length + delta).toString(16);
    return `${delta}`;
  }],
  ['size-text', (body, rng) => {
    const chunk = rng.pick([...body.chunks, ...(body.final ? [body.final] : [])]);
    chunk.sizeText = rng.pick(['zz', '-1', '0x10', 'ffffffffffffffff', '11111111111111111', '', ' 1', '1000001', 'A', '00000000000000001']);
    return chunk.sizeText;
  }],
  ['extension', (body, rng) => {
    const chunk = rng.pick([...body.chunks, ...(body.final ? [body.final] : [])]);
    chunk.extensionText = rng.pick([';chunk-signature=', `;chunk-signature=${'a'.repeat(63)}`, `;chunk-signature=${'a'.repeat(65)}`, ';foo=bar', ';', ';chunk-signature=x;chunk-signature=y', ` ;chunk-signature=${'0'.repeat(64)}`, `;${'e'.repeat(9000)}`]);
    return chunk.extensionText.slice(0, 20);
  }],
  ['signature-flip', (body, rng) => {
    const chunk = rng.pick([...body.chunks, ...(body.final ? [body.final] : [])]);
    chunk.signature = rng.chance(0.3) ? 'none' : { text: `${'0'.repeat(63)}${rng.pick(['1', 'g', ''])}` };
    return typeof chunk.signature === 'string' ? chunk.signature : 'wrong';
  }],
  ['data-flip', (body, rng) => {
    const chunk = rng.pick(body.chunks);
    if (chunk.data.length > 0) {
      const at = rng.int(0, chunk.data.length - 1);
      chunk.data = Buffer.from(chunk.data);
      chunk.data[at] = (chunk.data[at] as number) ^ 1;
    }
    return '';
  }],
  ['data-end', (body, rng) => {
    const chunk = rng.pick(body.chunks);
    chunk.dataEnd = rng.pick(['', '\n', 'XX\r\n', '\r\n\r\n', '\r']);
    return JSON.stringify(chunk.dataEnd);
  }],
  ['drop-final', (body) => {
    body.final = undefined;
    return '';
  }],
  ['zero-chunk-midway', (body, rng) => {
    body.chunks.splice(rng.int(0, body.chunks.length), 0, { data: Buffer.alloc(0), signature: 'valid' });
    return '';
  }],
  ['huge-chunk', (body) => {
    body.chunks.push({ data: Buffer.alloc(0), sizeText: '1000001', signature: 'valid' });
    return '';
  }],
  ['many-small-chunks', (body, rng) => {
    const data = Buffer.concat(body.chunks.map((c) => c.data));
    const size = rng.pick([1, 3]);
    body.chunks = [];
    for (let at = 0; at < data.length; at += size) body.chunks.push({ data: data.subarray(at, at + size), signature: 'valid' });
    return String(size);
  }],
  ['trailer-value', (body, rng) => {
    if (body.trailers.length === 0) body.trailers.push(['x-amz-checksum-crc32', 'crc32']);
    const trailer = body.trailers[0] as [string, string];
    trailer[1] = rng.pick(['AAAAAA==', '', 'not base64', 'crc32']);
    return trailer[1];
  }],
  ['trailer-name', (body, rng) => {
    if (body.trailers.length === 0) body.trailers.push(['x-amz-checksum-crc32', 'crc32']);
    const trailer = body.trailers[0] as [string, string];
    trailer[0] = rng.pick(['x-amz-checksum-sha256', 'x-amz-foo', '', 'X-AMZ-CHECKSUM-CRC32', 'x-amz-checksum-crc32 ']);
    return trailer[0];
  }],
  ['trailer-line', (body, rng) => {
    body.trailers.push([rng.pick(['no-colon-here', 'x-amz-checksum-crc32', 'x-amz-trailer-signature']), rng.pick(['AAAAAA==', '', 'zz'])]);
    return '';
  }],
  ['trailer-remove', (body) => {
    body.trailers = [];
    return '';
  }],
  ['trailer-signature', (body, rng) => {
    body.trailerSignature = rng.chance(0.5) ? 'none' : { text: rng.pick(['', '0'.repeat(64), 'zz']) };
    return '';
  }],
  ['end-text', (body, rng) => {
    body.endText = rng.pick(['', '\r\n\r\n', 'junk', '\n']);
    return JSON.stringify(body.endText);
  }],
];

const awsChunkedMutators: Mutator[] = [
  {
    name: 'aws-chunked',
    weight: 8,
    applies: (req) => !Buffer.isBuffer(req.body),
    apply(req, rng) {
      const [name, edit] = rng.pick(AWS_CHUNKED_EDITS);
      const detail = edit(awsBody(req), rng);
      return `aws-chunked-${name}${detail === '' ? '' : `(${detail})`}`;
    },
  },
  {
    name: 'aws-chunked-as-plain',
    weight: 1,
    applies: (req) => !Buffer.isBuffer(req.body),
    apply(req, rng) {
      // The headers still say aws-chunked, the body is not (or the other way round).
      if (rng.chance(0.5)) {
        req.body = Buffer.concat(awsBody(req).chunks.map((c) => c.data));
        return 'aws-chunked-as-plain(body)';
      }
      removeHeader(req, 'content-encoding');
      setHeader(req, 'x-amz-content-sha256', 'UNSIGNED-PAYLOAD');
      return 'aws-chunked-as-plain(headers)';
    },
  },
];

/** Damage to bodies as bytes. */
export const BODY_MUTATORS: readonly Mutator[] = bodyMutators;
/** Damage that knows what the body is: XML, a form, JSON, aws-chunked framing. */
export const STRUCTURED_BODY_MUTATORS: readonly Mutator[] = [...structuredBodyMutators, ...awsChunkedMutators];
