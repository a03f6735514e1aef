import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  assert.equal(c.maxObjectBytes, Number.POSITIVE_INFINITY, 'any object can be cached, block by block');
  assert.equal(c.blockBytes, 4 * MIB);
  assert.equal(c.readaheadBlocks, 16);
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
  assert.deepEqual(withEndpoint.upstream, { kind: 'remote', endpoint: new URL('http://minio:9000'), region: 'eu-west-1', forcePathStyle: true, trailingChecksums: 'headers' });
  const off = config(['--s3-endpoint', 'http://minio:9000', '--s3-checksum-trailers', 'false']).upstream;
  assert.equal(off.kind === 'remote' && off.trailingChecksums, 'none');
  const aws = config([], { AWS_ACCESS_KEY_ID: 'AKIA', AWS_REGION: 'eu-central-1' });
  assert.equal(aws.upstream.kind, 'remote');
  assert.equal(aws.upstream.region, 'eu-central-1');
});

test('--s3-checksum-trailers defaults to trailers for AWS S3 only, headers for other endpoints', () => {
  const mode = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
    const upstream = config(argv, env).upstream;
    return upstream.kind === 'remote' ? upstream.trailingChecksums : undefined;
  };
  assert.equal(mode([], { AWS_ACCESS_KEY_ID: 'AKIA' }), 'trailers');
  assert.equal(mode(['--s3-endpoint', 'https://s3.eu-west-1.amazonaws.com']), 'trailers');
  assert.equal(mode(['--s3-endpoint', 'http://minio:9000']), 'headers');
  assert.equal(mode(['--s3-endpoint', 'http://minio:9000', '--s3-checksum-trailers', 'true']), 'trailers');
  assert.equal(mode(['--s3-endpoint', 'https://s3.amazonaws.com', '--s3-checksum-trailers', 'false']), 'none');
  const bad = parseConfig(['--s3-endpoint', 'http://minio:9000', '--s3-checksum-trailers', 'sometimes'], {});
  assert.deepEqual(bad.kind === 'error' && bad.messages, ['--s3-checksum-trailers: expected auto, true or false, got "sometimes"']);
});

test('request body limits and upstream write checks have safe defaults', () => {
  const c = config([]);
  assert.equal(c.requestBodyTimeoutMs, 20_000);
  assert.equal(c.requestBodyMinBytesPerSecond, 1024);
  assert.equal(c.verifyUpstreamWrites, true);
  const tuned = config(['--request-body-timeout', '1000', '--request-body-min-rate', '0', '--s3-verify-writes', 'false']);
  assert.equal(tuned.requestBodyTimeoutMs, 1000);
  assert.equal(tuned.requestBodyMinBytesPerSecond, 0);
  assert.equal(tuned.verifyUpstreamWrites, false);
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

test('--max-object-size only names objects never cached, whatever the cache size; --block-size takes 1 to 64 MiB', () => {
  assert.equal(config(['--max-cache-size', '10', '--max-object-size', '50']).maxObjectBytes, 50 * MIB);
  assert.equal(config(['--block-size', '1']).blockBytes, MIB);
  assert.equal(config(['--block-size', '64']).blockBytes, 64 * MIB);
  for (const bad of ['0', '65', 'x']) assert.equal(parseConfig(['--block-size', bad], {}).kind, 'error', bad);
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

test('reads --advertise-url and --peer-ca into the cluster settings, and reports bad ones', (t) => {
  const cluster = ['--peers', 'https://a:8443,https://b:8443', '--cluster-secret', 'a-long-shared-secret'];
  const dir = mkdtempSync(join(tmpdir(), 'falcon-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pem = join(dir, 'ca.pem');
  writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const c = config([...cluster, '--advertise-url', 'https://a:8443/', '--peer-ca', pem]);
  assert.equal(c.cluster?.advertiseUrl, 'https://a:8443');
  assert.match(c.cluster?.peerCa ?? '', /BEGIN CERTIFICATE/);
  assert.equal(config(cluster).cluster?.peerCa, undefined);
  const bad = parseConfig([...cluster, '--advertise-url', 'ftp://x', '--peer-ca', '/nonexistent/ca.pem'], {});
  assert.equal(bad.kind, 'error');
  assert.match(JSON.stringify(bad), /--advertise-url.*--peer-ca/);
});

test('clients sign for the upstream region unless --client-regions lists others; * allows any', () => {
  assert.deepEqual(config([]).clientRegions, ['us-east-1']);
  assert.deepEqual(config(['--s3-region', 'eu-west-1']).clientRegions, ['eu-west-1']);
  assert.deepEqual(config(['--client-regions', 'eu-west-1, us-east-1']).clientRegions, ['eu-west-1', 'us-east-1']);
  assert.equal(config(['--client-regions', '*']).clientRegions, undefined);
});

test('/upload forms carry at most 1000 files unless --max-upload-files says otherwise', () => {
  assert.equal(config([]).maxUploadFiles, 1000);
  assert.equal(config(['--max-upload-files', '20']).maxUploadFiles, 20);
  assert.equal(parseConfig(['--max-upload-files', '0'], {}).kind, 'error');
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
