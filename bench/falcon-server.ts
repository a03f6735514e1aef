import { pino } from 'pino';
import { parseConfig } from '../src/config.js';
import { startGateway } from '../src/server.js';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../src/upstream/local-upstream.js';
import { announceReady, BENCH_CLIENT_KEY } from './shared.js';

/**
 * One Falcon node, logging off, reading from `upstream-endpoint`. Any further arguments are Falcon flags
 * (e.g. --port, --peers, --cluster-secret, --hot-cache-size). Without --port it picks a free one.
 *
 * Client authentication is on, as users run it: the node accepts requests signed with BENCH_CLIENT_KEY (SigV4)
 * and refuses unsigned ones, unless --anonymous is among the flags (the bench's unsigned case).
 */
const [upstreamEndpoint, ...extraFlags] = process.argv.slice(2);
if (upstreamEndpoint === undefined) throw new Error('usage: falcon-server.ts <upstream-endpoint> [falcon flags...]');

const portFlags = extraFlags.includes('--port') ? [] : ['--port', '0'];
const authFlags = ['--access-key', BENCH_CLIENT_KEY.accessKeyId, '--secret-key', BENCH_CLIENT_KEY.secretAccessKey];
const parsed = parseConfig(
  ['--host', '127.0.0.1', ...portFlags, ...authFlags, '--s3-endpoint', upstreamEndpoint, '--s3-force-path-style', ...extraFlags],
  {},
);
if (parsed.kind !== 'config') throw new Error(`bad Falcon flags: ${JSON.stringify(parsed)}`);

const gateway = await startGateway(parsed.config, pino({ level: 'silent' }), {
  credentials: async () => LOCAL_UPSTREAM_CREDENTIALS,
});
announceReady(gateway.port);
// An orderly exit on SIGTERM, so that a node run with --cpu-prof writes its profile.
process.once('SIGTERM', () => process.exit(0));
