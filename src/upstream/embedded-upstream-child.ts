/**
 * Entry point of the embedded upstream's own process: runs the local S3 server and tells the
 * parent its port. It ends with its parent (the IPC channel closing), so it never outlives the node.
 */
import { startLocalUpstream } from './local-upstream.js';

const [directory, portText] = process.argv.slice(2);
if (directory === undefined || process.send === undefined) {
  console.error('embedded upstream: expected a directory and an IPC channel');
  process.exit(2);
}
const upstream = await startLocalUpstream(directory, [], Number(portText ?? 0));
process.send({ port: Number(upstream.endpoint.port) });
process.on('disconnect', () => {
  void upstream.close().finally(() => process.exit(0));
});
