import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { SETTINGS } from '@registry/service';
import { listensYet, type ManagedProcess, onFreePort, StopWaiting, spawnManaged, waitFor } from './process.js';

const require = createRequire(import.meta.url);

/** The service's real entry point: the built file its `./server` export names for Node (not the TS source). */
export function serviceEntryPoint(): string {
  const manifestPath = require.resolve('@registry/service/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports: { './server': { default: string } } };
  return join(dirname(manifestPath), manifest.exports['./server'].default);
}

/** The registry service running as a child process on loopback. */
export interface ServiceHandle extends AsyncDisposable {
  readonly url: string;
  readonly port: number;
  readonly process: ManagedProcess;
  /** Sends SIGTERM and waits for the exit code. */
  stop(): Promise<number | null>;
}

type ServiceOptions = { env?: Record<string, string | undefined>; startTimeoutMs?: number; echo?: boolean };

/**
 * Starts the service's real entry point with `env` (on a free loopback port unless PORT is given, see
 * `onFreePort`) and waits until `/health/live` answers.
 */
export async function startService(options: ServiceOptions = {}): Promise<ServiceHandle> {
  if (options.env?.PORT) return startServiceOn(Number(options.env.PORT), options);
  return onFreePort((port) => startServiceOn(port, options));
}

/**
 * This process's environment without any of the service's own settings: a started service runs with
 * exactly the settings its caller gives (and the defaults), never with an `API_KEYS`, `ENVIRONMENT` or
 * `CACHE_MAX_BYTES` that happens to be set in the shell running the tests.
 */
function inheritedEnv(): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const name of Object.keys(SETTINGS)) delete env[name];
  return env;
}

async function startServiceOn(port: number, options: ServiceOptions): Promise<ServiceHandle> {
  const env = { ...inheritedEnv(), HOST: '127.0.0.1', LOG_LEVEL: 'warn', ...options.env, PORT: String(port) };
  const child = spawnManaged('service', process.execPath, ['--enable-source-maps', serviceEntryPoint()], {
    env,
    echo: options.echo,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      async () => {
        if (!child.isRunning()) throw new StopWaiting(`the service exited during start-up:\n${child.output()}`);
        if (!(await listensYet(child.pid, port))) return false;
        // Bounded: whoever took the port may accept and never answer.
        const response = await fetch(`${url}/health/live`, { signal: AbortSignal.timeout(2_000) });
        return response.ok;
      },
      { timeoutMs: options.startTimeoutMs ?? 30_000, what: `the service on ${url}` },
    );
  } catch (error) {
    await child.stop();
    throw error;
  }
  const stop = async () => {
    await child.stop();
    return child.exited;
  };
  return { url, port, process: child, stop, [Symbol.asyncDispose]: async () => void (await stop()) };
}
