import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import express from 'express';
import type { Logger } from 'pino';
import { ByteBudget } from './cache/byte-budget.js';
import { ObjectCache } from './cache/object-cache.js';
import type { Config } from './config.js';
import { S3Error } from './errors.js';
import { Gateway } from './gateway.js';
import { createLegacyRouter } from './legacy/routes.js';
import { createRequestLogger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { createPeerRoutes } from './peer-routes.js';
import { ClientAuth } from './s3/auth/client-auth.js';
import { type ClientKey, KeyStore } from './s3/auth/keys.js';
import { SigV4Verifier } from './s3/auth/sigv4.js';
import { continueIfExpected } from './s3/forwarding.js';
import { createS3Handler } from './s3/handler.js';
import { setUpCluster } from './cluster-setup.js';
import { LOCAL_UPSTREAM_CREDENTIALS, type LocalUpstream, startLocalUpstream } from './upstream/local-upstream.js';
import { type CredentialProvider, S3Upstream } from './upstream/s3-upstream.js';
import { VERSION } from './version.js';

export interface RunningGateway {
  /** Base URL clients use, e.g. http://127.0.0.1:8080. */
  url: string;
  port: number;
  /** The upstream actually used: the configured one or the embedded local server. */
  upstreamEndpoint: string;
  metrics: Metrics;
  /** The key pair made up at start when none was configured. */
  generatedKey: ClientKey | undefined;
  /**
   * Stops the node. With `graceMs`, requests in flight may finish for that long (new connections are
   * refused and idle ones closed at once); without it, every connection is cut immediately.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** Legacy and internal routes; every other request is S3. Bucket names cannot start with '_'. */
const LEGACY_ROUTES = new Set(['GET /get', 'POST /upload', 'POST /invalidate', 'GET /healthz', 'HEAD /healthz']);
const INTERNAL_PREFIX = '/_falcon/';
const PEER_PREFIX = '/_falcon/peer/';

export interface GatewayOverrides {
  /** Upstream credentials instead of the standard AWS chain (tests, embedding). */
  credentials?: CredentialProvider;
}

export async function startGateway(config: Config, logger: Logger, overrides: GatewayOverrides = {}): Promise<RunningGateway> {
  let local: LocalUpstream | undefined;
  let endpoint: URL | undefined;
  let credentials: CredentialProvider;
  let forcePathStyle: boolean;
  if (config.upstream.kind === 'local') {
    local = await startLocalUpstream(config.upstream.directory);
    endpoint = local.endpoint;
    credentials = async () => LOCAL_UPSTREAM_CREDENTIALS;
    forcePathStyle = true;
  } else {
    endpoint = config.upstream.endpoint;
    credentials = overrides.credentials ?? credentialChain();
    forcePathStyle = config.upstream.forcePathStyle;
  }

  const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000 });
  server.on('clientError', (err, socket) => {
    logger.debug({ err }, 'client error');
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const clusterSetup = config.cluster && (await setUpCluster(config.cluster, config.host, address.port, logger));
  const cluster = clusterSetup?.cluster;

  const freshness = { ttlMs: config.ttlMs, revalidateAfterMs: config.revalidateAfterMs, staleIfErrorMs: config.staleIfErrorMs };
  const cache = new ObjectCache({
    maxBytes: config.maxCacheBytes - config.hotCacheBytes,
    maxEntryBytes: config.maxObjectBytes,
    ...freshness,
  });
  const hotCache =
    config.hotCacheBytes > 0
      ? new ObjectCache({ maxBytes: config.hotCacheBytes, maxEntryBytes: Math.min(config.maxObjectBytes, config.hotCacheBytes), ...freshness })
      : undefined;
  const metrics = new Metrics({
    bytes: () => cache.bytes + (hotCache?.bytes ?? 0),
    entries: () => cache.entries + (hotCache?.entries ?? 0),
  });
  const upstream = new S3Upstream({
    endpoint,
    region: config.upstream.region,
    forcePathStyle,
    timeoutMs: config.timeoutMs,
    credentials,
    onRequest: (method) => metrics.upstreamRequests.inc({ method }),
  });
  const gateway = new Gateway({
    cache,
    hotCache,
    cluster,
    upstream,
    maxObjectBytes: config.maxObjectBytes,
    fillBudget: new ByteBudget(config.maxCacheBytes),
    logger: logger.child({ module: 'gateway' }),
    onRead: (outcome) => metrics.cacheReads.inc({ outcome }),
  });

  const app = express();
  app.disable('x-powered-by');
  app.get(`${INTERNAL_PREFIX}metrics`, async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.render());
  });
  app.get(`${INTERNAL_PREFIX}status`, (_req, res) => {
    res.json({
      version: VERSION,
      upstream: (endpoint ?? new URL('https://s3.amazonaws.com')).origin,
      cache: { bytes: cache.bytes, entries: cache.entries, maxBytes: config.maxCacheBytes - config.hotCacheBytes },
      hotCache: hotCache && { bytes: hotCache.bytes, entries: hotCache.entries, maxBytes: config.hotCacheBytes },
      cluster: cluster?.status(),
    });
  });
  app.use(
    createLegacyRouter({
      gateway,
      maxMultipartMemoryBytes: config.maxMultipartMemoryBytes,
      version: VERSION,
      token: config.legacy.token,
      logger: logger.child({ module: 'legacy' }),
    }),
  );

  const generatedKey = config.clientKeys.length === 0 ? generateClientKey() : undefined;
  const auth = new ClientAuth({
    verifier: new SigV4Verifier({ keys: new KeyStore(generatedKey ? [generatedKey] : config.clientKeys) }),
    allowAnonymous: config.allowAnonymous,
  });
  const s3 = createS3Handler({
    gateway,
    auth,
    forwardChecksumTrailers: config.upstream.kind === 'remote' && config.upstream.checksumTrailers,
    domain: config.domain,
    logger: logger.child({ module: 's3' }),
  });
  const peerRoutes = clusterSetup && createPeerRoutes({ gateway, auth: clusterSetup.auth, logger: logger.child({ module: 'peers' }) });
  const logRequest = createRequestLogger(logger, config.verbose);
  const newRequestId = requestIds();
  const isVirtualHost = (req: IncomingMessage): boolean =>
    config.domain !== undefined && (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase().endsWith(`.${config.domain}`);

  // Requests with "Expect: 100-continue" come to the same handler, which decides when to let the body come.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => server.emit('request', req, res));
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const requestId = newRequestId();
    res.setHeader('x-amz-request-id', requestId);
    logRequest(req, res, requestId);
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (!isVirtualHost(req) && path.startsWith(INTERNAL_PREFIX)) {
      continueIfExpected(req, res);
      if (path.startsWith(PEER_PREFIX)) {
        if (peerRoutes) void peerRoutes(req, res, path, requestId);
        else {
          res.writeHead(404);
          res.end();
        }
      } else app(req, res);
      return;
    }
    if (!isVirtualHost(req) && (path === '/healthz' || config.legacy.enabled) && LEGACY_ROUTES.has(`${req.method} ${path}`)) {
      continueIfExpected(req, res);
      app(req, res);
      return;
    }
    void s3(req, res, requestId);
  });

  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${config.host === 'localhost' ? 'localhost' : hostForUrl}:${address.port}`;

  return {
    url,
    port: address.port,
    upstreamEndpoint: (endpoint ?? new URL(`https://s3.${config.upstream.region}.amazonaws.com`)).origin,
    metrics,
    generatedKey,
    async close(options = {}) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if (!options.graceMs) {
          server.closeAllConnections();
          return;
        }
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), options.graceMs).unref();
      });
      await cluster?.close();
      await upstream.close();
      await local?.close();
    },
  };
}

function generateClientKey(): ClientKey {
  return {
    accessKeyId: `FALCON${randomBytes(10).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64url'),
  };
}

function credentialChain(): CredentialProvider {
  const provider = defaultProvider();
  return async () => {
    try {
      return await provider();
    } catch (err) {
      throw new S3Error('InternalError', { message: 'Falcon found no credentials for the upstream S3.', cause: err });
    }
  };
}

/** Request ids: a random per-process prefix and a counter, cheap enough for every request. */
function requestIds(): () => string {
  const prefix = randomBytes(4).toString('hex').toUpperCase();
  let counter = 0;
  return () => `${prefix}${(counter++).toString(16).toUpperCase().padStart(8, '0')}`;
}
