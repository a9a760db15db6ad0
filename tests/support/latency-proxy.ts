/**
 * A TCP proxy that delays every chunk by a fixed time in each direction, keeping the order of each
 * connection's bytes: a client behind it sees a distant broker (another region, a slow network, the round
 * trips of a TLS + SASL connect), so a cold connect costs several times `delayMs` × 2 while a warm request
 * costs one round trip. A broker started with `advertisedPort` = the proxy's port is reached only through it.
 *
 * No Jest globals: usable from command-line fault scripts too.
 *
 * @example
 * const proxy = await LatencyProxy.start(brokerPort, { delayMs: 250 });
 * const broker = await OwnBroker.start({ port: brokerPort, advertisedPort: proxy.port });
 * // clients use broker.bootstrap (127.0.0.1:<proxy.port>): every request takes ≥ 500 ms more
 * await proxy.close();
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './net.ts';

export interface LatencyProxyOptions {
  /** Added to each direction: a request/response round trip costs twice this. */
  delayMs: number;
  /** Listen port; default a free one. */
  port?: number;
}

export class LatencyProxy {
  readonly port: number;
  readonly delayMs: number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(port: number, delayMs: number, server: Server) {
    this.port = port;
    this.delayMs = delayMs;
    this.#server = server;
  }

  /** Listens on 127.0.0.1 and forwards to 127.0.0.1:`targetPort`, `delayMs` late each way. */
  static async start(targetPort: number, options: LatencyProxyOptions): Promise<LatencyProxy> {
    const listenPort = options.port ?? (await freePort());
    let proxy: LatencyProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(listenPort, '127.0.0.1', () => resolve());
    });
    proxy = new LatencyProxy(listenPort, options.delayMs, server);
    return proxy;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  private accept(client: Socket, targetPort: number): void {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    client.on('close', () => this.#sockets.delete(client));
    upstream.on('close', () => this.#sockets.delete(upstream));
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    // Timers of equal duration fire in the order they were set, so each direction keeps its byte order.
    const late = (from: Socket, to: Socket) =>
      from.on('data', (chunk) => {
        setTimeout(() => {
          if (!to.destroyed) to.write(chunk);
        }, this.delayMs);
      });
    late(client, upstream);
    late(upstream, client);
    // A close travels as late as the data before it, so nothing sent just before it is lost.
    const closeLate = (from: Socket, to: Socket) => from.on('close', () => setTimeout(() => to.destroy(), this.delayMs));
    closeLate(client, upstream);
    closeLate(upstream, client);
  }
}
