import { createRegistryClient, METRICS, type RegistryClient } from '@registry/service/client';
import {
  connectToxiproxy,
  parseApiKeys,
  setProxyEnabled,
  startService,
  startStack,
  type ToxiproxyProxy,
  waitFor,
} from '@registry/testkit';

import { LOAD_BULKHEAD, LOAD_CLIENTS, LOAD_MODEL, type Precondition, SLOW_MLFLOW_LATENCY_MS } from './scenarios.js';

/**
 * The API keys of a local load run's users: each connection is one user and presents one of them, in
 * turn, so that the service's per-client share of the bulkhead (MLFLOW_CLIENT_MAX_CONCURRENCY) sees
 * many users, as it would in production, rather than one client holding every call.
 */
export const LOAD_CLIENT_KEYS: readonly string[] = Object.freeze(
  Array.from({ length: LOAD_CLIENTS }, (_, index) => `load-client-${String(index).padStart(2, '0')}-key`),
);

/**
 * Service settings for a local load run: quiet logs, a probe fast enough to open and close the breaker in
 * seconds, the bulkhead the saturation thresholds are derived from, and the users' keys (the per-client
 * share stays at its default).
 */
export const LOAD_SERVICE_ENV: Readonly<Record<string, string>> = Object.freeze({
  LOG_LEVEL: 'warn',
  MLFLOW_HEALTH_PROBE_INTERVAL: '1',
  MLFLOW_CB_RECOVERY_TIMEOUT: '2',
  MLFLOW_CB_MAX_RECOVERY_TIMEOUT: '4',
  MLFLOW_MAX_CONCURRENCY: String(LOAD_BULKHEAD.maxConcurrency),
  MLFLOW_QUEUE_SIZE: String(LOAD_BULKHEAD.queueSize),
  API_KEYS: LOAD_CLIENT_KEYS.join(','),
});

/** What the scenarios run against: a service URL and, when available, the proxy in front of its MLflow. */
export interface LoadTarget {
  readonly serviceUrl: string;
  readonly description: string;
  /** The Toxiproxy proxy between the service and MLflow; without it MLflow-fault scenarios cannot run. */
  readonly proxy: ToxiproxyProxy | undefined;
  /**
   * The API keys requests carry (`x-api-key`), for a service that runs with `API_KEYS`: each connection
   * presents one, in turn. Empty: none.
   */
  readonly apiKeys: readonly string[];
  stop(): Promise<void>;
}

const TOXIC = 'load-slow-mlflow';

/**
 * Starts a local stack (real MLflow, Toxiproxy, the service) through testkit; the service with
 * `serviceEnv` (default `LOAD_SERVICE_ENV`).
 */
export async function startLocalTarget(
  serviceEnv: Readonly<Record<string, string>> = LOAD_SERVICE_ENV,
): Promise<LoadTarget> {
  const stack = await startStack({ provider: 'process', serviceEnv: { ...serviceEnv } });
  return {
    serviceUrl: stack.service.url,
    description: `local stack (service ${stack.service.url}, real MLflow ${stack.mlflow.url}, Toxiproxy ${stack.toxiproxy.url})`,
    proxy: stack.proxy,
    apiKeys: parseApiKeys(serviceEnv.API_KEYS),
    stop: () => stack.stop(),
  };
}

/** A deployed service; with a Toxiproxy URL, the proxy (default name `mlflow`) that fronts its MLflow. */
export async function connectRemoteTarget(
  serviceUrl: string,
  toxiproxyUrl?: string,
  proxyName = 'mlflow',
  apiKeys: readonly string[] = [],
): Promise<LoadTarget> {
  const url = serviceUrl.replace(/\/+$/, '');
  const live = await serviceClient(url)
    .live()
    .catch((error: unknown) => {
      throw new Error(`--target ${url} does not answer /health/live: ${(error as Error).message}`, { cause: error });
    });
  if (live.status !== 200) throw new Error(`--target ${url}: /health/live answered ${live.status}`);
  const proxy = toxiproxyUrl ? await (await connectToxiproxy(toxiproxyUrl)).client.get(proxyName) : undefined;
  return {
    serviceUrl: url,
    description: `deployed service ${url}${apiKeys.length > 0 ? ` (with ${apiKeys.length} API key${apiKeys.length > 1 ? 's' : ''})` : ''}`,
    proxy,
    apiKeys,
    stop: async () => {},
  };
}

/** The typed client of the service under load (for setup and readings, never in the measured loop). */
function serviceClient(serviceUrl: string, apiKey?: string): RegistryClient {
  return createRegistryClient({ baseUrl: serviceUrl, timeoutMs: 10_000, ...(apiKey ? { apiKey } : {}) });
}

async function breakerState(serviceUrl: string): Promise<string | undefined> {
  const status = await serviceClient(serviceUrl).status();
  return status.status === 200 ? status.body.circuit_breaker.state : undefined;
}

async function removeToxic(proxy: ToxiproxyProxy): Promise<void> {
  const toxic = await proxy.getToxic(TOXIC).catch(() => undefined);
  await toxic?.remove();
}

/**
 * Brings the target into the scenario's precondition: MLflow healthy (breaker closed), down (proxy
 * disabled, breaker open) or slow (latency toxic below the timeout). Waits with a deadline.
 */
export async function applyPrecondition(
  target: LoadTarget,
  precondition: Precondition,
  options: { readonly awaitBreaker?: boolean } = {},
): Promise<void> {
  if (target.proxy) {
    await removeToxic(target.proxy);
    await setProxyEnabled(target.proxy, precondition !== 'mlflow-down');
    if (precondition === 'mlflow-slow') {
      await target.proxy.addToxic({
        name: TOXIC,
        type: 'latency',
        stream: 'downstream',
        toxicity: 1,
        attributes: { latency: SLOW_MLFLOW_LATENCY_MS, jitter: 0 },
      });
    }
  } else if (precondition !== 'mlflow-healthy') {
    throw new Error(`precondition ${precondition} needs a Toxiproxy in front of MLflow`);
  }
  // A negative control's service may have a breaker that never opens: it is put under the same fault, unwaited.
  if (options.awaitBreaker === false) return;
  const wanted = precondition === 'mlflow-down' ? 'open' : 'closed';
  await waitFor(async () => (await breakerState(target.serviceUrl)) === wanted, {
    timeoutMs: 60_000,
    intervalMs: 200,
    what: `the breaker to be ${wanted}`,
  });
}

/**
 * A second service on the same MLflow proxy as the local `target`, started with `serviceEnv` on top of
 * LOAD_SERVICE_ENV: a negative control's deliberately broken settings, under the same faults.
 */
export async function startServiceBeside(
  target: LoadTarget,
  serviceEnv: Readonly<Record<string, string>>,
): Promise<LoadTarget & AsyncDisposable> {
  if (!target.proxy)
    throw new Error("a service beside the target needs the target's Toxiproxy proxy in front of MLflow");
  const env = { ...LOAD_SERVICE_ENV, ...serviceEnv };
  const service = await startService({ env: { ...env, MLFLOW_TRACKING_URI: `http://${target.proxy.listen}` } });
  const stop = async () => void (await service.stop());
  return {
    serviceUrl: service.url,
    description: `service ${service.url} beside ${target.description}`,
    proxy: target.proxy,
    apiKeys: parseApiKeys(env.API_KEYS),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/** Puts MLflow back to healthy after the last scenario. */
export async function restoreTarget(target: LoadTarget): Promise<void> {
  if (!target.proxy) return;
  await removeToxic(target.proxy);
  await setProxyEnabled(target.proxy, true);
}

/** Registers the model the registry requests read (version 1), through the service itself. */
export async function seedLoadModel(serviceUrl: string, apiKey?: string): Promise<void> {
  const service = serviceClient(serviceUrl, apiKey);
  const existing = await service.models.version(LOAD_MODEL, '1');
  if (existing.status === 200) return;
  const created = await service.models.register(LOAD_MODEL, { source: 's3://registry-load/models/load-model/1' });
  if (created.status !== 201)
    throw new Error(
      `could not register ${LOAD_MODEL} through the service (status ${created.status})${created.status === 401 ? ': it runs with API_KEYS; set REGISTRY_API_KEY to one of them' : ''}`,
    );
}

/** The service's own resident memory and event-loop lag p99, read from /metrics. */
export async function readResources(serviceUrl: string): Promise<{ rssMb: number; eventLoopLagP99Ms: number }> {
  const metrics = await serviceClient(serviceUrl).metrics();
  return {
    rssMb: Math.round((metrics.value(METRICS.residentMemoryBytes) / 1024 / 1024) * 10) / 10,
    eventLoopLagP99Ms: Math.round(metrics.value(METRICS.eventLoopLagP99Seconds) * 1000 * 10) / 10,
  };
}

/** The breaker's trip count, to prove a scenario did not trip it. */
export async function readTrips(serviceUrl: string): Promise<number> {
  const status = await serviceClient(serviceUrl).status();
  return status.status === 200 ? status.body.circuit_breaker.trips_total : Number.NaN;
}
