import { execFile } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { listensYet, type ManagedProcess, onFreePort, StopWaiting, spawnManaged, waitFor } from './process.js';
import { postgresBinDir } from './system-packages.js';

/** A real PostgreSQL server on loopback; `url` is ready to use. */
export interface PostgresHandle extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

function pgBinDir(): string {
  const found = postgresBinDir();
  if (!found) {
    throw new Error(
      'testkit: PostgreSQL server binaries not found; install the Debian package postgresql (npm run setup does, as root)',
    );
  }
  return found;
}

const execFileAsync = promisify(execFile);

function asPostgresUser(command: string, args: string[]): [string, string[]] {
  // The server refuses to run as root; Debian's package creates the postgres user.
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

/** Starts a throwaway PostgreSQL cluster (initdb in a temp dir, trust auth, loopback only). */
export async function startPostgres(): Promise<PostgresHandle> {
  const bin = pgBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'registry-pg-'));
  const data = join(dir, 'data');
  // Asynchronous throughout: a lane with an MLflow of its own starts one while other lanes time something.
  if (process.getuid?.() === 0) {
    const uid = Number((await execFileAsync('id', ['-u', 'postgres'])).stdout.trim());
    const gid = Number((await execFileAsync('id', ['-g', 'postgres'])).stdout.trim());
    chownSync(dir, uid, gid);
  }
  const [initCmd, initArgs] = asPostgresUser(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '--no-sync',
  ]);
  await execFileAsync(initCmd, initArgs);
  const startOn = async (port: number) => {
    const [cmd, args] = asPostgresUser(join(bin, 'postgres'), [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
    ]);
    // INT is PostgreSQL's fast shutdown; TERM would wait for every client to disconnect.
    const server: ManagedProcess = spawnManaged('postgres', cmd, args, { stopSignal: 'INT' });
    try {
      await waitFor(
        async () =>
          !server.isRunning() ? Promise.reject(new StopWaiting(server.output())) : listensYet(server.pid, port),
        { timeoutMs: 30_000, what: `PostgreSQL on port ${port}` },
      );
    } catch (error) {
      await server.stop();
      throw error;
    }
    return { port, server };
  };
  let started: { port: number; server: ManagedProcess };
  try {
    started = await onFreePort(startOn);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const { port, server } = started;
  const stop = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port, stop, [Symbol.asyncDispose]: stop };
}
