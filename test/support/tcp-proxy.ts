/**
 * A TCP proxy the test controls, to cut a connector off from a real service
 * (and let it back) without stopping the service:
 *  - `cut()` drops every open connection and refuses new ones until `restore()`;
 *  - `blackHole()` keeps every connection open and accepts new ones, but
 *    forwards nothing either way until `release()`: requests time out instead
 *    of being refused, as behind a dead switch or a stopped VM.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  /** Pairs whose bytes are held while the proxy is a black hole. */
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private holding = false;
  port = 0;

  constructor(private readonly targetHost: string, private readonly targetPort: number) {}

  async start(port = 0): Promise<number> {
    const server = createServer((client) => {
      const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => socket.destroy());
      }
      const pair = { client, upstream };
      this.pairs.add(pair);
      if (this.holding) this.hold(pair);
      else this.forward(pair);
      client.on('close', () => {
        upstream.destroy();
        this.pairs.delete(pair);
      });
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  /** Closes the listener and every connection through it. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Stops forwarding bytes, keeping every connection open (see the class comment). */
  blackHole(): void {
    this.holding = true;
    for (const pair of this.pairs) this.hold(pair);
  }

  /** Forwards again, held bytes first. */
  release(): void {
    this.holding = false;
    for (const pair of this.pairs) this.forward(pair);
  }

  private forward({ client, upstream }: { client: Socket; upstream: Socket }): void {
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
    upstream.resume();
  }

  // Unpiped and paused, each socket keeps what arrives in its buffers (and TCP
  // flow control stops the peer); nothing is lost, only late.
  private hold({ client, upstream }: { client: Socket; upstream: Socket }): void {
    client.unpipe(upstream);
    upstream.unpipe(client);
    client.pause();
    upstream.pause();
  }

  /** Listens again on the same port (no-op while it listens). */
  async restore(): Promise<void> {
    if (!this.server) await this.start(this.port);
  }
}
