import { createSocket, type Socket } from 'node:dgram';
import dnsPacket from 'dns-packet';

/** A tiny authoritative DNS server on loopback UDP that answers A queries from a table the test edits. */
export class TestDnsServer {
  readonly records = new Map<string, string[]>();
  private socket: Socket | undefined;
  address = '';

  async start(): Promise<this> {
    const socket = createSocket('udp4');
    this.socket = socket;
    socket.on('message', (message, remote) => {
      let query: dnsPacket.Packet;
      try {
        query = dnsPacket.decode(message);
      } catch {
        return;
      }
      const question = query.questions?.[0];
      const addresses = question ? this.records.get(question.name.toLowerCase()) : undefined;
      const answers: dnsPacket.Answer[] =
        question?.type === 'A' && addresses
          ? addresses.map((data) => ({ type: 'A', name: question.name, ttl: 1, class: 'IN', data }))
          : [];
      const response = dnsPacket.encode({
        id: query.id,
        type: 'response',
        flags: dnsPacket.AUTHORITATIVE_ANSWER | (addresses === undefined ? 3 : 0),
        questions: query.questions,
        answers,
      });
      socket.send(response, remote.port, remote.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    this.address = `127.0.0.1:${socket.address().port}`;
    return this;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.socket ? this.socket.close(() => resolve()) : resolve()));
  }
}
