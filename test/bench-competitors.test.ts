import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { COMPETITOR_KINDS, findExecutable, startCompetitor } from '../bench/competitor-servers.js';
import { fetchObject, objectProblems } from '../bench/measure.js';
import { OBJECT_SPECS, seedObjects } from '../bench/objects.js';
import { presignTargets, requestTarget } from '../bench/presign.js';
import { processCpuMs } from '../bench/process-cpu.js';
import { BENCH_BUCKET } from '../bench/shared.js';
import { startLocalUpstream } from '../src/upstream/local-upstream.js';

for (const kind of COMPETITOR_KINDS) {
  const executable = await findExecutable(kind.executable, process.env);
  test(
    `bench ${kind.name} serves a presigned GET from its cache by path, after one unsigned fetch upstream`,
    async (t) => {
      assert.ok(executable !== undefined, `${kind.executable} is not installed: scripts/install-test-deps.sh installs it`);
      const dir = await mkdtemp(join(tmpdir(), `falcon-bench-${kind.name}-`));
      t.after(() => rm(dir, { recursive: true, force: true }));
      const upstream = await startLocalUpstream(join(dir, 'upstream'), [BENCH_BUCKET]);
      t.after(() => upstream.close());
      const [object] = await seedObjects(upstream.endpoint, dir, OBJECT_SPECS.slice(0, 1));
      assert.ok(object !== undefined);
      // The upstream refuses the client's presigned URL (it does not know the client's key): a 200 through the
      // competitor shows that it fetched the path without the query.
      const direct = await fetch(upstream.endpoint.origin + requestTarget({ name: 'upstream', targets: await presignTargets(upstream.endpoint.origin, [object], 1) }, object));
      await direct.arrayBuffer();
      assert.equal(direct.status, 403);

      const competitor = await startCompetitor(kind, executable, dir, upstream.endpoint);
      t.after(competitor.process.stop);
      const server = { name: kind.name, targets: await presignTargets(competitor.process.url, [object], 2) };
      const [first, second] = server.targets.get(object.path)?.targets ?? [];
      assert.ok(first !== undefined && second !== undefined);

      const miss = await fetchObject(competitor.process.url + first);
      assert.deepEqual(objectProblems(kind.name, object, miss), []);
      assert.equal(miss.headers.get(kind.cacheHeader), 'MISS');
      // A different signature of the same object is the same cache entry.
      const hit = await fetchObject(competitor.process.url + second);
      assert.deepEqual(objectProblems(kind.name, object, hit), []);
      assert.equal(hit.headers.get(kind.cacheHeader), 'HIT');

      assert.ok(competitor.process.pids.length >= 2, 'the started process and its serving child');
      await competitor.process.stop();
      for (const pid of competitor.process.pids) assert.equal(await processCpuMs(pid), undefined, `pid ${pid} still runs`);
    },
  );
}
