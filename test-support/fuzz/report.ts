import type { CampaignResult } from './campaign.js';
import type { CaseReport, Finding } from './findings.js';

const MAX_REQUEST_CHARS = 600;

function histogram(record: Record<string, number>): string {
  const entries = Object.entries(record).sort(([a], [b]) => a.localeCompare(b, 'en', { numeric: true }));
  return entries.length === 0 ? '(none)' : entries.map(([k, v]) => `${k}×${v}`).join(' ');
}

function shortRequest(report: CaseReport): string {
  return report.request.length > MAX_REQUEST_CHARS ? `${report.request.slice(0, MAX_REQUEST_CHARS)}…` : report.request;
}

function describe(label: string, report: CaseReport): string[] {
  return [
    `      ${label} #${report.index} ${report.seed} → ${report.node} (${report.auth}, ${report.delivery}): ${report.mutations.join(', ')}`,
    `        outcome: ${report.outcome}`,
    `        request: ${shortRequest(report)}`,
  ];
}

function topLines(trace: string | undefined, lines: number): string[] {
  if (trace === undefined) return [];
  return trace
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(0, lines)
    .map((l) => `        | ${l.slice(0, 200)}`);
}

function findingLines(finding: Finding): string[] {
  const out = [`  [${finding.kind}] ×${finding.count} ${finding.signature}`];
  if (finding.reproducedBy) out.push(...describe('reproduced alone by', finding.reproducedBy));
  else if (finding.example) out.push(...describe('e.g.', finding.example));
  for (const suspect of finding.suspects ?? []) out.push(...describe('suspect', suspect));
  if (finding.kind !== 'error-log' || finding.count === 1) out.push(...topLines(finding.trace, finding.kind === 'error-log' ? 4 : 8));
  return out;
}

/** A compact summary of a run: what was sent, what came back, and every distinct finding. */
export function formatSummary(result: CampaignResult): string {
  const lines = [
    `fuzz: seed=${result.seed} cases=${result.cases} in ${(result.durationMs / 1000).toFixed(1)} s${result.stoppedEarly ? ' (stopped early: too many crashes)' : ''}; per node: ${histogram(result.byNode)}`,
    `  outcomes: ${histogram(result.outcomes)}`,
    `  upstream 5xx relayed: ${histogram(result.relayedUpstream5xx)}`,
    `  upstream transport failures: ${histogram(result.upstreamFailures)}`,
    `  node 5xx excused: ${histogram(result.excused)}`,
    `  restarts after crashes: ${histogram(result.restarts)}`,
    `  findings: ${result.findings.length === 0 ? 'none' : ''}`,
  ];
  for (const finding of result.findings) lines.push(...findingLines(finding));
  return lines.join('\n');
}
