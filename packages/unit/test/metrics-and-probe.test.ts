import { METRICS, startEmfPublisher } from '@registry/service';
import { readMetrics } from '@registry/service/client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildTestApp, tripBreaker } from './support/fakes.js';

describe('Metrics', () => {
  it('exposes breaker state, trips, rejections and the health score', async () => {
    const { app, mlflow } = buildTestApp();
    mlflow.failWith('unreachable');
    for (let i = 0; i < 4; i += 1) await app.inject('/api/v1/models/fraud');
    const response = await app.inject('/metrics');
    expect(response.headers['content-type']).toContain('text/plain');
    expect(readMetrics(response.body).value(METRICS.breakerState)).toBe(2);
    expect(readMetrics(response.body).value(METRICS.breakerTrips)).toBe(1);
    expect(readMetrics(response.body).value(METRICS.breakerRejections)).toBe(1);
    expect(readMetrics(response.body).value(METRICS.healthScore)).toBe(0);
  });

  it('exposes the bulkhead gauges and the saturation total, at 0 when idle', async () => {
    const { app } = buildTestApp();
    const body = (await app.inject('/metrics')).body;
    // The one place the wire names and types are pinned; everything else reads them through METRICS.
    expect(body).toContain('# TYPE registry_mlflow_calls_in_flight gauge');
    expect(body).toContain('# TYPE registry_mlflow_calls_queued gauge');
    expect(body).toContain('# TYPE registry_mlflow_streams_in_flight gauge');
    expect(body).toContain('# TYPE registry_mlflow_saturated_total counter');
    expect(readMetrics(body).value(METRICS.callsInFlight)).toBe(0);
    expect(readMetrics(body).value(METRICS.callsQueued)).toBe(0);
    expect(readMetrics(body).value(METRICS.saturated)).toBe(0);
  });

  it('counts every request the service refuses itself, by code, however few of them the log shows', async () => {
    const { app, mlflow } = buildTestApp();
    await tripBreaker(app, mlflow);
    for (let i = 0; i < 5; i += 1) await app.inject('/api/v1/models/fraud-refused');
    const metrics = readMetrics((await app.inject('/metrics')).body);
    expect(metrics.value(METRICS.refusals, { code: 'MLFLOW_CIRCUIT_OPEN' })).toBe(5);
    expect(metrics.value(METRICS.refusals, { code: 'MLFLOW_SATURATED' })).toBe(0);
  });

  it('counts a call in flight while MLflow has not answered', async () => {
    const { app, mlflow } = buildTestApp();
    const release = mlflow.hold();
    const pending = app.inject('/api/v1/models/fraud');
    await vi.waitFor(
      async () => {
        expect(readMetrics((await app.inject('/metrics')).body).value(METRICS.callsInFlight)).toBe(1);
      },
      { interval: 5, timeout: 5_000 },
    );
    release();
    expect((await pending).statusCode).toBe(200);
    expect(readMetrics((await app.inject('/metrics')).body).value(METRICS.callsInFlight)).toBe(0);
  });

  it('records request durations by route and status code', async () => {
    const { app } = buildTestApp();
    await app.inject('/health/live');
    const body = (await app.inject('/metrics')).body;
    expect(body).toMatch(
      /registry_http_request_duration_seconds_count\{method="GET",route="\/health\/live",status_code="200"\} 1/,
    );
  });
});

describe('MlflowProber', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('opens the breaker from probes alone when MLflow is down', async () => {
    const { app, mlflow } = buildTestApp({ env: { MLFLOW_HEALTH_PROBE_INTERVAL: '5' } });
    mlflow.failWith('unreachable');
    await app.ready();
    await vi.advanceTimersByTimeAsync(10_000);
    expect((await app.inject('/health/status')).json().circuit_breaker.state).toBe('open');
    await app.close();
  });

  it('closes the breaker without user traffic once MLflow is back', async () => {
    const { app, mlflow } = buildTestApp({ env: { MLFLOW_HEALTH_PROBE_INTERVAL: '5' } });
    mlflow.failWith('unreachable');
    await app.ready();
    await vi.advanceTimersByTimeAsync(10_000);
    mlflow.failWith(null);
    // Open at t=10 s for 30 s: the trial is due at 40 s, and the second success follows at once.
    await vi.advanceTimersByTimeAsync(30_000);
    expect((await app.inject('/health/status')).json().circuit_breaker.state).toBe('closed');
    expect((await app.inject('/health')).json().services.mlflow).toBe('healthy');
    await app.close();
  });

  it('leaves recovery trials to the probe, so no client request waits on MLflow', async () => {
    const { app, mlflow } = buildTestApp({ env: { MLFLOW_HEALTH_PROBE_INTERVAL: '100' } });
    mlflow.failWith('timeout');
    for (let i = 0; i < 3; i += 1) await app.inject('/api/v1/models/fraud');
    vi.advanceTimersByTime(30_000);
    const calls = mlflow.calls();
    const response = await app.inject('/api/v1/models/fraud');
    expect(response.statusCode).toBe(503);
    expect(mlflow.calls()).toBe(calls);
    // The probe made the due trial, it failed, and the Retry-After names the new trial time.
    expect((await app.inject('/health/status')).json().circuit_breaker.recovery_attempts).toBe(1);
    expect(response.headers['retry-after']).toBe('30');
  });

  it('does not probe when the interval is 0', async () => {
    const { app, mlflow } = buildTestApp({ env: { MLFLOW_HEALTH_PROBE_INTERVAL: '0' } });
    await app.ready();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(mlflow.calls()).toBe(0);
    await app.close();
  });
});

describe('EMF publisher', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('publishes trips since the last line, the open flag and the health score as EMF', async () => {
    const { app, mlflow } = buildTestApp();
    const lines: string[] = [];
    const stop = startEmfPublisher({
      registry: app.registry,
      namespace: 'Test',
      intervalMs: 60_000,
      write: (l) => lines.push(l),
    });
    mlflow.failWith('unreachable');
    for (let i = 0; i < 3; i += 1) await app.inject('/api/v1/models/fraud');
    await vi.advanceTimersByTimeAsync(60_000);
    await vi.advanceTimersByTimeAsync(60_000);
    stop();
    const [first, second] = lines.map((l) => JSON.parse(l));
    expect(first).toMatchObject({
      _aws: { CloudWatchMetrics: [{ Namespace: 'Test', Dimensions: [['Service']] }] },
      CircuitBreakerTrips: 1,
      CircuitBreakerOpen: 1,
      ServiceHealthScore: 0,
    });
    expect(second.CircuitBreakerTrips).toBe(0);
  });
});
