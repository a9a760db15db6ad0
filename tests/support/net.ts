import { createServer } from 'node:net';

/**
 * A TCP port on 127.0.0.1 that nothing listens on (bound, then released): where a test points a client to
 * see a dependency refuse connections, or where it starts a server of its own.
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
