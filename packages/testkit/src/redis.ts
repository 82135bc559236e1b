import { freePort, isPortOpen, StopWaiting, spawnManaged, waitFor } from './process.js';

/** A real Redis server on loopback. */
export interface RedisHandle extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts a throwaway Redis server (no persistence, loopback only) from the system's redis-server. */
export async function startRedis(): Promise<RedisHandle> {
  const port = await freePort();
  const server = spawnManaged('redis', 'redis-server', [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
  ]);
  try {
    await waitFor(
      async () => (!server.isRunning() ? Promise.reject(new StopWaiting(server.output())) : isPortOpen(port)),
      {
        timeoutMs: 15_000,
        what: `Redis on port ${port} (is the Debian package redis-server installed?)`,
      },
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  const stop = () => server.stop();
  return { url: `redis://127.0.0.1:${port}`, port, stop, [Symbol.asyncDispose]: stop };
}
