import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy that can be cut off: while forwarding it relays connections to the target; once
 * black-holed it drops the connections it had and accepts new ones without ever answering, as a
 * network partition does.
 */
export class TcpProxy {
  url = '';
  private server: Server | undefined;
  private forwarding = true;
  private readonly sockets = new Set<Socket>();

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<this> {
    this.server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  blackHole(): void {
    this.forwarding = false;
    this.destroyAll();
  }

  forward(): void {
    this.forwarding = true;
    this.destroyAll();
  }

  async close(): Promise<void> {
    this.destroyAll();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  private accept(client: Socket): void {
    this.track(client);
    if (!this.forwarding) {
      client.resume();
      return;
    }
    const upstream = connect(this.target.port, this.target.host);
    this.track(upstream);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
  }

  private destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}
