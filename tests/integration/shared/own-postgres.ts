/**
 * A PostgreSQL server of this test's own (temp dir, spare port, loopback only) that checks passwords: SCRAM
 * for every TCP login, the superuser's included. The shared test server trusts every local connection, so a
 * wrong or rotated password would pass there unnoticed. As root it runs as the `postgres` system user
 * (PostgreSQL refuses root).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../support/net.ts';

const SUPERUSER_PASSWORD = 'own-postgres-superuser';

function binaries(): { initdb: string; postgres: string } {
  const versions = existsSync('/usr/lib/postgresql') ? readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join('/usr/lib/postgresql', version, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres') };
  }
  throw new Error('PostgreSQL binaries not found in /usr/lib/postgresql/*/bin (apt-get install postgresql)');
}

/** uid/gid of the `postgres` system user when running as root. */
function owner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const entry = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((line) => line.startsWith('postgres:'));
  const [, , uid, gid] = entry?.split(':') ?? [];
  if (uid === undefined || gid === undefined) throw new Error('running as root needs a "postgres" system user');
  return { uid: Number(uid), gid: Number(gid) };
}

export class OwnPostgres {
  readonly port: number;
  readonly #dir: string;
  readonly #process: ChildProcess;

  private constructor(port: number, dir: string, child: ChildProcess) {
    this.port = port;
    this.#dir = dir;
    this.#process = child;
  }

  static async start(): Promise<OwnPostgres> {
    const { initdb, postgres } = binaries();
    const user = owner();
    const dir = mkdtempSync(join(tmpdir(), 'own-postgres-'));
    const data = join(dir, 'data');
    const pwfile = join(dir, 'pwfile');
    writeFileSync(pwfile, SUPERUSER_PASSWORD);
    if (user !== undefined) {
      chownSync(dir, user.uid, user.gid);
      chownSync(pwfile, user.uid, user.gid);
    }
    const asOwner = user === undefined ? {} : { uid: user.uid, gid: user.gid };
    const init = spawnSync(
      initdb,
      ['-D', data, '-U', 'postgres', `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=trust', '-E', 'UTF8', '--locale=C', '--no-sync'],
      { encoding: 'utf8', ...asOwner },
    );
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
    const port = await freePort();
    const child = spawn(
      postgres,
      ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
      { stdio: 'ignore', ...asOwner },
    );
    const server = new OwnPostgres(port, dir, child);
    await server.#waitUntilUp(20_000);
    return server;
  }

  /** A URL as the superuser (password checked) for `database`. */
  url(database = 'postgres'): string {
    return `postgres://postgres:${SUPERUSER_PASSWORD}@127.0.0.1:${this.port}/${database}`;
  }

  async destroy(): Promise<void> {
    if (this.#process.exitCode === null) {
      await new Promise<void>((resolve) => {
        this.#process.once('exit', () => resolve());
        // SIGINT: "fast" shutdown (disconnects clients, no checkpoint wait worth having for a throwaway).
        this.#process.kill('SIGINT');
      });
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async #waitUntilUp(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const client = new pg.Client({ connectionString: this.url(), connectionTimeoutMillis: 1000 });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.end();
        return;
      } catch (error) {
        await client.end().catch(() => undefined);
        if (Date.now() > deadline || this.#process.exitCode !== null) throw new Error(`own PostgreSQL did not start: ${String(error)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}
