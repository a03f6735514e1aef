import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../src/upstream/local-upstream.js';
import { BENCH_BUCKET, type ServedObject } from './shared.js';

const KIB = 1024;
const CONTENT_TYPE = 'application/octet-stream';

export interface ObjectSpec {
  label: string;
  key: string;
  size: number;
}

export const OBJECT_SPECS = [
  { label: '1 KiB', key: 'obj-1k', size: KIB },
  { label: '64 KiB', key: 'obj-64k', size: 64 * KIB },
  { label: '1 MiB', key: 'obj-1m', size: KIB * KIB },
  { label: '16 MiB', key: 'obj-16m', size: 16 * KIB * KIB },
] as const satisfies readonly ObjectSpec[];

export interface SeededObject extends ServedObject {
  label: string;
  size: number;
  sha256: string;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Puts random objects of each size into the upstream and also writes their bytes under `dir`. */
export async function seedObjects(endpoint: URL, dir: string, specs: readonly ObjectSpec[]): Promise<SeededObject[]> {
  const client = new S3Client({
    endpoint: endpoint.origin,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: LOCAL_UPSTREAM_CREDENTIALS,
  });
  try {
    return await Promise.all(specs.map((spec) => seedObject(client, dir, spec)));
  } finally {
    client.destroy();
  }
}

async function seedObject(client: S3Client, dir: string, spec: ObjectSpec): Promise<SeededObject> {
  const body = randomBytes(spec.size);
  const put = await client.send(
    new PutObjectCommand({ Bucket: BENCH_BUCKET, Key: spec.key, Body: body, ContentType: CONTENT_TYPE }),
  );
  if (put.ETag === undefined) throw new Error(`upstream returned no ETag for ${spec.key}`);
  const file = join(dir, spec.key);
  await writeFile(file, body);
  return {
    label: spec.label,
    path: `/${BENCH_BUCKET}/${spec.key}`,
    file,
    contentType: CONTENT_TYPE,
    etag: put.ETag,
    size: spec.size,
    sha256: sha256(body),
  };
}
