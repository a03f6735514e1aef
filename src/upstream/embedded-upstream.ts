import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { LocalUpstream } from './local-upstream.js';

const here = fileURLToPath(import.meta.url);
/** The child's entry point beside this module, as .ts when run from source and .js when built. */
const CHILD_ENTRY = join(dirname(here), `embedded-upstream-child${extname(here)}`);
const RESTART_DELAY_MS = 500;

/**
 * The embedded local S3 server in a process of its own: whatever a client makes it do, it cannot take
 * the node down with it. If it dies it is restarted on the same port (requests meanwhile get 503),
 * and it ends with the node.
 */
export async function startEmbeddedUpstream(directory: string, logger: Logger): Promise<LocalUpstream> {
  let closing = false;
  let child: ChildProcess;
  let port = 0;

  const spawnChild = async (): Promise<void> => {
    child = fork(CHILD_ENTRY, [directory, String(port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('error', (err) => logger.error({ err }, 'embedded upstream process error'));
    const [message] = (await Promise.race([
      once(child, 'message'),
      once(child, 'exit').then(([code]) => {
        throw new Error(`the embedded upstream exited with code ${String(code)} before it listened`);
      }),
    ])) as [{ port: number }];
    port = message.port;
    child.once('exit', (code, signal) => {
      if (closing) return;
      logger.error({ code, signal, port }, 'embedded upstream died; restarting it');
      restartLater();
    });
  };
  const restartLater = (): void => {
    setTimeout(() => {
      if (closing) return;
      spawnChild().catch((err: unknown) => {
        logger.error({ err }, 'embedded upstream did not restart; trying again');
        restartLater();
      });
    }, RESTART_DELAY_MS).unref();
  };

  await spawnChild();
  return {
    endpoint: new URL(`http://127.0.0.1:${port}`),
    async close() {
      closing = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.disconnect();
      await exited;
    },
  };
}
