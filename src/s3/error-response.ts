import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { S3Error } from '../errors.js';
import { errorXml } from './xml.js';

/** Headers that belong to the exchange rather than to an answer, and stay on an error. */
const KEPT_HEADERS = /^(x-amz-request-id|connection|vary|access-control-.*)$/;

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
  // Whatever the failed answer had set (an object's headers, say) is not part of the error.
  for (const name of res.getHeaderNames()) if (!KEPT_HEADERS.test(name)) res.removeHeader(name);
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
