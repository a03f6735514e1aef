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

/** Longest file name the store may create: a key's last segment gets s3rver's longest suffix. */
const MAX_NAME_BYTES = 255;
const LONGEST_SUFFIX = '._S3rver_metadata.json';

/** Whether the store can keep this key as files (each segment must make a file name the filesystem allows). */
export function storableKey(key: string): boolean {
  const segments = encodeStoreKey(key).split('/');
  return segments.every((segment, i) => {
    const suffix = i === segments.length - 1 ? LONGEST_SUFFIX : '';
    return Buffer.byteLength(segment + suffix) <= MAX_NAME_BYTES;
  });
}
