import { pino } from 'pino';
import { FLAGS, parseConfig } from '../src/config.js';
import { startGateway } from '../src/server.js';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../src/upstream/local-upstream.js';
import { announceReady } from './shared.js';

/**
 * One Falcon node, logging off, reading from `upstream-endpoint`. Any further arguments are Falcon flags
 * (e.g. --port, --peers, --cluster-secret, --hot-cache-size). Without --port it picks a free one.
 */
const [upstreamEndpoint, ...extraFlags] = process.argv.slice(2);
if (upstreamEndpoint === undefined) throw new Error('usage: falcon-server.ts <upstream-endpoint> [falcon flags...]');

const portFlags = extraFlags.includes('--port') ? [] : ['--port', '0'];
// Where Falcon authenticates clients, it refuses unsigned requests unless --anonymous; the bench's clients do not sign.
const authFlags = 'anonymous' in FLAGS ? ['--anonymous'] : [];
const parsed = parseConfig(
  ['--host', '127.0.0.1', ...portFlags, ...authFlags, '--s3-endpoint', upstreamEndpoint, '--s3-force-path-style', ...extraFlags],
  {},
);
if (parsed.kind !== 'config') throw new Error(`bad Falcon flags: ${JSON.stringify(parsed)}`);

const gateway = await startGateway(parsed.config, pino({ level: 'silent' }), {
  credentials: async () => LOCAL_UPSTREAM_CREDENTIALS,
});
announceReady(gateway.port);
