import { constants } from 'node:fs';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePorts } from './cluster.js';
import { NGINX_CACHE_HEADER, VARNISH_CACHE_HEADER, nginxConfig, varnishVcl } from './competitor-configs.js';
import { type CompetitorLaunch, type CompetitorProcess, spawnCompetitor } from './competitor-process.js';

/** What a user might put in front of S3 instead of Falcon. */
export interface CompetitorKind {
  name: 'nginx' | 'varnish';
  /** The executable looked for in /usr/sbin, /usr/local/sbin and PATH. */
  executable: string;
  /** Response header whose value is HIT when the answer came from the competitor's cache. */
  cacheHeader: string;
  launch(options: LaunchOptions): Promise<CompetitorLaunch>;
}

interface LaunchOptions {
  executablePath: string;
  /** A directory of its own for configuration, logs and storage. */
  dir: string;
  port: number;
  upstream: URL;
}

const NGINX: CompetitorKind = {
  name: 'nginx',
  executable: 'nginx',
  cacheHeader: NGINX_CACHE_HEADER,
  async launch({ executablePath, dir, port, upstream }) {
    const config = join(dir, 'nginx.conf');
    // Run as root, nginx would switch its worker to nobody, which cannot enter the bench's private directory.
    const workerUser = process.getuid?.() === 0 ? userInfo().username : undefined;
    await writeFile(config, nginxConfig({ dir, listenPort: port, upstream, workerUser }));
    return {
      name: 'nginx',
      command: executablePath,
      args: ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', config, '-g', 'daemon off;'],
      port,
      // The cache loader ends a minute after start; the worker and the cache manager run throughout.
      isServingChild: (cmdline) => cmdline.includes('worker process') || cmdline.includes('cache manager process'),
    };
  },
};

const VARNISH: CompetitorKind = {
  name: 'varnish',
  executable: 'varnishd',
  cacheHeader: VARNISH_CACHE_HEADER,
  async launch({ executablePath, dir, port, upstream }) {
    const vcl = join(dir, 'bench.vcl');
    await writeFile(vcl, varnishVcl(upstream));
    return {
      name: 'varnish',
      command: executablePath,
      // -j none: no privilege separation, so the bench's private directory stays usable when run as root.
      args: ['-F', '-j', 'none', '-n', join(dir, 'work'), '-a', `127.0.0.1:${port}`, '-T', '127.0.0.1:0', '-f', vcl, '-s', 'malloc,256m'],
      port,
      // The manager's one child is the cache process, which serves every request.
      isServingChild: () => true,
    };
  },
};

export const COMPETITOR_KINDS: readonly CompetitorKind[] = [NGINX, VARNISH];

export const SETUP_HINT = 'install it with bench/setup.sh (apt-get install -y nginx varnish)';

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where `executable` is installed, or undefined. */
export async function findExecutable(executable: string, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const dirs = ['/usr/sbin', '/usr/local/sbin', ...(env.PATH ?? '').split(delimiter).filter((dir) => dir !== '')];
  for (const dir of dirs) {
    const path = join(dir, executable);
    if (await isExecutable(path)) return path;
  }
  return undefined;
}

export interface RunningCompetitor {
  kind: CompetitorKind;
  process: CompetitorProcess;
}

/** Starts `kind` from `executablePath` in front of `upstream`, in a directory of its own under `benchDir`. */
export async function startCompetitor(kind: CompetitorKind, executablePath: string, benchDir: string, upstream: URL): Promise<RunningCompetitor> {
  const dir = join(benchDir, kind.name);
  await mkdir(dir, { recursive: true });
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no free port');
  const launch = await kind.launch({ executablePath, dir, port, upstream });
  return { kind, process: await spawnCompetitor(launch) };
}
