import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PEER_SIGNATURE_HEADER, PEER_TIMESTAMP_HEADER, PeerAuth } from './peer-auth.js';

test('accepts its own signature and refuses any change', () => {
  let now = 1_000_000;
  const auth = new PeerAuth('secret', () => now);
  const headers = auth.sign('GET', '/_falcon/peer/object?bucket=b&key=k');
  const ts = headers[PEER_TIMESTAMP_HEADER];
  const sig = headers[PEER_SIGNATURE_HEADER];
  assert.equal(auth.verify('GET', '/_falcon/peer/object?bucket=b&key=k', ts, sig), true);
  assert.equal(auth.verify('GET', '/_falcon/peer/object?bucket=b&key=other', ts, sig), false);
  assert.equal(auth.verify('POST', '/_falcon/peer/object?bucket=b&key=k', ts, sig), false);
  assert.equal(auth.verify('GET', '/_falcon/peer/object?bucket=b&key=k', String(Number(ts) + 1), sig), false);
  assert.equal(new PeerAuth('other', () => now).verify('GET', '/_falcon/peer/object?bucket=b&key=k', ts, sig), false);
  assert.equal(auth.verify('GET', '/x', undefined, sig), false);
  assert.equal(auth.verify('GET', '/x', ts, 'zz'), false);
  now += 6 * 60_000;
  assert.equal(auth.verify('GET', '/_falcon/peer/object?bucket=b&key=k', ts, sig), false, 'too old');
});
