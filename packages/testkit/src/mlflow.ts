import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fetchJson,
  listensOn,
  type ManagedProcess,
  onFreePort,
  StopWaiting,
  spawnManaged,
  waitFor,
} from './process.js';
import { provisionMlflow } from './provision.js';

/** A real MLflow tracking server / model registry. Capabilities a provider cannot offer are absent. */
export interface MlflowHandle extends AsyncDisposable {
  readonly url: string;
  /** Host and port the server listens on, as an upstream for Toxiproxy. */
  readonly address: { readonly host: string; readonly port: number };
  stop(): Promise<void>;
  /** Kills the server at once (SIGKILL), as a crash would. */
  kill?(): Promise<void>;
  /** Starts it again on the same port with the same store. */
  restart?(): Promise<void>;
  /**
   * Makes the backend store unusable, MLflow then answering 5xx: the store path is a symbolic link to the
   * database file, and breaking it swaps in, with one atomic rename, a link to a folder, which SQLite
   * cannot open and MLflow cannot replace (it recreates missing parent folders and empty databases, so
   * renaming the store away is not enough). The database and its journal never move. `restoreStore`
   * swaps the link to the database back.
   */
  breakStore?(): void | Promise<void>;
  restoreStore?(): void | Promise<void>;
}

/** Resolves when MLflow's REST API answers a registry call (its /health does not touch the store). */
export async function waitForMlflow(
  url: string,
  timeoutMs: number,
  isAlive: () => boolean = () => true,
): Promise<void> {
  await waitFor(
    async () => {
      if (!isAlive()) throw new StopWaiting('MLflow exited during start-up');
      const response = await fetchJson(`${url}/api/2.0/mlflow/registered-models/search?max_results=1`, {
        timeoutMs: 5_000,
      });
      return response.status === 200;
    },
    { timeoutMs, intervalMs: 200, what: `MLflow's REST API at ${url}` },
  );
}

/**
 * The environment of every MLflow server the harness starts: a new database connection per request, so a
 * broken store is noticed by the next request; and no job runner (MLflow 3.17 starts seven huey consumers
 * for its jobs, which the harness never submits, at about a quarter of a core each while starting).
 */
export const MLFLOW_SERVER_ENV = {
  MLFLOW_SQLALCHEMYSTORE_POOLCLASS: 'NullPool',
  MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false',
} as const;

/**
 * Starts the pinned `mlflow server` (provisioned on first use) on a free loopback port with a local
 * artifacts folder in a temp dir and, unless `backendStoreUri` names another store (PostgreSQL in the
 * chaos stack), a SQLite store there; resolves when its REST API answers. With another store the
 * SQLite-only `breakStore` is absent: whoever owns that store breaks it.
 */
export async function startMlflow(
  options: { startTimeoutMs?: number; echo?: boolean; backendStoreUri?: string } = {},
): Promise<MlflowHandle> {
  const executable = provisionMlflow();
  const dir = mkdtempSync(join(tmpdir(), 'registry-mlflow-'));
  // The store path is a link to the database (see breakStore); SQLite creates the file through it.
  const storePath = join(dir, 'mlflow.db');
  const databasePath = join(dir, 'mlflow-data.db');
  const brokenPath = join(dir, 'broken');
  mkdirSync(brokenPath);
  symlinkSync(databasePath, storePath);
  const pointStoreAt = (target: string) => {
    const next = `${storePath}.next`;
    rmSync(next, { force: true });
    symlinkSync(target, next);
    renameSync(next, storePath);
  };
  mkdirSync(join(dir, 'artifacts'));
  const startTimeoutMs = options.startTimeoutMs ?? 120_000;
  const argsOn = (port: number) => [
    'server',
    '--backend-store-uri',
    options.backendStoreUri ?? `sqlite:///${storePath}`,
    '--artifacts-destination',
    join(dir, 'artifacts'),
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--workers',
    '1',
  ];
  const env = { ...process.env, ...MLFLOW_SERVER_ENV };
  let server: ManagedProcess;

  /** Starts MLflow on `port` (a restart after a crash uses the same one: MLflow stays at its address). */
  async function launch(port: number): Promise<void> {
    const url = `http://127.0.0.1:${port}`;
    server = spawnManaged('mlflow', executable, argsOn(port), { env, cwd: dir, echo: options.echo });
    try {
      await waitForMlflow(url, startTimeoutMs, () => server.isRunning());
      // Another MLflow may have answered there (see onFreePort).
      if (!(await listensOn(server.pid, port))) {
        throw new Error(`127.0.0.1:${port}: address already in use by an MLflow this start did not begin`);
      }
    } catch (error) {
      await server.stop();
      throw new Error(`MLflow did not start: ${(error as Error).message}\n${server.output().slice(-4000)}`, {
        cause: error,
      });
    }
  }

  let port: number;
  try {
    port = await onFreePort(async (chosen) => {
      await launch(chosen);
      return chosen;
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return {
    url,
    address: { host: '127.0.0.1', port },
    stop,
    kill: () => server.kill(),
    restart: () => launch(port),
    ...(options.backendStoreUri
      ? {}
      : { breakStore: () => pointStoreAt(brokenPath), restoreStore: () => pointStoreAt(databasePath) }),
    [Symbol.asyncDispose]: stop,
  };
}
