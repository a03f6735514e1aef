import { type RequestFraming, requestFraming } from './http-framing.js';
import { mutateBytes, mutateStructure } from './mutators.js';
import { Rng } from './prng.js';
import type { Delivery } from './raw-client.js';
import { serialize } from './raw-request.js';
import { authenticate, type Credentials, type FuzzFixtures, type Seed, type SeedFamily } from './seeds.js';
import { refreshIntegrityHeaders, stripSignature } from './signing.js';

/**
 * How a mutated request is authenticated: signed again after mutating, left with the signature made
 * before mutating, unsigned (sent to the node that takes anonymous requests), with the legacy bearer
 * token, or not at all (internal routes).
 */
export type AuthMode = 'resigned' | 'stale' | 'unsigned' | 'bearer' | 'none';

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

const AUTH_MODES: Record<SeedFamily, ReadonlyArray<readonly [number, AuthMode]>> = {
  s3: [
    [55, 'resigned'],
    [15, 'stale'],
    [30, 'unsigned'],
  ],
  legacy: [
    [30, 'bearer'],
    [30, 'resigned'],
    [10, 'stale'],
    [30, 'unsigned'],
  ],
  peer: [
    [65, 'resigned'],
    [35, 'stale'],
  ],
  internal: [[1, 'none']],
};

/** Builds case `index` of a run: which seed, which mutations and how it is sent follow from the run's seed alone. */
export function buildCase(index: number, options: CaseFactoryOptions): FuzzCase {
  const rng = Rng.forCase(options.runSeed, index);
  const seed = rng.weighted(options.seeds.map((s) => [s.weight, s] as const));
  const auth: AuthMode = rng.weighted(AUTH_MODES[seed.family]);
  const target = auth === 'unsigned' ? options.anonymousNode : auth === 'bearer' || rng.chance(0.6) ? options.signedNode : options.anonymousNode;
  const now = new Date();
  const req = seed.build(options.fixtures, `127.0.0.1:${target.port}`, rng);
  const credentials: Credentials = seed.family === 'peer' ? 'peer-mac' : 'sigv4';
  if (auth === 'stale') authenticate(req, credentials, options.fixtures, now);
  if (auth === 'bearer') authenticate(req, 'bearer', options.fixtures, now);
  const mutations: string[] = [];
  const structural = rng.chance(0.85);
  if (structural) mutations.push(...mutateStructure(req, seed, rng));
  if (auth === 'resigned') {
    if (credentials === 'sigv4' && rng.chance(0.7)) refreshIntegrityHeaders(req);
    authenticate(req, credentials, options.fixtures, now);
  }
  if (auth === 'unsigned') stripSignature(req);
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
