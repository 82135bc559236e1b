import { Toxiproxy, type Proxy as ToxiproxyProxy } from 'toxiproxy-node-client';
import { fetchJson, listensYet, onFreePort, StopWaiting, spawnManaged, waitFor } from './process.js';
import { provisionToxiproxy } from './provision.js';

/** The Toxiproxy proxy between MLflow and its PostgreSQL store (both local providers run MLflow on one). */
export const DATABASE_PROXY_NAME = 'mlflow-db';

/** Enables or disables `proxy` (Toxiproxy's update takes its listen address and upstream again). */
export async function setProxyEnabled(proxy: ToxiproxyProxy, enabled: boolean): Promise<void> {
  await proxy.update({ enabled, listen: proxy.listen, upstream: proxy.upstream });
}

/**
 * Creates the proxy `name` in front of `upstream` on a loopback port (`port`, else a free one); `address`
 * is where it listens.
 */
export async function proxyOnLoopback(
  toxiproxy: { readonly client: Toxiproxy },
  name: string,
  upstream: string,
  port?: number,
): Promise<{ proxy: ToxiproxyProxy; address: string }> {
  const create = async (listenPort: number) => {
    const address = `127.0.0.1:${listenPort}`;
    return { proxy: await toxiproxy.client.createProxy({ name, listen: address, upstream }), address };
  };
  return port === undefined ? onFreePort(create) : create(port);
}

/** A Toxiproxy server and its API client (`toxiproxy-node-client`). */
export interface ToxiproxyHandle extends AsyncDisposable {
  /** The API URL, e.g. http://127.0.0.1:8474. */
  readonly url: string;
  readonly client: Toxiproxy;
  stop(): Promise<void>;
}

/** Starts the pinned Toxiproxy server (built on first use) with its API on a free loopback port. */
export async function startToxiproxy(options: { echo?: boolean } = {}): Promise<ToxiproxyHandle> {
  const executable = provisionToxiproxy();
  return onFreePort((port) => startToxiproxyOn(executable, port, options));
}

async function startToxiproxyOn(
  executable: string,
  port: number,
  options: { echo?: boolean },
): Promise<ToxiproxyHandle> {
  const url = `http://127.0.0.1:${port}`;
  const server = spawnManaged('toxiproxy', executable, ['-host', '127.0.0.1', '-port', String(port)], {
    echo: options.echo,
  });
  try {
    await waitFor(
      async () => {
        if (!server.isRunning()) throw new StopWaiting(`Toxiproxy exited during start-up:\n${server.output()}`);
        if (!(await listensYet(server.pid, port))) return false;
        return (await fetchJson(`${url}/version`, { timeoutMs: 2_000 })).status === 200;
      },
      { timeoutMs: 15_000, what: `Toxiproxy's API at ${url}` },
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  const stop = () => server.stop();
  return { url, client: new Toxiproxy(url), stop, [Symbol.asyncDispose]: stop };
}

/** Connects to a Toxiproxy that already runs (the `external` provider). */
export async function connectToxiproxy(url: string): Promise<ToxiproxyHandle> {
  const response = await fetchJson(`${url.replace(/\/+$/, '')}/version`, { timeoutMs: 5_000 });
  if (response.status !== 200) throw new Error(`no Toxiproxy API at ${url} (GET /version answered ${response.status})`);
  const stop = async () => {};
  return { url, client: new Toxiproxy(url), stop, [Symbol.asyncDispose]: stop };
}
