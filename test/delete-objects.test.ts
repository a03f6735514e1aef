import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { DeleteObjectsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { uniqueKey } from '../test-support/bytes.js';
import { getObjectBytes, type Harness, startHarness } from '../test-support/harness.js';

let h: Harness;

before(async () => {
  h = await startHarness();
});
after(async () => {
  await h.close();
});
beforeEach(() => h.front.reset());

function read(key: string): Promise<Buffer> {
  return getObjectBytes(h.s3, 'test', key);
}

async function putAndCache(key: string, body: string): Promise<void> {
  await h.s3.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: body }));
  assert.equal((await read(key)).toString(), body);
  assert.equal((await read(key)).toString(), body, 'second read is a hit');
}

async function postDelete(xml: string): Promise<Response> {
  const body = Buffer.from(xml);
  return fetch(`${h.falcon.url}/test?delete`, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/xml', 'content-md5': createHash('md5').update(body).digest('base64') },
  });
}

describe('DeleteObjects keys', () => {
  test('keys with CR and LF, sent by the SDK as character references, are dropped from the cache', async () => {
    const keys = [`${uniqueKey('crlf')}\r\nend`, `${uniqueKey('cr')}\rend`, `${uniqueKey('lf')}\nend`, `${uniqueKey('tab')}\tend`];
    for (const key of keys) await putAndCache(key, `bytes of ${JSON.stringify(key)}`);
    const gets = h.front.count('GET');
    const out = await h.s3.send(new DeleteObjectsCommand({ Bucket: 'test', Delete: { Objects: keys.map((Key) => ({ Key })) } }));
    assert.deepEqual(out.Errors ?? [], []);
    assert.equal(out.Deleted?.length, keys.length);
    for (const key of keys) await assert.rejects(read(key), { name: 'NoSuchKey' }, JSON.stringify(key));
    assert.equal(h.front.count('GET'), gets + keys.length, 'every read after the delete went to the upstream');
  });

  test('decodes decimal and hexadecimal character references and the predefined entities', async () => {
    const stem = uniqueKey('refs');
    const key = `${stem}-a&<b>"'`;
    await putAndCache(key, 'referenced');
    const encoded = `${stem.replace(/k/g, '&#107;')}-&#97;&amp;&lt;&#x62;&gt;&quot;&apos;`;
    const res = await postDelete(`<Delete><Object><Key>${encoded}</Key></Object></Delete>`);
    assert.equal(res.status, 200, await res.clone().text());
    assert.match(await res.text(), /<Deleted>/);
    await assert.rejects(read(key), { name: 'NoSuchKey' });
  });

  test('normalises literal line ends as XML does: CRLF and CR become LF', async () => {
    const stem = uniqueKey('eol');
    const key = `${stem}\nx`;
    await putAndCache(key, 'line end');
    const res = await postDelete(`<Delete><Object><Key>${stem}\r\nx</Key></Object></Delete>`);
    assert.equal(res.status, 200, await res.clone().text());
    await assert.rejects(read(key), { name: 'NoSuchKey' });
  });

  test('answers MalformedXML for references XML does not define, before reaching the upstream', async () => {
    for (const key of ['&nbsp;x', '&#0;', '&#xD800;', '&#x110000;', 'a&b', '&#X61;', '&#;', '&foo;', 'a\u0001b']) {
      const res = await postDelete(`<Delete><Object><Key>${key}</Key></Object></Delete>`);
      assert.equal(res.status, 400, JSON.stringify(key));
      assert.match(await res.text(), /<Code>MalformedXML<\/Code>/);
    }
    const invalidUtf8 = Buffer.concat([Buffer.from('<Delete><Object><Key>'), Buffer.from([0xc3, 0x28]), Buffer.from('</Key></Object></Delete>')]);
    const res = await fetch(`${h.falcon.url}/test?delete`, { method: 'POST', body: invalidUtf8 });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /<Code>MalformedXML<\/Code>/);
    assert.equal(h.front.count('POST'), 0);
  });
});
