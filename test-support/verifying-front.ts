import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Error } from '../src/errors.js';
import { ClientAuth } from '../src/s3/auth/client-auth.js';
import { KeyStore } from '../src/s3/auth/keys.js';
import { SigV4Verifier } from '../src/s3/auth/sigv4.js';
import { type PreparedBody, prepareBody } from '../src/s3/request-body.js';
import { errorXml } from '../src/s3/xml.js';
import { LOCAL_UPSTREAM_CREDENTIALS } from '../src/upstream/local-upstream.js';

/**
 * A front before s3rver that checks SigV4 signatures and bodies as AWS does (with Falcon's own
 * verifier), because s3rver itself only checks that the access key exists. It also keeps the
 * flexible checksums each PUT carried and returns them on GET/HEAD with x-amz-checksum-mode:
 * ENABLED, which s3rver does not do.
 */
export class VerifyingFront {
  private server: Server | undefined;
  url = '';
  rejected = 0;
  /** The x-amz-checksum-* values each request carried (headers and verified trailers), by path. */
  readonly checksums = new Map<string, Record<string, string>>();
  private readonly auth = new ClientAuth({
    verifier: new SigV4Verifier({ keys: new KeyStore([LOCAL_UPSTREAM_CREDENTIALS]) }),
    allowAnonymous: false,
  });

  constructor(private readonly target: URL) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const fail = (err: unknown): void => {
        this.rejected++;
        const e = err instanceof S3Error ? err : new S3Error('InternalError', { cause: err });
        if (res.headersSent) return void res.destroy();
        req.resume();
        res.writeHead(e.statusCode, { 'content-type': 'application/xml' });
        res.end(errorXml({ code: e.code, message: e.message, resource: req.url ?? '/', requestId: 'front', details: {} }));
      };
      let body: PreparedBody | undefined;
      try {
        body = prepareBody(req, this.auth.authenticate(req), { pace: { idleTimeoutMs: 30_000, minBytesPerSecond: 0 } });
      } catch (err) {
        return fail(err);
      }
      const headers = { ...req.headers };
      const checksums: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (/^x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256)$/.test(name) && typeof value === 'string') checksums[name] = value;
      }
      if (body !== undefined && body.framingHeaders.length > 0) {
        // s3rver cannot read aws-chunked: hand it the decoded, verified body.
        for (const name of [...body.framingHeaders, 'content-encoding', 'transfer-encoding']) delete headers[name];
        if (body.contentLength !== undefined) headers['content-length'] = body.contentLength;
        const trailers = body.trailers;
        if (trailers !== undefined) body.stream.on('end', () => Object.assign(checksums, trailers.values()));
      }
      const objectPath = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
      // Whole-object PUTs keep their checksums; any other write to the key drops them (parts are not the object).
      if (req.method === 'PUT' && !/[?&]uploadId=/.test(req.url ?? '')) this.checksums.set(objectPath, checksums);
      else if (req.method !== 'GET' && req.method !== 'HEAD') this.checksums.delete(objectPath);
      const path = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
      const wantsChecksums = String(req.headers['x-amz-checksum-mode'] ?? '').toUpperCase() === 'ENABLED';
      const upstream = httpRequest(
        { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers },
        (upstreamRes) => {
          const stored = req.method === 'GET' || req.method === 'HEAD' ? this.checksums.get(path) : undefined;
          const extra = wantsChecksums && upstreamRes.statusCode === 200 ? (stored ?? {}) : {};
          upstreamRes.on('error', () => res.destroy());
          res.writeHead(upstreamRes.statusCode ?? 502, { ...upstreamRes.headers, ...extra });
          upstreamRes.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      if (body === undefined) return void upstream.end();
      body.stream.on('error', (err) => {
        upstream.destroy();
        fail(err);
      });
      body.stream.pipe(upstream);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
