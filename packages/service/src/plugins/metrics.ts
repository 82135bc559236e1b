import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Histogram } from 'prom-client';
import { z } from 'zod';
import type { BreakerState } from '../circuit-breaker.js';
import { errorResponses } from '../contract/common.js';
import { healthScore } from '../health-model.js';

/** Numeric value of each breaker state in `registry_mlflow_circuit_breaker_state`. */
export const BREAKER_STATE_VALUE: Readonly<Record<BreakerState, number>> = { closed: 0, half_open: 1, open: 2 };

const seconds = (epochMs: number | null) => (epochMs === null ? 0 : epochMs / 1000);

async function metrics(app: FastifyInstance): Promise<void> {
  const { metrics: register, breaker } = app.registry;
  collectDefaultMetrics({ register, prefix: 'registry_' });

  const duration = new Histogram({
    name: 'registry_http_request_duration_seconds',
    help: 'Duration of HTTP requests by method, route and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [register],
  });

  const breakerGauges: [string, string, (s: ReturnType<typeof breaker.snapshot>) => number][] = [
    ['state', 'MLflow circuit breaker state: 0 closed, 1 half-open, 2 open.', (s) => BREAKER_STATE_VALUE[s.state]],
    ['failures', 'Consecutive MLflow failures counted while closed.', (s) => s.failureCount],
    ['consecutive_successes', 'Consecutive successful MLflow calls.', (s) => s.consecutiveSuccesses],
    ['recovery_attempts', 'Failed recovery trials since the breaker last closed.', (s) => s.recoveryAttempts],
    ['last_failure_timestamp_seconds', 'Time of the last MLflow failure (0: none).', (s) => seconds(s.lastFailureAt)],
    ['last_success_timestamp_seconds', 'Time of the last MLflow success (0: none).', (s) => seconds(s.lastSuccessAt)],
    ['seconds_until_retry', 'Seconds until the next recovery trial (0 when closed).', (s) => s.msUntilRetry / 1000],
    ['open_timeout_seconds', 'Current open time, grown by backoff.', (s) => s.currentOpenTimeoutMs / 1000],
  ];
  for (const [suffix, help, read] of breakerGauges) {
    new Gauge({
      name: `registry_mlflow_circuit_breaker_${suffix}`,
      help,
      registers: [register],
      collect() {
        this.set(read(breaker.snapshot()));
      },
    });
  }
  const totals: [string, string, (s: ReturnType<typeof breaker.snapshot>) => number][] = [
    ['trips_total', 'Times the MLflow circuit breaker opened.', (s) => s.tripsTotal],
    ['rejections_total', 'MLflow calls refused fast while the breaker was open.', (s) => s.rejectionsTotal],
  ];
  for (const [suffix, help, read] of totals) {
    new Counter({
      name: `registry_mlflow_circuit_breaker_${suffix}`,
      help,
      registers: [register],
      collect() {
        // The breaker owns the monotonic total; mirror it.
        this.reset();
        this.inc(read(breaker.snapshot()));
      },
    });
  }
  const { gateway } = app.registry;
  new Gauge({
    name: 'registry_mlflow_calls_in_flight',
    help: 'MLflow calls holding a bulkhead slot (at most MLFLOW_MAX_CONCURRENCY).',
    registers: [register],
    collect() {
      this.set(gateway.load().active);
    },
  });
  new Gauge({
    name: 'registry_mlflow_calls_queued',
    help: 'MLflow calls waiting for a bulkhead slot (at most MLFLOW_QUEUE_SIZE).',
    registers: [register],
    collect() {
      this.set(gateway.load().queued);
    },
  });
  new Counter({
    name: 'registry_mlflow_saturated_total',
    help: 'MLflow calls turned away with 503 MLFLOW_SATURATED because the bulkhead and its queue were full.',
    registers: [register],
    collect() {
      this.reset();
      this.inc(gateway.load().rejectedTotal);
    },
  });
  new Gauge({
    name: 'registry_health_score',
    help: 'Percentage of component checks passing (mlflow, postgres, redis).',
    registers: [register],
    async collect() {
      this.set(healthScore(await app.registry.collectChecks()));
    },
  });

  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    duration.labels(request.method, route, String(reply.statusCode)).observe(reply.elapsedTime / 1000);
    done();
  });

  const schema = {
    summary: 'Prometheus metrics (text exposition format)',
    tags: ['metrics'],
    response: {
      200: {
        description: 'Prometheus text exposition format 0.0.4',
        content: { 'text/plain': { schema: z.string() } },
      },
      ...errorResponses(),
    },
  };
  app.get('/metrics', { schema }, async (_request, reply) => {
    const body = await register.metrics();
    return reply.type(register.contentType).send(body);
  });
}

/** Prometheus metrics: request histogram, breaker state and totals, health score, process metrics; `GET /metrics`. */
export const metricsPlugin = fp(metrics, { name: 'registry-metrics' });
