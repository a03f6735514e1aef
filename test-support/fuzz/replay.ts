/**
 * Sends chosen cases of a fuzz run, one at a time, to a fresh pair of nodes and prints each
 * request, what came back, what the nodes logged and what the upstream answered them: the way to
 * look at a finding by hand.
 *   FUZZ_SEED=<seed> node --import tsx test-support/fuzz/replay.ts <case index>...
 */
import { buildCase } from './fuzz-case.js';
import { startFuzzTargets } from './fuzz-targets.js';
import { sendCase } from './raw-client.js';
import { seeds } from './seeds.js';

const runSeed = Number(process.env.FUZZ_SEED ?? 20_261_124);
const indexes = process.argv.slice(2).map(Number);
const targets = await startFuzzTargets();
const logged: string[] = [];
for (const node of [targets.signedNode, targets.anonymousNode]) node.onLine = (line) => logged.push(`${node.name}: ${line}`);
const all = seeds().filter((s) => process.env.FUZZ_SEEDS === undefined || new RegExp(process.env.FUZZ_SEEDS).test(s.name));
try {
  for (const index of indexes) {
    const c = buildCase(index, {
      runSeed,
      seeds: all,
      fixtures: targets.fixtures,
      signedNode: { name: targets.signedNode.name, port: targets.signedNode.port },
      anonymousNode: { name: targets.anonymousNode.name, port: targets.anonymousNode.port },
    });
    logged.length = 0;
    const relayedBefore = targets.front.relayed.length;
    const outcome = await sendCase(c, { answerTimeoutMs: 10_000, incompleteGraceMs: 150 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    console.log(`\n#${index} ${c.seed.name} → ${c.target.name} (${c.auth}) ${c.mutations.join(', ')} [${c.delivery.kind}, ${c.framing.kind}]`);
    console.log(`request: ${JSON.stringify(c.bytes.toString('latin1').slice(0, 4000))}`);
    console.log(`ended: ${outcome.end} after ${outcome.endedAt - outcome.startedAt} ms`);
    for (const r of outcome.responses) {
      console.log(`response ${r.status} ${JSON.stringify(Object.fromEntries(r.headers))}\n  ${JSON.stringify(r.body.subarray(0, 1500).toString('utf8'))}`);
    }
    if (outcome.partial) console.log(`cut off: ${outcome.partial.status} ${JSON.stringify(Object.fromEntries(outcome.partial.headers))}`);
    for (const r of targets.front.relayed.slice(relayedBefore)) console.log(`upstream: ${r.method} ${r.path} → ${r.status}`);
    for (const line of logged) console.log(`log ${line.slice(0, 3000)}`);
    console.log(`crashes so far: signed ${targets.signedNode.crashes.length}, anonymous ${targets.anonymousNode.crashes.length}, upstream ${targets.upstream.deaths.length}`);
  }
} finally {
  await targets.close();
}
