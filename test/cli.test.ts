import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runFalcon, startFalconProcess } from '../test-support/falcon-process.js';

describe('falcon CLI', () => {
  test('--help lists the original flags with their defaults and environment variables', async () => {
    const { code, stdout } = await runFalcon(['--help']);
    assert.equal(code, 0);
    const expected: Array<[string, string | undefined]> = [
      ['--host', 'localhost'],
      ['--port', '8080'],
      ['--peers', undefined],
      ['--max-cache-size', '512'],
      ['--max-multipart-memory', '128'],
      ['--s3-endpoint', undefined],
      ['--timeout', '5000'],
      ['--ttl', '60'],
      ['--verbose', undefined],
      ['--version', undefined],
      ['--s3-region', 'us-east-1'],
      ['--s3-force-path-style', undefined],
      ['--max-object-size', undefined],
      ['--local-upstream', undefined],
      ['--domain', undefined],
    ];
    for (const [flag, def] of expected) {
      const line = stdout.split('\n').find((l) => l.trimStart().startsWith(`${flag} `) || l.trim() === flag || l.trimStart().startsWith(`${flag}\t`));
      assert.ok(line, `--help lists ${flag}`);
      if (def !== undefined) assert.match(line, new RegExp(`default ${def}\\)`), flag);
      assert.match(line, new RegExp(`FALCON_${flag.slice(2).toUpperCase().replaceAll('-', '_')}`));
    }
  });

  test('--version prints the package version', async () => {
    const { code, stdout } = await runFalcon(['--version']);
    assert.equal(code, 0);
    assert.match(stdout.trim(), /^\d+\.\d+\.\d+$/);
  });

  test('a bad value exits non-zero with a message naming the flag', async () => {
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['--port', 'eighty'], {}, /--port/],
      [['--max-cache-size', '-1'], {}, /--max-cache-size/],
      [['--s3-endpoint', 'ftp://x'], {}, /--s3-endpoint/],
      [['--peers', 'http://a:1/x'], {}, /--peers/],
      [[], { FALCON_TTL: 'forever' }, /--ttl/],
      [['--no-such-flag'], {}, /no-such-flag/],
    ];
    for (const [args, env, pattern] of cases) {
      const { code, stderr } = await runFalcon(args, env);
      assert.notEqual(code, 0, args.join(' '));
      assert.match(stderr.split('\n')[0] ?? '', pattern);
    }
  });

  test('on SIGTERM lets a request in flight finish before exiting', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'falcon-drain-'));
    const falcon = await startFalconProcess(['--host', '127.0.0.1', '--port', '0', '--anonymous', '--local-upstream', join(dir, 'data')]);
    try {
      assert.equal((await fetch(`${falcon.url}/drain`, { method: 'PUT' })).status, 200);
      const { request } = await import('undici');
      const { PassThrough } = await import('node:stream');
      const body = new PassThrough();
      const upload = request(`${falcon.url}/drain/slow.txt`, { method: 'PUT', body, headers: { 'content-length': '10' } });
      body.write('first');
      await new Promise((resolve) => setTimeout(resolve, 300));
      const exited = new Promise((resolve) => falcon.child.once('exit', resolve));
      falcon.child.kill('SIGTERM');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(falcon.child.exitCode, null, 'still running while the upload is in flight');
      body.end('-last');
      const res = await upload;
      assert.equal(res.statusCode, 200);
      await res.body.dump();
      await exited;
      assert.equal(falcon.child.exitCode, 0);
    } finally {
      await falcon.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('starts with an embedded local upstream when none is configured and prints how to try it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'falcon-cli-'));
    const env: NodeJS.ProcessEnv = { AWS_ACCESS_KEY_ID: '', AWS_PROFILE: '', AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'), HOME: dir };
    const falcon = await startFalconProcess(['--host', '127.0.0.1', '--port', '0', '--anonymous'], { ...env, FALCON_LOCAL_UPSTREAM: join(dir, 'data') });
    try {
      assert.match(falcon.output(), /embedded local S3/);
      assert.match(falcon.output(), new RegExp(`aws --endpoint-url ${falcon.url} s3 cp`));
      assert.match(falcon.output(), /export AWS_ACCESS_KEY_ID=FALCON[0-9A-F]{20} AWS_SECRET_ACCESS_KEY=\S{40}/);
      assert.equal((await fetch(`${falcon.url}/demo`, { method: 'PUT' })).status, 200);
      assert.equal((await fetch(`${falcon.url}/demo/hello.txt`, { method: 'PUT', body: 'hi' })).status, 200);
      assert.equal(await (await fetch(`${falcon.url}/demo/hello.txt`)).text(), 'hi');
    } finally {
      await falcon.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('choosing the upstream', () => {
    /** An environment in which the AWS SDK finds nothing: no keys, profiles, regions or shared files. */
    function bareEnv(home: string): NodeJS.ProcessEnv {
      return {
        HOME: home,
        AWS_ACCESS_KEY_ID: '',
        AWS_SECRET_ACCESS_KEY: '',
        AWS_PROFILE: '',
        AWS_REGION: '',
        AWS_DEFAULT_REGION: '',
        AWS_CONFIG_FILE: join(home, 'no-config'),
        AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
        AWS_EC2_METADATA_DISABLED: 'true',
        FALCON_LOCAL_UPSTREAM: '',
      };
    }

    test('with nothing naming an upstream, runs the embedded one in ./falcon-data and says so', async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'falcon-choice-'));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const falcon = await startFalconProcess(['--host', '127.0.0.1', '--port', '0', '--anonymous'], bareEnv(dir), { cwd: dir });
      t.after(() => falcon.stop());
      assert.match(falcon.output(), new RegExp(`upstream: embedded local S3 at http://127\\.0\\.0\\.1:\\d+, data in ${join(dir, 'falcon-data')}`));
      assert.match(falcon.output(), /"upstreamKind":"local"/);
    });

    const remoteCases: Array<[string, string[], NodeJS.ProcessEnv, RegExp]> = [
      ['--s3-region', ['--s3-region', 'eu-west-1'], {}, /AWS S3 in eu-west-1/],
      ['AWS_REGION', [], { AWS_REGION: 'eu-west-1' }, /AWS S3 in eu-west-1/],
      ['a profile in ~/.aws/config (SSO and credential_process live there)', [], {}, /AWS S3 in us-east-1/],
    ];
    for (const [what, args, env, upstream] of remoteCases) {
      test(`${what} selects AWS S3 even without credentials in the environment, never the embedded store`, async (t) => {
        const dir = await mkdtemp(join(tmpdir(), 'falcon-choice-'));
        t.after(() => rm(dir, { recursive: true, force: true }));
        const base = bareEnv(dir);
        if (args.length === 0 && Object.keys(env).length === 0) {
          const { writeFile } = await import('node:fs/promises');
          await writeFile(join(dir, 'config'), '[default]\ncredential_process = /bin/false\n');
          base.AWS_CONFIG_FILE = join(dir, 'config');
        }
        const falcon = await startFalconProcess(['--host', '127.0.0.1', '--port', '0', '--anonymous', ...args], { ...base, ...env }, { cwd: dir });
        t.after(() => falcon.stop());
        assert.match(falcon.output(), upstream);
        assert.match(falcon.output(), /"upstreamKind":"remote"/);
        assert.doesNotMatch(falcon.output(), /embedded local S3/);
        // Without credentials a write cannot succeed, and it certainly does not land on local disk.
        const put = await fetch(`${falcon.url}/demo-bucket/key`, { method: 'PUT', body: 'x' });
        assert.notEqual(put.status, 200);
        await put.arrayBuffer();
        const { existsSync } = await import('node:fs');
        assert.equal(existsSync(join(dir, 'falcon-data')), false);
      });
    }
  });
});
