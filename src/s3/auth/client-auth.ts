import type { IncomingMessage } from 'node:http';
import { S3Error } from '../../errors.js';
import { SigV4Verifier, type VerifiedSignature, type VerifyOptions } from './sigv4.js';

export type Access = 'read' | 'write';

/** What authentication reads of a request: node's IncomingMessage, or a head read off the socket. */
export type AuthenticatedRequest = Pick<IncomingMessage, 'method' | 'url' | 'headers' | 'rawHeaders'> & { lowerCaseNames?: readonly string[] };

export interface ClientAuthOptions {
  /** Verifies signatures; its keys also say what each key may do. */
  verifier: SigV4Verifier;
  /** Let requests without any signature through (--anonymous). Signed requests are verified regardless. */
  allowAnonymous: boolean;
}

/**
 * Decides who a request comes from (a verified key, an allowed anonymous client, or nobody:
 * AccessDenied) and what that key may do.
 */
export class ClientAuth {
  constructor(private readonly options: ClientAuthOptions) {}

  get allowsAnonymous(): boolean {
    return this.options.allowAnonymous;
  }

  /** True when the request carries a signature of any kind (header or query). */
  static isSigned(req: AuthenticatedRequest): boolean {
    return !SigV4Verifier.isAnonymous(toVerify(req));
  }

  /** The verified signature, or undefined for an allowed anonymous request; throws the S3 error otherwise. */
  authenticate(req: AuthenticatedRequest, options?: VerifyOptions): VerifiedSignature | undefined {
    const request = toVerify(req);
    if (SigV4Verifier.isAnonymous(request)) {
      if (this.options.allowAnonymous) return undefined;
      throw new S3Error('AccessDenied');
    }
    return this.options.verifier.verify(request, options);
  }

  /**
   * Throws AccessDenied unless the key may have this access to the bucket. `bucket` undefined is the
   * service itself (ListBuckets), open only to keys not limited to some buckets. Requests without a
   * key (anonymous, or the legacy bearer token) are not limited.
   */
  authorize(signature: VerifiedSignature | undefined, bucket: string | undefined, access: Access): void {
    if (signature === undefined) return;
    const { buckets, readOnly } = this.options.verifier.keys.accessOf(signature.accessKeyId);
    if (readOnly && access === 'write') throw new S3Error('AccessDenied');
    if (buckets === undefined) return;
    if (bucket === undefined || !buckets.has(bucket)) throw new S3Error('AccessDenied');
  }
}

function toVerify(req: AuthenticatedRequest) {
  return { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, rawHeaders: req.rawHeaders, lowerCaseNames: req.lowerCaseNames };
}
