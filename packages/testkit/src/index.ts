export type { Proxy as ToxiproxyProxy } from 'toxiproxy-node-client';
export { dealKeys, type KeyDealer, parseApiKeys } from './api-keys.js';
export {
  CONTAINER_LABEL,
  CONTAINER_NETWORKINGS,
  type ContainerNetworking,
  containerNetworkingFromEnv,
  docker,
  ensureImages,
  haproxyImage,
  isDockerAvailable,
  MLFLOW_IMAGE,
  parseContainerNetworking,
  postgresImage,
  removeStaleContainers,
  TOXIPROXY_IMAGE,
} from './containers/index.js';
export {
  HAPROXY_BACKEND,
  HAPROXY_CONNECT_TIMEOUT_MS,
  type HaproxyCheck,
  type HaproxyHandle,
  type HaproxyServer,
  haproxyConfig,
  haproxyExecutable,
  installedHaproxyVersion,
  parseServerStates,
  SERVED_BY_HEADER,
  type ServerState,
  startHaproxy,
} from './haproxy.js';
export { type MlflowHandle, startMlflow, waitForMlflow } from './mlflow.js';
export { createMlflowMock, type MlflowFault, type MlflowMock } from './mlflow-mock.js';
export { toolsDir, workspaceRoot } from './paths.js';
export { type PostgresHandle, startPostgres } from './postgres.js';
export {
  fetchJson,
  freePort,
  isPortOpen,
  type JsonResponse,
  listensOn,
  listensYet,
  type ManagedProcess,
  onFreePort,
  StopWaiting,
  spawnManaged,
  waitFor,
} from './process.js';
export {
  MLFLOW_VERSION,
  mlflowExecutable,
  provisionAll,
  provisionMlflow,
  provisionSchemathesis,
  provisionToxiproxy,
  SCHEMATHESIS_VERSION,
  schemathesisExecutable,
  TOXIPROXY_VERSION,
  toxiproxyExecutable,
} from './provision.js';
export { type RecordedConnection, type RecordingListener, startRecordingListener } from './recording-listener.js';
export { type RedisHandle, startRedis } from './redis.js';
export { escapeHtml, percentile, percentileOfSorted } from './report-text.js';
export { type ServiceHandle, serviceEntryPoint, startService } from './service.js';
export {
  connectDeployedStack,
  LOCAL_PROVIDER_NAMES,
  type LocalProvider,
  type LocalProviderName,
  localProviders,
  PROVIDERS,
  type ProviderMlflow,
  type ProviderName,
  providerFromEnv,
  requiredProviders,
  requireToxiproxy,
  type Stack,
  type StackOptions,
  type StackReplica,
  type StackService,
  startMlflowWith,
  startStack,
  type ToxiproxyStack,
} from './stack.js';
export {
  connectToxiproxy,
  DATABASE_PROXY_NAME,
  proxyOnLoopback,
  setProxyEnabled,
  startToxiproxy,
  type ToxiproxyHandle,
} from './toxiproxy.js';
