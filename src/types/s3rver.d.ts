declare module 's3rver' {
  import type { IncomingMessage } from 'node:http';
  import type { AddressInfo } from 'node:net';
  import type { Readable } from 'node:stream';

  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    allowMismatchedSignatures?: boolean;
    vhostBuckets?: boolean;
    configureBuckets?: Array<{ name: string; configs?: Array<string | Buffer> }>;
  }

  export interface KoaContext {
    method: string;
    path: string;
    query: Record<string, string | string[] | undefined>;
    /** The request's headers, which later middleware (s3rver's own handlers) read. */
    headers: Record<string, string | string[] | undefined>;
    status: number;
    type: string;
    body: unknown;
    /** The request; s3rver reads a PUT's body from it, and a middleware may replace it with a stream of bytes it already read. */
    req: IncomingMessage | Readable;
  }

  export type KoaMiddleware = (ctx: KoaContext, next: () => Promise<void>) => Promise<void>;

  export default class S3rver {
    constructor(options?: S3rverOptions);
    /** Koa's middleware list; composed when the server starts listening. */
    middleware: KoaMiddleware[];
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
  }
}

declare module 's3rver/lib/stores/filesystem.js' {
  export default class FilesystemStore {
    static encodeKeyPath(key: string): string;
    static decodeKeyPath(keyPath: string): string;
    constructor(rootDirectory: string);
    /** The file that holds one resource of a key: 'object' (its bytes, its ETag in 'object.md5' beside it), 'metadata.json'. */
    getResourcePath(bucket: string, key: string, resource: string): string;
  }
}
