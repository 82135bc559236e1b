export { createMlflowMock, type MlflowFault, type MlflowMock } from './mlflow-mock.js';
export { toolsDir, workspaceRoot } from './paths.js';
export { type PostgresHandle, startPostgres } from './postgres.js';
export {
  fetchJson,
  freePort,
  isPortOpen,
  type JsonResponse,
  type ManagedProcess,
  StopWaiting,
  spawnManaged,
  waitFor,
} from './process.js';
export { type RedisHandle, startRedis } from './redis.js';
export { type ServiceHandle, serviceEntryPoint, startService } from './service.js';
