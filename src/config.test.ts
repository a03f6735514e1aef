import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from './config.js';

const MIB = 1024 * 1024;

function config(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const parsed = parseConfig(argv, { AWS_SHARED_CREDENTIALS_FILE: '/nonexistent', ...env });
  assert.equal(parsed.kind, 'config', JSON.stringify(parsed));
  if (parsed.kind !== 'config') throw new Error('unreachable');
  return parsed.config;
}

test('defaults match the original Falcon', () => {
  const c = config([]);
  assert.equal(c.host, 'localhost');
  assert.equal(c.port, 8080);
  assert.equal(c.maxCacheBytes, 512 * MIB);
  assert.equal(c.maxObjectBytes, 64 * MIB);
  assert.equal(c.maxMultipartMemoryBytes, 128 * MIB);
  assert.equal(c.timeoutMs, 5000);
  assert.equal(c.ttlMs, 60 * 60_000);
  assert.equal(c.verbose, false);
  assert.deepEqual(c.peers, []);
  assert.equal(c.upstream.kind, 'local');
});

test('flags override the environment, which overrides defaults', () => {
  assert.equal(config([], { FALCON_PORT: '9000' }).port, 9000);
  assert.equal(config(['--port', '9001'], { FALCON_PORT: '9000' }).port, 9001);
  assert.equal(config([], { FALCON_VERBOSE: 'true' }).verbose, true);
  assert.equal(config(['--ttl', '0']).ttlMs, 0);
});

test('an endpoint or AWS credentials select a remote upstream', () => {
  const withEndpoint = config(['--s3-endpoint', 'http://minio:9000', '--s3-force-path-style', '--s3-region', 'eu-west-1']);
  assert.deepEqual(withEndpoint.upstream, { kind: 'remote', endpoint: new URL('http://minio:9000'), region: 'eu-west-1', forcePathStyle: true, checksumTrailers: true });
  const off = config(['--s3-endpoint', 'http://minio:9000', '--s3-checksum-trailers', 'false']).upstream;
  assert.equal(off.kind === 'remote' && off.checksumTrailers, false);
  const aws = config([], { AWS_ACCESS_KEY_ID: 'AKIA', AWS_REGION: 'eu-central-1' });
  assert.equal(aws.upstream.kind, 'remote');
  assert.equal(aws.upstream.region, 'eu-central-1');
});

test('normalises peers as the original did', () => {
  const c = config(['--peers', 'a:8080, http://b:8080/,https://c', '--cluster-secret', 'a-long-shared-secret']);
  assert.deepEqual(c.peers, ['http://a:8080', 'http://b:8080', 'https://c']);
  assert.equal(c.cluster?.secret, 'a-long-shared-secret');
  assert.equal(c.hotCacheBytes, 64 * MIB);
});

test('requires a cluster secret with peers', () => {
  const parsed = parseConfig(['--peers', 'a:1,b:2'], {});
  assert.equal(parsed.kind, 'error');
  assert.match(JSON.stringify(parsed), /--cluster-secret/);
  assert.equal(config(['--peers', 'a:8080']).cluster, undefined, 'a list of one is a single node');
});

test('reports every bad flag at once', () => {
  const parsed = parseConfig(['--port', '70000', '--timeout', '0', '--peers', 'ftp://x'], {});
  assert.equal(parsed.kind, 'error');
  if (parsed.kind !== 'error') return;
  assert.equal(parsed.messages.length, 3);
  assert.match(parsed.messages.join('\n'), /--port.*--timeout.*--peers/s);
});

test('caps --max-object-size at the cache size', () => {
  assert.equal(config(['--max-cache-size', '10', '--max-object-size', '50']).maxObjectBytes, 10 * MIB);
});

test('reads client keys from flags, the environment and a credentials file, and reports a bad file', () => {
  assert.deepEqual(config(['--access-key', 'A', '--secret-key', 'S']).clientKeys, [{ accessKeyId: 'A', secretAccessKey: 'S' }]);
  assert.deepEqual(config([], { FALCON_ACCESS_KEY_ID: 'E', FALCON_SECRET_ACCESS_KEY: 'F' }).clientKeys, [{ accessKeyId: 'E', secretAccessKey: 'F' }]);
  assert.deepEqual(config([]).clientKeys, []);
  const lone = parseConfig(['--access-key', 'A'], {});
  assert.equal(lone.kind, 'error');
  const missing = parseConfig(['--credentials-file', '/nonexistent/keys'], {});
  assert.equal(missing.kind, 'error');
  assert.match(JSON.stringify(missing), /--credentials-file/);
  assert.equal(config(['--anonymous']).allowAnonymous, true);
  assert.deepEqual(config(['--no-legacy', '--legacy-token', 't']).legacy, { enabled: false, token: 't' });
});

test('--ttl takes minutes or a unit; --revalidate-after and --stale-if-error take seconds or a unit', () => {
  assert.equal(config(['--ttl', '30s']).ttlMs, 30_000);
  assert.equal(config(['--ttl', '10m']).ttlMs, 600_000);
  assert.equal(config(['--ttl', '2h']).ttlMs, 7_200_000);
  assert.equal(config(['--ttl', '5']).ttlMs, 300_000, 'a plain number is minutes, as in the original');
  assert.equal(config([], { FALCON_TTL: '45S' }).ttlMs, 45_000);
  const defaults = config([]);
  assert.equal(defaults.revalidateAfterMs, 0);
  assert.equal(defaults.staleIfErrorMs, 300_000);
  assert.equal(config(['--revalidate-after', '1']).revalidateAfterMs, 1000);
  assert.equal(config(['--revalidate-after', '2m', '--stale-if-error', '0']).revalidateAfterMs, 120_000);
  assert.equal(config(['--stale-if-error', '1h']).staleIfErrorMs, 3_600_000);
  const bad = parseConfig(['--ttl', 'forever', '--revalidate-after', '1.5h', '--stale-if-error=-1s'], {});
  assert.equal(bad.kind === 'error' && bad.messages.length, 3);
  const tooLong = parseConfig(['--ttl', '9000h'], {});
  assert.match(JSON.stringify(tooLong), /--ttl.*9000h/);
});
