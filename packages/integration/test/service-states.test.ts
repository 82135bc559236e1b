import { BREAKER_STATE_VALUE, CACHE_STATUS_HEADER, METRICS, readMetrics } from '@registry/service/client';
import { startPostgres, startRedis, waitFor } from '@registry/testkit';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createMswMlflow, startService } from './support/service.js';

const { mlflow, server } = createMswMlflow();
const ADMIN = { authorization: 'Bearer integration-admin-token' };

beforeAll(() => server.listen({ onUnhandledRequest: 'bypass' }));
afterAll(() => server.close());
beforeEach(() => {
  mlflow.reset();
  mlflow.seedModel('fraud', 2);
});
afterEach(() => server.resetHandlers());

type Service = Awaited<ReturnType<typeof startService>>;

/** The breaker as an operator sees it: `circuit_breaker` of `/health/status`. */
async function breakerReport(service: Service) {
  return (await service.request.get('/health/status').expect(200)).body.circuit_breaker as {
    state: string;
    time_until_retry_seconds: number;
  };
}

async function tripBreaker(service: Service) {
  mlflow.setFault('refused');
  for (let i = 0; i < 2; i += 1) await service.request.get('/api/v1/models/never-seen');
  expect((await breakerReport(service)).state).toBe('open');
}

describe('Service when everything is healthy', () => {
  it('reports healthy with real PostgreSQL and Redis checks', async () => {
    await using service = await startService({ DATABASE_URL: inject('databaseUrl'), REDIS_URL: inject('redisUrl') });
    const response = await service.request.get('/health').expect(200);
    expect(response.body).toMatchObject({
      status: 'healthy',
      services: { mlflow: 'healthy', postgres: 'healthy', redis: 'healthy' },
    });
  });

  it('reports ready with every check passing', async () => {
    await using service = await startService({ DATABASE_URL: inject('databaseUrl'), REDIS_URL: inject('redisUrl') });
    const response = await service.request.get('/health/ready').expect(200);
    expect(response.body).toMatchObject({ ready: true, degraded_mode: false });
    expect(response.body.checks.map((c: { name: string }) => c.name)).toEqual(['mlflow', 'postgres', 'redis']);
  });

  it('reads a model version from MLflow', async () => {
    await using service = await startService();
    const response = await service.request.get('/api/v1/models/fraud/versions/2').expect(200);
    expect(response.headers[CACHE_STATUS_HEADER]).toBe('live');
    expect(response.body.model_version).toMatchObject({ name: 'fraud', version: '2' });
  });

  it('registers and transitions a model version', async () => {
    await using service = await startService();
    const created = await service.request
      .post('/api/v1/models/churn/versions')
      .send({ source: 's3://models/churn/1', description: 'first' })
      .expect(201);
    expect(created.body.model_version).toMatchObject({ name: 'churn', version: '1' });
    const moved = await service.request
      .post('/api/v1/models/churn/versions/1/stage')
      .send({ stage: 'Staging' })
      .expect(200);
    expect(moved.body.model_version.current_stage).toBe('Staging');
  });

  it('searches models by name', async () => {
    mlflow.seedModel('churn');
    await using service = await startService();
    const response = await service.request.get('/api/v1/models').query({ search: 'FRA' }).expect(200);
    expect(response.body.models.map((m: { name: string }) => m.name)).toEqual(['fraud']);
  });

  it('exposes Prometheus metrics', async () => {
    await using service = await startService();
    await service.request.get('/health/live');
    const response = await service.request.get('/metrics').expect(200);
    const metrics = readMetrics(response.text);
    expect(metrics.value(METRICS.breakerState)).toBe(BREAKER_STATE_VALUE.closed);
    expect(metrics.value(METRICS.healthScore)).toBe(100);
  });
});

describe('Service with MLflow failing before the breaker opens', () => {
  it('answers 502 MLFLOW_UNREACHABLE for a refused connection', async () => {
    await using service = await startService();
    mlflow.setFault('refused');
    const response = await service.request.get('/api/v1/models/fraud').expect(502);
    expect(response.body).toMatchObject({ code: 'MLFLOW_UNREACHABLE', requestId: response.headers['x-request-id'] });
  });

  it('answers 504 MLFLOW_TIMEOUT within the request timeout', async () => {
    await using service = await startService();
    mlflow.setFault('timeout');
    const started = performance.now();
    const response = await service.request.get('/api/v1/models/fraud').expect(504);
    expect(response.body.code).toBe('MLFLOW_TIMEOUT');
    // MLFLOW_REQUEST_TIMEOUT is 0.3 s; the bound leaves room for a loaded machine, not for a hang.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  it('answers 502 MLFLOW_UPSTREAM_ERROR for an MLflow 5xx', async () => {
    await using service = await startService();
    mlflow.setFault('server_error');
    const response = await service.request.get('/api/v1/models/fraud').expect(502);
    expect(response.body).toMatchObject({ code: 'MLFLOW_UPSTREAM_ERROR', details: { mlflow_status: 500 } });
  });

  it('answers 502 MLFLOW_BAD_RESPONSE for malformed JSON', async () => {
    await using service = await startService();
    mlflow.setFault('malformed_json');
    const response = await service.request.get('/api/v1/models').expect(502);
    expect(response.body.code).toBe('MLFLOW_BAD_RESPONSE');
  });

  it('answers 502 MLFLOW_BAD_RESPONSE for a body missing required fields', async () => {
    await using service = await startService();
    mlflow.setFault('missing_fields');
    const response = await service.request.get('/api/v1/models/fraud').expect(502);
    expect(response.body.code).toBe('MLFLOW_BAD_RESPONSE');
  });

  it('reports MLflow unhealthy while the breaker is still closed', async () => {
    await using service = await startService();
    mlflow.setFault('refused');
    await service.request.get('/api/v1/models/fraud');
    const response = await service.request.get('/health').expect(200);
    expect(response.body).toMatchObject({ status: 'degraded', services: { mlflow: 'unhealthy' } });
  });
});

describe('Service with the breaker open', () => {
  it('stays ready in degraded mode', async () => {
    await using service = await startService();
    await tripBreaker(service);
    const response = await service.request.get('/health/ready').expect(200);
    expect(response.body).toMatchObject({ ready: true, can_serve_traffic: true, degraded_mode: true });
  });

  it('fails MLflow-bound requests fast with 503 and a truthful Retry-After', async () => {
    await using service = await startService({
      MLFLOW_CB_RECOVERY_TIMEOUT: '20',
      MLFLOW_CB_MAX_RECOVERY_TIMEOUT: '20',
    });
    await tripBreaker(service);
    const before = mlflow.requestCount();
    const response = await service.request.get('/api/v1/models/fraud').expect(503);
    expect(response.body.code).toBe('MLFLOW_CIRCUIT_OPEN');
    const retryAfter = Number(response.headers['retry-after']);
    const untilTrial = (await breakerReport(service)).time_until_retry_seconds;
    expect(retryAfter).toBeGreaterThanOrEqual(untilTrial);
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil(untilTrial) + 1);
    expect(mlflow.requestCount()).toBe(before);
  });

  it('serves reads seen before as stale', async () => {
    await using service = await startService({
      MLFLOW_CB_RECOVERY_TIMEOUT: '20',
      MLFLOW_CB_MAX_RECOVERY_TIMEOUT: '20',
    });
    await service.request.get('/api/v1/models/fraud').expect(200);
    await tripBreaker(service);
    const response = await service.request.get('/api/v1/models/fraud').expect(200);
    expect(response.headers[CACHE_STATUS_HEADER]).toBe('stale');
    expect(response.body.model.name).toBe('fraud');
  });

  it('refuses writes with 503 without reaching MLflow', async () => {
    await using service = await startService({
      MLFLOW_CB_RECOVERY_TIMEOUT: '20',
      MLFLOW_CB_MAX_RECOVERY_TIMEOUT: '20',
    });
    await tripBreaker(service);
    mlflow.setFault(null);
    const before = mlflow.requestCount();
    await service.request.post('/api/v1/models/fraud/versions').send({ source: 's3://x' }).expect(503);
    expect(mlflow.requestCount()).toBe(before);
  });

  it('keeps core routes answering', async () => {
    await using service = await startService();
    await tripBreaker(service);
    await service.request.get('/version').expect(200);
    await service.request.get('/health/live').expect(200);
    const status = await service.request.get('/health/status').expect(200);
    expect(status.body).toMatchObject({ status: 'degraded', circuit_breaker: { state: 'open', trips_total: 1 } });
  });

  it('answers /health/mlflow with 503 and a JSON body', async () => {
    await using service = await startService();
    await tripBreaker(service);
    const response = await service.request.get('/health/mlflow').expect(503);
    expect(response.body).toMatchObject({ connected: false, circuit_breaker: { state: 'open' } });
  });
});

describe('Service recovering', () => {
  it('goes half-open after the recovery timeout and reports recovering', async () => {
    await using service = await startService({ MLFLOW_CB_HALF_OPEN_SUCCESSES: '3' });
    await tripBreaker(service);
    mlflow.setFault(null);
    await waitFor(async () => (await breakerReport(service)).time_until_retry_seconds === 0, {
      timeoutMs: 5_000,
      what: 'the trial to be due',
    });
    await service.request.get('/api/v1/models/fraud').expect(200);
    const response = await service.request.get('/health').expect(200);
    expect(response.body.services.mlflow).toBe('recovering');
  });

  it('closes by itself through the background probe once MLflow is back', async () => {
    await using service = await startService({ MLFLOW_HEALTH_PROBE_INTERVAL: '0.2' });
    await tripBreaker(service);
    mlflow.setFault(null);
    await waitFor(async () => (await service.request.get('/health')).body.services.mlflow === 'healthy', {
      timeoutMs: 10_000,
      what: 'MLflow to be reported healthy again',
    });
    expect((await breakerReport(service)).state).toBe('closed');
  });

  it('closes at once on an authenticated manual reset', async () => {
    await using service = await startService({
      MLFLOW_CB_RECOVERY_TIMEOUT: '60',
      MLFLOW_CB_MAX_RECOVERY_TIMEOUT: '60',
    });
    await tripBreaker(service);
    const response = await service.request.post('/health/mlflow/reset').set(ADMIN).expect(200);
    expect(response.body).toMatchObject({ previous_state: 'open', state: 'closed' });
  });
});

describe('Service with dependencies down', () => {
  it('answers readiness 503 while PostgreSQL is down', async () => {
    const postgres = await startPostgres();
    await using service = await startService({ DATABASE_URL: postgres.url });
    await service.request.get('/health/ready').expect(200);
    await postgres.stop();
    const response = await service.request.get('/health/ready').expect(503);
    expect(response.body.checks).toContainEqual(
      expect.objectContaining({ name: 'postgres', passed: false, critical: true }),
    );
    expect((await service.request.get('/health').expect(200)).body.status).toBe('unhealthy');
  });

  it('stays ready in degraded mode while Redis is down', async () => {
    const redis = await startRedis();
    await using service = await startService({ REDIS_URL: redis.url });
    await service.request.get('/health/ready').expect(200);
    await redis.stop();
    const response = await service.request.get('/health/ready').expect(200);
    expect(response.body).toMatchObject({ ready: true, degraded_mode: true });
    expect((await service.request.get('/health')).body.services.redis).toBe('unhealthy');
  });

  it('reports unhealthy with a health score of 0 when everything is down', async () => {
    const postgres = await startPostgres();
    const redis = await startRedis();
    await using service = await startService({ DATABASE_URL: postgres.url, REDIS_URL: redis.url });
    await Promise.all([postgres.stop(), redis.stop()]);
    await tripBreaker(service);
    const status = await service.request.get('/health/status').expect(200);
    expect(status.body).toMatchObject({ status: 'unhealthy', health_score: 0, readiness: { ready: false } });
    await service.request.get('/health/live').expect(200);
  });
});

describe('Service input and auth', () => {
  it('rejects registry calls without an API key when keys are set', async () => {
    await using service = await startService({ API_KEYS: 'integration-key-1' });
    const response = await service.request.get('/api/v1/models').expect(401);
    expect(response.body.code).toBe('UNAUTHORIZED');
    await service.request.get('/api/v1/models').set('x-api-key', 'integration-key-1').expect(200);
  });

  it('rejects manual breaker control with a wrong token', async () => {
    await using service = await startService();
    const response = await service.request
      .post('/health/mlflow/open')
      .set({ authorization: 'Bearer wrong' })
      .expect(401);
    expect(response.body.code).toBe('ADMIN_UNAUTHORIZED');
    expect((await breakerReport(service)).state).toBe('closed');
  });

  it('rejects a malformed JSON body with 400', async () => {
    await using service = await startService();
    const response = await service.request
      .post('/api/v1/models/fraud/versions')
      .set('content-type', 'application/json')
      .send('{"source": ')
      .expect(400);
    expect(response.body.code).toBe('BAD_REQUEST');
  });

  it('rejects an oversized body with 413', async () => {
    await using service = await startService({ BODY_LIMIT: '512' });
    const response = await service.request
      .post('/api/v1/models/fraud/versions')
      .send({ source: 'x'.repeat(2_000) })
      .expect(413);
    expect(response.body.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('rejects a non-JSON body on a JSON route with 415', async () => {
    await using service = await startService();
    const response = await service.request
      .post('/api/v1/models/fraud/versions')
      .set('content-type', 'text/csv')
      .send('a,b')
      .expect(415);
    expect(response.body.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers an unknown route with 404 JSON', async () => {
    await using service = await startService();
    const response = await service.request.get('/does/not/exist').expect(404);
    expect(response.body).toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('MLflow pass-through under /mlflow', () => {
  it('relays MLflow answers unchanged', async () => {
    await using service = await startService();
    const response = await service.request
      .get('/mlflow/api/2.0/mlflow/registered-models/get')
      .query({ name: 'fraud' })
      .expect(200);
    expect(response.body.registered_model.name).toBe('fraud');
  });

  it("relays MLflow's own error answers, a 5xx as its status and error_code with MLflow's text kept to the log", async () => {
    await using service = await startService();
    const missing = await service.request
      .get('/mlflow/api/2.0/mlflow/registered-models/get')
      .query({ name: 'nope' })
      .expect(404);
    expect(missing.body.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
    mlflow.setFault('server_error');
    const failed = await service.request
      .get('/mlflow/api/2.0/mlflow/registered-models/get')
      .query({ name: 'fraud' })
      .expect(500);
    // The fault's body is a proxy's HTML page: no error_code of MLflow's, and none of its text relayed.
    expect(failed.body).toEqual({
      error_code: 'INTERNAL_ERROR',
      message: `MLflow failed on this request (HTTP 500); its answer is in the service's log under request id ${failed.headers['x-request-id']}.`,
    });
    expect(failed.text).not.toContain('502 Bad Gateway');
  });

  it('answers 503 with Retry-After while the breaker is open', async () => {
    await using service = await startService({
      MLFLOW_CB_RECOVERY_TIMEOUT: '20',
      MLFLOW_CB_MAX_RECOVERY_TIMEOUT: '20',
    });
    await tripBreaker(service);
    const response = await service.request
      .post('/mlflow/api/2.0/mlflow/registered-models/create')
      .send({ name: 'x' })
      .expect(503);
    expect(response.body.code).toBe('MLFLOW_CIRCUIT_OPEN');
    expect(Number(response.headers['retry-after'])).toBeGreaterThan(0);
  });
});
