import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, readdir, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { KoaContext, KoaMiddleware } from 's3rver';
import FilesystemStore from 's3rver/lib/stores/filesystem.js';
import { storableKey } from './store-keys.js';

const XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n';
const OWNER = '<Owner><ID>123456789000</ID><DisplayName>S3rver</DisplayName></Owner>';

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Operations the embedded S3 server (s3rver) lacks or gets wrong, answered the way S3 does so that
 * clients relying on them work against the local upstream: ListMultipartUploads (minio-js asks
 * it before every multipart upload), ACL reads (s3rver's stub puts Permission outside Grant), and
 * uploads cut midway (s3rver would keep them truncated).
 */
export function localUpstreamShims(directory: string): KoaMiddleware[] {
  return [storableKeysOnly(), completeUploadsOnly(), listMultipartUploads(directory), aclReads(), completeMultipartChecks(directory), suffixRanges(directory)];
}

/**
 * s3rver reads `Range: bytes=-N` (the last N bytes) as bytes 0 to N, and so sends the wrong bytes.
 * The suffix is turned into the absolute range S3 means before s3rver sees it.
 */
function suffixRanges(directory: string): KoaMiddleware {
  const store = new FilesystemStore(directory);
  return async (ctx, next) => {
    const suffix = /^\s*bytes=-(\d+)\s*$/i.exec(String(ctx.headers.range ?? ''));
    const target = /^\/([^/]+)\/(.+)$/.exec(ctx.path);
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || suffix?.[1] === undefined || target?.[1] === undefined || target[2] === undefined) return next();
    let size: number;
    try {
      size = (await stat(store.getResourcePath(target[1], decodeURIComponent(target[2]), 'object'))).size;
    } catch {
      return next(); // No such object (or key): s3rver answers that itself.
    }
    const length = Number(suffix[1]);
    // bytes=-0 and an empty object stay as sent: S3 refuses them with InvalidRange, and so does s3rver.
    if (length > 0 && size > 0) ctx.headers.range = `bytes=${Math.max(0, size - length)}-${size - 1}`;
    return next();
  };
}

/**
 * s3rver keeps a key as file paths, and the filesystem refuses a file name over 255 bytes: writing
 * such a key fails deep inside s3rver with no answer. Refuse it up front instead.
 */
function storableKeysOnly(): KoaMiddleware {
  return async (ctx, next) => {
    const target = /^\/[^/]+\/(.+)$/.exec(ctx.path);
    let key: string | undefined;
    try {
      key = target?.[1] === undefined ? undefined : decodeURIComponent(target[1]);
    } catch {
      key = undefined;
    }
    if (ctx.method === 'GET' || ctx.method === 'HEAD' || key === undefined || storableKey(key)) return next();
    fail(ctx, 400, 'KeyTooLongError', 'The embedded local upstream stores keys as files: each /-separated part of a key may have at most about 230 bytes.');
  };
}

/** CompleteMultipartUpload bodies are small; S3 allows 10,000 parts. */
const MAX_COMPLETE_BODY_BYTES = 2 * 1024 * 1024;

/**
 * CompleteMultipartUpload checked as S3 checks it, before s3rver reads the parts: s3rver opens every
 * named part without looking, and a part never uploaded makes its read stream fail with no
 * listener, which takes the whole process down. Unknown uploads get NoSuchUpload, parts that were
 * not uploaded or whose ETag differs get InvalidPart, parts out of order InvalidPartOrder.
 */
function completeMultipartChecks(directory: string): KoaMiddleware {
  return async (ctx, next) => {
    const uploadId = typeof ctx.query.uploadId === 'string' ? ctx.query.uploadId : undefined;
    const target = /^\/([^/]+)\/.+/.exec(ctx.path);
    const bucket = target?.[1];
    if (ctx.method !== 'POST' || uploadId === undefined || bucket === undefined) return next();
    const body = await readRequest(ctx.req, MAX_COMPLETE_BODY_BYTES);
    if (body === undefined) return fail(ctx, 400, 'MalformedXML', 'The XML you provided was too large.');
    const uploadDir = join(directory, bucket, '._S3rver_uploads', uploadId);
    if (!/^[A-Za-z0-9_-]+$/.test(uploadId) || (await stat(uploadDir).catch(() => undefined)) === undefined) {
      return fail(ctx, 404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
    }
    let previous = 0;
    for (const part of body.toString('utf8').matchAll(/<Part>([\s\S]*?)<\/Part>/g)) {
      const number = Number(/<PartNumber>\s*(\d+)\s*<\/PartNumber>/.exec(part[1] ?? '')?.[1]);
      // Quotes may come as '"', '&quot;' or a character reference ('&#34;' from Go's encoder).
      const etag = /<ETag>([\s\S]*?)<\/ETag>/.exec(part[1] ?? '')?.[1]?.replace(/&quot;|&#34;|&#x22;|"/gi, '').trim();
      if (!Number.isInteger(number) || number < 1 || number > 10_000 || etag === undefined) {
        return fail(ctx, 400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
      }
      if (number <= previous) return fail(ctx, 400, 'InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.');
      previous = number;
      const stored = await readFile(join(uploadDir, `${number}.md5`), 'utf8').catch(() => undefined);
      if (stored === undefined || stored.trim() !== etag) {
        return fail(ctx, 400, 'InvalidPart', 'One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.');
      }
    }
    // s3rver reads the body itself: hand it the bytes already read.
    ctx.req = Readable.from([body]);
    return next();
  };
}

async function readRequest(req: NodeJS.ReadableStream, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > maxBytes) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function fail(ctx: KoaContext, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `${XML_HEADER}<Error><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error>`;
}

/**
 * s3rver writes a PUT's body over the object's file as it arrives, so an upload cut midway would
 * leave a truncated object where the previous one was. S3 stores a body only once all of it
 * arrived: receive it into a temporary file first and give s3rver only a complete one.
 */
function completeUploadsOnly(): KoaMiddleware {
  return async (ctx, next) => {
    const req = ctx.req as IncomingMessage;
    const hasBody = (req.headers['content-length'] ?? '0') !== '0' || req.headers['transfer-encoding'] !== undefined;
    if (ctx.method !== 'PUT' || !/^\/[^/]+\/./.test(ctx.path) || !hasBody) return next();
    const file = join(tmpdir(), `falcon-local-upload-${randomUUID()}`);
    try {
      try {
        await pipeline(req, createWriteStream(file));
      } catch {
        return; // The client went away: nothing is stored, and nobody is left to answer.
      }
      ctx.req = createReadStream(file);
      await next();
    } finally {
      await rm(file, { force: true });
    }
  };
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
