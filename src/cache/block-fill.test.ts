import assert from 'node:assert/strict';
import { PassThrough, Readable } from 'node:stream';
import { test } from 'node:test';
import { BlockFill } from './block-fill.js';
import { ByteBudget } from './byte-budget.js';
import { ObjectBody } from './object-body.js';

function reserved(size: number, budget = new ByteBudget(1024)) {
  const body = ObjectBody.reserve(size, budget);
  assert.ok(body);
  return body;
}

async function collect(source: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts);
}

test('readers get the bytes as they arrive, from any offset, and the fill completes intact', async () => {
  const source = new PassThrough();
  const budget = new ByteBudget(1024);
  const fill = new BlockFill({ ...reserved(10, budget), source });
  const early = collect(fill.read(0, 10));
  const middle = collect(fill.read(3, 7));
  source.write('01234');
  await new Promise((resolve) => setImmediate(resolve));
  const late = collect(fill.read(2, 10));
  source.end('56789');
  assert.equal((await early).toString(), '0123456789');
  assert.equal((await middle).toString(), '3456');
  assert.equal((await late).toString(), '23456789');
  assert.equal(await fill.completed, true);
  assert.equal(budget.used, 0, 'the fill released its hold; nothing else keeps the bytes');
});

test('a body shorter or longer than the block fails the fill and its readers', async () => {
  for (const bytes of ['short', 'far too long']) {
    const fill = new BlockFill({ ...reserved(8), source: Readable.from([Buffer.from(bytes)]) });
    await assert.rejects(collect(fill.read(0, 8)), /ended before|more bytes/);
    assert.equal(await fill.completed, false, bytes);
  }
});

test('a first block read from a whole answer keeps the block and throws the rest away', async () => {
  const source = Readable.from([Buffer.from('0123'), Buffer.from('4567'), Buffer.from('89')]);
  const fill = new BlockFill({ ...reserved(6), source, sourceMayContinue: true });
  assert.equal((await collect(fill.read(0, 6))).toString(), '012345');
  assert.equal(await fill.completed, true);
});

test('a source failing midway is resumed once from where it stopped', async () => {
  const failing = new PassThrough();
  const offsets: number[] = [];
  const fill = new BlockFill({
    ...reserved(10),
    source: failing,
    resume: async (offset) => {
      offsets.push(offset);
      return Readable.from([Buffer.from('0123456789'.slice(offset))]);
    },
  });
  failing.write('0123');
  setImmediate(() => failing.destroy(new Error('owner died')));
  assert.equal((await collect(fill.read(0, 10))).toString(), '0123456789');
  assert.deepEqual(offsets, [4]);
  assert.equal(await fill.completed, true);
});
