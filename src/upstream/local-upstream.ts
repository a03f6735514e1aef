import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';
import { localUpstreamShims } from './local-upstream-shims.js';
import FilesystemStore from 's3rver/lib/stores/filesystem.js';

/**
 * s3rver maps keys to file paths as they are, so "a//b" and "a/b" collide and "../x" escapes its
 * folder. Escape the characters that would: '%', a '/' that starts a key or follows another '/',
 * and a '.' that starts a path segment. The mapping is per character, so a key prefix still maps
 * to a path prefix, which s3rver's listing relies on.
 */
export function encodeStoreKey(key: string): string {
  let out = '';
  for (let i = 0; i < key.length; i++) {
    const ch = key[i] as string;
    const segmentStart = i === 0 || key[i - 1] === '/';
    if (ch === '%') out += '%25';
    else if (ch === '/' && segmentStart) out += '%2F';
    else if (ch === '.' && segmentStart) out += '%2E';
    else out += ch;
  }
  return out;
}

export function decodeStoreKey(path: string): string {
  return path.replace(/%(25|2F|2E)/g, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

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
