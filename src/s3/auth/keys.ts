import { readFileSync } from 'node:fs';

export interface ClientKey {
  accessKeyId: string;
  secretAccessKey: string;
}

/** The key pairs clients may sign with. */
export class KeyStore {
  private readonly secrets = new Map<string, string>();

  constructor(keys: Iterable<ClientKey>) {
    for (const key of keys) this.secrets.set(key.accessKeyId, key.secretAccessKey);
  }

  secretFor(accessKeyId: string): string | undefined {
    return this.secrets.get(accessKeyId);
  }

  get size(): number {
    return this.secrets.size;
  }
}

/**
 * Reads key pairs from a file in the AWS shared-credentials format: one `[section]` per pair with
 * `aws_access_key_id` and `aws_secret_access_key`. Throws with the line at fault.
 */
export function readCredentialsFile(path: string): ClientKey[] {
  const keys: ClientKey[] = [];
  let current: Partial<ClientKey> | undefined;
  const finish = (): void => {
    if (current === undefined) return;
    if (!current.accessKeyId || !current.secretAccessKey) throw new Error(`${path}: a section lacks aws_access_key_id or aws_secret_access_key`);
    keys.push({ accessKeyId: current.accessKeyId, secretAccessKey: current.secretAccessKey });
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
    });
  finish();
  if (keys.length === 0) throw new Error(`${path}: no key pairs`);
  return keys;
}
