import { MLFLOW_HEALTH_REUSE_MS, SERVICE_VERSION } from '@registry/service';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ADMIN_AUTH, buildTestApp, createSwitchableCheck, tripBreaker } from './support/fakes.js';

describe('Health routes', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers liveness without calling MLflow', async () => {
    const { app, mlflow } = buildTestApp();
    const response = await app.inject('/health/live');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      alive: true,
      uptime_seconds: expect.any(Number),
      memory_usage_mb: expect.any(Number),
    });
    expect(mlflow.calls()).toBe(0);
  });

  it('serves the /live and /ready aliases', async () => {
    const { app } = buildTestApp();
    expect((await app.inject('/live')).statusCode).toBe(200);
    expect((await app.inject('/ready')).statusCode).toBe(200);
  });

  it('reports ready with degraded_mode while the breaker is open', async () => {
    const { app, mlflow } = buildTestApp();
    await tripBreaker(app, mlflow);
    const response = await app.inject('/health/ready');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      ready: true,
      can_serve_traffic: true,
      degraded_mode: true,
      checks: [{ name: 'mlflow', passed: false, critical: false }],
    });
  });

  it('answers 503 on readiness when the critical database is down', async () => {
    const postgres = createSwitchableCheck('postgres', true);
    const { app } = buildTestApp({ dependencies: [postgres] });
    postgres.setDown(true);
    const response = await app.inject('/health/ready');
    expect(response.statusCode).toBe(503);
    expect(response.json().checks).toContainEqual(
      expect.objectContaining({ name: 'postgres', passed: false, critical: true, error: 'postgres is down' }),
    );
  });

  it('answers 503 on readiness while shutting down', async () => {
    const { app } = buildTestApp();
    app.registry.lifecycle.isShuttingDown = true;
    expect((await app.inject('/health/ready')).statusCode).toBe(503);
  });

  it('reports each service in /health and stays 200 when unhealthy', async () => {
    const postgres = createSwitchableCheck('postgres', true);
    const redis = createSwitchableCheck('redis', false);
    const { app, mlflow } = buildTestApp({ dependencies: [postgres, redis] });
    await tripBreaker(app, mlflow);
    postgres.setDown(true);
    const response = await app.inject('/health');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      status: 'unhealthy',
      services: { mlflow: 'degraded', postgres: 'unhealthy', redis: 'healthy' },
    });
  });

  it('adds breaker details to /health?detailed=true', async () => {
    const { app } = buildTestApp();
    const body = (await app.inject('/health?detailed=true')).json();
    expect(body.status).toBe('healthy');
    expect(body.details.circuit_breaker).toMatchObject({ state: 'closed', failure_count: 0 });
  });

  it('reports recovering while half-open', async () => {
    const { app, mlflow } = buildTestApp();
    await tripBreaker(app, mlflow);
    mlflow.failWith(null);
    vi.advanceTimersByTime(30_000);
    await app.inject('/api/v1/models/fraud');
    expect((await app.inject('/health')).json().services.mlflow).toBe('recovering');
  });

  it('reports every status field with breaker metrics in /health/status', async () => {
    const { app, mlflow } = buildTestApp({ env: { ENVIRONMENT: 'staging' } });
    await tripBreaker(app, mlflow);
    vi.advanceTimersByTime(10_000);
    const body = (await app.inject('/health/status')).json();
    expect(body).toMatchObject({
      status: 'degraded',
      health_score: 0,
      version: SERVICE_VERSION.version,
      environment: 'staging',
      readiness: { ready: true, degraded_mode: true },
      services: { mlflow: 'degraded' },
      circuit_breaker: {
        state: 'open',
        failure_count: 3,
        consecutive_successes: 0,
        recovery_attempts: 0,
        last_failure_time: '2026-01-01T00:00:00.000Z',
        last_success_time: null,
        time_until_retry_seconds: 20,
        trips_total: 1,
        settings: { failure_threshold: 3, recovery_timeout_seconds: 30, half_open_successes: 2 },
      },
    });
    expect(body.uptime_seconds).toBe(10);
  });

  it('answers /health/mlflow with 503 and Retry-After while open', async () => {
    const { app, mlflow } = buildTestApp();
    await tripBreaker(app, mlflow);
    const response = await app.inject('/health/mlflow');
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('30');
    expect(response.json()).toMatchObject({ connected: false, circuit_breaker: { state: 'open' } });
  });

  it('answers /health/mlflow with 200 after a successful probe', async () => {
    const { app } = buildTestApp();
    const response = await app.inject('/health/mlflow');
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ connected: true, status: 'healthy' });
  });

  it('calls MLflow at most once a second for /health/mlflow, however often it is asked', async () => {
    const { app, mlflow } = buildTestApp();
    for (let i = 0; i < 5; i += 1) expect((await app.inject('/health/mlflow')).statusCode).toBe(200);
    expect(mlflow.calls()).toBe(1);
    vi.advanceTimersByTime(MLFLOW_HEALTH_REUSE_MS - 1);
    await app.inject('/health/mlflow');
    expect(mlflow.calls()).toBe(1);
    vi.advanceTimersByTime(1);
    await app.inject('/health/mlflow');
    expect(mlflow.calls()).toBe(2);
  });

  it('counts the second of reuse from when a slow probe ended, not from when it began', async () => {
    const { app, mlflow } = buildTestApp();
    const release = mlflow.hold();
    const first = app.inject('/health/mlflow');
    await mlflow.whenCalled(1);
    await vi.advanceTimersByTimeAsync(900);
    release();
    expect((await first).json().latency_ms).toBe(900);
    vi.advanceTimersByTime(MLFLOW_HEALTH_REUSE_MS - 1);
    await app.inject('/health/mlflow');
    expect(mlflow.calls()).toBe(1);
  });

  it('probes again when the clock stepped back since the last probe', async () => {
    const { app, mlflow } = buildTestApp();
    await app.inject('/health/mlflow');
    vi.setSystemTime(new Date('2025-12-31T23:00:00Z'));
    await app.inject('/health/mlflow');
    expect(mlflow.calls()).toBe(2);
  });

  it('probes MLflow afresh on a manual reset, even right after /health/mlflow probed it', async () => {
    const { app, mlflow } = buildTestApp();
    await app.inject('/health/mlflow');
    const reset = await app.inject({ method: 'POST', url: '/health/mlflow/reset', headers: ADMIN_AUTH });
    expect(reset.statusCode).toBe(200);
    expect(mlflow.calls()).toBe(2);
  });

  it('stamps /health/mlflow and /health with the time of the answer, and /health with the version', async () => {
    const { app } = buildTestApp();
    const now = new Date().toISOString();
    expect((await app.inject('/health/mlflow')).json().timestamp).toBe(now);
    expect((await app.inject('/health')).json()).toMatchObject({ timestamp: now, version: SERVICE_VERSION.version });
  });

  it('answers readiness 503 without degraded mode while PostgreSQL is down', async () => {
    const postgres = createSwitchableCheck('postgres', true);
    const { app } = buildTestApp({ dependencies: [postgres] });
    postgres.setDown(true);
    const response = await app.inject('/health/ready');
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ ready: false, degraded_mode: false });
  });

  it('refuses manual control without the admin token', async () => {
    const { app } = buildTestApp();
    const missing = await app.inject({ method: 'POST', url: '/health/mlflow/reset' });
    const wrong = await app.inject({
      method: 'POST',
      url: '/health/mlflow/open',
      headers: { authorization: 'Bearer nope' },
    });
    expect([missing.statusCode, wrong.statusCode]).toEqual([401, 401]);
    expect(wrong.json().code).toBe('ADMIN_UNAUTHORIZED');
  });

  it('refuses manual control when ADMIN_TOKEN is unset', async () => {
    const { app } = buildTestApp({ env: { ADMIN_TOKEN: '' } });
    const response = await app.inject({ method: 'POST', url: '/health/mlflow/reset', headers: ADMIN_AUTH });
    expect(response.statusCode).toBe(401);
    expect(response.json().code).toBe('ADMIN_DISABLED');
  });

  it('closes the breaker on an authenticated reset and reports the previous state', async () => {
    const { app, mlflow } = buildTestApp();
    await tripBreaker(app, mlflow);
    const response = await app.inject({ method: 'POST', url: '/health/mlflow/reset', headers: ADMIN_AUTH });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ action: 'reset', previous_state: 'open', state: 'closed' });
    expect(response.json().performed_by.request_id).toBe(response.headers['x-request-id']);
  });

  it('opens the breaker on an authenticated force-open', async () => {
    const { app, mlflow } = buildTestApp();
    const response = await app.inject({ method: 'POST', url: '/health/mlflow/open', headers: ADMIN_AUTH });
    expect(response.json()).toMatchObject({ action: 'open', previous_state: 'closed', state: 'open' });
    const callsBefore = mlflow.calls();
    expect((await app.inject('/api/v1/models/fraud')).statusCode).toBe(503);
    expect(mlflow.calls()).toBe(callsBefore);
  });
});
