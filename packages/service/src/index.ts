export { type AppDeps, buildApp, LOG_REDACT_PATHS, type RegistryContext } from './app.js';
export { bearerToken, clientAddress, matchesAnyKey, secretsEqual } from './auth.js';
export {
  BACKOFF_JITTER_RATIO,
  BreakerOpenError,
  type BreakerSnapshot,
  type BreakerState,
  type BreakerTransition,
  type CircuitBreaker,
  type CircuitBreakerOptions,
  computeOpenTimeoutMs,
  createCircuitBreaker,
  HALF_OPEN_RETRY_AFTER_MS,
  isBreakerOpenError,
} from './circuit-breaker.js';
export {
  type BreakerSettings,
  type Config,
  ConfigError,
  isConfigError,
  loadConfig,
  PROXY_MODES,
  type ProxyMode,
  SETTINGS,
  type SettingName,
} from './config.js';
export * from './contract/index.js';
export {
  createDependencyChecks,
  createPostgresCheck,
  createRedisCheck,
  type DependencyCheck,
  withTimeout,
} from './dependency-checks.js';
export { EMF_METRICS, emfLine, startEmfPublisher } from './emf-publisher.js';
export { createEntryWriteQueue, type EntryWriteOptions, type EntryWriteQueue } from './entry-write-queue.js';
export { MLFLOW_ERROR_CODE_BY_CODE, MLFLOW_ERROR_CODE_BY_STATUS } from './error-handling.js';
export { ERRORS, type ErrorBody, type ErrorCode, isServiceError, ServiceError } from './errors.js';
export {
  type Check,
  type ComponentStatus,
  evaluateReadiness,
  healthScore,
  mlflowCheck,
  mlflowStatus,
  type OverallStatus,
  overallStatus,
  type Readiness,
} from './health-model.js';
export { createMemorySampler, RSS_SAMPLE_MAX_AGE_MS } from './memory-sampler.js';
export {
  classifyMlflowOutcome,
  createMlflowClient,
  FORWARDED_REQUEST_HEADERS,
  FORWARDED_RESPONSE_HEADERS,
  isMlflowError,
  isMlflowOutage,
  type LoggedModelInfo,
  type MlflowClient,
  MlflowError,
  type MlflowErrorKind,
  type ModelVersion,
  type RegisteredModel,
} from './mlflow-client.js';
export {
  type BulkheadLimits,
  type CacheLimits,
  MLFLOW_MESSAGE_MAX_LENGTH,
  retryAfterSeconds,
  SATURATED_RETRY_AFTER_SECONDS,
  toClientFacingMessage,
  toServiceError,
} from './mlflow-gateway.js';
export {
  decideProxyRequest,
  MAX_ORDER_BY_CLAUSES,
  MAX_ORDER_BY_LENGTH,
  PROXY_ENDPOINTS,
  PROXY_METHODS,
  type ProxyDecision,
  type ProxyEndpoint,
} from './mlflow-proxy-policy.js';
export { buildOpenApiDocument, formatOpenApiDocument } from './openapi-document.js';
export { MLFLOW_HEALTH_REUSE_MS } from './plugins/health-routes.js';
export { MLFLOW_PROXY_PREFIX } from './plugins/mlflow-proxy.js';
export { DOCS_PATH, OPENAPI_PATH } from './plugins/openapi.js';
export { REGISTRY_BODY_LIMIT_BYTES, searchFilter } from './plugins/registry-routes.js';
export { describeAcceptedValues, formatSettingsTable } from './settings-doc.js';
export { MAX_JSON_DEPTH } from './validation.js';
export { SERVICE_VERSION } from './version.js';
