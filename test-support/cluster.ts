import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { objectKey } from '../src/cache/object-cache.js';
import { RendezvousRing } from '../src/cache/ring.js';
import { type RunningGateway, startGateway } from '../src/server.js';
import { LOCAL_UPSTREAM_CREDENTIALS, startLocalUpstream } from '../src/upstream/local-upstream.js';
import { CountingFront } from './counting-front.js';
import { CLIENT_AUTH_FLAGS, testConfig } from './harness.js';

export const CLUSTER_SECRET = 'test-cluster-secret-0123456789';

export interface TestCluster {
  nodes: Array<RunningGateway | undefined>;
  urls: string[];
  front: CountingFront;
  upstreamEndpoint: URL;
  /** Index of the node that owns bucket/key while all nodes are up. */
  ownerIndex(bucket: string, key: string): number;
  /** Stops one node, as if its process died. */
  kill(index: number): Promise<void>;
  close(): Promise<void>;
}

export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, async () => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return server;
    }),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/**
 * Cluster members named before the nodes listen: each node replaces them with the real addresses
 * (learnt after listening on port 0) before any request arrives.
 */
const PLACEHOLDER_PEERS = 'http://placeholder-a:1,http://placeholder-b:1';

/** N Falcon nodes on loopback ports (port 0) sharing one real upstream behind a counting front. */
export async function startCluster(size: number, flags: string[] = []): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-cluster-'));
  const upstream = await startLocalUpstream(dir, ['test']);
  const front = await new CountingFront(upstream.endpoint).start();
  const nodes: Array<RunningGateway | undefined> = await Promise.all(
    Array.from({ length: size }, () =>
      startGateway(
        testConfig([
          '--host', '127.0.0.1',
          '--port', '0',
          '--peers', PLACEHOLDER_PEERS,
          '--cluster-secret', CLUSTER_SECRET,
          '--s3-endpoint', front.url,
          '--s3-force-path-style',
          '--s3-checksum-trailers', 'false',
          '--timeout', '3000',
          '--peer-timeout', '1500',
          ...CLIENT_AUTH_FLAGS,
          ...flags,
        ]),
        pino({ level: 'silent' }),
        { credentials: async () => LOCAL_UPSTREAM_CREDENTIALS },
      ),
    ),
  );
  const urls = nodes.map((node) => (node as RunningGateway).url);
  for (const node of nodes) node?.node.setPeers(urls);
  const ring = new RendezvousRing(urls);
  return {
    nodes,
    urls,
    front,
    upstreamEndpoint: upstream.endpoint,
    ownerIndex: (bucket, key) => urls.indexOf(ring.owner(objectKey(bucket, key)) ?? ''),
    async kill(index) {
      await nodes[index]?.close();
      nodes[index] = undefined;
    },
    async close() {
      await Promise.all(nodes.map((n) => n?.close()));
      await front.close();
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
