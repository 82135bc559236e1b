import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, collectDefaultMetrics, Gauge, Histogram } from 'prom-client';
import { z } from 'zod';
import { errorResponses } from '../contract/common.js';
import { BREAKER_METRIC_PREFIX, BREAKER_STATE_VALUE, METRICS } from '../contract/metrics.js';
import { healthScore } from '../health-model.js';

const seconds = (epochMs: number | null) => (epochMs === null ? 0 : epochMs / 1000);

async function metrics(app: FastifyInstance): Promise<void> {
  const { metrics: register, breaker } = app.registry;
  collectDefaultMetrics({ register, prefix: 'registry_' });

  const duration = new Histogram({
    name: METRICS.requestDuration,
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
      name: `${BREAKER_METRIC_PREFIX}${suffix}`,
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
      name: `${BREAKER_METRIC_PREFIX}${suffix}`,
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
    name: METRICS.callsInFlight,
    help: 'MLflow calls holding a bulkhead slot (at most MLFLOW_MAX_CONCURRENCY).',
    registers: [register],
    collect() {
      this.set(gateway.load().active);
    },
  });
  new Gauge({
    name: METRICS.callsQueued,
    help: 'MLflow calls waiting for a bulkhead slot (at most MLFLOW_QUEUE_SIZE).',
    registers: [register],
    collect() {
      this.set(gateway.load().queued);
    },
  });
  new Gauge({
    name: METRICS.streamsInFlight,
    help: 'Artifact bodies streaming from MLflow (at most MLFLOW_MAX_CONCURRENCY).',
    registers: [register],
    collect() {
      this.set(gateway.load().streaming);
    },
  });
  const { bodySlots } = app.registry;
  new Gauge({
    name: METRICS.bodiesInProgress,
    help: 'Requests with a body in progress, from their headers to their answer (at most MLFLOW_MAX_CONCURRENCY + MLFLOW_QUEUE_SIZE).',
    registers: [register],
    collect() {
      this.set(bodySlots.inProgress());
    },
  });
  new Counter({
    name: METRICS.saturated,
    help: 'MLflow calls turned away with 503 MLFLOW_SATURATED: the bulkhead and its queue were full, or every artifact stream slot was taken.',
    registers: [register],
    collect() {
      this.reset();
      this.inc(gateway.load().rejectedTotal);
    },
  });
  const { refusals } = app.registry;
  new Counter({
    name: METRICS.refusals,
    help: 'Requests the service answered itself with 503 MLFLOW_SATURATED (bulkhead, stream or body slots, an entry kept busy) or MLFLOW_CIRCUIT_OPEN, by code; the log has one line per code per 10 s.',
    labelNames: ['code'] as const,
    registers: [register],
    collect() {
      this.reset();
      for (const [code, total] of Object.entries(refusals.totals())) this.inc({ code }, total);
    },
  });
  new Counter({
    name: METRICS.clientLimited,
    help: 'MLflow calls refused with 429 CLIENT_CONCURRENCY_LIMIT: their client already held MLFLOW_CLIENT_MAX_CONCURRENCY.',
    registers: [register],
    collect() {
      this.reset();
      this.inc(gateway.load().clientLimitedTotal);
    },
  });
  new Gauge({
    name: METRICS.clientsHoldingCalls,
    help: 'Clients (API keys, or addresses without keys) holding at least one MLflow call or artifact stream now.',
    registers: [register],
    collect() {
      this.set(gateway.load().clients);
    },
  });
  new Gauge({
    name: METRICS.healthScore,
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
