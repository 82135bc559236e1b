import { listensYet, onFreePort, StopWaiting, spawnManaged, waitFor } from './process.js';

/** A real Redis server on loopback. */
export interface RedisHandle extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

/** Starts a throwaway Redis server (no persistence, loopback only) from the system's redis-server. */
export function startRedis(): Promise<RedisHandle> {
  return onFreePort(startRedisOn);
}

async function startRedisOn(port: number): Promise<RedisHandle> {
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
      async () =>
        !server.isRunning() ? Promise.reject(new StopWaiting(server.output())) : listensYet(server.pid, port),
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
