import { readFileSync } from 'node:fs';

export interface ClientKey {
  accessKeyId: string;
  secretAccessKey: string;
  /** The only buckets this key may use; every bucket when undefined. */
  buckets?: readonly string[];
  /** Reads only: no writes, deletes or cache invalidations. */
  readOnly?: boolean;
}

/** What a key may do, apart from proving who it is. */
export interface KeyAccess {
  buckets: ReadonlySet<string> | undefined;
  readOnly: boolean;
}

const UNRESTRICTED: KeyAccess = { buckets: undefined, readOnly: false };

/** The key pairs clients may sign with, and what each may do. */
export class KeyStore {
  private readonly secrets = new Map<string, string>();
  private readonly access = new Map<string, KeyAccess>();

  constructor(keys: Iterable<ClientKey>) {
    for (const key of keys) {
      this.secrets.set(key.accessKeyId, key.secretAccessKey);
      this.access.set(key.accessKeyId, { buckets: key.buckets && new Set(key.buckets), readOnly: key.readOnly ?? false });
    }
  }

  secretFor(accessKeyId: string): string | undefined {
    return this.secrets.get(accessKeyId);
  }

  accessOf(accessKeyId: string): KeyAccess {
    return this.access.get(accessKeyId) ?? UNRESTRICTED;
  }

  get size(): number {
    return this.secrets.size;
  }
}

const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);

/**
 * Reads key pairs from a file in the AWS shared-credentials format: one `[section]` per pair with
 * `aws_access_key_id` and `aws_secret_access_key`, optionally limited by `falcon_buckets` (a comma
 * list) and `falcon_read_only` (true/false). Throws with the line at fault.
 */
export function readCredentialsFile(path: string): ClientKey[] {
  const keys: ClientKey[] = [];
  let current: Partial<ClientKey> | undefined;
  const finish = (): void => {
    if (current === undefined) return;
    if (!current.accessKeyId || !current.secretAccessKey) throw new Error(`${path}: a section lacks aws_access_key_id or aws_secret_access_key`);
    keys.push({ ...current, accessKeyId: current.accessKeyId, secretAccessKey: current.secretAccessKey });
  };
  readFileSync(path, 'utf8')
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
      if (/^\[.*\]$/.test(line)) {
        finish();
        current = {};
        return;
      }
      const eq = line.indexOf('=');
      if (eq === -1 || current === undefined) throw new Error(`${path}:${index + 1}: expected [section] or name = value`);
      const name = line.slice(0, eq).trim().toLowerCase();
      const value = line.slice(eq + 1).trim();
      if (name === 'aws_access_key_id') current.accessKeyId = value;
      else if (name === 'aws_secret_access_key') current.secretAccessKey = value;
      else if (name === 'falcon_buckets') {
        const buckets = value.split(',').map((b) => b.trim()).filter(Boolean);
        if (buckets.length === 0) throw new Error(`${path}:${index + 1}: falcon_buckets: name at least one bucket`);
        current.buckets = buckets;
      } else if (name === 'falcon_read_only') {
        const word = value.toLowerCase();
        if (!TRUE_WORDS.has(word) && !FALSE_WORDS.has(word)) throw new Error(`${path}:${index + 1}: falcon_read_only: expected true or false, got "${value}"`);
        current.readOnly = TRUE_WORDS.has(word);
      }
    });
  finish();
  if (keys.length === 0) throw new Error(`${path}: no key pairs`);
  return keys;
}
