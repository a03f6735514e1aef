import { type RequestFraming, requestFraming } from './http-framing.js';
import { mutateBytes, mutateStructure } from './mutators.js';
import { Rng } from './prng.js';
import type { Delivery } from './raw-client.js';
import { serialize } from './raw-request.js';
import type { FuzzFixtures, Seed } from './seeds.js';
import { refreshIntegrityHeaders, signPeer, signSigV4, stripSignature } from './signing.js';

/** How a mutated request is authenticated: signed again after mutating, left with the seed's signature, or unsigned. */
export type AuthMode = 'resigned' | 'stale' | 'unsigned' | 'none';

/** Where a case is sent: the node that requires signatures, or the one that also takes anonymous requests. */
export interface CaseTarget {
  name: string;
  port: number;
}

export interface FuzzCase {
  index: number;
  seed: Seed;
  target: CaseTarget;
  auth: AuthMode;
  mutations: string[];
  bytes: Buffer;
  delivery: Delivery;
  framing: RequestFraming;
  giveUp: 'fin' | 'reset';
}

export interface CaseFactoryOptions {
  runSeed: number;
  seeds: readonly Seed[];
  fixtures: FuzzFixtures;
  signedNode: CaseTarget;
  anonymousNode: CaseTarget;
}

/** Builds case `index` of a run: which seed, which mutations and how it is sent follow from the run's seed alone. */
export function buildCase(index: number, options: CaseFactoryOptions): FuzzCase {
  const rng = Rng.forCase(options.runSeed, index);
  const seed = rng.weighted(options.seeds.map((s) => [s.weight, s] as const));
  const auth: AuthMode =
    seed.family === 's3'
      ? rng.weighted([
          [55, 'resigned'],
          [15, 'stale'],
          [30, 'unsigned'],
        ] as const)
      : seed.family === 'peer'
        ? rng.weighted([
            [65, 'resigned'],
            [35, 'stale'],
          ] as const)
        : 'none';
  const target = auth === 'unsigned' || rng.chance(0.4) ? options.anonymousNode : options.signedNode;
  const now = new Date();
  const req = seed.build(options.fixtures, `127.0.0.1:${target.port}`, now, rng);
  const mutations: string[] = [];
  const structural = rng.chance(0.85);
  if (structural) mutations.push(...mutateStructure(req, seed, rng));
  if (auth === 'resigned' && seed.family === 's3') {
    if (rng.chance(0.7)) refreshIntegrityHeaders(req);
    signSigV4(req, options.fixtures.clientKey, now);
  } else if (auth === 'resigned' && seed.family === 'peer') {
    signPeer(req, options.fixtures.peerAuth);
  } else if (auth === 'unsigned') {
    stripSignature(req);
  }
  let bytes = serialize(req);
  if (!structural || rng.chance(0.15)) {
    const [mutated, label] = mutateBytes(bytes, rng);
    bytes = mutated;
    mutations.push(label);
  }
  const delivery = rng.weighted<Delivery>([
    [80, { kind: 'whole' }],
    [8, { kind: 'split', pieces: rng.int(2, 5), gapMs: rng.int(1, 3) }],
    [7, { kind: 'truncate', bytes: rng.int(0, Math.max(0, bytes.length - 1)), close: rng.chance(0.5) ? 'fin' : 'reset' }],
    [5, { kind: 'abort-after-send', afterMs: rng.int(0, 30) }],
  ]);
  if (delivery.kind === 'truncate') mutations.push(`truncate(${delivery.bytes}/${bytes.length},${delivery.close})`);
  if (delivery.kind === 'abort-after-send') mutations.push(`abort-after-send(${delivery.afterMs}ms)`);
  return {
    index,
    seed,
    target,
    auth,
    mutations,
    bytes,
    delivery,
    framing: requestFraming(bytes),
    giveUp: rng.chance(0.5) ? 'fin' : 'reset',
  };
}
