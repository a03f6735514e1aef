import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';
import { localUpstreamShims } from './local-upstream-shims.js';
import { decodeStoreKey, encodeStoreKey } from './store-keys.js';
import FilesystemStore from 's3rver/lib/stores/filesystem.js';

FilesystemStore.encodeKeyPath = encodeStoreKey;
FilesystemStore.decodeKeyPath = decodeStoreKey;

/** Credentials the embedded S3 server knows; it checks the key, not the signature. */
export const LOCAL_UPSTREAM_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface LocalUpstream {
  endpoint: URL;
  close(): Promise<void>;
}

/** Starts an S3-compatible server on loopback, storing objects under `directory`. */
export async function startLocalUpstream(directory: string, buckets: readonly string[] = [], port = 0): Promise<LocalUpstream> {
  await mkdir(directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port,
    silent: true,
    directory,
    resetOnClose: false,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  server.middleware.unshift(...localUpstreamShims(directory));
  const address = await server.run();
  return { endpoint: new URL(`http://127.0.0.1:${address.port}`), close: () => server.close() };
}
