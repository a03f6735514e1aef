import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Logger, pino } from 'pino';
import { objectKey } from '../src/cache/object-cache.js';
import { RendezvousRing } from '../src/cluster/ring.js';
import { type RunningGateway, startGateway } from '../src/server.js';
import { LOCAL_UPSTREAM_CREDENTIALS, startLocalUpstream } from '../src/upstream/local-upstream.js';
import { CountingFront } from './counting-front.js';
import { CLIENT_AUTH_FLAGS, testConfig } from './harness.js';

export const CLUSTER_SECRET = 'test-cluster-secret-0123456789';

export interface ClusterOptions {
  /** More --peers entries that are no node of this cluster (a dead or black-holed peer). */
  extraPeers?: string[];
  /**
   * Something in front of a node's peer traffic (a proxy a test can cut, a TLS sidecar), by node
   * index: the others reach the node at the front's URL, which it knows from --advertise-url.
   */
  fronts?: Record<number, (nodePort: number) => Promise<PeerFront>>;
  /** Every node's logger; silent by default. */
  logger?: Logger;
}

export interface PeerFront {
  url: string;
  close(): Promise<void>;
}

export interface TestCluster {
  nodes: Array<RunningGateway | undefined>;
  /** The URL clients use for each node. */
  urls: string[];
  /** The URL peers use for each node: its own, or its front's. */
  peerUrls: string[];
  front: CountingFront;
  upstreamEndpoint: URL;
  /** Index of the node that owns bucket/key while all nodes are up (-1 for an extra peer). */
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
export async function startCluster(size: number, flags: string[] = [], options: ClusterOptions = {}): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'falcon-cluster-'));
  const upstream = await startLocalUpstream(dir, ['test']);
  const front = await new CountingFront(upstream.endpoint).start();
  const started = await Promise.allSettled(
    Array.from({ length: size }, async () =>
      startGateway(
        testConfig([
          '--host', '127.0.0.1',
          '--port', '0',
          '--peers', PLACEHOLDER_PEERS,
          '--cluster-secret', CLUSTER_SECRET,
          '--s3-endpoint', front.url,
          '--s3-force-path-style',
          '--s3-checksum-trailers', 'false',
          // Generous: on a loaded machine a short timeout would make a slow peer look dead.
          '--timeout', '10000',
          '--peer-timeout', '10000',
          ...CLIENT_AUTH_FLAGS,
          ...flags,
        ]),
        options.logger ?? pino({ level: 'silent' }),
        { credentials: async () => LOCAL_UPSTREAM_CREDENTIALS },
      ),
    ),
  );
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    // Nothing may be left listening, or the test process never ends.
    await Promise.all(started.map((result) => (result.status === 'fulfilled' ? result.value.close() : undefined)));
    await front.close();
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
    throw failed.reason;
  }
  const nodes: Array<RunningGateway | undefined> = started.map((result) => (result as PromiseFulfilledResult<RunningGateway>).value);
  const urls = nodes.map((node) => (node as RunningGateway).url);
  const fronts = new Map<number, PeerFront>();
  for (const [index, start] of Object.entries(options.fronts ?? {})) {
    fronts.set(Number(index), await start((nodes[Number(index)] as RunningGateway).port));
  }
  const peerUrls = urls.map((url, i) => fronts.get(i)?.url ?? url);
  const members = [...peerUrls, ...(options.extraPeers ?? [])];
  // A node behind a front is known to the others by the front's URL.
  for (const [i, node] of nodes.entries()) node?.node.setPeers(members, peerUrls[i]);
  const ring = new RendezvousRing(members);
  return {
    nodes,
    urls,
    peerUrls,
    front,
    upstreamEndpoint: upstream.endpoint,
    ownerIndex: (bucket, key) => peerUrls.indexOf(ring.owner(objectKey(bucket, key)) ?? ''),
    async kill(index) {
      await nodes[index]?.close();
      nodes[index] = undefined;
    },
    async close() {
      await Promise.all(nodes.map((n) => n?.close()));
      await Promise.all([...fronts.values()].map((f) => f.close()));
      await front.close();
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
