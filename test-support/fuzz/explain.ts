import type { FuzzedNode } from './fuzzed-node.js';
import type { FuzzCase } from './fuzz-case.js';
import type { ParsedResponse } from './http-framing.js';
import type { MarkingFront } from './marking-front.js';
import { count, describeCase, describeOutcome, errorCodeOf, type Findings, type Sent, topSourceFrame } from './findings.js';
import type { UpstreamProcess } from './upstream-process.js';

/** How long after an upstream failure /readyz may still say the upstream is unreachable. */
const READINESS_MEMORY_MS = 30_000;

interface ExplainContext {
  nodes: { nodeOf(name: string): FuzzedNode };
  front: MarkingFront;
  upstream: UpstreamProcess;
  otherCrashed: boolean;
  excused: Record<string, number>;
  findings: Findings;
}

/** Sorts a node's own 5xx into those the upstream (or the other node) caused and real failures. */
export function explainOrReport(sent: Sent & { response: ParsedResponse }, context: ExplainContext): void {
  const { c, outcome, response } = sent;
  const { front, upstream, excused, findings } = context;
  const from = outcome.startedAt;
  const to = outcome.endedAt;
  // A failed upload is answered 500 by the legacy route: the upstream's failure, when it had one.
  const gatewayStatus = response.status === 502 || response.status === 503 || response.status === 504 || isLegacyUploadFailure(response);
  if (gatewayStatus && upstream.downDuring(from, to)) {
    count(excused, `${response.status} while the upstream was down`);
    return;
  }
  if (gatewayStatus && front.failedDuring(from, to)) {
    count(excused, `${response.status} while the upstream failed requests`);
    return;
  }
  if (gatewayStatus && context.otherCrashed) {
    count(excused, `${response.status} while the other node was down`);
    return;
  }
  // /readyz learns reachability from real requests and keeps saying no until one succeeds again.
  const notReady = response.status === 503 && response.body.subarray(0, 20).toString('latin1').startsWith('{"ready":false');
  if (notReady && (upstream.downDuring(from - READINESS_MEMORY_MS, to) || front.failedDuring(from - READINESS_MEMORY_MS, to))) {
    count(excused, '503 from /readyz after the upstream failed');
    return;
  }
  const code = errorCodeOf(response);
  const legacy = legacyUpstreamExplanation(c, response, front, from);
  if (legacy.excuse !== undefined) {
    count(excused, legacy.excuse);
    return;
  }
  const node = context.nodes.nodeOf(c.target.name);
  const requestId = response.headers.get('x-amz-request-id');
  const log =
    (requestId === undefined ? undefined : node.errorLogFor(requestId)) ??
    node.errorLogs.find((l) => l.requestId === undefined && l.at >= from && l.at <= to + 200);
  const signature = `${response.status} ${code} ${topSourceFrame(log?.stack)}`.trim();
  findings.add('falcon-5xx', signature, () => ({
    example: describeCase(c, `${describeOutcome(outcome)}; ${legacy.detail ?? front.historyOf(s3PathOf(c), from, to)}`),
    trace: log?.stack ?? (log ? `${log.msg}: ${log.errMessage ?? ''}` : undefined),
  }));
}

/** The decoded path of the request line, which for S3 requests is what the upstream is asked for. */
function s3PathOf(c: FuzzCase): string {
  const target = c.bytes.subarray(0, Math.max(0, c.bytes.indexOf('\r\n'))).toString('latin1').split(' ')[1] ?? '';
  const q = target.indexOf('?');
  const raw = q === -1 ? target : target.slice(0, q);
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function isLegacyUploadFailure(response: ParsedResponse): boolean {
  return response.status === 500 && response.body.subarray(0, 64).toString('latin1').startsWith('{"error":"Failed to upload some blobs"');
}

/**
 * The legacy routes answer upstream refusals with their own statuses (the original's contract):
 * /upload says 500 "Failed to upload some blobs" when the upstream refused a file, /get says 502
 * when the upstream answered 5xx. Those are explained when the front saw the upstream do so.
 */
function legacyUpstreamExplanation(c: FuzzCase, response: ParsedResponse, front: MarkingFront, from: number): { excuse?: string; detail?: string } {
  const target = c.bytes.subarray(0, Math.max(0, c.bytes.indexOf('\r\n'))).toString('latin1').split(' ')[1] ?? '';
  let params: URLSearchParams;
  try {
    params = new URL(target, 'http://x').searchParams;
  } catch {
    return {};
  }
  const bucket = params.get('bucket')?.trim();
  if (bucket === undefined || bucket === '') return {};
  let body: { error?: string; uploadsFailed?: unknown };
  try {
    body = JSON.parse(response.body.toString('utf8')) as typeof body;
  } catch {
    return {};
  }
  if (response.status === 500 && body.error === 'Failed to upload some blobs' && Array.isArray(body.uploadsFailed)) {
    const seen = body.uploadsFailed.map((key) => [String(key), front.statusesSince('PUT', `/${bucket}/${String(key)}`, from)] as const);
    const detail = `the upstream answered ${seen.map(([key, statuses]) => `PUT ${key}: ${statuses.length === 0 ? 'nothing' : statuses.join(',')}`).join('; ')}`;
    return seen.every(([, statuses]) => statuses.some((s) => s >= 300)) ? { excuse: '500 from /upload after the upstream refused a file' } : { detail };
  }
  const key = params.get('key')?.trim();
  if (response.status === 502 && key !== undefined && /^Upstream S3 answered 5\d\d/.test(body.error ?? '')) {
    const statuses = front.statusesSince('GET', `/${bucket}/${key}`, from);
    return statuses.some((s) => s >= 500) ? { excuse: '502 from /get after the upstream answered 5xx' } : { detail: `the upstream answered GET: ${statuses.join(',') || 'nothing'}` };
  }
  return {};
}
