import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { test } from 'node:test';
import { runCampaign } from '../test-support/fuzz/campaign.js';
import { errorCodeOf } from '../test-support/fuzz/findings.js';
import { startFuzzTargets } from '../test-support/fuzz/fuzz-targets.js';
import { formatSummary } from '../test-support/fuzz/report.js';
import { checkSeeds } from '../test-support/fuzz/seed-check.js';
import { seeds } from '../test-support/fuzz/seeds.js';

/**
 * FUZZ_SEED and FUZZ_COUNT change the run (a longer local run: FUZZ_COUNT=200000); FUZZ_SEEDS
 * keeps only the recorded requests whose name matches a pattern; FUZZ_REPORT names a file for
 * the findings in full, as JSON; FUZZ_TRACE a file for one line per case.
 */
const RUN_SEED = Number(process.env.FUZZ_SEED ?? 20_261_124);
const COUNT = Number(process.env.FUZZ_COUNT ?? 20_000);
const CONCURRENCY = Number(process.env.FUZZ_CONCURRENCY ?? 12);
const SEED_FILTER = process.env.FUZZ_SEEDS === undefined ? undefined : new RegExp(process.env.FUZZ_SEEDS);

test('survives mutated S3, legacy and peer requests without a crash, a hang or a 5xx of its own', async (t) => {
  const targets = await startFuzzTargets();
  t.after(() => targets.close());
  const all = seeds().filter((s) => SEED_FILTER === undefined || SEED_FILTER.test(s.name));
  const nodes = [targets.signedNode, targets.anonymousNode];
  const seedChecks = await checkSeeds(all, targets.fixtures, nodes);
  assert.deepEqual(
    seedChecks.filter((c) => !c.ok).map((c) => `${c.seed} → ${c.node}: ${c.answer}`),
    [],
    'every recorded request succeeds unmutated',
  );

  const trace = process.env.FUZZ_TRACE ? createWriteStream(process.env.FUZZ_TRACE) : undefined;
  t.after(() => trace?.end());

  const result = await runCampaign(
    {
      runSeed: RUN_SEED,
      seeds: all,
      fixtures: targets.fixtures,
      count: COUNT,
      concurrency: CONCURRENCY,
      answerTimeoutMs: 10_000,
      incompleteGraceMs: 150,
      maxCrashes: 20,
      onCase: (c, outcome) =>
        trace?.write(
          `${JSON.stringify({ index: c.index, seed: c.seed.name, node: c.target.name, auth: c.auth, mutations: c.mutations, end: outcome.end, statuses: outcome.responses.map((r) => `${r.status} ${errorCodeOf(r)}`), ms: outcome.endedAt - outcome.startedAt })}\n`,
        ),
    },
    targets,
  );
  const summary = formatSummary(result);
  for (const line of summary.split('\n')) t.diagnostic(line);
  if (process.env.FUZZ_REPORT) await writeFile(process.env.FUZZ_REPORT, JSON.stringify(result, null, 2));

  const healthy = await Promise.all(
    nodes.map(async (node) => (await fetch(`${node.url}/healthz`).catch(() => undefined))?.status),
  );
  const failures = result.findings.filter((f) => f.kind === 'crash' || f.kind === 'hang' || f.kind === 'falcon-5xx');
  assert.deepEqual(
    failures.map((f) => `${f.kind} ×${f.count}: ${f.signature}`),
    [],
    'no crash, no hang, no 5xx the node produced itself',
  );
  assert.deepEqual(result.restarts, { signed: 0, anonymous: 0 }, 'no node died');
  assert.ok(targets.signedNode.up && targets.anonymousNode.up, 'both nodes are still running');
  assert.deepEqual(healthy, [200, 200], '/healthz answers 200 on both nodes');
  assert.equal(result.cases, COUNT, 'every case was sent');
});
