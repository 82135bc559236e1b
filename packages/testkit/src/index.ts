export { createMlflowMock, type MlflowFault, type MlflowMock } from './mlflow-mock.js';
export { toolsDir, workspaceRoot } from './paths.js';
export { type PostgresHandle, startPostgres } from './postgres.js';
export { freePort, isPortOpen, type ManagedProcess, spawnManaged, waitFor } from './process.js';
export { type RedisHandle, startRedis } from './redis.js';
