import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Agent, type Dispatcher } from 'undici';
import { announceReady } from './shared.js';

/**
 * The least a node that answers from another one's memory can do: node:http in front, each request sent on to
 * `origin` over an undici keep-alive pool, the answer read whole and sent on with its headers. No signature
 * checked, no MAC, nothing cached: the floor under a read through an owner, measured beside it. With `--stream`
 * the answer's body is sent on as it arrives: the floor under a miss, a second hop in front of the upstream.
 */

const [origin, mode] = process.argv.slice(2);
if (origin === undefined || (mode !== undefined && mode !== '--stream')) throw new Error('usage: bare-proxy.ts <origin> [--stream]');

const agent = new Agent({ keepAliveTimeout: 30_000, connections: 64 });
const RELAYED = ['content-type', 'etag', 'content-length'] as const;

function relayedHeaders(answer: Dispatcher.ResponseData): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of RELAYED) {
    const value = answer.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  return headers;
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const answer = await agent.request({ origin, path: req.url ?? '/', method: 'GET' });
    if (mode === '--stream') {
      res.writeHead(answer.statusCode, relayedHeaders(answer));
      // A failure midway cuts the response: the client sees fewer bytes than the Content-Length.
      pipeline(answer.body, res).catch(() => res.destroy());
      return;
    }
    const body = Buffer.from(await answer.body.arrayBuffer());
    res.writeHead(answer.statusCode, relayedHeaders(answer));
    res.end(body);
  } catch {
    if (res.headersSent) res.destroy();
    else res.writeHead(502).end();
  }
}

const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000 }, (req, res) => void handle(req, res));
server.listen(0, '127.0.0.1', () => announceReady((server.address() as AddressInfo).port));
process.once('SIGTERM', () => process.exit(0));
