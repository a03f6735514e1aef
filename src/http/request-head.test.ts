import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bodyLengthOf, parsePlainRequest } from './request-head.js';

const head = (...lines: string[]): string => lines.join('\r\n');

test('a plain GET or HEAD head is read into method, target, lower-case headers, raw headers and their lower-case names', () => {
  const request = parsePlainRequest(head('GET /b/k?x-id=GetObject HTTP/1.1', 'Host: h:1', 'X-Amz-Date:  20261202T120000Z \t', 'Connection: Keep-Alive'));
  assert.deepEqual(request, {
    method: 'GET',
    url: '/b/k?x-id=GetObject',
    headers: { host: 'h:1', 'x-amz-date': '20261202T120000Z', connection: 'Keep-Alive' },
    rawHeaders: ['Host', 'h:1', 'X-Amz-Date', '20261202T120000Z', 'Connection', 'Keep-Alive'],
    lowerCaseNames: ['host', 'x-amz-date', 'connection'],
  });
  assert.equal(parsePlainRequest(head('HEAD /b/k HTTP/1.1', 'host: h'))?.method, 'HEAD');
});

test('anything but a plain keep-alive GET or HEAD without a body is left to node', () => {
  const refused = [
    head('PUT /b/k HTTP/1.1', 'Host: h'),
    head('GET /b/k HTTP/1.0', 'Host: h'),
    head('GET http://h/b/k HTTP/1.1', 'Host: h'),
    head('GET /b/k HTTP/1.1'),
    head('GET /b/k HTTP/1.1', 'Host: h', 'Content-Length: 0'),
    head('GET /b/k HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked'),
    head('GET /b/k HTTP/1.1', 'Host: h', 'Expect: 100-continue'),
    head('GET /b/k HTTP/1.1', 'Host: h', 'Upgrade: websocket', 'Connection: upgrade'),
    head('GET /b/k HTTP/1.1', 'Host: h', 'Connection: close'),
    head('GET /b/k HTTP/1.1', 'Host: h', 'Host: other'),
    head('GET /b/k HTTP/1.1', 'Host: h', 'X-A: 1', 'x-a: 2'),
    head('GET /b/k HTTP/1.1', 'Host: h', ' folded: value'),
    head('GET /b/k HTTP/1.1', 'Host : h'),
    head('GET /b/k HTTP/1.1', 'Host: h', 'Bad\u0000: x'),
    head('GET /b/k HTTP/1.1', 'Host: h', 'X-A: a\u0001b'),
    head('GET /b/k HTTP/1.1', 'Host: h', 'X-A: a\nb'),
    head('GET /b/k HTTP/1.1', 'Host: h', 'no colon'),
    head('GET /b k HTTP/1.1', 'Host: h'),
    head('get /b/k HTTP/1.1', 'Host: h'),
    '',
  ];
  for (const text of refused) assert.equal(parsePlainRequest(text), undefined, JSON.stringify(text));
});

test('the body length of a head passed to node is known only for no length or one plain Content-Length', () => {
  assert.equal(bodyLengthOf(head('GET /b/k HTTP/1.1', 'Host: h')), 0);
  assert.equal(bodyLengthOf(head('PUT /b/k HTTP/1.1', 'Host: h', 'content-length: 42')), 42);
  assert.equal(bodyLengthOf(head('PUT /b/k HTTP/1.0', 'Host: h', 'Content-Length:  7 ')), 7);
  const unknown = [
    head('PUT /b/k HTTP/1.1', 'Host: h', 'Transfer-Encoding: chunked'),
    head('PUT /b/k HTTP/1.1', 'Host: h', 'Content-Length: 1', 'Content-Length: 1'),
    head('PUT /b/k HTTP/1.1', 'Host: h', 'Content-Length: 1, 1'),
    head('PUT /b/k HTTP/1.1', 'Host: h', 'Content-Length: -1'),
    head('PUT /b/k HTTP/1.1', 'Host: h', 'Content-Length: 0x10'),
    head('GET /b/k HTTP/1.1', 'Host: h', 'Upgrade: h2c'),
    head('CONNECT h:443 HTTP/1.1', 'Host: h'),
    head('PRI * HTTP/2.0', '', 'SM'),
    head('PUT /b/k HTTP/1.1', 'Host: h', ' Content-Length: 5'),
    head('PUT /b/k HTTP/1.1', 'Content-Length : 5'),
    head('GET /b/k HTTP/1.1', 'Host: h\nContent-Length: 5'),
    '',
  ];
  for (const text of unknown) assert.equal(bodyLengthOf(text), undefined, JSON.stringify(text));
});
