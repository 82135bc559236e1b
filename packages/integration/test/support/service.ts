import type { AddressInfo } from 'node:net';
import { buildApp, createDependencyChecks, loadConfig } from '@registry/service';
import { createMlflowMock, type MlflowMock } from '@registry/testkit';
import { setupServer } from 'msw/node';
import supertest from 'supertest';

/** MLflow's address in msw-backed tests; nothing listens there, msw answers. */
export const MOCK_MLFLOW_URL = 'http://mlflow.integration.test:5000';

/** One msw server for a test file: MLflow mocked at its HTTP boundary, everything else must be real. */
export function createMswMlflow(): { mlflow: MlflowMock; server: ReturnType<typeof setupServer> } {
  const mlflow = createMlflowMock(MOCK_MLFLOW_URL);
  const server = setupServer(...mlflow.handlers);
  return { mlflow, server };
}

/** Settings for integration tests: short breaker timings, quiet logs. */
export const FAST_BREAKER_ENV = {
  LOG_LEVEL: 'silent',
  MLFLOW_TRACKING_URI: MOCK_MLFLOW_URL,
  MLFLOW_REQUEST_TIMEOUT: '0.3',
  MLFLOW_CB_FAILURE_THRESHOLD: '2',
  MLFLOW_CB_RECOVERY_TIMEOUT: '0.5',
  MLFLOW_CB_HALF_OPEN_SUCCESSES: '2',
  MLFLOW_HEALTH_PROBE_INTERVAL: '0',
  ADMIN_TOKEN: 'integration-admin-token',
  HEALTH_CHECK_TIMEOUT: '1',
};

/** The service built from environment-style settings, with real dependency checks, behind supertest. */
export async function startService(env: Record<string, string | undefined> = {}) {
  const config = loadConfig({ ...FAST_BREAKER_ENV, ...env });
  const app = buildApp({ config, dependencies: createDependencyChecks(config) });
  await app.ready();
  const request = supertest(app.server);
  return {
    app,
    request,
    [Symbol.asyncDispose]: () => app.close(),
  };
}

/** Settings for a service in front of a real MLflow, which answers in tens to hundreds of milliseconds. */
export function realMlflowEnv(mlflowUrl: string): Record<string, string> {
  return { MLFLOW_TRACKING_URI: mlflowUrl, MLFLOW_REQUEST_TIMEOUT: '10' };
}

/**
 * `startService`, listening on a loopback port: for clients that need a real socket (the MLflow Python
 * client, request targets sent verbatim).
 */
export async function startListeningService(env: Record<string, string | undefined> = {}) {
  const service = await startService(env);
  try {
    await service.app.listen({ host: '127.0.0.1', port: 0 });
  } catch (error) {
    await service.app.close();
    throw error;
  }
  const { port } = service.app.server.address() as AddressInfo;
  return { ...service, url: `http://127.0.0.1:${port}` };
}
