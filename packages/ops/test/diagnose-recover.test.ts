import { createRegistryClient } from '@registry/service/client';
import { setProxyEnabled, startStack, type ToxiproxyStack, waitFor } from '@registry/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHECK_IDS, diagnose, recover } from '../src/index.js';

const ADMIN_TOKEN = 'ops-suite-admin-token-123';
let stack: ToxiproxyStack;

async function breakerState(): Promise<string> {
  const answer = await createRegistryClient({ baseUrl: stack.service.url }).status();
  return answer.status === 200 ? answer.body.circuit_breaker.state : `status ${answer.status}`;
}

async function setMlflowReachable(enabled: boolean): Promise<void> {
  await setProxyEnabled(stack.proxy, enabled);
}

/** Precondition: MLflow reachable and the breaker closed (reset by hand if an earlier test left it open). */
async function healthyStack(): Promise<void> {
  await setMlflowReachable(true);
  if ((await breakerState()) !== 'closed') {
    await createRegistryClient({ baseUrl: stack.service.url, adminToken: ADMIN_TOKEN }).breaker.reset();
  }
  await waitFor(async () => (await breakerState()) === 'closed', { timeoutMs: 30_000, what: 'the breaker to close' });
}

/** Precondition: the breaker open, MLflow left unreachable. With its long open time it stays open. */
async function openBreaker(): Promise<void> {
  await setMlflowReachable(false);
  await waitFor(async () => (await breakerState()) === 'open', { timeoutMs: 30_000, what: 'the breaker to open' });
}

beforeAll(async () => {
  // A long open time, so the breaker stays open after MLflow is back until someone resets it.
  stack = await startStack({
    provider: 'process',
    serviceEnv: {
      ADMIN_TOKEN,
      MLFLOW_REQUEST_TIMEOUT: '2',
      MLFLOW_HEALTH_PROBE_INTERVAL: '0.5',
      MLFLOW_CB_RECOVERY_TIMEOUT: '300',
      MLFLOW_CB_MAX_RECOVERY_TIMEOUT: '300',
    },
  });
});
afterAll(async () => stack?.stop());

describe('registry-ops against a real service, MLflow and Toxiproxy', () => {
  it('diagnoses a healthy stack as healthy', async () => {
    await healthyStack();
    const diagnosis = await diagnose({ apiUrl: stack.service.url, mlflowUrl: stack.mlflow.url });
    expect(diagnosis.overall).toBe('healthy');
    expect(diagnosis.exitCode).toBe(0);
    expect(diagnosis.healthScore).toBe(100);
  });

  it('gives every check a distinct machine id from CHECK_IDS next to its display name', async () => {
    await healthyStack();
    const diagnosis = await diagnose({ apiUrl: stack.service.url, mlflowUrl: stack.mlflow.url });
    const ids = diagnosis.checks.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(Object.values(CHECK_IDS)).toEqual(expect.arrayContaining(ids));
    expect(ids).toEqual(expect.arrayContaining([CHECK_IDS.breaker, CHECK_IDS.mlflowDirect]));
  });

  it('reports critical while the breaker is open', async () => {
    await healthyStack();
    await openBreaker();
    const diagnosis = await diagnose({
      apiUrl: stack.service.url,
      mlflowUrl: `http://127.0.0.1:${stack.proxy.listen.split(':')[1]}`,
    });
    expect(diagnosis.exitCode).toBe(2);
    expect(diagnosis.checks.find((c) => c.id === CHECK_IDS.breaker)?.status).toBe('unhealthy');
    expect(diagnosis.checks.find((c) => c.id === CHECK_IDS.ready)?.status).toBe('degraded');
  });

  it('leaves the breaker open in a dry run even when MLflow is back', async () => {
    await healthyStack();
    await openBreaker();
    await setMlflowReachable(true);
    const report = await recover({
      apiUrl: stack.service.url,
      mlflowUrl: stack.mlflow.url,
      adminToken: ADMIN_TOKEN,
      dryRun: true,
    });
    expect(report.actions.find((a) => a.step === 'reset breaker')?.result).toBe('planned');
    expect(await breakerState()).toBe('open');
  });

  it('resets the breaker once MLflow is back and reports success', async () => {
    await healthyStack();
    await openBreaker();
    await setMlflowReachable(true);
    const report = await recover({
      apiUrl: stack.service.url,
      mlflowUrl: stack.mlflow.url,
      adminToken: ADMIN_TOKEN,
      dryRun: false,
      stableChecks: 2,
      checkIntervalMs: 200,
      stabilizeTimeoutMs: 30_000,
    });
    expect(report.actions.find((a) => a.step === 'reset breaker')?.result).toBe('done');
    expect(report.verdict).toBe('success');
    expect(await breakerState()).toBe('closed');
  });
});
