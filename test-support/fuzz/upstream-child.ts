/**
 * Runs the embedded S3 server (s3rver) in a process of its own, so that a request that crashes
 * it cannot take the test runner down. Prints {"endpoint": ...} once it listens.
 * Usage: upstream-child.ts <directory> <bucket>...
 */
import { startLocalUpstream } from '../../src/upstream/local-upstream.js';

const [directory, ...buckets] = process.argv.slice(2);
if (directory === undefined) {
  console.error('usage: upstream-child.ts <directory> <bucket>...');
  process.exit(2);
}
const upstream = await startLocalUpstream(directory, buckets);
process.stdout.write(`${JSON.stringify({ endpoint: upstream.endpoint.origin })}\n`);
process.once('SIGTERM', () => {
  upstream.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
