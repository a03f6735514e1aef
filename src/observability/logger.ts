import type { IncomingMessage, ServerResponse } from 'node:http';
import { pino, type Logger } from 'pino';
import { pinoHttp } from 'pino-http';

export function createLogger(verbose: boolean): Logger {
  return pino({
    level: verbose ? 'debug' : 'info',
    redact: ['req.headers.authorization', 'req.headers["x-amz-security-token"]'],
  });
}

export type RequestLogger = (req: IncomingMessage, res: ServerResponse, requestId: string) => void;

/** Per-request access logs, only with --verbose: the hot path stays free of logging otherwise. */
export function createRequestLogger(logger: Logger, verbose: boolean): RequestLogger {
  if (!verbose) return () => {};
  const httpLogger = pinoHttp({
    logger,
    genReqId: (req) => (req as IncomingMessage & { requestId?: string }).requestId ?? '',
    serializers: {
      req: (req: { id: string; method: string; url: string }) => ({
        id: req.id,
        method: req.method,
        url: req.url.replace(/([?&]X-Amz-(Signature|Credential|Security-Token)=)[^&]*/gi, '$1REDACTED'),
      }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
  return (req, res, requestId) => {
    (req as IncomingMessage & { requestId?: string }).requestId = requestId;
    httpLogger(req, res);
  };
}
