import { pino } from 'pino';
import { parseConfig } from '../src/config.js';
import { startGateway } from '../src/server.js';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../src/upstream/local-upstream.js';
import { announceReady } from './shared.js';

const [upstreamEndpoint] = process.argv.slice(2);
if (upstreamEndpoint === undefined) throw new Error('usage: falcon-server.ts <upstream-endpoint>');

const parsed = parseConfig(
  ['--host', '127.0.0.1', '--port', '0', '--s3-endpoint', upstreamEndpoint, '--s3-force-path-style'],
  {},
);
if (parsed.kind !== 'config') throw new Error(`bad Falcon flags: ${JSON.stringify(parsed)}`);

const gateway = await startGateway(parsed.config, pino({ level: 'silent' }), {
  credentials: async () => LOCAL_UPSTREAM_CREDENTIALS,
});
announceReady(gateway.port);
