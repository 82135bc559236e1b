import { existsSync } from 'node:fs';
import type { Proxy as ToxiproxyProxy } from 'toxiproxy-node-client';
import { isDockerAvailable, startContainerDependencies } from './containers.js';
import { type MlflowHandle, startMlflow, waitForMlflow } from './mlflow.js';
import { fetchJson, freePort } from './process.js';
import { mlflowExecutable, toxiproxyExecutable } from './provision.js';
import { startService } from './service.js';
import { connectToxiproxy, startToxiproxy, type ToxiproxyHandle } from './toxiproxy.js';

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
}

/** MLflow behind a Toxiproxy proxy, and the service pointed at the proxy. */
export interface Stack extends AsyncDisposable {
  readonly provider: ProviderName;
  readonly mlflow: MlflowHandle;
  readonly toxiproxy: ToxiproxyHandle;
  /** The proxy between the service and MLflow; toxics go here. */
  readonly proxy: ToxiproxyProxy;
  readonly service: StackService;
  stop(): Promise<void>;
}

/** Options of `startStack`. */
export interface StackOptions {
  readonly provider?: ProviderName;
  /** Service settings (the same environment variables a user sets), e.g. shortened breaker timings. */
  readonly serviceEnv?: Record<string, string>;
  readonly env?: NodeJS.ProcessEnv;
  readonly echo?: boolean;
}

const PROXY_NAME = 'mlflow';

/** What a local provider started: MLflow, Toxiproxy, and how to stop them. */
interface LocalDependencies {
  readonly mlflow: MlflowHandle;
  readonly toxiproxy: ToxiproxyHandle;
  /** Where Toxiproxy listens for the proxy, and where the service reaches that listener. */
  readonly listen: string;
  readonly serviceReaches: string;
  /** MLflow as Toxiproxy reaches it. */
  readonly upstream: string;
  stop(): Promise<void>;
}

/** Puts the proxy in front of MLflow and starts the service pointed at it; stops everything on failure. */
async function assembleStack(
  provider: 'process' | 'containers',
  startDependencies: () => Promise<LocalDependencies>,
  options: StackOptions,
): Promise<Stack> {
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    const dependencies = await startDependencies();
    cleanups.push(dependencies.stop);
    const proxy = await dependencies.toxiproxy.client.createProxy({
      name: PROXY_NAME,
      listen: dependencies.listen,
      upstream: dependencies.upstream,
    });
    const service = await startService({
      env: { ...options.serviceEnv, MLFLOW_TRACKING_URI: `http://${dependencies.serviceReaches}` },
      echo: options.echo,
    });
    cleanups.push(async () => void (await service.stop()));
    return {
      provider,
      mlflow: dependencies.mlflow,
      toxiproxy: dependencies.toxiproxy,
      proxy,
      service: {
        url: service.url,
        isRunning: async () => service.process.isRunning(),
        output: () => service.process.output(),
      },
      stop,
      [Symbol.asyncDispose]: stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startProcessDependencies(options: StackOptions): Promise<LocalDependencies> {
  const [mlflow, toxiproxy] = await Promise.all([
    startMlflow({ echo: options.echo }),
    startToxiproxy({ echo: options.echo }),
  ]);
  const listenPort = await freePort();
  return {
    mlflow,
    toxiproxy,
    listen: `127.0.0.1:${listenPort}`,
    serviceReaches: `127.0.0.1:${listenPort}`,
    upstream: `${mlflow.address.host}:${mlflow.address.port}`,
    stop: async () => {
      await Promise.allSettled([mlflow.stop(), toxiproxy.stop()]);
    },
  };
}

async function startContainerStackDependencies(): Promise<LocalDependencies> {
  const dependencies = await startContainerDependencies();
  return {
    mlflow: dependencies.mlflow,
    toxiproxy: dependencies.toxiproxy,
    listen: `0.0.0.0:${dependencies.proxyPort}`,
    serviceReaches: dependencies.proxyAddress(dependencies.proxyPort),
    upstream: dependencies.upstream,
    stop: dependencies.stop,
  };
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`the external provider needs ${name}`);
  return value.replace(/\/+$/, '');
}

async function connectExternalStack(options: StackOptions): Promise<Stack> {
  const env = options.env ?? process.env;
  const serviceUrl = required(env, 'REGISTRY_SERVICE_URL');
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
  const stop = async () => {};
  return {
    provider: 'external',
    mlflow,
    toxiproxy,
    proxy,
    service: {
      url: serviceUrl,
      isRunning: async () =>
        (await fetchJson(`${serviceUrl}/health/live`, { timeoutMs: 10_000 }).catch(() => null))?.status === 200,
      output: () => '',
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Starts (process) or connects to (external) MLflow, a Toxiproxy proxy in front of it and the service
 * pointed at the proxy. External needs REGISTRY_SERVICE_URL, REGISTRY_MLFLOW_URL, REGISTRY_TOXIPROXY_URL
 * and optionally REGISTRY_TOXIPROXY_PROXY (the proxy's name, default `mlflow`).
 */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const provider = options.provider ?? providerFromEnv(options.env);
  if (provider === 'external') return connectExternalStack(options);
  return provider === 'containers'
    ? assembleStack('containers', startContainerStackDependencies, options)
    : assembleStack('process', () => startProcessDependencies(options), options);
}

/** The providers that start dependencies on this machine, with why one is unavailable. */
export function localProviders(): { provider: 'process' | 'containers'; available: boolean; reason: string }[] {
  const docker = isDockerAvailable();
  const tools = existsSync(mlflowExecutable()) && existsSync(toxiproxyExecutable());
  return [
    {
      provider: 'process',
      available: tools,
      reason: tools ? '' : 'MLflow and Toxiproxy are not provisioned (python3 and go are needed)',
    },
    { provider: 'containers', available: docker, reason: docker ? '' : 'no Docker engine answers on this machine' },
  ];
}

/** A real MLflow from the given provider (a process, or a container with its Toxiproxy beside it). */
export async function startMlflowWith(provider: 'process' | 'containers'): Promise<MlflowHandle> {
  if (provider === 'process') return startMlflow();
  const dependencies = await startContainerDependencies();
  return { ...dependencies.mlflow, stop: dependencies.stop, [Symbol.asyncDispose]: dependencies.stop };
}
