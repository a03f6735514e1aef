import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { request } from 'undici';
import { randomBody } from '../test-support/bytes.js';
import { startFalconProcess } from '../test-support/falcon-process.js';

const MIB = 1024 * 1024;
const OBJECT_MIB = 384;

/** Peak resident memory of a process, from /proc. */
async function peakRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1]);
  assert.ok(kb > 0, 'VmHWM readable');
  return kb * 1024;
}

test(`a ${OBJECT_MIB} MiB object streams up and down through Falcon without being held in memory`, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-memory-'));
  const falcon = await startFalconProcess([
    '--host', '127.0.0.1',
    '--port', '0',
    '--anonymous',
    '--local-upstream', join(dir, 'data'),
    '--max-cache-size', '64',
  ]);
  try {
    const pid = falcon.child.pid as number;
    assert.equal((await request(`${falcon.url}/big`, { method: 'PUT' })).statusCode, 200);
    const block = randomBody(MIB);
    const sent = createHash('sha256');
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < OBJECT_MIB; i++) {
          sent.update(block);
          yield block;
        }
      })(),
    );
    const put = await request(`${falcon.url}/big/object.bin`, { method: 'PUT', body, headers: { 'content-length': String(OBJECT_MIB * MIB) } });
    assert.equal(put.statusCode, 200, await put.body.text());

    const got = await request(`${falcon.url}/big/object.bin`);
    assert.equal(got.statusCode, 200);
    assert.equal(got.headers['x-cache'], 'MISS', 'six times the cache: streamed block by block, each block cached as long as it fits');
    const received = createHash('sha256');
    let bytes = 0;
    for await (const chunk of got.body) {
      received.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    assert.equal(bytes, OBJECT_MIB * MIB);
    assert.equal(received.digest('hex'), sent.digest('hex'));

    const peak = await peakRssBytes(pid);
    console.log(`falcon peak RSS: ${Math.round(peak / MIB)} MiB`);
    assert.ok(peak < 250 * MIB, `peak RSS ${Math.round(peak / MIB)} MiB for a ${OBJECT_MIB} MiB object`);
  } finally {
    await falcon.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
