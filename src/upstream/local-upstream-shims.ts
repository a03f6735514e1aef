import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { KoaContext, KoaMiddleware } from 's3rver';

const XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n';
const OWNER = '<Owner><ID>123456789000</ID><DisplayName>S3rver</DisplayName></Owner>';

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Operations the embedded S3 server (s3rver) lacks or gets wrong, answered the way S3 does so that
 * clients relying on them work against the local upstream: ListMultipartUploads (minio-js asks
 * it before every multipart upload) and ACL reads (s3rver's stub puts Permission outside Grant).
 */
export function localUpstreamShims(directory: string): KoaMiddleware[] {
  return [listMultipartUploads(directory), aclReads()];
}

function listMultipartUploads(directory: string): KoaMiddleware {
  return async (ctx, next) => {
    const bucket = bucketOnly(ctx);
    if (ctx.method !== 'GET' || bucket === undefined || ctx.query.uploads === undefined) return next();
    const prefix = typeof ctx.query.prefix === 'string' ? ctx.query.prefix : '';
    const uploadsDir = join(directory, bucket, '._S3rver_uploads');
    const uploads: string[] = [];
    for (const uploadId of await readdir(uploadsDir).catch(() => [] as string[])) {
      const key = await readFile(join(uploadsDir, uploadId, 'key'), 'utf8').catch(() => undefined);
      if (key === undefined || !key.startsWith(prefix)) continue;
      const initiated = (await stat(join(uploadsDir, uploadId))).mtime.toISOString();
      uploads.push(`<Upload><Key>${escapeXml(key)}</Key><UploadId>${escapeXml(uploadId)}</UploadId>${OWNER}<StorageClass>STANDARD</StorageClass><Initiated>${initiated}</Initiated></Upload>`);
    }
    ctx.status = 200;
    ctx.type = 'application/xml';
    ctx.body = `${XML_HEADER}<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${escapeXml(bucket)}</Bucket><Prefix>${escapeXml(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${uploads.join('')}</ListMultipartUploadsResult>`;
  };
}

function aclReads(): KoaMiddleware {
  return async (ctx, next) => {
    if (ctx.method !== 'GET' || ctx.query.acl === undefined) return next();
    await next();
    if (ctx.status !== 200) return;
    ctx.type = 'application/xml';
    ctx.body = `${XML_HEADER}<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${OWNER}<AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>123456789000</ID><DisplayName>S3rver</DisplayName></Grantee><Permission>FULL_CONTROL</Permission></Grant></AccessControlList></AccessControlPolicy>`;
  };
}

function bucketOnly(ctx: KoaContext): string | undefined {
  const match = /^\/([^/]+)\/?$/.exec(ctx.path);
  return match?.[1];
}
