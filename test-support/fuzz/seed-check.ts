import { crashSignature } from './findings.js';
import type { FuzzedNode } from './fuzzed-node.js';
import { requestFraming } from './http-framing.js';
import { UPSTREAM_MARKER } from './marking-front.js';
import { Rng } from './prng.js';
import { sendRaw } from './raw-client.js';
import { serialize } from './raw-request.js';
import { authenticate, type Credentials, type FuzzFixtures, type Seed } from './seeds.js';

/** The credentials a recorded request is sent with to a node: the node without --anonymous needs some on every route but the internal ones. */
function credentialsFor(seed: Seed, node: FuzzedNode): Credentials {
  switch (seed.family) {
    case 's3':
      return 'sigv4';
    case 'peer':
      return 'peer-mac';
    case 'legacy':
      return node.name === 'signed' ? 'bearer' : 'none';
    case 'internal':
      return 'none';
  }
}

export interface SeedCheck {
  seed: string;
  node: string;
  /** The status it got, or what happened instead. */
  answer: string;
  ok: boolean;
}

/**
 * Sends every recorded request once unmutated, as recorded (signed, with its MAC or token), to
 * the nodes in turn: each must succeed (or be refused by s3rver for a reason the seed names), or
 * the mutations made of it would test little beyond rejection.
 */
export async function checkSeeds(seeds: readonly Seed[], fixtures: FuzzFixtures, nodes: readonly FuzzedNode[]): Promise<SeedCheck[]> {
  const checks: SeedCheck[] = [];
  for (const [index, seed] of seeds.entries()) {
    const node = nodes[index % nodes.length] as FuzzedNode;
    await node.whenReady();
    const crashes = node.crashes.length;
    const req = seed.build(fixtures, `127.0.0.1:${node.port}`, new Rng(1));
    authenticate(req, credentialsFor(seed, node), fixtures, new Date());
    const bytes = serialize(req);
    const outcome = await sendRaw(bytes, {
      port: node.port,
      delivery: { kind: 'whole' },
      framing: requestFraming(bytes),
      answerTimeoutMs: 10_000,
      incompleteGraceMs: 1000,
      giveUp: 'fin',
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const crash = node.crashes[crashes];
    if (crash !== undefined) {
      await node.whenReady();
      checks.push({ seed: seed.name, node: node.name, answer: `${outcome.end}; the node died: ${crashSignature(crash.stderrTail)}`, ok: false });
      continue;
    }
    const response = outcome.responses[0];
    const status = response?.status;
    const refusedAsExpected = seed.upstreamRefuses !== undefined && response?.headers.get(UPSTREAM_MARKER) === String(status);
    checks.push({
      seed: seed.name,
      node: node.name,
      answer: status === undefined ? outcome.end : String(status),
      ok: status !== undefined && (status < 400 || refusedAsExpected),
    });
  }
  return checks;
}
