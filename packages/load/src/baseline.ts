import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  fetchJson,
  listensYet,
  type ManagedProcess,
  onFreePort,
  StopWaiting,
  spawnManaged,
  waitFor,
} from '@registry/testkit';
import autocannon from 'autocannon';

/** A reference server with the liveness body (`bare-server.ts`), as a child process. */
export interface BareServer {
  readonly url: string;
  stop(): Promise<void>;
}

/** Which reference server: a bare Fastify route, or Node's own http server (the physical ceiling). */
export type BareKind = 'fastify' | 'node-http';

/** The compiled reference server: beside this module in dist/, or in dist/ when run from src/ (vitest). */
function bareServerScript(): string {
  const beside = fileURLToPath(new URL('./bare-server.js', import.meta.url));
  return existsSync(beside) ? beside : fileURLToPath(new URL('../dist/bare-server.js', import.meta.url));
}

/** Starts a reference server on a free loopback port and waits until it answers. */
export function startBareServer(kind: BareKind = 'fastify'): Promise<BareServer> {
  return onFreePort((port) => startBareServerOn(port, kind));
}

async function startBareServerOn(port: number, kind: BareKind): Promise<BareServer> {
  const child: ManagedProcess = spawnManaged(`bare-${kind}`, process.execPath, [
    bareServerScript(),
    String(port),
    kind,
  ]);
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () =>
        child.isRunning()
          ? (await listensYet(child.pid, port)) && (await fetchJson(`${url}/health/live`)).status === 200
          : Promise.reject(new StopWaiting(child.output())),
      {
        timeoutMs: 15_000,
        what: `the bare ${kind} server`,
      },
    );
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { url, stop: () => child.stop() };
}

/** Closed-loop throughput (rps) of `path` at `url` with `connections` connections for `seconds`. */
export async function measureRps(url: string, path: string, connections: number, seconds: number): Promise<number> {
  const result = await autocannon({ url: `${url}${path}`, connections, duration: seconds });
  return result.requests.average;
}

/** Connections and seconds of the baseline measurement (after as many seconds of warm-up). */
export const BASELINE = { connections: 50, seconds: 3, warmupSeconds: 2 } as const;

/**
 * The load run's baseline: the throughput of a bare Fastify route with the liveness body on this
 * machine, measured in the same run, so capacity thresholds are shares of it rather than absolute rps.
 */
export async function measureBaseline(): Promise<number> {
  const bare = await startBareServer();
  try {
    await measureRps(bare.url, '/health/live', BASELINE.connections, BASELINE.warmupSeconds);
    return await measureRps(bare.url, '/health/live', BASELINE.connections, BASELINE.seconds);
  } finally {
    await bare.stop();
  }
}
