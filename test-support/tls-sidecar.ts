import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:tls';

/** A TLS-terminating sidecar on loopback: decrypts connections and relays them to a node's plain HTTP port. */
export class TlsSidecar {
  url = '';
  /** TLS connections accepted so far. */
  connections = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly nodePort: number,
    private readonly credentials: { key: string; cert: string },
  ) {}

  async start(): Promise<this> {
    this.server = createServer(this.credentials, (client) => {
      this.connections += 1;
      const node = connect(this.nodePort, '127.0.0.1');
      for (const socket of [client, node]) {
        this.sockets.add(socket);
        socket.on('error', () => {});
        socket.on('close', () => this.sockets.delete(socket));
      }
      client.on('close', () => node.destroy());
      node.on('close', () => client.destroy());
      client.pipe(node);
      node.pipe(client);
    });
    // A failed handshake (an untrusting client) is the test's subject, not an error of the sidecar.
    this.server.on('tlsClientError', () => {});
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
