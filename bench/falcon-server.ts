import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { BUILD_ENV } from './falcon-build.js';
import { announceReady, BENCH_CLIENT_KEY } from './shared.js';

/** Falcon's modules: from the compiled build the bench made (see falcon-build.ts), or from source. */
const build = process.env[BUILD_ENV];
const modules = build === undefined ? new URL('../src/', import.meta.url).href : `${pathToFileURL(build).href}/`;
const { parseConfig } = (await import(`${modules}config.js`)) as typeof import('../src/config.js');
const { startGateway } = (await import(`${modules}server.js`)) as typeof import('../src/server.js');
const { LOCAL_UPSTREAM_CREDENTIALS } = (await import(`${modules}upstream/local-upstream.js`)) as typeof import('../src/upstream/local-upstream.js');

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
