/**
 * S3 error codes Falcon emits, with their HTTP status, from the S3 error-responses reference.
 * Codes that are not AWS's own (GatewayTimeout, BadGateway) follow the same naming and are listed in docs/errors.md.
 */
export const S3_ERROR_STATUS = {
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  BadDigest: 400,
  BadGateway: 502,
  EntityTooLarge: 400,
  GatewayTimeout: 504,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidAccessKeyId: 403,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidURI: 400,
  KeyTooLongError: 400,
  MalformedTrailerError: 400,
  MalformedXML: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  MissingSecurityHeader: 400,
  NoSuchBucket: 404,
  NoSuchKey: 404,
  NotImplemented: 501,
  PreconditionFailed: 412,
  RequestTimeout: 400,
  RequestTimeTooSkewed: 403,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  SlowDown: 503,
  XAmzContentSHA256Mismatch: 400,
} as const;

export type S3ErrorCode = keyof typeof S3_ERROR_STATUS;

const DEFAULT_MESSAGES: Partial<Record<S3ErrorCode, string>> = {
  AccessDenied: 'Access Denied',
  InvalidAccessKeyId: 'The AWS Access Key Id you provided does not exist in our records.',
  RequestTimeTooSkewed: "The difference between the request time and the server's time is too large.",
  SignatureDoesNotMatch:
    'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
  XAmzContentSHA256Mismatch: "The provided 'x-amz-content-sha256' header does not match what was computed.",
  InternalError: 'We encountered an internal error. Please try again.',
  InvalidRange: 'The requested range is not satisfiable',
  InvalidURI: "Couldn't parse the specified URI.",
  KeyTooLongError: 'Your key is too long',
  MalformedXML:
    'The XML you provided was not well-formed or did not validate against our published schema.',
  PreconditionFailed: 'At least one of the pre-conditions you specified did not hold',
  EntityTooLarge: 'Your proposed upload exceeds the maximum allowed object size.',
  IncompleteBody: 'You did not provide the number of bytes specified by the Content-Length HTTP header.',
  MalformedTrailerError: 'The request contained trailing data that was not well-formed or did not conform to our published schema.',
  RequestTimeout:
    'Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.',
  ServiceUnavailable: 'The upstream S3 service could not be reached. Please try again.',
  GatewayTimeout: 'The upstream S3 service did not answer in time.',
  SlowDown: 'Please reduce your request rate.',
};

export interface S3ErrorOptions {
  message?: string;
  /** Extra elements rendered inside <Error> after the standard ones, e.g. { Condition: 'If-Match' }. */
  details?: Record<string, string>;
  cause?: unknown;
}

export class S3Error extends Error {
  readonly code: S3ErrorCode;
  readonly statusCode: number;
  readonly details: Record<string, string>;

  constructor(code: S3ErrorCode, options: S3ErrorOptions = {}) {
    super(options.message ?? DEFAULT_MESSAGES[code] ?? code, { cause: options.cause });
    this.name = 'S3Error';
    this.code = code;
    this.statusCode = S3_ERROR_STATUS[code];
    this.details = options.details ?? {};
  }
}

/** An error of the legacy JSON routes: rendered as {"error": message} with the given status. */
export class LegacyError extends Error {
  readonly statusCode: number;
  readonly extra: Record<string, unknown>;

  constructor(statusCode: number, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'LegacyError';
    this.statusCode = statusCode;
    this.extra = extra;
  }
}
