import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type ClientKey, readCredentialsFile } from './s3/auth/keys.js';

const MIB = 1024 * 1024;

type FlagType = 'string' | 'int' | 'boolean' | 'list' | 'duration';

interface FlagSpec {
  type: FlagType;
  /** Default shown in --help; undefined means "not set". */
  default?: string | number | boolean;
  help: string;
}

/** One table feeds parsing, defaults, environment variables and --help. */
export const FLAGS = {
  host: { type: 'string', default: 'localhost', help: 'address to listen on; with --port it identifies this node in --peers' },
  port: { type: 'int', default: 8080, help: 'port to listen on (0 picks a free one)' },
  peers: { type: 'list', help: 'comma-separated peer URLs including this node, e.g. http://a:8080,http://b:8080' },
  'peers-dns': { type: 'string', help: 'DNS name whose A/AAAA records (or an SRV name _svc._tcp.name) are the nodes; re-resolved every --peers-dns-interval' },
  'peers-dns-interval': { type: 'int', default: 5, help: 'seconds between --peers-dns lookups' },
  'peers-dns-server': { type: 'list', help: 'DNS servers (host[:port], comma-separated) for --peers-dns instead of the system resolver' },
  'cluster-secret': { type: 'string', help: 'shared secret authenticating requests between nodes (required with peers)' },
  'peer-timeout': { type: 'int', default: 3000, help: 'ms to wait for an owner node before reading from the upstream directly' },
  'max-cache-size': { type: 'int', default: 512, help: 'in-memory cache size in MiB (main and hot caches together)' },
  'hot-cache-size': { type: 'int', help: 'MiB of the cache kept for hot copies of objects other nodes own (default: an eighth of the cache)' },
  'max-object-size': { type: 'int', help: 'largest object cached, in MiB; larger ones always stream through from the upstream (default: no limit, large objects are cached block by block)' },
  'max-multipart-memory': { type: 'int', default: 128, help: 'memory for one /upload form in MiB; larger files spill to a temporary file' },
  's3-endpoint': { type: 'string', help: 'upstream S3 endpoint URL (default: AWS S3 when a region or AWS credentials are configured anywhere, else the embedded local upstream)' },
  's3-region': { type: 'string', default: 'us-east-1', help: 'upstream region used for signing; setting it (or AWS_REGION / AWS_DEFAULT_REGION) selects AWS S3 as the upstream' },
  's3-force-path-style': { type: 'boolean', default: false, help: 'address the upstream as endpoint/bucket/key instead of bucket.endpoint/key' },
  'local-upstream': { type: 'string', help: 'run the embedded local S3 upstream backed by this folder (default ./falcon-data when nothing names an upstream)' },
  's3-checksum-trailers': { type: 'string', help: 'how clients\' trailing checksums reach the upstream: auto (aws-chunked trailers to AWS S3; to other endpoints a checksum header on bodies up to 8 MiB, none on larger ones), true (always trailers) or false (never) (default: auto, false with the embedded local upstream)' },
  'access-key': { type: 'string', help: 'access key id clients sign with (also FALCON_ACCESS_KEY_ID); a random pair is made and printed when no key is configured' },
  'secret-key': { type: 'string', help: 'secret key for --access-key (also FALCON_SECRET_ACCESS_KEY)' },
  'credentials-file': { type: 'string', help: 'file of client key pairs in the AWS credentials format ([name] aws_access_key_id= aws_secret_access_key=)' },
  anonymous: { type: 'boolean', default: false, help: 'also accept unsigned requests, on the legacy routes too unless --legacy-token is set (signed ones are still verified)' },
  'legacy-token': { type: 'string', help: 'also accept "Authorization: Bearer <token>" on the legacy routes (/get, /upload, /invalidate), and never unsigned requests there' },
  'no-legacy': { type: 'boolean', default: false, help: 'turn the legacy routes off' },
  domain: { type: 'string', help: 'base domain for virtual-hosted-style requests: bucket.<domain>/key' },
  timeout: { type: 'int', default: 5000, help: 'upstream connect/response timeout in ms' },
  'client-idle-timeout': { type: 'int', default: 60, help: 'seconds a client connection may neither send nor read before it is closed (stalled downloads and uploads)' },
  'shutdown-grace': { type: 'int', default: 10, help: 'seconds requests in flight may take to finish after SIGTERM/SIGINT' },
  'max-upstream-requests': { type: 'int', default: 256, help: 'requests open against the upstream at once; as many more may wait up to --timeout, the rest get 503 SlowDown' },
  'max-inflight-requests': { type: 'int', default: 1024, help: 'requests answered at once; more get 503 SlowDown' },
  'max-event-loop-delay': { type: 'int', default: 0, help: 'mean event-loop delay in ms (over a second) past which new requests get 503 SlowDown; 0 = off' },
  verbose: { type: 'boolean', default: false, help: 'log every request (debug level)' },
  version: { type: 'boolean', default: false, help: 'print the version and exit' },
  help: { type: 'boolean', default: false, help: 'print this help and exit' },
  'peer-ca': { type: 'string', help: 'PEM file of the CA certificates trusted for https:// peers, instead of the system\'s' },
  'advertise-url': { type: 'string', help: 'this node\'s URL as the other nodes reach it (its entry in --peers) when --host and --port do not identify it, e.g. behind a TLS sidecar or a port mapping' },
  'client-regions': { type: 'list', help: 'regions clients may name in their SigV4 credential scope, comma-separated; * for any (default: the --s3-region)' },
  'max-upload-files': { type: 'int', default: 1000, help: 'most files one /upload form may carry' },
  'request-body-timeout': { type: 'int', default: 20_000, help: 'ms a request body may go without a byte from the client while Falcon waits for one; also the window --request-body-min-rate is averaged over' },
  'request-body-min-rate': { type: 'int', default: 1024, help: 'bytes per second a client must average over each --request-body-timeout window of sending a body (0 = no minimum)' },
  's3-verify-writes': { type: 'string', default: 'true', help: 'check the upstream\'s answer to each PutObject and UploadPart (ETag = MD5 of the bytes sent, returned checksums) and fail the write on a mismatch: true or false' },
  ttl: { type: 'duration', default: 60, help: 'cache entry time to live: minutes, or with a unit (30s, 10m, 2h); 0 = never expire' },
  'revalidate-after': { type: 'duration', default: 0, help: 'seconds (or 30s, 10m, 2h) after which a cached object is checked with the upstream (a conditional GET) before it is served again; 0 = never before the TTL' },
  'block-size': { type: 'int', default: 4, help: 'MiB per cached block (1-64): larger objects are cached as aligned blocks, smaller ones whole; every node of a cluster must use the same' },
  'readahead-blocks': { type: 'int', default: 16, help: 'blocks one reader of a large object fetches ahead in parallel (16 × 4 MiB: enough parallel upstream GETs for one reader to fill 10 Gbit/s from S3)' },
  'stale-if-error': { type: 'duration', default: 300, help: 'seconds (or 30s, 10m, 2h) past its TTL a cached object is still served, marked stale, while the upstream is unreachable or failing; 0 = never' },
} as const satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;

/**
 * How clients' trailing checksums reach the upstream: re-framed as aws-chunked trailers, as
 * x-amz-checksum-* headers on bodies small enough to read first, or not at all.
 */
export type TrailingChecksums = 'trailers' | 'headers' | 'none';

export type UpstreamConfig =
  | { kind: 'local'; directory: string; region: string }
  | { kind: 'remote'; endpoint: URL | undefined; region: string; forcePathStyle: boolean; trailingChecksums: TrailingChecksums };

export interface ClusterConfig {
  readonly peers: readonly string[];
  readonly peersDns: { readonly name: string; readonly intervalMs: number; readonly servers: readonly string[] } | undefined;
  readonly secret: string;
  readonly peerTimeoutMs: number;
  /** This node's own entry in --peers, when set with --advertise-url. */
  readonly advertiseUrl: string | undefined;
  /** PEM of the CAs trusted for https:// peers (--peer-ca); the system's when undefined. */
  readonly peerCa: string | undefined;
}

export interface Config {
  /** Key pairs clients sign with; empty means the node makes one up at start. */
  readonly clientKeys: readonly ClientKey[];
  readonly allowAnonymous: boolean;
  readonly legacy: { readonly enabled: boolean; readonly token: string | undefined };
  readonly host: string;
  readonly port: number;
  readonly peers: readonly string[];
  /** Set when the node runs in a cluster (--peers naming other nodes, or --peers-dns). */
  readonly cluster: ClusterConfig | undefined;
  /** Main plus hot cache. */
  readonly maxCacheBytes: number;
  readonly hotCacheBytes: number;
  /** Objects larger than this are never cached; infinite by default. */
  readonly maxObjectBytes: number;
  /** Objects larger than one block are cached as aligned blocks of this size. */
  readonly blockBytes: number;
  readonly readaheadBlocks: number;
  readonly maxMultipartMemoryBytes: number;
  readonly upstream: UpstreamConfig;
  readonly domain: string | undefined;
  readonly timeoutMs: number;
  /** 0 means entries never expire. */
  readonly ttlMs: number;
  readonly verbose: boolean;
  readonly clientIdleTimeoutMs: number;
  readonly shutdownGraceMs: number;
  readonly maxUpstreamRequests: number;
  readonly maxInFlightRequests: number;
  readonly maxEventLoopDelayMs: number;
  /** Regions a client's credential scope may name; undefined: any region. */
  readonly clientRegions: readonly string[] | undefined;
  readonly maxUploadFiles: number;
  /** Longest wait for a request body's next byte; also the window the minimum rate is averaged over. */
  readonly requestBodyTimeoutMs: number;
  /** 0 means no minimum. */
  readonly requestBodyMinBytesPerSecond: number;
  /** Check the upstream's ETag and returned checksums against the bytes of each upload. */
  readonly verifyUpstreamWrites: boolean;
  /** 0 means cached objects are not checked with the upstream before their TTL. */
  readonly revalidateAfterMs: number;
  /** How long past its TTL an object may be served stale while the upstream fails; 0 means never. */
  readonly staleIfErrorMs: number;
}

export type ParseResult =
  | { kind: 'config'; config: Config }
  | { kind: 'help' }
  | { kind: 'version' }
  | { kind: 'error'; messages: string[] };

export function envName(flag: string): string {
  return `FALCON_${flag.toUpperCase().replaceAll('-', '_')}`;
}

export function helpText(): string {
  const lines = ['Usage: falcon [flags]', '', 'Flags (each also read from FALCON_<FLAG> in the environment):'];
  for (const [name, spec] of Object.entries(FLAGS) as [string, FlagSpec][]) {
    const arg = spec.type === 'boolean' ? '' : spec.type === 'int' ? ' <n>' : spec.type === 'duration' ? ' <time>' : ' <value>';
    const def = spec.default === undefined || spec.type === 'boolean' ? '' : ` (default ${String(spec.default)})`;
    lines.push(`${`  --${name}${arg}`.padEnd(34)}${spec.help}${def}  [${envName(name)}]`);
  }
  return lines.join('\n');
}

const DURATION_UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;
/** A year: the largest --ttl the original accepted (525,600 minutes). */
const MAX_DURATION_MS = 525_600 * 60_000;

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on']);
const FALSE_WORDS = new Set(['0', 'false', 'no', 'off', '']);

/** Parses argv (without node and script) and the environment into a frozen Config, reporting every bad flag. */
export function parseConfig(argv: readonly string[], env: NodeJS.ProcessEnv): ParseResult {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, spec] of Object.entries(FLAGS) as [string, FlagSpec][]) {
    options[name] = { type: spec.type === 'boolean' ? 'boolean' : 'string' };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    return { kind: 'error', messages: [(err as Error).message] };
  }
  const errors: string[] = [];
  const ALIASES: Partial<Record<FlagName, string>> = { 'access-key': 'FALCON_ACCESS_KEY_ID', 'secret-key': 'FALCON_SECRET_ACCESS_KEY' };
  const raw = (name: FlagName): string | boolean | undefined => {
    const alias = ALIASES[name];
    return values[name] ?? env[envName(name)] ?? (alias === undefined ? undefined : env[alias]);
  };

  const bool = (name: FlagName): boolean => {
    const v = raw(name);
    if (typeof v === 'boolean') return v;
    if (v === undefined) return Boolean((FLAGS[name] as FlagSpec).default);
    const word = v.trim().toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
    errors.push(`--${name}: expected true or false, got "${v}"`);
    return false;
  };
  if (bool('help')) return { kind: 'help' };
  if (bool('version')) return { kind: 'version' };

  const str = (name: FlagName): string | undefined => {
    const v = raw(name);
    if (typeof v === 'boolean') return undefined;
    const def = FLAGS[name] as FlagSpec;
    if (v === undefined || v.trim() === '') return def.default === undefined ? undefined : String(def.default);
    return v.trim();
  };
  const int = (name: FlagName, min: number, max: number): number => {
    const v = str(name);
    if (v === undefined) return Number.NaN;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      errors.push(`--${name}: expected a whole number from ${min} to ${max}, got "${v}"`);
      return Number.NaN;
    }
    return Number(v);
  };
  /** A plain number in `unit`, or a number with s, m or h; in ms. */
  const duration = (name: FlagName, unit: 's' | 'm', maxMs: number): number => {
    const v = str(name);
    if (v === undefined) return Number.NaN;
    const match = /^(\d+)\s*([smh]?)$/i.exec(v);
    const ms = match === null ? Number.NaN : Number(match[1]) * DURATION_UNIT_MS[(match[2] || unit).toLowerCase() as 's' | 'm' | 'h'];
    if (!(ms <= maxMs)) {
      errors.push(`--${name}: expected a duration such as 30s, 10m or 2h (a plain number is ${unit === 's' ? 'seconds' : 'minutes'}), at most ${maxMs / 3_600_000}h, got "${v}"`);
      return Number.NaN;
    }
    return ms;
  };

  const host = str('host') ?? 'localhost';
  const port = int('port', 0, 65535);
  const maxCacheMiB = int('max-cache-size', 1, 1024 * 1024);
  const hotCacheMiB = str('hot-cache-size') === undefined ? undefined : int('hot-cache-size', 0, 1024 * 1024);
  const peerTimeoutMs = int('peer-timeout', 1, 600_000);
  const dnsIntervalS = int('peers-dns-interval', 1, 86_400);
  const maxObjectMiB = str('max-object-size') === undefined ? undefined : int('max-object-size', 1, 1024 * 1024);
  const maxMultipartMiB = int('max-multipart-memory', 1, 1024 * 1024);
  const blockMiB = int('block-size', 1, 64);
  const readaheadBlocks = int('readahead-blocks', 1, 1024);
  const timeoutMs = int('timeout', 1, 3_600_000);
  const clientIdleTimeoutS = int('client-idle-timeout', 1, 86_400);
  const shutdownGraceS = int('shutdown-grace', 0, 86_400);
  const maxUpstreamRequests = int('max-upstream-requests', 1, 100_000);
  const maxInFlightRequests = int('max-inflight-requests', 1, 1_000_000);
  const maxEventLoopDelayMs = int('max-event-loop-delay', 0, 600_000);
  const regionGiven = given(values['s3-region']) ?? given(env[envName('s3-region')]);
  const awsRegion = given(env.AWS_REGION) ?? given(env.AWS_DEFAULT_REGION);
  const region = regionGiven === undefined && awsRegion !== undefined ? awsRegion : (str('s3-region') ?? 'us-east-1');
  const ttlMs = duration('ttl', 'm', MAX_DURATION_MS);
  const revalidateAfterMs = duration('revalidate-after', 's', MAX_DURATION_MS);
  const staleIfErrorMs = duration('stale-if-error', 's', MAX_DURATION_MS);

  const peers: string[] = [];
  for (const item of (str('peers') ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const peer = normalizePeer(item);
    if (peer === undefined) errors.push(`--peers: "${item}" is not a valid http(s) URL`);
    else peers.push(peer);
  }

  const peersDnsName = str('peers-dns');
  const dnsServers = (str('peers-dns-server') ?? '').split(',').map((p) => p.trim()).filter(Boolean);
  const secret = str('cluster-secret');
  const clustered = peersDnsName !== undefined || peers.length > 1;
  if (clustered && secret === undefined) errors.push('--cluster-secret: required with --peers or --peers-dns');
  if (secret !== undefined && secret.length < 16) errors.push('--cluster-secret: use at least 16 characters');

  let endpoint: URL | undefined;
  const endpointText = str('s3-endpoint');
  if (endpointText !== undefined) {
    endpoint = parseHttpUrl(endpointText);
    if (endpoint === undefined) errors.push(`--s3-endpoint: "${endpointText}" is not a valid http(s) URL`);
  }
  const domain = str('domain')?.toLowerCase().replace(/^\.+|\.+$/g, '');
  if (domain !== undefined && !/^[a-z0-9.-]+$/.test(domain)) errors.push(`--domain: "${domain}" is not a host name`);

  const localDir = str('local-upstream');
  if (localDir !== undefined && endpointText !== undefined) {
    errors.push('--local-upstream: cannot be combined with --s3-endpoint');
  }
  // The embedded upstream runs only when asked for, or when nothing at all names an upstream: a
  // region or AWS credentials from anywhere mean AWS S3, never a silent local store.
  const upstreamGiven =
    endpointText !== undefined ||
    regionGiven !== undefined ||
    awsRegion !== undefined ||
    given(values['s3-force-path-style']) !== undefined ||
    given(env[envName('s3-force-path-style')]) !== undefined ||
    hasAwsConfiguration(env);
  const trailingChecksums = (endpointUrl: URL | undefined): TrailingChecksums => {
    const value = str('s3-checksum-trailers')?.toLowerCase() ?? 'auto';
    // Only AWS S3 is known to read aws-chunked trailers; a store that cannot would keep the framing as data.
    if (value === 'auto') return endpointUrl === undefined || isAwsS3Host(endpointUrl.hostname) ? 'trailers' : 'headers';
    if (TRUE_WORDS.has(value)) return 'trailers';
    if (!FALSE_WORDS.has(value)) errors.push(`--s3-checksum-trailers: expected auto, true or false, got "${value}"`);
    return 'none';
  };
  const upstream: UpstreamConfig =
    localDir !== undefined || !upstreamGiven
      ? { kind: 'local', directory: resolve(localDir ?? 'falcon-data'), region }
      : { kind: 'remote', endpoint, region, forcePathStyle: bool('s3-force-path-style'), trailingChecksums: trailingChecksums(endpoint) };

  const clientKeys: ClientKey[] = [];
  const accessKey = str('access-key');
  const secretKey = str('secret-key');
  if ((accessKey === undefined) !== (secretKey === undefined)) errors.push('--access-key: give --access-key and --secret-key together');
  else if (accessKey !== undefined && secretKey !== undefined) clientKeys.push({ accessKeyId: accessKey, secretAccessKey: secretKey });
  const credentialsFile = str('credentials-file');
  if (credentialsFile !== undefined) {
    try {
      clientKeys.push(...readCredentialsFile(credentialsFile));
    } catch (err) {
      errors.push(`--credentials-file: ${(err as Error).message}`);
    }
  }
  const legacyToken = str('legacy-token');
  const clientRegionList = (str('client-regions') ?? region).split(',').map((r) => r.trim()).filter(Boolean);
  if (clientRegionList.length === 0) errors.push('--client-regions: name at least one region, or *');
  const clientRegions = clientRegionList.includes('*') ? undefined : clientRegionList;
  const maxUploadFiles = int('max-upload-files', 1, 1_000_000);

  const advertiseText = str('advertise-url');
  const advertiseUrl = advertiseText === undefined ? undefined : normalizePeer(advertiseText);
  if (advertiseText !== undefined && advertiseUrl === undefined) errors.push(`--advertise-url: "${advertiseText}" is not a valid http(s) URL`);
  const peerCaFile = str('peer-ca');
  let peerCa: string | undefined;
  if (peerCaFile !== undefined) {
    try {
      peerCa = readFileSync(peerCaFile, 'utf8');
      if (!peerCa.includes('-----BEGIN CERTIFICATE-----')) errors.push(`--peer-ca: ${peerCaFile} holds no PEM certificate`);
    } catch (err) {
      errors.push(`--peer-ca: ${(err as Error).message}`);
    }
  }

  const requestBodyTimeoutMs = int('request-body-timeout', 1, 3_600_000);
  const requestBodyMinRate = int('request-body-min-rate', 0, 1024 ** 3);
  const verifyUpstreamWrites = bool('s3-verify-writes');

  const verbose = bool('verbose');
  const allowAnonymous = bool('anonymous');
  const legacyEnabled = !bool('no-legacy');
  if (errors.length > 0) return { kind: 'error', messages: errors };

  const maxCacheBytes = maxCacheMiB * MIB;
  const cluster: ClusterConfig | undefined = clustered
    ? Object.freeze({
        peers: Object.freeze(peers),
        peersDns:
          peersDnsName === undefined
            ? undefined
            : { name: peersDnsName, intervalMs: dnsIntervalS * 1000, servers: Object.freeze(dnsServers) },
        secret: secret ?? '',
        peerTimeoutMs,
        advertiseUrl,
        peerCa,
      })
    : undefined;
  const hotCacheBytes = cluster === undefined ? 0 : Math.min(maxCacheBytes - MIB, hotCacheMiB === undefined ? Math.floor(maxCacheBytes / 8) : hotCacheMiB * MIB);
  const config: Config = Object.freeze({
    clientKeys: Object.freeze(clientKeys),
    allowAnonymous,
    legacy: Object.freeze({ enabled: legacyEnabled, token: legacyToken }),
    host,
    port,
    peers: Object.freeze(peers),
    cluster,
    maxCacheBytes,
    hotCacheBytes: Math.max(0, hotCacheBytes),
    maxObjectBytes: maxObjectMiB === undefined ? Number.POSITIVE_INFINITY : maxObjectMiB * MIB,
    blockBytes: blockMiB * MIB,
    readaheadBlocks,
    maxMultipartMemoryBytes: maxMultipartMiB * MIB,
    upstream,
    domain,
    timeoutMs,
    ttlMs,
    verbose,
    clientIdleTimeoutMs: clientIdleTimeoutS * 1000,
    shutdownGraceMs: shutdownGraceS * 1000,
    maxUpstreamRequests,
    maxInFlightRequests,
    maxEventLoopDelayMs,
    clientRegions: clientRegions && Object.freeze(clientRegions),
    maxUploadFiles,
    requestBodyTimeoutMs,
    requestBodyMinBytesPerSecond: requestBodyMinRate,
    verifyUpstreamWrites,
    revalidateAfterMs,
    staleIfErrorMs,
  });
  return { kind: 'config', config };
}

function parseHttpUrl(text: string): URL | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Peers are given as host:port or URLs; http:// is added when missing, as the original did. */
export function normalizePeer(text: string): string | undefined {
  const url = parseHttpUrl(/^[a-z]+:\/\//i.test(text) ? text : `http://${text}`);
  if (url === undefined || url.hostname === '' || (url.pathname !== '/' && url.pathname !== '')) return undefined;
  return url.origin;
}

/** A flag or variable that was set to something (an empty value counts as unset). */
function given(value: string | boolean | undefined): string | undefined {
  if (value === undefined || value === false) return undefined;
  const text = String(value).trim();
  return text === '' ? undefined : text;
}

/**
 * True when the AWS SDK's configuration or credential chain has something to find: credentials or a
 * profile in the environment, web identity or container credentials, or the shared config and
 * credentials files (which SSO and credential_process profiles live in). Then AWS S3 is the upstream.
 */
function hasAwsConfiguration(env: NodeJS.ProcessEnv): boolean {
  const names = ['AWS_ACCESS_KEY_ID', 'AWS_PROFILE', 'AWS_WEB_IDENTITY_TOKEN_FILE', 'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI', 'AWS_CONTAINER_CREDENTIALS_FULL_URI'];
  if (names.some((name) => given(env[name]) !== undefined)) return true;
  const home = given(env.HOME) ?? homedir();
  const credentials = given(env.AWS_SHARED_CREDENTIALS_FILE) ?? join(home, '.aws', 'credentials');
  const config = given(env.AWS_CONFIG_FILE) ?? join(home, '.aws', 'config');
  return existsSync(credentials) || existsSync(config);
}

function isAwsS3Host(hostname: string): boolean {
  return /(^|\.)amazonaws\.com(\.cn)?$/i.test(hostname);
}
