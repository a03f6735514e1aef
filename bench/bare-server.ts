import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { announceReady, parseManifest } from './shared.js';

interface Route {
  body: Buffer;
  headers: Record<string, string>;
}

const [manifestFile] = process.argv.slice(2);
if (manifestFile === undefined) throw new Error('usage: bare-server.ts <manifest.json>');

async function loadRoutes(file: string): Promise<Map<string, Route>> {
  const routes = new Map<string, Route>();
  for (const object of parseManifest(await readFile(file, 'utf8'))) {
    const body = await readFile(object.file);
    routes.set(object.path, {
      body,
      headers: { 'content-type': object.contentType, etag: object.etag, 'content-length': String(body.length) },
    });
  }
  return routes;
}

const routes = await loadRoutes(manifestFile);

/** The path of a request target: the bench's clients send presigned URLs, whose query the bare server ignores. */
function pathOf(target: string): string {
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}

const CLOSED_RANGE = /^bytes=(\d+)-(\d+)$/;

/** The closed byte range (`bytes=first-last`, the only form the bench sends) as a slice of `body`, sent 206. */
function sendRange(res: ServerResponse, route: Route, header: string): void {
  const match = CLOSED_RANGE.exec(header);
  const first = Number(match?.[1]);
  const last = Math.min(Number(match?.[2]), route.body.length - 1);
  if (match === null || first > last) {
    res.writeHead(416).end();
    return;
  }
  res.writeHead(206, {
    ...route.headers,
    'content-length': String(last - first + 1),
    'content-range': `bytes ${first}-${last}/${route.body.length}`,
  });
  res.end(route.body.subarray(first, last + 1));
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const route = req.method === 'GET' ? routes.get(pathOf(req.url ?? '')) : undefined;
  if (route === undefined) {
    res.writeHead(404).end();
    return;
  }
  const range = req.headers.range;
  if (range !== undefined) {
    sendRange(res, route, range);
    return;
  }
  res.writeHead(200, route.headers);
  res.end(route.body);
}

// Same socket timeouts as Falcon's server, so only the request handling differs.
const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000 }, handle);
server.listen(0, '127.0.0.1', () => announceReady((server.address() as AddressInfo).port));
// An orderly exit on SIGTERM, so that a server run with --cpu-prof writes its profile.
process.once('SIGTERM', () => process.exit(0));
