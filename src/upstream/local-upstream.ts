import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';

/** Credentials the embedded S3 server knows; it checks the key, not the signature. */
export const LOCAL_UPSTREAM_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface LocalUpstream {
  endpoint: URL;
  close(): Promise<void>;
}

/** Starts an S3-compatible server on loopback, storing objects under `directory`. */
export async function startLocalUpstream(directory: string, buckets: readonly string[] = []): Promise<LocalUpstream> {
  await mkdir(directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    resetOnClose: false,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const address = await server.run();
  return { endpoint: new URL(`http://127.0.0.1:${address.port}`), close: () => server.close() };
}
