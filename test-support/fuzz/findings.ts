import { REPO_ROOT } from '../falcon-process.js';
import type { FuzzCase } from './fuzz-case.js';
import type { ParsedResponse } from './http-framing.js';
import { UPSTREAM_MARKER } from './marking-front.js';
import type { SendOutcome } from './raw-client.js';

export type FindingKind = 'crash' | 'falcon-5xx' | 'hang' | 'stall' | 'cut-off-response' | 'upstream-death' | 'error-log' | 'stray-output';

/** A request as the report shows it. */
export interface CaseReport {
  index: number;
  seed: string;
  node: string;
  auth: string;
  mutations: string[];
  delivery: string;
  /** The raw bytes sent, as a JSON string literal. */
  request: string;
  outcome: string;
}

export interface Finding {
  kind: FindingKind;
  signature: string;
  count: number;
  example?: CaseReport;
  /** Stack trace or output the node (or upstream) printed for it. */
  trace?: string;
  /** For crashes: the request that crashed the node again when replayed alone, if one did. */
  reproducedBy?: CaseReport;
  /** For crashes: requests in flight or just answered when it died, when none reproduced it. */
  suspects?: CaseReport[];
}

/** A case as sent and what came of it. */
export interface Sent {
  c: FuzzCase;
  outcome: SendOutcome;
}

export function describeCase(c: FuzzCase, outcome: string): CaseReport {
  const text = c.bytes.toString('latin1');
  const shown = text.length > 3000 ? `${text.slice(0, 3000)}…(+${text.length - 3000} bytes)` : text;
  const d = c.delivery;
  const delivery = d.kind === 'split' ? `split(${d.pieces})` : d.kind === 'truncate' ? `truncate(${d.bytes},${d.close})` : d.kind === 'abort-after-send' ? `abort(${d.afterMs}ms)` : 'whole';
  return { index: c.index, seed: c.seed.name, node: c.target.name, auth: c.auth, mutations: c.mutations, delivery, request: JSON.stringify(shown), outcome };
}

export function describeOutcome(outcome: SendOutcome): string {
  const statuses = outcome.responses.map((r) => `${r.status}${relayedFromUpstream(r) ? '(upstream)' : ''} ${errorCodeOf(r)}`.trim());
  const partial = outcome.partial ? ` cut off after ${outcome.partial.status} headers` : '';
  return `${outcome.end}${statuses.length > 0 ? `: ${statuses.join(', ')}` : ''}${partial} in ${outcome.endedAt - outcome.startedAt} ms`;
}

/**
 * Whether the upstream gave this status: the front marks what it relays with the upstream's status,
 * and a node that fails after it started from an upstream answer keeps the mark but not the status.
 */
export function relayedFromUpstream(response: ParsedResponse): boolean {
  return response.headers.get(UPSTREAM_MARKER) === String(response.status);
}

/** The S3 error code, legacy JSON error or first words of a response body. */
export function errorCodeOf(response: ParsedResponse): string {
  const text = response.body.subarray(0, 4096).toString('utf8');
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  if (code !== undefined) return code;
  const json = /^\{"error":"([^"]*)"/.exec(text)?.[1];
  if (json !== undefined) return `"${json.replace(/'[^']*'/g, "'…'")}"`;
  return text.slice(0, text.startsWith('{') ? 120 : 40).replace(/\s+/g, ' ');
}

/** The first frame in Falcon's own code, relative to the repository. */
export function topSourceFrame(stack: string | undefined): string {
  if (stack === undefined) return '';
  const frame = stack.split('\n').find((line) => /^\s*at /.test(line) && line.includes('/src/') && !line.includes('node_modules'));
  return (frame ?? stack.split('\n').find((line) => /^\s*at /.test(line)) ?? '').trim().replace(`file://${REPO_ROOT}`, '').replace(REPO_ROOT, '');
}

/** A signature without what differs between runs: temporary paths, long runs of one character. */
function normalized(text: string): string {
  return text.replace(/\/tmp\/[\w.-]+/g, '<tmp>').replace(/(.)\1{15,}/g, '$1$1$1…').slice(0, 200);
}

/** The error line and top frame of what a dead process printed. */
export function crashSignature(output: string): string {
  const lines = output.split('\n');
  const errorLine =
    lines.find((l) => /^[A-Za-z_$][\w$.]*( \[[^\]]+\])?: /.test(l) && !l.startsWith('node:')) ??
    lines.find((l) => l.trim() !== '' && !/^(node:|\s*\^|\s*throw |\s*triggerUncaught)/.test(l)) ??
    '(no output)';
  return normalized(`${normalized(errorLine.trim())} ${topSourceFrame(output)}`.trim());
}

export function count(record: Record<string, number>, key: string, by = 1): void {
  record[key] = (record[key] ?? 0) + by;
}

export class Findings {
  private readonly byKey = new Map<string, Finding>();

  add(kind: FindingKind, signature: string, fill: () => Omit<Finding, 'kind' | 'signature' | 'count'>): Finding {
    const key = `${kind}\u0000${signature}`;
    const known = this.byKey.get(key);
    if (known !== undefined) {
      known.count += 1;
      return known;
    }
    const finding: Finding = { kind, signature, count: 1, ...fill() };
    this.byKey.set(key, finding);
    return finding;
  }

  list(): Finding[] {
    const order: FindingKind[] = ['crash', 'hang', 'falcon-5xx', 'stall', 'cut-off-response', 'upstream-death', 'error-log', 'stray-output'];
    return [...this.byKey.values()].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || b.count - a.count);
  }
}
