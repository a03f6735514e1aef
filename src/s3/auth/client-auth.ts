import type { IncomingMessage } from 'node:http';
import { S3Error } from '../../errors.js';
import { SigV4Verifier, type VerifiedSignature } from './sigv4.js';

export interface ClientAuthOptions {
  verifier: SigV4Verifier;
  /** Let requests without any signature through (--anonymous). Signed requests are verified regardless. */
  allowAnonymous: boolean;
}

/** Decides who a request comes from: a verified key, an allowed anonymous client, or nobody (AccessDenied). */
export class ClientAuth {
  constructor(private readonly options: ClientAuthOptions) {}

  /** The verified signature, or undefined for an allowed anonymous request; throws the S3 error otherwise. */
  authenticate(req: IncomingMessage): VerifiedSignature | undefined {
    const request = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders };
    if (SigV4Verifier.isAnonymous(request)) {
      if (this.options.allowAnonymous) return undefined;
      throw new S3Error('AccessDenied');
    }
    return this.options.verifier.verify(request);
  }
}
