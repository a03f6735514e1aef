import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { type RunningGateway, startGateway } from '../src/server.js';
import { LOCAL_UPSTREAM_CREDENTIALS, startLocalUpstream } from '../src/upstream/local-upstream.js';
import { uniqueKey } from '../test-support/bytes.js';
import { CLUSTER_SECRET, freePorts } from '../test-support/cluster.js';
import { CountingFront } from '../test-support/counting-front.js';
import { TestDnsServer } from '../test-support/dns-server.js';
import { CLIENT_AUTH_FLAGS, sdkClient, testConfig } from '../test-support/harness.js';

const NAME = 'falcon.cluster.test';

async function membersOf(node: RunningGateway): Promise<string[]> {
  const status = (await (await fetch(`${node.url}/_falcon/status`)).json()) as { cluster: { members: string[] } };
  return status.cluster.members;
}

/** Polls until every node reports `count` members; the bound only stops a broken run from hanging. */
async function waitForMembers(nodes: RunningGateway[], count: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const sizes = await Promise.all(nodes.map(async (n) => (await membersOf(n)).length));
    if (sizes.every((s) => s === count)) return;
    await sleep(100);
  }
  assert.fail(`members never reached ${count}`);
}

test('--peers-dns finds nodes from DNS and follows a scale-up without restarts', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-dns-'));
  const upstream = await startLocalUpstream(dir, ['test']);
  const front = await new CountingFront(upstream.endpoint).start();
  const dns = await new TestDnsServer().start();
  const [port] = await freePorts(1);
  const ips = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
  dns.records.set(NAME, ips.slice(0, 2));
  const nodes: RunningGateway[] = [];
  try {
    for (const ip of ips) {
      nodes.push(
        await startGateway(
          testConfig([
            '--host', ip,
            '--port', String(port),
            '--peers-dns', NAME,
            '--peers-dns-server', dns.address,
            '--peers-dns-interval', '1',
            '--cluster-secret', CLUSTER_SECRET,
            '--s3-endpoint', front.url,
            '--s3-force-path-style',
            '--s3-checksum-trailers', 'false',
            ...CLIENT_AUTH_FLAGS,
          ]),
          pino({ level: 'silent' }),
          { credentials: async () => LOCAL_UPSTREAM_CREDENTIALS },
        ),
      );
    }
    // The third node is running but not yet in DNS: it counts itself plus the two it found.
    assert.deepEqual(await membersOf(nodes[0] as RunningGateway), [`http://127.0.0.1:${port}`, `http://127.0.0.2:${port}`]);
    dns.records.set(NAME, ips);
    await waitForMembers(nodes, 3);
    assert.deepEqual(await membersOf(nodes[1] as RunningGateway), ips.map((ip) => `http://${ip}:${port}`));

    const direct = sdkClient(upstream.endpoint.origin, LOCAL_UPSTREAM_CREDENTIALS);
    const keys = Array.from({ length: 20 }, () => uniqueKey('dns'));
    await Promise.all(keys.map((k) => direct.send(new PutObjectCommand({ Bucket: 'test', Key: k, Body: k }))));
    direct.destroy();
    for (const node of nodes) {
      for (const k of keys) assert.equal(await (await fetch(`${node.url}/test/${k}`)).text(), k);
    }
    assert.equal(front.count('GET'), keys.length, 'each object fetched once by the whole cluster');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
    await dns.close();
    await front.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  }
});
