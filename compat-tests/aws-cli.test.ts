import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { randomBody, sha256 } from '../test-support/bytes.js';
import { awsCliEnv, type FalconProcess, startLocalFalcon, upstreamRequestCount } from '../test-support/falcon-process.js';
import { CLIENT_CREDENTIALS } from '../test-support/harness.js';

const run = promisify(execFile);
/** Debian's awscli package: AWS CLI v2. */
const AWS = process.env.FALCON_TEST_AWS_CLI ?? '/usr/bin/aws';

let falcon: FalconProcess;
let dir: string;
let env: NodeJS.ProcessEnv;

async function aws(...args: string[]): Promise<string> {
  const { stdout } = await run(AWS, ['--endpoint-url', falcon.url, ...args], { env, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

const upstreamRequests = (method: string): Promise<number> => upstreamRequestCount(falcon.url, method);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'falcon-awscli-'));
  env = { PATH: process.env.PATH, HOME: dir, ...awsCliEnv(dir, CLIENT_CREDENTIALS) };
  falcon = await startLocalFalcon(dir, CLIENT_CREDENTIALS);
});
after(async () => {
  await falcon.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('AWS CLI against a running Falcon', () => {
  test('aws s3 mb, cp up and down, ls and rm work and downloads are served from cache', async () => {
    await aws('s3', 'mb', 's3://cli');
    const small = randomBody(10_000);
    const large = randomBody(20 * 1024 * 1024 + 11);
    await writeFile(join(dir, 'small.bin'), small);
    await writeFile(join(dir, 'large.bin'), large);

    await aws('s3', 'cp', join(dir, 'small.bin'), 's3://cli/files/small file.bin');
    const postsBefore = await upstreamRequests('POST');
    await aws('s3', 'cp', join(dir, 'large.bin'), 's3://cli/files/large.bin');
    assert.ok((await upstreamRequests('POST')) - postsBefore >= 2, 'a 20 MiB upload is a multipart upload');

    const listing = await aws('s3', 'ls', '--recursive', 's3://cli/');
    assert.match(listing, /10000 files\/small file\.bin/);
    assert.match(listing, /20971531 files\/large\.bin/);

    for (const [name, body] of [['small file.bin', small], ['large.bin', large]] as const) {
      const target = join(dir, `down-${name}`);
      await aws('s3', 'cp', `s3://cli/files/${name}`, target);
      assert.equal(sha256(await readFile(target)), sha256(body), name);
    }
    const getsAfterFirst = await upstreamRequests('GET');
    for (const [name, body] of [['small file.bin', small], ['large.bin', large]] as const) {
      const target = join(dir, `again-${name}`);
      await aws('s3', 'cp', `s3://cli/files/${name}`, target);
      assert.equal(sha256(await readFile(target)), sha256(body), name);
    }
    assert.equal(await upstreamRequests('GET'), getsAfterFirst, 'second downloads reach the upstream zero times');

    await aws('s3', 'rm', 's3://cli/files/small file.bin');
    await assert.rejects(aws('s3', 'cp', 's3://cli/files/small file.bin', join(dir, 'gone.bin')));
    const after = await aws('s3', 'ls', '--recursive', 's3://cli/');
    assert.doesNotMatch(after, /small file\.bin/);
  });
});
