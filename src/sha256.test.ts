import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { HmacSha256 } from './sha256.js';

test('gives the MAC createHmac gives, for keys shorter and longer than a block and messages of any length', () => {
  for (const keyBytes of [0, 1, 32, 63, 64, 65, 200]) {
    const key = randomBytes(keyBytes);
    const mac = new HmacSha256(key);
    // One instance across growing and shrinking messages: its reused buffer must never leak a previous message.
    for (const message of ['', 'a', 'AWS4-HMAC-SHA256\n20261202T120000Z\n', 'é'.repeat(700), 'x'.repeat(5000), 'short again', '日本語'.repeat(3)]) {
      assert.deepEqual(mac.digest(message), createHmac('sha256', key).update(message, 'utf8').digest(), `key ${keyBytes} B, message ${message.length} chars`);
    }
  }
});

test('matches the RFC 4231 test case 2', () => {
  const mac = new HmacSha256(Buffer.from('Jefe'));
  assert.equal(mac.digest('what do ya want for nothing?').toString('hex'), '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
});
