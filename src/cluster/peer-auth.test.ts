import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  PEER_CONTENT_SHA256_HEADER,
  PEER_NONCE_HEADER,
  PEER_SIGNATURE_HEADER,
  PEER_TIMESTAMP_HEADER,
  PEER_WINDOW_MS,
  PeerAuth,
} from './peer-auth.js';

const PATH = '/_falcon/peer/invalidate';
const BODY = Buffer.from('{"keys":[["b","k"]]}');

/** Checks a request as a receiving node does: signature first, then body and nonce. */
function accepts(auth: PeerAuth, method: string, path: string, headers: Record<string, string>, body: Buffer): boolean {
  const signed = auth.checkSignature(method, path, (name) => headers[name]);
  return signed.ok && auth.admit(signed.request, body).ok;
}

test('accepts its own signature once and refuses any change of method, path, body, time, nonce or secret', () => {
  const now = 1_000_000;
  const sign = () => new PeerAuth('secret-0123456789', { now: () => now }).sign('POST', PATH, BODY);
  const receiver = () => new PeerAuth('secret-0123456789', { now: () => now });
  const headers = sign();
  assert.equal(accepts(receiver(), 'POST', PATH, headers, BODY), true);
  assert.equal(accepts(receiver(), 'GET', PATH, headers, BODY), false, 'method');
  assert.equal(accepts(receiver(), 'POST', `${PATH}?x=1`, headers, BODY), false, 'path and query');
  assert.equal(accepts(receiver(), 'POST', PATH, headers, Buffer.from('{"keys":[["b","other"]]}')), false, 'body');
  assert.equal(accepts(receiver(), 'POST', PATH, headers, Buffer.alloc(0)), false, 'body dropped');
  const changed = (name: string, value: string) => ({ ...headers, [name]: value });
  assert.equal(accepts(receiver(), 'POST', PATH, changed(PEER_TIMESTAMP_HEADER, String(now + 1)), BODY), false, 'timestamp');
  assert.equal(accepts(receiver(), 'POST', PATH, changed(PEER_NONCE_HEADER, 'ab'.repeat(16)), BODY), false, 'nonce');
  const otherBodyHash = sign();
  const swapped = changed(PEER_CONTENT_SHA256_HEADER, 'cd'.repeat(32));
  assert.equal(accepts(receiver(), 'POST', PATH, swapped, BODY), false, 'declared body hash');
  assert.equal(accepts(new PeerAuth('other-secret-0123456', { now: () => now }), 'POST', PATH, otherBodyHash, BODY), false, 'secret');
  for (const name of [PEER_TIMESTAMP_HEADER, PEER_NONCE_HEADER, PEER_CONTENT_SHA256_HEADER, PEER_SIGNATURE_HEADER]) {
    const { [name]: _dropped, ...without } = headers;
    assert.equal(accepts(receiver(), 'POST', PATH, without, BODY), false, `without ${name}`);
  }
  assert.equal(accepts(receiver(), 'POST', PATH, changed(PEER_SIGNATURE_HEADER, 'zz'), BODY), false, 'malformed MAC');
});

test('refuses a replay of a request it accepted, however often it comes', () => {
  const now = 5_000_000;
  const auth = new PeerAuth('secret-0123456789', { now: () => now });
  const headers = auth.sign('POST', PATH, BODY);
  assert.equal(accepts(auth, 'POST', PATH, headers, BODY), true);
  for (let i = 0; i < 3; i++) assert.equal(accepts(auth, 'POST', PATH, headers, BODY), false);
  const fresh = auth.sign('POST', PATH, BODY);
  assert.equal(accepts(auth, 'POST', PATH, fresh, BODY), true, 'a new request with the same content has a new nonce');
});

test('a tampered copy does not use up the nonce of the genuine request', () => {
  const auth = new PeerAuth('secret-0123456789');
  const headers = auth.sign('POST', PATH, BODY);
  assert.equal(accepts(auth, 'POST', PATH, headers, Buffer.from('{"keys":[]}')), false);
  assert.equal(accepts(auth, 'POST', PATH, headers, BODY), true);
});

test(`accepts clocks up to ${PEER_WINDOW_MS / 1000} s apart and refuses farther ones`, () => {
  let senderNow = 10_000_000;
  const receiverNow = 10_000_000;
  const sender = new PeerAuth('secret-0123456789', { now: () => senderNow });
  const receiver = new PeerAuth('secret-0123456789', { now: () => receiverNow });
  for (const skew of [-PEER_WINDOW_MS, -1_000, 0, 1_000, PEER_WINDOW_MS]) {
    senderNow = receiverNow + skew;
    assert.equal(accepts(receiver, 'GET', '/x', sender.sign('GET', '/x'), Buffer.alloc(0)), true, `skew ${skew}`);
  }
  for (const skew of [-PEER_WINDOW_MS - 1, PEER_WINDOW_MS + 1, -5 * 60_000]) {
    senderNow = receiverNow + skew;
    assert.equal(accepts(receiver, 'GET', '/x', sender.sign('GET', '/x'), Buffer.alloc(0)), false, `skew ${skew}`);
  }
});

test('a replay after the window has passed is refused by its time, so the nonce need not be kept', () => {
  let now = 20_000_000;
  const auth = new PeerAuth('secret-0123456789', { now: () => now });
  const headers = auth.sign('POST', PATH, BODY);
  assert.equal(accepts(auth, 'POST', PATH, headers, BODY), true);
  now += PEER_WINDOW_MS + 1;
  assert.equal(accepts(auth, 'POST', PATH, headers, BODY), false);
});

test('with more requests in the window than it can remember, it still never accepts a replay', () => {
  let now = 30_000_000;
  const max = 100;
  const auth = new PeerAuth('secret-0123456789', { now: () => now, maxRememberedNonces: max });
  const sent: Array<Record<string, string>> = [];
  for (let i = 0; i < 3 * max; i++) {
    now += 10;
    const headers = auth.sign('GET', '/x');
    sent.push(headers);
    assert.equal(accepts(auth, 'GET', '/x', headers, Buffer.alloc(0)), true, `request ${i}`);
  }
  for (const [i, headers] of sent.entries()) assert.equal(accepts(auth, 'GET', '/x', headers, Buffer.alloc(0)), false, `replay ${i}`);
  now += 10;
  assert.equal(accepts(auth, 'GET', '/x', auth.sign('GET', '/x'), Buffer.alloc(0)), true, 'a current request still passes');
});
