import { spawnFalcon } from './falcon-build.js';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { objectKey } from '../src/cache/object-cache.js';
import { RendezvousRing } from '../src/cluster/ring.js';
import type { ServerProcess } from './child-server.js';
import { type BenchServer, withTargets } from './presign.js';
import type { ServedObject } from './shared.js';

export const CLUSTER_SIZE = 3;

/** Falcon nodes in child processes on loopback, each given the full --peers list. */
export interface BenchCluster {
  name: string;
  /** Each with its own presigned request targets: the signature covers the node's Host. */
  nodes: readonly BenchServer[];
  /** Every node's process, for the cluster's total CPU. */
  pids: readonly number[];
  /** Index into `nodes` of the node owning bucket/key while all nodes are up. */
  ownerIndex(bucket: string, key: string): number;
  stop(): Promise<void>;
}

function listenOnLoopback(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/**
 * Ports that were free a moment ago: every node must know all the others' URLs before any of them starts.
 * All are held open together, so the kernel hands out distinct ones.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, listenOnLoopback));
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('loopback listener has no port');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function spawnNodes(
  name: string,
  args: readonly (readonly string[])[],
  nodeFlags: (index: number) => readonly string[],
): Promise<ServerProcess[]> {
  const started = await Promise.allSettled(
    args.map((nodeArgs, index) => spawnFalcon(`${name} node ${index}`, nodeArgs, nodeFlags(index))),
  );
  const nodes = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw failed.reason;
  }
  return nodes;
}

/**
 * Starts CLUSTER_SIZE nodes reading from `upstream`, with a random cluster secret and any `extraFlags`, and
 * presigns `urlsPerObject` GETs of each of `objects` for each node. `nodeFlags` go to node itself, per node
 * (e.g. --cpu-prof with a directory of its own).
 */
export async function startCluster(
  name: string,
  upstream: URL,
  objects: readonly ServedObject[],
  urlsPerObject: number,
  extraFlags: readonly string[],
  nodeFlags: (index: number) => readonly string[] = () => [],
): Promise<BenchCluster> {
  const ports = await freePorts(CLUSTER_SIZE);
  const urls = ports.map((port) => `http://127.0.0.1:${port}`);
  const secret = randomBytes(24).toString('hex');
  const shared = ['--peers', urls.join(','), '--cluster-secret', secret, ...extraFlags];
  const processes = await spawnNodes(
    name,
    ports.map((port) => [upstream.origin, '--port', String(port), ...shared]),
    nodeFlags,
  );
  const stop = async (): Promise<void> => {
    await Promise.all(processes.map((node) => node.stop()));
  };
  let nodes: BenchServer[];
  try {
    const misplaced = processes.filter((node, index) => node.url !== urls[index]);
    if (misplaced.length > 0) {
      throw new Error(`${name}: nodes listen on ${processes.map((n) => n.url).join(', ')}, expected ${urls.join(', ')}`);
    }
    nodes = await Promise.all(processes.map((node) => withTargets(node, objects, urlsPerObject)));
  } catch (err) {
    await stop();
    throw err;
  }
  const ring = new RendezvousRing(urls);
  return {
    name,
    nodes,
    pids: nodes.map((node) => node.pid),
    ownerIndex: (bucket, key) => urls.indexOf(ring.owner(objectKey(bucket, key)) ?? ''),
    stop,
  };
}

interface NodeStatus {
  members: string[];
  down: string[];
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function parseStatus(value: unknown): NodeStatus | undefined {
  if (typeof value !== 'object' || value === null || !('cluster' in value)) return undefined;
  const cluster: unknown = value.cluster;
  if (typeof cluster !== 'object' || cluster === null || !('members' in cluster) || !('down' in cluster)) return undefined;
  const { members, down } = cluster;
  return isStringArray(members) && isStringArray(down) ? { members, down } : undefined;
}

async function nodeProblems(node: ServerProcess, expected: readonly string[]): Promise<string[]> {
  const response = await fetch(`${node.url}/_falcon/status`);
  const status = parseStatus(await response.json());
  if (response.status !== 200 || status === undefined) return [`${node.name}: /_falcon/status answered ${response.status} without cluster members`];
  const problems: string[] = [];
  const members = [...status.members].sort();
  if (members.join(',') !== expected.join(',')) problems.push(`${node.name}: members are ${members.join(', ')}`);
  if (status.down.length > 0) problems.push(`${node.name}: peers marked down: ${status.down.join(', ')}`);
  return problems;
}

/** Every node must see all CLUSTER_SIZE members and none of them marked down. */
export async function clusterProblems(cluster: BenchCluster): Promise<string[]> {
  const expected = cluster.nodes.map((node) => node.url).sort();
  const each = await Promise.all(cluster.nodes.map((node) => nodeProblems(node, expected)));
  return each.flat();
}
