import type { CampaignOptions } from './campaign.js';
import { crashSignature, describeCase, describeOutcome, type Findings } from './findings.js';
import type { FuzzCase } from './fuzz-case.js';
import type { FuzzedNode, NodeCrash } from './fuzzed-node.js';
import { sendCase } from './raw-client.js';

const MAX_REPLAYS_PER_CRASH = 16;

/**
 * Replays, one at a time, the requests that were in flight (or had just been answered) when a
 * node died, to find the one that kills it. Each is built again from its index: the same
 * mutations, with fresh signatures (a peer request is accepted once).
 */
export async function replayCrashes(
  crashes: Array<{ node: FuzzedNode; crash: NodeCrash; suspects: FuzzCase[] }>,
  findings: Findings,
  options: CampaignOptions,
  rebuild: (c: FuzzCase) => FuzzCase,
): Promise<void> {
  const reproduced = new Set<string>();
  const attempts = new Map<string, number>();
  for (const { node, crash, suspects } of crashes) {
    await node.whenReady();
    const signature = `${node.name}: ${crashSignature(crash.stderrTail)}`;
    const finding = findings.add('crash', signature, () => ({ trace: crash.stderrTail.slice(-4000) }));
    if (reproduced.has(signature) || (attempts.get(signature) ?? 0) >= 1) continue;
    attempts.set(signature, (attempts.get(signature) ?? 0) + 1);
    for (const suspect of suspects.slice(0, MAX_REPLAYS_PER_CRASH)) {
      await node.whenReady();
      const c = rebuild(suspect);
      const before = node.crashes.length;
      const outcome = await sendCase(c, { answerTimeoutMs: options.answerTimeoutMs, incompleteGraceMs: options.incompleteGraceMs });
      await new Promise((resolve) => setTimeout(resolve, 300));
      if (node.crashes.length > before) {
        const again = node.crashes[node.crashes.length - 1] as NodeCrash;
        await node.whenReady();
        finding.reproducedBy = describeCase(c, `${describeOutcome(outcome)}; the node died again: ${crashSignature(again.stderrTail)}`);
        reproduced.add(signature);
        break;
      }
    }
    if (!reproduced.has(signature)) finding.suspects = suspects.slice(0, 5).map((c) => describeCase(c, 'in flight or just answered when the node died'));
  }
  // Crashes during the replays are part of the findings but not of the campaign's count.
  for (const { node } of crashes) await node.whenReady();
}
