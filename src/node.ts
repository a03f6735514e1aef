import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import express from 'express';
import type { Logger } from 'pino';
import { ByteBudget } from './cache/byte-budget.js';
import type { Cluster } from './cluster/cluster.js';
import { evictOldestOf, ObjectCache } from './cache/object-cache.js';
import { BlockLayout } from './read/ranges.js';
import { setUpCluster } from './cluster/setup.js';
import type { Config } from './config.js';
import { S3Error } from './errors.js';
import { Gateway, type PlainHit } from './gateway.js';
import type { HeadRequest } from './http/request-head.js';
import { createLegacyRouter } from './legacy/routes.js';
import { createRequestLogger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { createPeerRoutes, type PeerRoutes } from './cluster/peer-routes.js';
import { ClientAuth } from './s3/auth/client-auth.js';
import { type ClientKey, KeyStore } from './s3/auth/keys.js';
import { SigV4Verifier } from './s3/auth/sigv4.js';
import { continueIfExpected } from './s3/forwarding.js';
import { createS3Handler } from './s3/handler.js';
import { startEmbeddedUpstream } from './upstream/embedded-upstream.js';
import { LOCAL_UPSTREAM_CREDENTIALS, type LocalUpstream } from './upstream/local-upstream.js';
import { LimitedUpstream } from './upstream/limited-upstream.js';
import { HealthTrackedUpstream } from './upstream/upstream-health.js';
import { type CredentialProvider, S3Upstream } from './upstream/s3-upstream.js';
import { VERSION } from './version.js';

/** One Falcon node, built but not yet serving: `serve()` attaches `handle` to a server and listens. */
export interface FalconNode {
  /** Answers one request. */
  handle(req: IncomingMessage, res: ServerResponse): void;
  /**
   * The answer to a request read off the socket when it is a plain hit of an S3 object (now, or once a
   * small object came from its owner) or a peer's read of an object cached here, with everything `handle`
   * would check checked; undefined for anything else, or always with --verbose (every request is then
   * logged by `handle`).
   */
  directHit(request: HeadRequest): DirectHit | Promise<DirectHit | undefined> | undefined;
  /** Tells the node the address it listens on: a cluster member learns its own identity from it. */
  listening(address: { host: string; port: number }): Promise<void>;
  /** The node is shutting down: it stops reporting ready. */
  drain(): void;
  /**
   * Sets the cluster's members, this node included (nodes started on port 0 learn them after
   * listening); `self` is this node's URL among them when it is not the one it listens on.
   */
  setPeers(peers: readonly string[], self?: string): void;
  readonly metrics: Metrics;
  /** The upstream in use: the configured S3 or the embedded local server. */
  readonly upstreamEndpoint: string;
  /** The key pair made up at start when none was configured. */
  readonly generatedKey: ClientKey | undefined;
  close(): Promise<void>;
}

/** A plain hit answered without node:http (see http/hit-lane.ts). */
export interface DirectHit extends PlainHit {
  requestId: string;
}

export interface NodeOverrides {
  /** Upstream credentials instead of the standard AWS chain (tests, embedding). */
  credentials?: CredentialProvider;
}

/** Legacy and internal routes; every other request is S3. Bucket names cannot start with '_'. */
const LEGACY_ROUTES = new Set(['GET /get', 'POST /upload', 'POST /invalidate', 'GET /healthz', 'HEAD /healthz', 'GET /readyz', 'HEAD /readyz']);
const LEGACY_PATHS = new Set([...LEGACY_ROUTES].map((route) => route.slice(route.indexOf(' ') + 1)));
/** Probes that answer even with the legacy routes turned off. */
const PROBES = new Set(['/healthz', '/readyz']);
const INTERNAL_PREFIX = '/_falcon/';
export const PEER_PREFIX = '/_falcon/peer/';

/** Builds a node from its configuration: upstream, cache, gateway and routes. Opens no client socket. */
export async function createNode(config: Config, logger: Logger, overrides: NodeOverrides = {}): Promise<FalconNode> {
  let local: LocalUpstream | undefined;
  let endpoint: URL;
  let credentials: CredentialProvider;
  let forcePathStyle: boolean;
  if (config.upstream.kind === 'local') {
    local = await startEmbeddedUpstream(config.upstream.directory, logger.child({ module: 'embedded-upstream' }));
    endpoint = local.endpoint;
    credentials = async () => LOCAL_UPSTREAM_CREDENTIALS;
    forcePathStyle = true;
  } else {
    endpoint = config.upstream.endpoint ?? new URL(`https://s3.${config.upstream.region}.amazonaws.com`);
    credentials = overrides.credentials ?? credentialChain();
    forcePathStyle = config.upstream.forcePathStyle;
  }

  const freshness = { ttlMs: config.ttlMs, revalidateAfterMs: config.revalidateAfterMs, staleIfErrorMs: config.staleIfErrorMs };
  // One bound for everything: cached entries of both tiers, fills in flight, bodies still being sent.
  // A fifth of --max-cache-size is left to what passes through too briefly to be counted: network
  // chunks on their way into blocks, and buffers dropped but not yet collected by the garbage collector.
  const budget = new ByteBudget(config.maxCacheBytes - Math.floor(config.maxCacheBytes / 5), config.blockBytes);
  const cache = new ObjectCache({ maxBytes: config.maxCacheBytes - config.hotCacheBytes, budget, ...freshness });
  const hotCache = config.hotCacheBytes > 0 ? new ObjectCache({ maxBytes: config.hotCacheBytes, budget, ...freshness }) : undefined;
  budget.setEvictor(() => evictOldestOf([cache, hotCache]));
  const metrics = new Metrics({
    bytes: () => cache.bytes + (hotCache?.bytes ?? 0),
    entries: () => cache.entries + (hotCache?.entries ?? 0),
  });
  const upstream = new HealthTrackedUpstream(
    new LimitedUpstream(
    new S3Upstream({
      endpoint,
      region: config.upstream.region,
      forcePathStyle,
      timeoutMs: config.timeoutMs,
      credentials,
      onRequest: (method) => metrics.upstreamRequests.inc({ method }),
    }),
    { maxConcurrent: config.maxUpstreamRequests, maxQueued: config.maxUpstreamRequests, maxWaitMs: config.timeoutMs },
    ),
    { logger: logger.child({ module: 'upstream' }) },
  );
  const gateway = new Gateway({
    cache,
    hotCache,
    upstream,
    layout: new BlockLayout(config.blockBytes),
    readaheadBlocks: config.readaheadBlocks,
    maxObjectBytes: config.maxObjectBytes,
    budget,
    logger: logger.child({ module: 'gateway' }),
    onRead: metrics.counting(metrics.cacheReads, (outcome) => ({ outcome })),
    onBlockRead: metrics.counting(metrics.blockReads, (outcome, tier) => ({ outcome, tier })),
    onUpstreamBytes: (bytes) => metrics.upstreamBytes.inc(bytes),
  });

  let cluster: Cluster | undefined;
  let peerRoutes: PeerRoutes | undefined;

  const app = express();
  app.disable('x-powered-by');
  app.get(`${INTERNAL_PREFIX}metrics`, async (_req, res) => {
    res.type(metrics.contentType).send(await metrics.render());
  });
  app.get(`${INTERNAL_PREFIX}status`, (_req, res) => {
    res.json({
      version: VERSION,
      upstream: endpoint.origin,
      cache: { bytes: cache.bytes, entries: cache.entries, maxBytes: config.maxCacheBytes - config.hotCacheBytes },
      memory: { usedBytes: budget.used, maxBytes: config.maxCacheBytes, process: process.memoryUsage() },
      hotCache: hotCache && { bytes: hotCache.bytes, entries: hotCache.entries, maxBytes: config.hotCacheBytes },
      cluster: cluster?.status(),
    });
  });
  let draining = false;
  app.get('/readyz', (_req, res) => {
    const state = upstream.reachability();
    if (draining) res.status(503).json({ ready: false, reason: 'shutting down' });
    else if (state.reachable) res.json({ ready: true });
    else res.status(503).json({ ready: false, reason: state.reason, since: new Date(state.sinceMs).toISOString() });
  });
  const generatedKey = config.clientKeys.length === 0 ? generateClientKey() : undefined;
  const auth = new ClientAuth({
    verifier: new SigV4Verifier({ keys: new KeyStore(generatedKey ? [generatedKey] : config.clientKeys), regions: config.clientRegions }),
    allowAnonymous: config.allowAnonymous,
  });
  app.use(
    createLegacyRouter({
      gateway,
      auth,
      maxMultipartMemoryBytes: config.maxMultipartMemoryBytes,
      maxUploadFiles: config.maxUploadFiles,
      bodyPace: { idleTimeoutMs: config.requestBodyTimeoutMs, minBytesPerSecond: config.requestBodyMinBytesPerSecond },
      version: VERSION,
      token: config.legacy.token,
      logger: logger.child({ module: 'legacy' }),
    }),
  );

  const s3 = createS3Handler({
    gateway,
    auth,
    trailingChecksums: config.upstream.kind === 'remote' ? config.upstream.trailingChecksums : 'none',
    bodyPace: { idleTimeoutMs: config.requestBodyTimeoutMs, minBytesPerSecond: config.requestBodyMinBytesPerSecond },
    verifyWrites: config.verifyUpstreamWrites,
    domain: config.domain,
    logger: logger.child({ module: 's3' }),
  });
  const logRequest = createRequestLogger(logger, config.verbose);
  const newRequestId = requestIds();
  const isVirtualHost = (req: { headers: IncomingHttpHeaders }): boolean =>
    config.domain !== undefined && (req.headers.host ?? '').replace(/:\d+$/, '').toLowerCase().endsWith(`.${config.domain}`);
  const isLegacyRoute = (req: { method?: string; headers: IncomingHttpHeaders }, path: string): boolean =>
    LEGACY_PATHS.has(path) && !isVirtualHost(req) && (PROBES.has(path) || config.legacy.enabled) && LEGACY_ROUTES.has(`${req.method} ${path}`);

  /** Which part of the node answers a request: the internal (and peer) routes, the legacy routes, or S3. */
  const routeOf = (req: { method?: string; headers: IncomingHttpHeaders }, path: string): 'internal' | 'legacy' | 's3' => {
    if (!isVirtualHost(req) && path.startsWith(INTERNAL_PREFIX)) return 'internal';
    return isLegacyRoute(req, path) ? 'legacy' : 's3';
  };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const requestId = newRequestId();
    logRequest(req, res, requestId);
    const path = pathOf(req.url ?? '/');
    const route = routeOf(req, path);
    if (route === 'internal') {
      res.setHeader('x-amz-request-id', requestId);
      continueIfExpected(req, res);
      if (path.startsWith(PEER_PREFIX)) {
        if (peerRoutes) settle(peerRoutes.handle(req, res, path, requestId), res, requestId);
        else {
          res.writeHead(404);
          res.end();
        }
      } else app(req, res);
      return;
    }
    if (route === 'legacy') {
      // The legacy routes send 100 Continue themselves, once the request is authenticated.
      res.setHeader('x-amz-request-id', requestId);
      app(req, res);
      return;
    }
    // The S3 handler sets x-amz-request-id itself: a plain hit writes it with the rest of its head.
    settle(s3.handle(req, res, requestId), res, requestId);
  }

  const countDirectHit = metrics.counting(metrics.directHits, () => ({}));

  function directHit(request: HeadRequest): DirectHit | Promise<DirectHit | undefined> | undefined {
    if (config.verbose) return undefined;
    const path = pathOf(request.url);
    const route = routeOf(request, path);
    if (route === 'internal') {
      const answer = peerRoutes?.plainObject(request);
      return answer === undefined ? undefined : directAnswer(answer);
    }
    if (route !== 's3') return undefined;
    const hit = s3.plainHit(request);
    if (hit === undefined) return undefined;
    if (!(hit instanceof Promise)) return directAnswer(hit);
    return hit.then((read) => (read === undefined ? undefined : directAnswer(read)));
  }

  function directAnswer(hit: PlainHit): DirectHit {
    countDirectHit();
    return { headers: hit.headers, body: hit.body, release: hit.release, requestId: newRequestId() };
  }

  /**
   * The route handlers answer their own errors; should one still reject, the request is cut here and
   * logged rather than left as an unhandled rejection, which would end the process.
   */
  function settle(handling: Promise<void>, res: ServerResponse, requestId: string): void {
    handling.catch((err: unknown) => {
      logger.error({ err, requestId }, 'request handler failed');
      res.destroy();
    });
  }

  return {
    handle,
    directHit,
    metrics,
    upstreamEndpoint: endpoint.origin,
    generatedKey,
    async listening(address) {
      if (config.cluster === undefined || cluster !== undefined) return;
      const setup = await setUpCluster(config.cluster, address.host, address.port, logger);
      cluster = setup.cluster;
      gateway.joinCluster(cluster);
      peerRoutes = createPeerRoutes({ gateway, auth: setup.auth, logger: logger.child({ module: 'peers' }) });
    },
    drain() {
      draining = true;
    },
    setPeers(peers, self) {
      if (cluster === undefined) throw new Error('setPeers: this node was not configured as a cluster member');
      cluster.setPeers(peers, self);
    },
    async close() {
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

/** The path of a request target, without its query. */
function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** Request ids: a random per-process prefix and a counter, cheap enough for every request. */
function requestIds(): () => string {
  const prefix = randomBytes(4).toString('hex').toUpperCase();
  let counter = 0;
  return () => `${prefix}${(counter++).toString(16).toUpperCase().padStart(8, '0')}`;
}
