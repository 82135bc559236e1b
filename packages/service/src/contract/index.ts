export { errorBodySchema, errorResponses, isoInstant, mlflowErrorSchema } from './common.js';
export * from './health.js';
export {
  BREAKER_METRIC_PREFIX,
  BREAKER_STATE_VALUE,
  CACHE_STATUS_HEADER,
  METRICS,
  REQUEST_ID_HEADER,
} from './metrics.js';
export * from './registry.js';
export {
  ADMIN_SECURITY,
  API_KEY_SECURITY,
  MLFLOW_PROXY_PREFIX,
  REGISTRY_PREFIX,
  ROUTES,
  type RouteContract,
} from './routes.js';
export { versionSchema } from './version.js';
