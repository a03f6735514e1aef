import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { S3Error } from '../errors.js';
import { errorXml } from './xml.js';

/** Renders any error as S3's XML error document; unknown errors become InternalError and are logged with their stack. */
export function sendS3Error(res: ServerResponse, err: unknown, context: { method: string; resource: string; requestId: string; logger: Logger }): void {
  const s3Error = err instanceof S3Error ? err : new S3Error('InternalError', { cause: err });
  const fields = { requestId: context.requestId, method: context.method, resource: context.resource };
  if (s3Error.statusCode >= 500) context.logger.error({ ...fields, err }, 'request failed');
  else context.logger.info({ ...fields, code: s3Error.code }, 'request rejected');
  if (res.headersSent) {
    // Part of a response is already out: abort it so the client cannot take it for complete.
    res.destroy();
    return;
  }
  const body =
    context.method === 'HEAD'
      ? ''
      : errorXml({
          code: s3Error.code,
          message: s3Error.message,
          resource: context.resource,
          requestId: context.requestId,
          details: s3Error.details,
        });
  res.writeHead(s3Error.statusCode, {
    'content-type': 'application/xml',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}
