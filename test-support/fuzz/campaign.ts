import { replayCrashes } from './crash-replay.js';
import { explainOrReport } from './explain.js';
import { count, crashSignature, describeCase, describeOutcome, errorCodeOf, type Finding, Findings, relayedFromUpstream, type Sent, topSourceFrame } from './findings.js';
import { buildCase, type CaseFactoryOptions, type FuzzCase } from './fuzz-case.js';
import type { FuzzedNode, NodeCrash } from './fuzzed-node.js';
import type { ParsedResponse } from './http-framing.js';
import type { MarkingFront } from './marking-front.js';
import { type SendOutcome, sendCase } from './raw-client.js';
import type { ReferenceParser } from './reference-parser.js';
import { probeForStalls } from './stall-probe.js';
import type { UpstreamProcess } from './upstream-process.js';

export interface CampaignOptions extends Omit<CaseFactoryOptions, 'signedNode' | 'anonymousNode'> {
  count: number;
  concurrency: number;
  /** How long a whole request may go unanswered before it is a hang. */
  answerTimeoutMs: number;
  /** How long to wait for an early answer to an incomplete request. */
  incompleteGraceMs: number;
  /** Stop sending new cases after this many crashes: the node is not fit to fuzz further. */
  maxCrashes: number;
  /** Called with every case and what came of it (for a trace of a local run). */
  onCase?: (c: FuzzCase, outcome: SendOutcome) => void;
}

export interface CampaignTargets {
  signedNode: FuzzedNode;
  anonymousNode: FuzzedNode;
  front: MarkingFront;
  upstream: UpstreamProcess;
  reference: ReferenceParser;
}

export interface CampaignResult {
  seed: number;
  cases: number;
  durationMs: number;
  stoppedEarly: boolean;
  byNode: Record<string, number>;
  /** Status codes, and what happened when there was none. */
  outcomes: Record<string, number>;
  /** 5xx answers relayed from the upstream (marked), by status. */
  relayedUpstream5xx: Record<string, number>;
  /** Requests the upstream failed at the transport level (down, reset, stalled), by reason. */
  upstreamFailures: Record<string, number>;
  /** Node 5xx that followed from the upstream (or the other node) being down, by reason. */
  excused: Record<string, number>;
  findings: Finding[];
  /** Crashes and restarts per node. */
  restarts: Record<string, number>;
}


const RECENT_PER_NODE = 300;
const SUSPECT_WINDOW_MS = 1500;
const JUST_BEFORE_MS = 300;

/**
 * Sends `count` mutated requests to the two nodes with bounded concurrency and sorts out what
 * came back: crashes, hangs, 5xx the node produced itself (as opposed to ones relayed from the
 * upstream, or caused by the upstream dying), and what the processes printed.
 */
export async function runCampaign(options: CampaignOptions, targets: CampaignTargets): Promise<CampaignResult> {
  const { signedNode, anonymousNode, front, upstream, reference } = targets;
  const nodes = [signedNode, anonymousNode];
  const nodeOf = (name: string): FuzzedNode => (name === signedNode.name ? signedNode : anonymousNode);
  const factory: CaseFactoryOptions = {
    ...options,
    signedNode: { name: signedNode.name, port: signedNode.port },
    anonymousNode: { name: anonymousNode.name, port: anonymousNode.port },
  };
  const startedAt = Date.now();
  const outcomes: Record<string, number> = {};
  const relayedUpstream5xx: Record<string, number> = {};
  const excused: Record<string, number> = {};
  const byNode: Record<string, number> = {};
  const findings = new Findings();
  const inFlight = new Map<string, Set<FuzzCase>>(nodes.map((n) => [n.name, new Set()]));
  const recent = new Map<string, Array<{ c: FuzzCase; endedAt: number }>>(nodes.map((n) => [n.name, []]));
  const crashSuspects: Array<{ node: FuzzedNode; crash: NodeCrash; suspects: FuzzCase[] }> = [];
  const falcon5xx: Array<Sent & { response: ParsedResponse }> = [];
  const hangCandidates: Sent[] = [];
  let stopped = false;

  for (const node of nodes) {
    node.onCrash = (crash) => {
      // The likeliest first: what the client had just closed, then what was in flight, then the rest.
      const finished = (recent.get(node.name) ?? []).filter((r) => r.endedAt >= crash.at - SUSPECT_WINDOW_MS).reverse();
      const suspects = [
        ...finished.filter((r) => r.endedAt >= crash.at - JUST_BEFORE_MS).map((r) => r.c),
        ...(inFlight.get(node.name) ?? []),
        ...finished.filter((r) => r.endedAt < crash.at - JUST_BEFORE_MS).map((r) => r.c),
      ];
      crashSuspects.push({ node, crash, suspects });
      const total = nodes.reduce((sum, n) => sum + n.crashes.length, 0);
      if (total >= options.maxCrashes) stopped = true;
    };
  }

  const classify = (c: FuzzCase, outcome: SendOutcome): void => {
    // Timeouts are counted once settled: a hang, or a request that was not whole after all.
    if (outcome.responses.length === 0 && outcome.end !== 'timeout') count(outcomes, outcome.end === 'client-gave-up' ? 'gave-up (incomplete request)' : outcome.end);
    for (const response of outcome.responses) {
      count(outcomes, String(response.status));
      if (response.status < 500) continue;
      if (relayedFromUpstream(response)) count(relayedUpstream5xx, `${response.status} ${errorCodeOf(response)}`);
      else falcon5xx.push({ c, outcome, response });
    }
    if (outcome.partial !== undefined && outcome.end !== 'client-closed') {
      const cut = outcome.partial;
      count(outcomes, `${cut.status} cut off`);
      if (!upstream.downDuring(outcome.startedAt, outcome.endedAt) && !front.failedDuring(outcome.startedAt, outcome.endedAt)) {
        const ownerDied = otherNodeCrashed(nodes, { c, outcome }) ? ' while the other node died' : '';
        findings.add('cut-off-response', `${cut.status} ${c.seed.name}${ownerDied}`, () => ({ example: describeCase(c, describeOutcome(outcome)) }));
      }
    }
    if (outcome.end === 'timeout') hangCandidates.push({ c, outcome });
  };

  const runOne = async (index: number): Promise<void> => {
    const c = buildCase(index, factory);
    const node = nodeOf(c.target.name);
    await node.whenReady();
    const flying = inFlight.get(node.name) as Set<FuzzCase>;
    flying.add(c);
    const outcome = await sendCase(c, { answerTimeoutMs: options.answerTimeoutMs, incompleteGraceMs: options.incompleteGraceMs });
    flying.delete(c);
    const list = recent.get(node.name) as Array<{ c: FuzzCase; endedAt: number }>;
    list.push({ c, endedAt: outcome.endedAt });
    if (list.length > RECENT_PER_NODE) list.shift();
    count(byNode, node.name);
    classify(c, outcome);
    options.onCase?.(c, outcome);
  };

  // A node whose /healthz is slow to answer was stalled (its event loop blocked) by what it was doing.
  const probing = nodes.map((node) =>
    probeForStalls(node, () => [...(inFlight.get(node.name) ?? [])], (stalledMs, suspects) => {
      const worst = suspects[0];
      findings.add('stall', `${node.name} stopped answering for ${Math.round(stalledMs / 1000)} s or more`, () => ({
        example: worst && describeCase(worst, 'in flight when the node stopped answering'),
        suspects: suspects.slice(1, 6).map((c) => describeCase(c, 'in flight when the node stopped answering')),
      }));
    }),
  );
  let next = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (next < options.count && !stopped) await runOne(next++);
    }),
  );
  const cases = next;
  for (const p of probing) p.stop();
  // A crash can come after the answer (an error emitted by a body destroyed after the fact).
  await new Promise((resolve) => setTimeout(resolve, 500));
  const durationMs = Date.now() - startedAt;

  for (const { c, outcome } of hangCandidates) {
    if (await reference.isWholeRequest(c.bytes)) {
      count(outcomes, 'hang');
      findings.add('hang', `${c.seed.name} ${c.target.name}`, () => ({ example: describeCase(c, describeOutcome(outcome)) }));
    } else count(outcomes, 'gave-up (incomplete request)');
  }

  for (const sent of falcon5xx) explainOrReport(sent, { nodes: { nodeOf }, front, upstream, otherCrashed: otherNodeCrashed(nodes, sent), excused, findings });

  for (const node of nodes) node.onCrash = undefined;
  await replayCrashes([...crashSuspects], findings, options, (c) => buildCase(c.index, factory));

  for (const death of upstream.deaths) {
    findings.add('upstream-death', crashSignature(death.output), () => ({ trace: death.output.slice(-4000) }));
  }
  for (const node of nodes) {
    for (const log of node.errorLogs) {
      findings.add('error-log', `${node.name}: ${log.msg}: ${log.errType ?? ''} ${(log.errMessage ?? '').slice(0, 120)} ${topSourceFrame(log.stack)}`, () => ({ trace: log.stack }));
    }
    // What a dying node printed belongs to its crash; the rest is reported on its own.
    const strays = node.strayLines.filter((line) => !node.crashes.some((k) => k.stderrTail.includes(line)));
    for (const line of strays) findings.add('stray-output', `${node.name}: ${line.slice(0, 200)}`, () => ({}));
  }

  return {
    seed: options.runSeed,
    cases,
    durationMs,
    stoppedEarly: stopped,
    byNode,
    outcomes,
    relayedUpstream5xx,
    upstreamFailures: front.failures.reduce<Record<string, number>>((all, f) => {
      count(all, f.reason.startsWith('upstream down') || f.reason.includes('ECONNREFUSED') ? 'while down' : f.reason);
      return all;
    }, {}),
    excused,
    findings: findings.list(),
    restarts: Object.fromEntries(nodes.map((n) => [n.name, n.crashes.length])),
  };
}

export function otherNodeCrashed(nodes: FuzzedNode[], sent: Sent): boolean {
  return nodes.some(
    (n) => n.name !== sent.c.target.name && n.crashes.some((k) => k.at <= sent.outcome.endedAt && (k.restartedAt ?? Number.POSITIVE_INFINITY) >= sent.outcome.startedAt),
  );
}

