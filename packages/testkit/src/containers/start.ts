import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Proxy as ToxiproxyProxy } from 'toxiproxy-node-client';
import { MLFLOW_SERVER_ENV, type MlflowHandle, waitForMlflow } from '../mlflow.js';
import { deferStop, onFreePort, waitFor } from '../process.js';
import {
  connectToxiproxy,
  DATABASE_PROXY_NAME,
  proxyOnLoopback,
  setProxyEnabled,
  type ToxiproxyHandle,
} from '../toxiproxy.js';
import { own, removeAtExit, removeStaleContainers } from './cleanup.js';
import { labels, loadTestcontainers, type RunningContainer, type Testcontainers } from './docker.js';
import { ensureImages, MLFLOW_IMAGE, postgresImage, postgresImagePaths, TOXIPROXY_IMAGE } from './images.js';
import { type ContainerNetworking, containerNetworkingFromEnv, networkUnavailableReason } from './networking.js';

const execFileAsync = promisify(execFile);

/**
 * MLflow on a PostgreSQL store, and Toxiproxy, as containers; every container and network is removed on
 * stop or at exit.
 */
export interface ContainerDependencies {
  readonly mlflow: MlflowHandle;
  readonly toxiproxy: ToxiproxyHandle;
  /** The proxy between MLflow and its PostgreSQL store: database faults go here (`mlflow.breakStore` disables it). */
  readonly databaseProxy: ToxiproxyProxy;
  /**
   * Creates a Toxiproxy proxy in front of MLflow; `address` is where the host reaches it. `port` is a wish
   * for its loopback port that host networking honours (a created network publishes the ports it has).
   */
  proxyMlflow(name: string, port?: number): Promise<{ proxy: ToxiproxyProxy; address: string }>;
  stop(): Promise<void>;
}

const MLFLOW_PORT = 5000;
const POSTGRES_PORT = 5432;
// Under /tmp, which every image has (the official image, python:3.11-slim plus pip install mlflow, has no
// data folder).
const ARTIFACTS = '/tmp/mlflow-artifacts';

/**
 * The PostgreSQL container of MLflow's store, listening on host:port: a throwaway cluster made at start
 * (trust authentication, no fsync), as the process provider's.
 */
function postgresContainer({ GenericContainer, Wait }: Testcontainers, host: string, port: number) {
  const { bin } = postgresImagePaths();
  const data = '/tmp/data';
  const start = [
    `${bin}/initdb -D ${data} -U postgres -A trust --no-sync --locale=C -E UTF8 >/dev/null`,
    // initdb trusts loopback only; on a created network MLflow's connections come from other containers.
    `echo 'host all all all trust' >> ${data}/pg_hba.conf`,
    `exec ${bin}/postgres -D ${data} -p ${port} -k /tmp -c listen_addresses=${host} -c fsync=off`,
  ].join(' && ');
  return new GenericContainer(postgresImage())
    .withLabels(labels('postgres'))
    .withCommand(['/bin/sh', '-c', start])
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/))
    .withStartupTimeout(60_000);
}

/** The MLflow container on the PostgreSQL store at `database` (host:port), listening on host:port. */
function mlflowContainer({ GenericContainer, Wait }: Testcontainers, database: string, host: string, port: number) {
  return (
    new GenericContainer(MLFLOW_IMAGE)
      .withLabels(labels('mlflow'))
      .withEnvironment({ ...MLFLOW_SERVER_ENV })
      .withCommand([
        'mlflow',
        'server',
        '--backend-store-uri',
        `postgresql://postgres@${database}/postgres`,
        '--artifacts-destination',
        ARTIFACTS,
        '--host',
        host,
        '--port',
        String(port),
        '--workers',
        '1',
      ])
      // Uvicorn says so once it listens ("Application startup complete" comes before the bind).
      .withWaitStrategy(Wait.forLogMessage(/Uvicorn running on/))
      .withStartupTimeout(180_000)
  );
}

/**
 * MLflow in a running container, reached at `url`; a crash acts on the container, a store fault on the
 * proxy to its database (MLflow then answers 5xx, as the process provider's). The docker commands run
 * asynchronously: `docker start` can take seconds, and a blocked event loop would stall the traffic and
 * probes a chaos run measures with.
 */
function containerMlflowHandle(container: RunningContainer, url: string, databaseProxy: ToxiproxyProxy): MlflowHandle {
  const run = async (args: string[]) => {
    try {
      await execFileAsync('docker', args, { encoding: 'utf8' });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr?.trim();
      throw new Error(`docker ${args.join(' ')}: ${stderr || (error as Error).message}`);
    }
  };
  const stop = async () => void (await container.stop({ timeout: 5_000 }));
  const { hostname, port } = new URL(url);
  return {
    url,
    address: { host: hostname, port: Number(port) },
    stop,
    // SIGKILL to the container's main process, as a crash; the container and its store stay.
    kill: () => run(['kill', '--signal', 'KILL', container.getId()]),
    // Same container, same store, same host port (host networking, or a fixed port binding).
    restart: async () => {
      await run(['start', container.getId()]);
      await waitForMlflow(url, 120_000);
    },
    breakStore: () => setProxyEnabled(databaseProxy, false),
    restoreStore: () => setProxyEnabled(databaseProxy, true),
    [Symbol.asyncDispose]: stop,
  };
}

/** Every server on the host's network, each on a free loopback port: for engines without a bridge. */
async function startOnHostNetwork(
  testcontainers: Testcontainers,
  cleanup: AsyncDisposableStack,
): Promise<Omit<ContainerDependencies, 'stop'>> {
  const { GenericContainer, Wait } = testcontainers;
  // Each on a free port, another if it was taken before the container listened (see onFreePort).
  // PostgreSQL and Toxiproxy first: MLflow reaches its store through Toxiproxy.
  const [postgresPort, toxiproxy] = await Promise.all([
    onFreePort(async (port) => {
      own(cleanup, await postgresContainer(testcontainers, '127.0.0.1', port).withNetworkMode('host').start());
      return port;
    }),
    onFreePort(async (port) => {
      const container = await new GenericContainer(TOXIPROXY_IMAGE)
        .withNetworkMode('host')
        .withLabels(labels('toxiproxy'))
        .withCommand(['-host', '127.0.0.1', '-port', String(port)])
        .withWaitStrategy(Wait.forLogMessage(/Starting Toxiproxy HTTP server/))
        .withStartupTimeout(60_000)
        .start();
      own(cleanup, container);
      // It says so just before it listens; a port someone else took answers something else, or nothing.
      try {
        return await waitFor(() => connectToxiproxy(`http://127.0.0.1:${port}`), {
          timeoutMs: 10_000,
          what: `Toxiproxy's API on 127.0.0.1:${port}`,
        });
      } catch (error) {
        await container.stop({ timeout: 0 }).catch(() => {});
        throw error;
      }
    }),
  ]);
  const { proxy: databaseProxy, address: databaseListen } = await proxyOnLoopback(
    toxiproxy,
    DATABASE_PROXY_NAME,
    `127.0.0.1:${postgresPort}`,
  );
  const { mlflowPort, mlflowServer } = await onFreePort(async (mlflowPort) => ({
    mlflowPort,
    mlflowServer: own(
      cleanup,
      await mlflowContainer(testcontainers, databaseListen, '127.0.0.1', mlflowPort).withNetworkMode('host').start(),
    ),
  }));
  const mlflow = containerMlflowHandle(mlflowServer, `http://127.0.0.1:${mlflowPort}`, databaseProxy);
  await waitForMlflow(mlflow.url, 120_000);
  return {
    mlflow,
    toxiproxy,
    databaseProxy,
    proxyMlflow: (name, port) => proxyOnLoopback(toxiproxy, name, `127.0.0.1:${mlflowPort}`, port),
  };
}

/**
 * A network created for the run: PostgreSQL, Toxiproxy (`@testcontainers/toxiproxy`) and MLflow join it
 * under the aliases `postgres`, `toxiproxy` and `mlflow`; MLflow reaches its store through Toxiproxy, and
 * the host reaches MLflow and Toxiproxy through mapped ports.
 */
async function startOnCreatedNetwork(
  testcontainers: Testcontainers,
  cleanup: AsyncDisposableStack,
): Promise<Omit<ContainerDependencies, 'stop'>> {
  const { ToxiProxyContainer } = await import('@testcontainers/toxiproxy');
  const network = await new testcontainers.Network().start();
  removeAtExit('network', network.getName());
  deferStop(cleanup, `network ${network.getName()}`, () => network.stop());

  const [, toxiproxyContainer] = await Promise.all([
    postgresContainer(testcontainers, '0.0.0.0', POSTGRES_PORT)
      .withNetwork(network)
      .withNetworkAliases('postgres')
      .start()
      .then((container) => own(cleanup, container)),
    new ToxiProxyContainer(TOXIPROXY_IMAGE)
      .withNetwork(network)
      .withNetworkAliases('toxiproxy')
      .withLabels(labels('toxiproxy'))
      .withStartupTimeout(60_000)
      .start()
      .then((container) => own(cleanup, container)),
  ]);
  const toxiproxy = await connectToxiproxy(
    `http://${toxiproxyContainer.getHost()}:${toxiproxyContainer.getMappedPort(8474)}`,
  );
  // One at a time: the module picks the first port no proxy listens on, so two at once would pick the same.
  let creating: Promise<unknown> = Promise.resolve();
  const createProxy = (name: string, upstream: string) => {
    const next = creating.then(() => toxiproxyContainer.createProxy({ name, upstream }));
    creating = next.catch(() => {});
    return next;
  };
  const database = await createProxy(DATABASE_PROXY_NAME, `postgres:${POSTGRES_PORT}`);
  // Inside the network MLflow reaches the proxy on the port it listens on, not on the host's mapped port.
  const databaseListen = `toxiproxy:${database.instance.listen.slice(database.instance.listen.lastIndexOf(':') + 1)}`;

  // A fixed host port rather than a random one: `docker start` after a crash would publish a random
  // port anew, and the restarted MLflow must be where the run expects it.
  const { mlflowHostPort, mlflowServer } = await onFreePort(async (mlflowHostPort) => ({
    mlflowHostPort,
    mlflowServer: own(
      cleanup,
      await mlflowContainer(testcontainers, databaseListen, '0.0.0.0', MLFLOW_PORT)
        .withNetwork(network)
        .withNetworkAliases('mlflow')
        .withExposedPorts({ container: MLFLOW_PORT, host: mlflowHostPort })
        .start(),
    ),
  }));
  const mlflow = containerMlflowHandle(
    mlflowServer,
    `http://${mlflowServer.getHost()}:${mlflowHostPort}`,
    database.instance,
  );
  await waitForMlflow(mlflow.url, 120_000);
  return {
    mlflow,
    toxiproxy,
    databaseProxy: database.instance,
    proxyMlflow: async (name) => {
      const created = await createProxy(name, `mlflow:${MLFLOW_PORT}`);
      return { proxy: created.instance, address: `${created.host}:${created.port}` };
    },
  };
}

let staleRemoved = false;

/**
 * Starts MLflow and Toxiproxy containers (testcontainers) with the given networking (default: from
 * `REGISTRY_CONTAINERS_NETWORK`); the images are found locally, pulled or built first.
 */
export async function startContainerDependencies(
  options: { networking?: ContainerNetworking } = {},
): Promise<ContainerDependencies> {
  const networking = options.networking ?? containerNetworkingFromEnv();
  const unavailable = networking === 'network' ? networkUnavailableReason() : '';
  if (unavailable) throw new Error(`containers with network networking cannot run here: ${unavailable}`);
  const testcontainers = await loadTestcontainers();
  ensureImages();
  // Once per process: a stack started later in the run makes no docker call here while others time something.
  if (!staleRemoved) removeStaleContainers();
  staleRemoved = true;
  // Everything started so far is stopped, last first, if a later part fails to start.
  await using cleanup = new AsyncDisposableStack();
  const start = networking === 'host' ? startOnHostNetwork : startOnCreatedNetwork;
  const dependencies = await start(testcontainers, cleanup);
  const started = cleanup.move();
  return { ...dependencies, stop: () => started.disposeAsync() };
}
