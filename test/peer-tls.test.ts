import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { request } from 'undici';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../src/upstream/local-upstream.js';
import { uniqueKey } from '../test-support/bytes.js';
import { type ClusterOptions, startCluster, type TestCluster } from '../test-support/cluster.js';
import { sdkClient } from '../test-support/harness.js';
import { TlsSidecar } from '../test-support/tls-sidecar.js';

interface Certificate {
  certFile: string;
  key: string;
  cert: string;
}

/** A self-signed certificate for 127.0.0.1, made with openssl for this test. */
async function selfSigned(t: TestContext): Promise<Certificate> {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-tls-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=falcon-peer', '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
  return { certFile, key: await readFile(keyFile, 'utf8'), cert: await readFile(certFile, 'utf8') };
}

/** Every node behind a TLS sidecar of its own: the nodes reach each other over https:// only. */
async function tlsCluster(t: TestContext, size: number, certificate: Certificate, flags: string[]) {
  const sidecars: TlsSidecar[] = [];
  const fronts: ClusterOptions['fronts'] = {};
  for (let i = 0; i < size; i++) {
    fronts[i] = async (port) => {
      const sidecar = await new TlsSidecar(port, certificate).start();
      sidecars.push(sidecar);
      return sidecar;
    };
  }
  const c = await startCluster(size, flags, { fronts });
  const direct = sdkClient(c.upstreamEndpoint.origin, LOCAL_UPSTREAM_CREDENTIALS);
  t.after(async () => {
    direct.destroy();
    await c.close();
  });
  return {
    c,
    sidecars,
    seed: (key: string, body: string) => direct.send(new PutObjectCommand({ Bucket: 'test', Key: key, Body: body })),
  };
}

async function get(c: TestCluster, node: number, key: string): Promise<string> {
  const res = await request(`${c.urls[node]}/test/${key}`);
  assert.equal(res.statusCode, 200);
  return res.body.text();
}

async function down(c: TestCluster, node: number): Promise<string[]> {
  const res = await request(`${c.urls[node]}/_falcon/status`);
  return ((await res.body.json()) as { cluster: { down: string[] } }).cluster.down;
}

test('nodes behind TLS sidecars read from owners and invalidate each other over https:// with --peer-ca', async (t) => {
  const certificate = await selfSigned(t);
  const { c, sidecars, seed } = await tlsCluster(t, 3, certificate, ['--peer-ca', certificate.certFile]);
  assert.ok(c.peerUrls.every((url) => url.startsWith('https://')));
  const key = uniqueKey('tls');
  await seed(key, 'v1');
  const owner = c.ownerIndex('test', key);
  const [a, b] = [0, 1, 2].filter((i) => i !== owner) as [number, number];
  assert.equal(await get(c, a, key), 'v1');
  assert.equal(await get(c, b, key), 'v1');
  assert.equal(c.front.count('GET', `/test/${key}`), 1, 'both non-owners were served by the owner over TLS');

  for (const [writer, version] of [[a, 'v2'], [b, 'v3']] as const) {
    const put = await request(`${c.urls[writer]}/test/${key}`, { method: 'PUT', body: version });
    assert.equal(put.statusCode, 200);
    await put.body.dump();
    for (const node of [owner, a, b]) assert.equal(await get(c, node, key), version, `node ${node} after the write through ${writer}`);
  }
  for (const node of [0, 1, 2]) assert.deepEqual(await down(c, node), [], `node ${node} has no peer down`);
  assert.ok(sidecars.every((s) => s.connections > 0), 'every node was reached through its sidecar');
});

test('a peer whose certificate is not trusted is never used: without --peer-ca the node reads from the upstream', async (t) => {
  const certificate = await selfSigned(t);
  const { c, seed } = await tlsCluster(t, 2, certificate, []);
  let key = uniqueKey('untrusted');
  while (c.ownerIndex('test', key) !== 1) key = uniqueKey('untrusted');
  await seed(key, 'v1');
  assert.equal(await get(c, 0, key), 'v1');
  assert.deepEqual(await down(c, 0), [c.peerUrls[1]]);
});
