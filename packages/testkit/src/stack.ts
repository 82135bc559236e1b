import { existsSync } from 'node:fs';
import type { Proxy as ToxiproxyProxy } from 'toxiproxy-node-client';
import { parseApiKeys } from './api-keys.js';
import {
  type ContainerNetworking,
  isDockerAvailable,
  networkUnavailableReason,
  startContainerDependencies,
} from './containers/index.js';
import { type HaproxyCheck, type HaproxyHandle, haproxyExecutable, startHaproxy } from './haproxy.js';
import { type MlflowHandle, startMlflow, waitForMlflow } from './mlflow.js';
import { startPostgres } from './postgres.js';
import { deferStop, fetchJson } from './process.js';
import { mlflowExecutable, toxiproxyExecutable } from './provision.js';
import { type ServiceHandle, startService } from './service.js';
import { postgresBinDir } from './system-packages.js';
import {
  connectToxiproxy,
  DATABASE_PROXY_NAME,
  proxyOnLoopback,
  setProxyEnabled,
  startToxiproxy,
  type ToxiproxyHandle,
} from './toxiproxy.js';

/**
 * How testkit gets MLflow and Toxiproxy: started here as processes, as containers (testcontainers), or
 * already running elsewhere.
 */
export type ProviderName = 'process' | 'containers' | 'external';

/** The names `REGISTRY_PROVIDER` accepts. */
export const PROVIDERS: readonly ProviderName[] = ['process', 'containers', 'external'];

/**
 * The provider chosen by `REGISTRY_PROVIDER`; unset, `containers` when a Docker engine answers and
 * `process` otherwise. Throws on an unknown name.
 */
export function providerFromEnv(env: NodeJS.ProcessEnv = process.env): ProviderName {
  const name = env.REGISTRY_PROVIDER || (isDockerAvailable() ? 'containers' : 'process');
  if (!(PROVIDERS as readonly string[]).includes(name)) {
    throw new Error(`REGISTRY_PROVIDER: expected one of ${PROVIDERS.join(', ')} (got "${name}")`);
  }
  return name as ProviderName;
}

/** The service as the stack sees it: a URL, and for a local process its liveness and output. */
export interface StackService {
  readonly url: string;
  /** True while the process runs (a remote service: while it answers liveness). */
  isRunning(): Promise<boolean>;
  /** Output of a local process, to look for crashes and unhandled rejections ('' when remote). */
  output(): string;
  /** The MLflow URL the service was started with (its MLFLOW_TRACKING_URI); undefined for a remote service. */
  readonly mlflowUrl?: string;
}

/** One service replica: its name behind the load balancer and, for a local process, how to stop it. */
export interface StackReplica extends StackService {
  /** The server name HAProxy knows it by (`replica-1`, ...), also in its `x-served-by` answers; `service` when remote. */
  readonly name: string;
  /** SIGKILL, as a crashed task (local replicas). */
  kill?(): Promise<void>;
  /** SIGTERM (graceful shutdown, as ECS stops a task), resolving with the exit code (local replicas). */
  terminate?(): Promise<number | null>;
}

/** MLflow behind a Toxiproxy proxy, and the service pointed at the proxy (as replicas behind HAProxy). */
export interface Stack extends AsyncDisposable {
  readonly provider: ProviderName;
  /**
   * MLflow, Toxiproxy and the proxy between the service and MLflow (toxics go there). Every stack has them
   * but a deployed one driven by AWS FIS (`connectDeployedStack`), where faults come from FIS instead.
   */
  readonly mlflow?: MlflowHandle;
  readonly toxiproxy?: ToxiproxyHandle;
  readonly proxy?: ToxiproxyProxy;
  /**
   * The proxy between MLflow and its PostgreSQL store (local providers run MLflow on PostgreSQL, as
   * deployed on RDS): database faults go here. Absent on the external provider.
   */
  readonly databaseProxy?: ToxiproxyProxy;
  /**
   * The API keys clients present (`X-API-Key`) on a deployed stack with API_KEYS (REGISTRY_API_KEY, several
   * comma-separated: traffic spreads across them, since the service gives each key its own share of the
   * bulkhead). Empty on a local stack.
   */
  readonly clientApiKeys: readonly string[];
  /** The first replica (the only one without a load balancer); abuse experiments attack it directly. */
  readonly service: StackReplica;
  /** The replicas now in the stack (one for the external provider: the deployed service). */
  readonly replicas: readonly StackReplica[];
  /** HAProxy in front of the replicas, when the stack was started with a load balancer. */
  readonly loadBalancer?: HaproxyHandle;
  /**
   * Starts a new process with the same settings in place of replica `name` (a replacement: after a crash,
   * or in a rolling deployment) and returns it; `replicas` lists it from then on. The old process is the
   * caller's to stop first, and pointing the load balancer at the new one is the caller's step too (as
   * in ECS, where registering the new task is a step of its own). Local providers only.
   */
  replaceReplica?(name: string): Promise<StackReplica & { readonly port: number }>;
  /**
   * Another fleet on the same MLflow and Toxiproxy: a proxy of its own in front of MLflow, its own
   * replicas and HAProxy, stopped by its own `stop` (and by the stack's). Experiments whose fault sits in
   * the proxy can run on lanes side by side; the lane cannot kill, restart or break the shared MLflow.
   * With `ownMlflow`, the lane is a stack of its own instead (MLflow, its database and Toxiproxy started as
   * the stack's were, and lanes of its own to add), whose MLflow it may kill, restart and break. Local
   * providers only.
   */
  addLane?(name: string, options?: { readonly ownMlflow?: boolean }): Promise<ToxiproxyStack>;
  stop(): Promise<void>;
}

/** Options of `startStack`. */
export interface StackOptions {
  readonly provider?: ProviderName;
  /** How containers reach each other (containers provider); default from `REGISTRY_CONTAINERS_NETWORK`. */
  readonly networking?: ContainerNetworking;
  /** Service settings (the same environment variables a user sets), e.g. shortened breaker timings. */
  readonly serviceEnv?: Record<string, string>;
  /**
   * Loopback port of the proxy in front of MLflow, i.e. of the MLflow address the service gets (process
   * and containers-host providers; a created network publishes the ports it has). Default: a free port.
   */
  readonly mlflowProxyPort?: number;
  /** Service replicas to start (default 1). */
  readonly replicas?: number;
  /**
   * Starts HAProxy in front of the replicas with this active health check (local providers: a process,
   * or for the containers provider a container).
   */
  readonly loadBalancer?: HaproxyCheck;
  /** False: HAProxy neither retries nor redispatches (a negative control); default true. */
  readonly loadBalancerRetries?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly echo?: boolean;
}

const PROXY_NAME = 'mlflow';

/** What a local provider started: MLflow, Toxiproxy, and how to stop them. */
interface LocalDependencies {
  readonly mlflow: MlflowHandle;
  readonly toxiproxy: ToxiproxyHandle;
  /** The proxy between MLflow and its PostgreSQL store, where the provider runs MLflow on PostgreSQL. */
  readonly databaseProxy?: ToxiproxyProxy;
  /** Creates a Toxiproxy proxy in front of MLflow (on `port` if given); `address` is where the service reaches it. */
  proxyMlflow(name: string, port?: number): Promise<{ proxy: ToxiproxyProxy; address: string }>;
  stop(): Promise<void>;
}

/**
 * A proxy in front of the shared MLflow, `replicas` service processes pointed at it and, when asked,
 * HAProxy in front of them: the part of a stack that experiments run on. Stops what it started on failure.
 */
async function startFleet(
  provider: 'process' | 'containers',
  dependencies: LocalDependencies,
  proxyName: string,
  options: StackOptions,
  mlflowProxyPort?: number,
): Promise<
  Omit<
    ToxiproxyStack,
    'provider' | 'mlflow' | 'toxiproxy' | 'databaseProxy' | 'clientApiKeys' | typeof Symbol.asyncDispose
  >
> {
  // Everything started so far is stopped, last first, if a later part fails to start.
  await using cleanup = new AsyncDisposableStack();
  const { proxy, address } = await dependencies.proxyMlflow(proxyName, mlflowProxyPort);
  if (proxyName !== PROXY_NAME) deferStop(cleanup, `the Toxiproxy proxy ${proxyName}`, () => proxy.remove());
  const mlflowUrl = `http://${address}`;
  const running = new Set<ServiceHandle>();
  deferStop(cleanup, 'the service replicas', () => Promise.all([...running].map((handle) => handle.stop())));
  const startReplica = async (name: string): Promise<StackReplica & { readonly port: number }> => {
    const handle = await startService({
      env: { ...options.serviceEnv, MLFLOW_TRACKING_URI: mlflowUrl },
      echo: options.echo,
    });
    running.add(handle);
    void handle.process.exited.then(() => running.delete(handle));
    return {
      name,
      url: handle.url,
      port: handle.port,
      mlflowUrl,
      isRunning: async () => handle.process.isRunning(),
      output: () => handle.process.output(),
      kill: () => handle.process.kill(),
      terminate: () => handle.stop(),
    };
  };
  const count = Math.max(1, options.replicas ?? 1);
  const replicas = await Promise.all(Array.from({ length: count }, (_, i) => startReplica(`replica-${i + 1}`)));
  const loadBalancer = options.loadBalancer
    ? await startHaproxy({
        servers: replicas.map((replica) => ({ name: replica.name, host: '127.0.0.1', port: replica.port })),
        check: options.loadBalancer,
        retries: options.loadBalancerRetries,
        // The containers provider runs it as a container (on the host's network, beside the replicas).
        container: provider === 'containers',
        echo: options.echo,
      })
    : undefined;
  if (loadBalancer) deferStop(cleanup, 'HAProxy', loadBalancer.stop);
  const started = cleanup.move();
  return {
    proxy,
    get service() {
      return replicas[0] as StackReplica;
    },
    replicas,
    loadBalancer,
    replaceReplica: async (name) => {
      const index = replicas.findIndex((replica) => replica.name === name);
      if (index < 0) throw new Error(`no replica named ${name} (have ${replicas.map((r) => r.name).join(', ')})`);
      const replacement = await startReplica(name);
      replicas[index] = replacement;
      return replacement;
    },
    stop: () => started.disposeAsync(),
  };
}

/**
 * Starts the dependencies, the stack's own fleet (proxy, replicas, HAProxy) and offers lanes: more fleets
 * on the same MLflow, each behind a proxy of its own, for experiments that run side by side.
 */
async function assembleStack(
  provider: 'process' | 'containers',
  startDependencies: () => Promise<LocalDependencies>,
  options: StackOptions,
): Promise<ToxiproxyStack> {
  const dependencies = await startDependencies();
  const lanes = new Set<() => Promise<void>>();
  try {
    const fleet = await startFleet(provider, dependencies, PROXY_NAME, options, options.mlflowProxyPort);
    const stop = async () => {
      await Promise.allSettled([...lanes].map((stopLane) => stopLane()));
      await fleet.stop();
      await dependencies.stop();
    };
    // A lane shares MLflow, so it must not kill, restart or break it: those capabilities stay with the stack.
    const sharedMlflow: MlflowHandle = {
      url: dependencies.mlflow.url,
      address: dependencies.mlflow.address,
      stop: async () => {},
      [Symbol.asyncDispose]: async () => {},
    };
    const addLane = async (name: string, laneOptions: { ownMlflow?: boolean } = {}): Promise<ToxiproxyStack> => {
      if (laneOptions.ownMlflow) {
        // A stack of its own (its lanes, if it adds any, share its MLflow), stopped with this one.
        const own = await assembleStack(provider, startDependencies, { ...options, mlflowProxyPort: undefined });
        const stopOwn = async () => {
          lanes.delete(stopOwn);
          await own.stop();
        };
        lanes.add(stopOwn);
        return Object.defineProperties(
          {},
          {
            ...Object.getOwnPropertyDescriptors(own),
            stop: { value: stopOwn, enumerable: true },
            [Symbol.asyncDispose]: { value: stopOwn },
          },
        ) as ToxiproxyStack;
      }
      const lane = await startFleet(provider, dependencies, `${PROXY_NAME}-${name}`, options);
      const stopLane = async () => {
        lanes.delete(stopLane);
        await lane.stop();
      };
      lanes.add(stopLane);
      return Object.defineProperties(
        { provider, mlflow: sharedMlflow, toxiproxy: dependencies.toxiproxy, clientApiKeys: [] as readonly string[] },
        {
          ...Object.getOwnPropertyDescriptors(lane),
          stop: { value: stopLane, enumerable: true },
          [Symbol.asyncDispose]: { value: stopLane },
        },
      ) as ToxiproxyStack;
    };
    return Object.defineProperties(
      {
        provider,
        mlflow: dependencies.mlflow,
        toxiproxy: dependencies.toxiproxy,
        databaseProxy: dependencies.databaseProxy,
        clientApiKeys: [] as readonly string[],
        addLane,
      },
      {
        ...Object.getOwnPropertyDescriptors(fleet),
        stop: { value: stop, enumerable: true },
        [Symbol.asyncDispose]: { value: stop },
      },
    ) as ToxiproxyStack;
  } catch (error) {
    await dependencies.stop();
    throw error;
  }
}

/**
 * MLflow as deployed: on a PostgreSQL store (production uses RDS), reached through a Toxiproxy proxy of
 * its own, so that the database can go down (MLflow then answers 5xx) or slow down under a running MLflow.
 */
async function startProcessDependencies(options: StackOptions): Promise<LocalDependencies> {
  const [postgres, toxiproxy] = await Promise.all([startPostgres(), startToxiproxy({ echo: options.echo })]);
  try {
    const { proxy: databaseProxy, address: listen } = await proxyOnLoopback(
      toxiproxy,
      DATABASE_PROXY_NAME,
      `127.0.0.1:${postgres.port}`,
    );
    const started = await startMlflow({
      echo: options.echo,
      backendStoreUri: `postgresql://postgres@${listen}/postgres`,
    });
    const mlflow: MlflowHandle = {
      ...started,
      breakStore: () => setProxyEnabled(databaseProxy, false),
      restoreStore: () => setProxyEnabled(databaseProxy, true),
    };
    return {
      mlflow,
      toxiproxy,
      databaseProxy,
      proxyMlflow: (name, port) =>
        proxyOnLoopback(toxiproxy, name, `${mlflow.address.host}:${mlflow.address.port}`, port),
      stop: async () => {
        await mlflow.stop();
        await Promise.allSettled([toxiproxy.stop(), postgres.stop()]);
      },
    };
  } catch (error) {
    await Promise.allSettled([toxiproxy.stop(), postgres.stop()]);
    throw error;
  }
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`the external provider needs ${name}`);
  return value.replace(/\/+$/, '');
}

async function connectExternalStack(options: StackOptions): Promise<ToxiproxyStack> {
  const env = options.env ?? process.env;
  const deployed = connectDeployedStack(env);
  const mlflowUrl = required(env, 'REGISTRY_MLFLOW_URL');
  const toxiproxy = await connectToxiproxy(required(env, 'REGISTRY_TOXIPROXY_URL'));
  const proxy = await toxiproxy.client.get(env.REGISTRY_TOXIPROXY_PROXY || PROXY_NAME);
  await waitForMlflow(mlflowUrl, 30_000);
  const { hostname, port } = new URL(mlflowUrl);
  const mlflow: MlflowHandle = {
    url: mlflowUrl,
    address: { host: hostname, port: Number(port || 80) },
    stop: async () => {},
    [Symbol.asyncDispose]: async () => {},
  };
  return { ...deployed, mlflow, toxiproxy, proxy };
}

/** A stack whose parts `requireToxiproxy` found: MLflow, Toxiproxy and the proxy are there. */
export type ToxiproxyStack = Stack & Required<Pick<Stack, 'mlflow' | 'toxiproxy' | 'proxy'>>;

/** `stack` with its MLflow, Toxiproxy and proxy, or an error naming what drives faults there instead. */
export function requireToxiproxy(stack: Stack): ToxiproxyStack {
  if (!stack.mlflow || !stack.toxiproxy || !stack.proxy) {
    throw new Error('this stack has no Toxiproxy in front of MLflow (a deployed stack driven by AWS FIS)');
  }
  return stack as ToxiproxyStack;
}

/**
 * A deployed stack reached only through its load balancer (REGISTRY_SERVICE_URL, e.g. the ALB's URL):
 * no Toxiproxy and no MLflow address, since AWS FIS injects the faults there. The external provider adds
 * its MLflow and Toxiproxy to this.
 */
export function connectDeployedStack(env: NodeJS.ProcessEnv = process.env): Stack {
  const serviceUrl = required(env, 'REGISTRY_SERVICE_URL');
  const stop = async () => {};
  const service: StackReplica = {
    name: 'service',
    url: serviceUrl,
    isRunning: async () =>
      (await fetchJson(`${serviceUrl}/health/live`, { timeoutMs: 10_000 }).catch(() => null))?.status === 200,
    output: () => '',
  };
  return {
    provider: 'external',
    service,
    replicas: [service],
    clientApiKeys: parseApiKeys(env.REGISTRY_API_KEY),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Starts (process) or connects to (external) MLflow, a Toxiproxy proxy in front of it and the service
 * pointed at the proxy. External needs REGISTRY_SERVICE_URL, REGISTRY_MLFLOW_URL, REGISTRY_TOXIPROXY_URL
 * and optionally REGISTRY_TOXIPROXY_PROXY (the proxy's name, default `mlflow`).
 */
export async function startStack(options: StackOptions = {}): Promise<ToxiproxyStack> {
  const provider = options.provider ?? providerFromEnv(options.env);
  if (provider === 'external') return connectExternalStack(options);
  return provider === 'containers'
    ? assembleStack('containers', () => startContainerDependencies({ networking: options.networking }), options)
    : assembleStack('process', () => startProcessDependencies(options), options);
}

/** A way this machine can start MLflow and Toxiproxy: a provider and, for containers, its networking. */
export interface LocalProvider {
  readonly provider: 'process' | 'containers';
  readonly networking?: ContainerNetworking;
  /** `process`, `containers-host` or `containers-network`: for test titles and report folders. */
  readonly name: LocalProviderName;
  readonly available: boolean;
  /** Why it is not available ('' when it is). */
  readonly reason: string;
  /** Named by `REGISTRY_REQUIRED_PROVIDERS`: its suites fail, rather than skip, when it cannot run. */
  readonly required: boolean;
}

/** The local providers by name, as test titles, reports and `REGISTRY_REQUIRED_PROVIDERS` spell them. */
export const LOCAL_PROVIDER_NAMES = ['process', 'containers-host', 'containers-network'] as const;
export type LocalProviderName = (typeof LOCAL_PROVIDER_NAMES)[number];

/**
 * The providers `REGISTRY_REQUIRED_PROVIDERS` names: a comma-separated list of `process`,
 * `containers-host`, `containers-network`, `containers` (both networkings) or `all`. Unset or empty
 * requires none (a provider that cannot run is then reported as not run); an unknown name is an error.
 */
export function requiredProviders(env: NodeJS.ProcessEnv = process.env): Set<LocalProviderName> {
  const required = new Set<LocalProviderName>();
  for (const item of (env.REGISTRY_REQUIRED_PROVIDERS ?? '').split(',')) {
    const name = item.trim();
    if (name === '') continue;
    if (name === 'all') for (const each of LOCAL_PROVIDER_NAMES) required.add(each);
    else if (name === 'containers') required.add('containers-host').add('containers-network');
    else if ((LOCAL_PROVIDER_NAMES as readonly string[]).includes(name)) required.add(name as LocalProviderName);
    else
      throw new Error(
        `REGISTRY_REQUIRED_PROVIDERS: unknown provider '${name}' (use ${LOCAL_PROVIDER_NAMES.join(', ')}, containers or all)`,
      );
  }
  return required;
}

/**
 * Every local way to start the dependencies, with why one is unavailable here: the process provider,
 * and the containers provider with each networking (host network, and a network created for the run).
 */
export function localProviders(env: NodeJS.ProcessEnv = process.env): LocalProvider[] {
  const required = requiredProviders(env);
  const docker = isDockerAvailable();
  const tools = existsSync(mlflowExecutable(env)) && existsSync(toxiproxyExecutable(env));
  // The PostgreSQL and HAProxy images are built from Debian's packages (no registry carries those builds).
  const packages = postgresBinDir() !== undefined && haproxyExecutable() !== undefined;
  const noDocker = 'no Docker engine answers on this machine';
  const noPackages =
    "Debian's postgresql and haproxy, which its PostgreSQL and HAProxy images are built from, are not both installed (npm run setup installs them)";
  const containers = !docker ? noDocker : !packages ? noPackages : '';
  const network = containers || networkUnavailableReason();
  const found: Omit<LocalProvider, 'required'>[] = [
    {
      provider: 'process',
      name: 'process',
      available: tools,
      reason: tools ? '' : 'MLflow and Toxiproxy are not provisioned (python3 and go are needed)',
    },
    {
      provider: 'containers',
      networking: 'host',
      name: 'containers-host',
      available: !containers,
      reason: containers,
    },
    { provider: 'containers', networking: 'network', name: 'containers-network', available: !network, reason: network },
  ];
  return found.map((local) => ({ ...local, required: required.has(local.name) }));
}

/** An MLflow from a provider, with that provider's own way of putting a Toxiproxy proxy in front of it. */
export interface ProviderMlflow extends MlflowHandle {
  /**
   * Creates a Toxiproxy proxy in front of this MLflow; `address` is where the host reaches it. The process
   * provider starts a Toxiproxy process on first use; the containers provider uses the Toxiproxy container
   * beside MLflow (so Docker is all it needs, not Go). Stopped with the MLflow.
   */
  proxyMlflow(name: string): Promise<{ proxy: ToxiproxyProxy; address: string }>;
}

/** A real MLflow from the given provider (a process, or a container with its Toxiproxy beside it). */
export async function startMlflowWith(
  provider: 'process' | 'containers',
  options: { networking?: ContainerNetworking } = {},
): Promise<ProviderMlflow> {
  if (provider === 'containers') {
    const dependencies = await startContainerDependencies(options);
    return {
      ...dependencies.mlflow,
      proxyMlflow: (name) => dependencies.proxyMlflow(name),
      stop: dependencies.stop,
      [Symbol.asyncDispose]: dependencies.stop,
    };
  }
  const mlflow = await startMlflow();
  let toxiproxy: Promise<ToxiproxyHandle> | undefined;
  const stop = async () => {
    await Promise.allSettled([mlflow.stop(), toxiproxy?.then((started) => started.stop())]);
  };
  return {
    ...mlflow,
    proxyMlflow: async (name) => {
      toxiproxy ??= startToxiproxy();
      return proxyOnLoopback(await toxiproxy, name, `${mlflow.address.host}:${mlflow.address.port}`);
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
