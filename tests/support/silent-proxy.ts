/**
 * A TCP proxy that can go silent: it keeps every client connection open but passes nothing either way and
 * closes nothing, whatever happens behind it. That is what a client sees when a broker's host goes away
 * (an MSK broker replaced while patching, an instance lost): no reset, no close, no answer, until the
 * client's own timeouts. A broker started with `advertisedPort` = the proxy's port is reached only through it.
 *
 * No Jest globals: usable from command-line fault scripts too.
 *
 * @example
 * const proxy = await SilentProxy.start(brokerPort);
 * const broker = await OwnBroker.start({ advertisedPort: proxy.port });   // clients use 127.0.0.1:<proxy.port>
 * proxy.silence();   // existing and new connections hang
 * proxy.speak();     // new connections work again; the silenced ones stay dead until their clients drop them
 * await proxy.close();
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './net.ts';

export class SilentProxy {
  readonly port: number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #silent = false;
  /** Connections open while silenced: they never speak again (their broker connection is gone). */
  readonly #dead = new WeakSet<Socket>();

  private constructor(port: number, server: Server) {
    this.port = port;
    this.#server = server;
  }

  /** Listens on a free port (or `port`) of 127.0.0.1 and forwards to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number, port?: number): Promise<SilentProxy> {
    const listenPort = port ?? (await freePort());
    let proxy: SilentProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', () => resolve());
    });
    proxy = new SilentProxy(listenPort, server);
    return proxy;
  }

  /** From now on nothing passes and nothing is closed, on open connections and new ones alike. */
  silence(): void {
    this.#silent = true;
    for (const socket of this.#sockets) this.#dead.add(socket);
  }

  /** New connections are forwarded again; connections silenced before stay silent. */
  speak(): void {
    this.#silent = false;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  private accept(client: Socket, targetPort: number): void {
    this.#sockets.add(client);
    client.on('close', () => this.#sockets.delete(client));
    client.on('error', () => undefined);
    if (this.#silent) {
      this.#dead.add(client);
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    upstream.on('error', () => undefined);
    const passes = () => !this.#dead.has(client);
    client.on('data', (chunk) => {
      if (passes()) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (passes()) client.write(chunk);
    });
    // A dead connection learns nothing of the broker's end; a live one is closed with it.
    upstream.on('close', () => {
      if (passes()) client.destroy();
    });
    client.on('close', () => upstream.destroy());
  }
}
