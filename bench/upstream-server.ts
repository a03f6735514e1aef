import { startLocalUpstream } from '../src/upstream/local-upstream.js';
import { announceReady, BENCH_BUCKET } from './shared.js';

/**
 * The embedded S3 server (s3rver) every Falcon of the bench reads from, with the bench bucket, storing objects
 * under `directory`. It runs in its own process so that serving large objects does not share the load
 * generator's event loop.
 */
const [directory] = process.argv.slice(2);
if (directory === undefined) throw new Error('usage: upstream-server.ts <directory>');

const upstream = await startLocalUpstream(directory, [BENCH_BUCKET]);
announceReady(Number(upstream.endpoint.port));
// An orderly exit on SIGTERM, so that an upstream run with --cpu-prof writes its profile.
process.once('SIGTERM', () => process.exit(0));
