import assert from 'node:assert/strict';
import { test } from 'node:test';
import { S3Error } from '../errors.js';
import { parseDeleteObjectsKeys } from './xml.js';

function keys(xml: string | Buffer): string[] {
  return parseDeleteObjectsKeys(Buffer.isBuffer(xml) ? xml : Buffer.from(xml));
}

function del(...keyTexts: string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Delete>${keyTexts.map((k) => `<Object><Key>${k}</Key></Object>`).join('')}</Delete>`;
}

test('DeleteObjects keys are decoded as an XML 1.0 parser decodes them', () => {
  assert.deepEqual(keys(del('a&#xD;&#xA;b', '&#13;&#10;', '&#97;&#x62;c', '&amp;&lt;&gt;&quot;&apos;')), [
    'a\r\nb',
    '\r\n',
    'abc',
    '&<>"\'',
  ]);
  assert.deepEqual(keys(del('&#x1F600;&#128512;', 'tab\there')), ['\u{1F600}\u{1F600}', 'tab\there']);
  // End-of-line handling: literal CRLF and CR are read as LF; only references give a CR.
  assert.deepEqual(keys(del('a\r\nb\rc')), ['a\nb\nc']);
  // CDATA is literal text.
  assert.deepEqual(keys(del('<![CDATA[&#97;<]]>')), ['&#97;<']);
  assert.deepEqual(keys(`\uFEFF${del('bom')}`), ['bom']);
});

test('DeleteObjects bodies that are not well-formed XML are MalformedXML', () => {
  const bad = ['&nbsp;', '&#0;', '&#x1;', '&#xD800;', '&#xFFFE;', '&#x110000;', '&#99999999999;', 'a&b', '&#X61;', '&#;', '&#x;', '&foo;', 'a\u0001b'];
  for (const text of bad) {
    assert.throws(() => keys(del(text)), (err: unknown) => err instanceof S3Error && err.code === 'MalformedXML', JSON.stringify(text));
  }
  const declared = '<!DOCTYPE Delete [<!ENTITY e "expanded">]><Delete><Object><Key>&e;</Key></Object></Delete>';
  assert.throws(() => keys(declared), (err: unknown) => err instanceof S3Error && err.code === 'MalformedXML');
  assert.throws(() => keys(Buffer.from([0x3c, 0xc3, 0x28])), (err: unknown) => err instanceof S3Error && err.code === 'MalformedXML');
});
