import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';

const WHOLE = 'whole-request';

/**
 * A bare Node HTTP server with the node's server options: it answers as soon as a request has
 * arrived whole. It settles whether a request left unanswered had in fact arrived whole.
 */
export class ReferenceParser {
  private constructor(private readonly server: Server) {}

  static async start(): Promise<ReferenceParser> {
    const server = createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000 });
    server.on('clientError', (_err, socket) => socket.destroy());
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => server.emit('request', req, res));
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      req.on('error', () => {});
      req.on('end', () => res.end(WHOLE));
      req.resume();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return new ReferenceParser(server);
  }

  /** Whether Node's parser reads a whole first request, body included, from these bytes. */
  isWholeRequest(bytes: Buffer, waitMs = 1500): Promise<boolean> {
    const { port } = this.server.address() as AddressInfo;
    return new Promise((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      let seen = '';
      const settle = (whole: boolean): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(whole);
      };
      const timer = setTimeout(() => settle(false), waitMs);
      socket.on('connect', () => socket.write(bytes));
      socket.on('data', (d: Buffer) => {
        seen += d.toString('latin1');
        if (seen.includes(WHOLE)) settle(true);
      });
      socket.on('error', () => settle(false));
      socket.on('close', () => settle(seen.includes(WHOLE)));
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
