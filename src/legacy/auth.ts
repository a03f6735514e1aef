import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { drainBody } from '../http/discard-body.js';
import { type Access, ClientAuth } from '../s3/auth/client-auth.js';
import type { VerifiedSignature } from '../s3/auth/sigv4.js';
import { continueIfExpected } from '../s3/forwarding.js';
import { queryParam } from './query.js';

export interface LegacyAuthOptions {
  auth: ClientAuth;
  /** `Authorization: Bearer <token>` is accepted when set; it then also closes the routes to unsigned requests. */
  token: string | undefined;
}

/** What each legacy route does to its bucket. */
const ROUTE_ACCESS: Record<string, Access> = { '/get': 'read', '/upload': 'write', '/invalidate': 'write' };

/** The signature a legacy request was authenticated with, for routes that need to check its body. */
export function legacySignature(res: Response): VerifiedSignature | undefined {
  return (res.locals as { signature?: VerifiedSignature }).signature;
}

/**
 * Authenticates legacy requests as S3 requests are (a SigV4 header or a presigned URL), or by the
 * bearer token, and checks the key may use the bucket, before any route runs. Unsigned requests
 * pass only with --anonymous and no --legacy-token. Sends 100 Continue once all of that passed.
 */
export function requireLegacyCredentials(options: LegacyAuthOptions) {
  const { auth, token } = options;
  const expected = token === undefined ? undefined : createHash('sha256').update(token).digest();
  const challenge = token === undefined ? 'AWS4-HMAC-SHA256' : 'AWS4-HMAC-SHA256, Bearer';
  const howTo = token === undefined ? 'sign the request with AWS Signature Version 4' : 'sign the request with AWS Signature Version 4 or send Authorization: Bearer <token>';
  const refuse = (req: Request, res: Response, message: string): void => {
    drainBody(req);
    res.status(401).set('www-authenticate', challenge).json({ error: message });
  };
  return (req: Request, res: Response, next: NextFunction): void => {
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (bearer) {
      const given = createHash('sha256').update(bearer[1]?.trim() ?? '').digest();
      if (expected === undefined || !timingSafeEqual(given, expected)) {
        refuse(req, res, 'Missing or invalid bearer token');
        return;
      }
    } else if (ClientAuth.isSigned(req)) {
      try {
        const signature = auth.authenticate(req, { allowMissingContentSha256: true });
        const bucket = queryParam(req, 'bucket');
        const access = ROUTE_ACCESS[req.path];
        if (bucket !== undefined && access !== undefined) auth.authorize(signature, bucket, access);
        res.locals.signature = signature;
      } catch (err) {
        drainBody(req);
        next(err);
        return;
      }
    } else if (!auth.allowsAnonymous || token !== undefined) {
      refuse(req, res, `Authentication required: ${howTo}`);
      return;
    }
    continueIfExpected(req, res);
    next();
  };
}
