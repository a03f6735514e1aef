import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { randomBody } from '../test-support/bytes.js';
import { CountingFront } from '../test-support/counting-front.js';
import { startFalconProcess } from '../test-support/falcon-process.js';
import { LOCAL_UPSTREAM_CREDENTIALS, startLocalUpstream } from '../src/upstream/local-upstream.js';

const MIB = 1024 * 1024;
const CACHE_MIB = 64;
const OBJECT_BYTES = 8 * MIB;
const CLIENTS = 200;
/** Socket and stream buffers of one connection whose client stopped reading, generously. */
const PER_CLIENT_BYTES = MIB / 2;

/** Resident memory of a process from /proc: its peak (VmHWM) or current (VmRSS) size. */
async function rssBytes(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status)?.[1]);
  assert.ok(kb > 0, `${field} readable`);
  return kb * 1024;
}

/** Object i: shared random bytes with its own index up front, so no two objects are alike. */
function objectBody(base: Buffer, i: number): Buffer {
  const body = Buffer.from(base);
  body.write(`object ${i} `, 0);
  return body;
}

interface StalledGet {
  socket: Socket;
  /** Starts reading and resolves with the status and the body's length and SHA-256. */
  readAll(): Promise<{ status: number; bytes: number; sha256: string }>;
}

/** A GET on a raw socket that reads nothing until `readAll` is called. */
function stalledGet(url: URL, path: string): StalledGet {
  const socket = connect(Number(url.port), url.hostname);
  socket.pause();
  socket.on('error', () => {});
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${url.host}\r\nConnection: close\r\n\r\n`);
  return {
    socket,
    readAll: () =>
      new Promise((resolve, reject) => {
        let head = Buffer.alloc(0);
        let status = 0;
        let bytes = 0;
        const hash = createHash('sha256');
        socket.on('data', (chunk: Buffer) => {
          let body = chunk;
          if (status === 0) {
            head = Buffer.concat([head, chunk]);
            const end = head.indexOf('\r\n\r\n');
            if (end === -1) return;
            status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head.toString('latin1'))?.[1]);
            body = head.subarray(end + 4);
          }
          bytes += body.length;
          hash.update(body);
        });
        socket.on('end', () => resolve({ status, bytes, sha256: hash.digest('hex') }));
        socket.on('error', reject);
        socket.resume();
      }),
  };
}

/** Resolves once the upstream got `requests` GETs and sent `bytes`, or its traffic stopped for a while. */
async function upstreamSettled(front: CountingFront, requests: number, bytes: number): Promise<void> {
  let last = -1;
  let quietPolls = 0;
  while (front.count('GET') < requests || (front.bytesRelayed < bytes && quietPolls < 4)) {
    await sleep(25);
    quietPolls = front.bytesRelayed === last ? quietPolls + 1 : 0;
    last = front.bytesRelayed;
  }
}

test(`${CLIENTS} clients that stop reading ${OBJECT_BYTES / MIB} MiB misses keep a --max-cache-size ${CACHE_MIB} node's memory bounded, then get every byte`, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-slow-readers-'));
  const upstream = await startLocalUpstream(join(dir, 'data'), ['test']);
  const front = await new CountingFront(upstream.endpoint).start();
  const clients: StalledGet[] = [];
  t.after(async () => {
    for (const client of clients) client.socket.destroy();
    await front.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  const base = randomBody(OBJECT_BYTES);
  const keys = Array.from({ length: CLIENTS }, (_, i) => `slow/${i}`);
  for (let i = 0; i < CLIENTS; i += 8) {
    await Promise.all(
      keys.slice(i, i + 8).map(async (key, j) => {
        // The embedded upstream takes unsigned writes, quicker to seed 1.6 GB with; a connection each,
        // so none is reused just as the server closes it.
        const put = await request(`${upstream.endpoint.origin}/test/${key}`, { method: 'PUT', body: objectBody(base, i + j), reset: true });
        assert.equal(put.statusCode, 200);
        await put.body.dump();
      }),
    );
  }

  const falcon = await startFalconProcess(
    [
      '--host', '127.0.0.1',
      '--port', '0',
      '--anonymous',
      '--s3-endpoint', front.url,
      '--s3-force-path-style',
      '--s3-checksum-trailers', 'false',
      '--max-cache-size', String(CACHE_MIB),
      '--timeout', '120000',
    ],
    { AWS_ACCESS_KEY_ID: LOCAL_UPSTREAM_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: LOCAL_UPSTREAM_CREDENTIALS.secretAccessKey },
  );
  t.after(() => falcon.stop());
  const pid = falcon.child.pid as number;
  const url = new URL(falcon.url);
  const baseline = await rssBytes(pid, 'VmRSS');

  // One client after another, each once the upstream has sent what it will for the ones before, as
  // misses arrive over time: every miss finds the fills before it finished and their readers stalled.
  for (const key of keys) {
    const sent = front.bytesRelayed;
    clients.push(stalledGet(url, `/test/${key}`));
    await upstreamSettled(front, clients.length, sent + OBJECT_BYTES);
  }
  const peak = await rssBytes(pid, 'VmHWM');
  // The cache, the budget of bodies held outside it (both --max-cache-size), one object of slack, and
  // the buffers of every stalled connection.
  const bound = baseline + 2 * CACHE_MIB * MIB + OBJECT_BYTES + CLIENTS * PER_CLIENT_BYTES;
  const mib = (bytes: number): number => Math.round(bytes / MIB);
  console.log(`falcon RSS: ${mib(baseline)} MiB at start, peak ${mib(peak)} MiB with ${CLIENTS} stalled readers (bound ${mib(bound)} MiB)`);
  assert.ok(peak < bound, `peak RSS ${mib(peak)} MiB, bound ${mib(bound)} MiB`);

  const results = await Promise.all(clients.map((client) => client.readAll()));
  for (const [i, result] of results.entries()) {
    assert.equal(result.status, 200, keys[i]);
    assert.equal(result.bytes, OBJECT_BYTES, keys[i]);
    assert.equal(result.sha256, createHash('sha256').update(objectBody(base, i)).digest('hex'), keys[i]);
  }
});
