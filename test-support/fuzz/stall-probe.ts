import type { FuzzCase } from './fuzz-case.js';
import type { FuzzedNode } from './fuzzed-node.js';
import { sendRaw } from './raw-client.js';

const PROBE_EVERY_MS = 250;
const STALL_MS = 2000;

/** Asks a node for /healthz over and over, and reports each answer that took longer than STALL_MS. */
export function probeForStalls(node: FuzzedNode, inFlight: () => FuzzCase[], onStall: (ms: number, suspects: FuzzCase[]) => void): { stop(): void } {
  let stopped = false;
  const bytes = Buffer.from(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${node.port}\r\n\r\n`, 'latin1');
  void (async () => {
    while (!stopped) {
      await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS));
      if (!node.up) continue;
      const crashes = node.crashes.length;
      const suspects = inFlight();
      const outcome = await sendRaw(bytes, {
        port: node.port,
        delivery: { kind: 'whole' },
        framing: { kind: 'complete', method: 'GET', leftover: 0 },
        answerTimeoutMs: 30_000,
        incompleteGraceMs: 0,
        giveUp: 'reset',
      });
      const ms = outcome.endedAt - outcome.startedAt;
      if (ms > STALL_MS && node.crashes.length === crashes && !stopped) onStall(ms, suspects);
    }
  })();
  return {
    stop: () => {
      stopped = true;
    },
  };
}
