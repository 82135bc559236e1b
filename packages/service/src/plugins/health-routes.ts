import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { LRUCache } from 'lru-cache';
import { bearerToken, clientAddress, secretsEqual } from '../auth.js';
import type { BreakerSnapshot } from '../circuit-breaker.js';
import type { BreakerSettings, Config } from '../config.js';
import { ROUTES } from '../contract/routes.js';
import { ServiceError } from '../errors.js';
import {
  type Check,
  type ComponentStatus,
  evaluateReadiness,
  healthScore,
  mlflowStatus,
  overallStatus,
} from '../health-model.js';
import { createMemorySampler } from '../memory-sampler.js';
import { retryAfterSeconds } from '../mlflow-gateway.js';
import { SERVICE_VERSION } from '../version.js';

/**
 * Log level of the probe routes (liveness, readiness, health, status, MLflow health). A load balancer
 * calls them every few seconds on every task, and at the default `info` each probe wrote two request log
 * lines, which drowned the API's logs and cost a third of the liveness throughput. They log warnings and
 * errors only; at `debug` and `trace` they log like every route, and a stricter LOG_LEVEL stays in force.
 */
export function probeLogLevel(level: Config['logLevel']): Config['logLevel'] {
  return level === 'info' ? 'warn' : level;
}

/**
 * `GET /health/mlflow` reuses a probe result younger than this: it is open to everyone, and each answer
 * would otherwise start an MLflow call of its own as soon as the previous one ended.
 */
export const MLFLOW_HEALTH_REUSE_MS = 1000;

const iso = (epochMs: number | null) => (epochMs === null ? null : new Date(epochMs).toISOString());

/** The breaker as the health routes report it (snake_case, ISO times, seconds). */
export function breakerReport(
  snapshot: BreakerSnapshot,
  settings: BreakerSettings,
  mlflow: { readonly requestTimeoutMs: number; readonly healthProbeIntervalMs: number },
) {
  return {
    state: snapshot.state,
    failure_count: snapshot.failureCount,
    consecutive_successes: snapshot.consecutiveSuccesses,
    recovery_attempts: snapshot.recoveryAttempts,
    last_failure_time: iso(snapshot.lastFailureAt),
    last_success_time: iso(snapshot.lastSuccessAt),
    opened_at: iso(snapshot.openedAt),
    next_attempt_at: iso(snapshot.nextAttemptAt),
    time_until_retry_seconds: snapshot.msUntilRetry / 1000,
    current_open_timeout_seconds: snapshot.currentOpenTimeoutMs / 1000,
    trips_total: snapshot.tripsTotal,
    rejections_total: snapshot.rejectionsTotal,
    settings: {
      failure_threshold: settings.failureThreshold,
      recovery_timeout_seconds: settings.recoveryTimeoutMs / 1000,
      max_recovery_attempts: settings.maxRecoveryAttempts,
      backoff_multiplier: settings.backoffMultiplier,
      max_recovery_timeout_seconds: settings.maxRecoveryTimeoutMs / 1000,
      half_open_successes: settings.halfOpenSuccesses,
      request_timeout_seconds: mlflow.requestTimeoutMs / 1000,
      health_probe_interval_seconds: mlflow.healthProbeIntervalMs / 1000,
    },
  };
}

function servicesMap(checks: readonly Check[]): Record<string, ComponentStatus> {
  return Object.fromEntries(checks.map((check) => [check.name, check.status]));
}

/** Liveness, readiness, aggregated health, full status, MLflow connectivity and manual breaker control. */
export async function healthRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const ctx = app.registry;
  const report = (snapshot: BreakerSnapshot) => breakerReport(snapshot, ctx.config.breaker, ctx.config.mlflow);
  const uptimeSeconds = () => Math.round((ctx.now() - ctx.startedAt) / 100) / 10;

  const probe = { logLevel: probeLogLevel(ctx.config.logLevel) };
  const memoryMb = createMemorySampler(ctx.now);
  const live = async () => ({ alive: true as const, uptime_seconds: uptimeSeconds(), memory_usage_mb: memoryMb() });
  app.get(ROUTES.live.url, { ...probe, schema: ROUTES.live.schema }, live);
  app.get('/live', { ...probe, schema: { ...ROUTES.live.schema, summary: 'Liveness (alias of /health/live)' } }, live);

  const ready = async (_request: FastifyRequest, reply: FastifyReply) => {
    const readiness = evaluateReadiness(await ctx.collectChecks(), ctx.lifecycle.isShuttingDown);
    return reply.status(readiness.ready ? 200 : 503).send(readiness);
  };
  app.get(ROUTES.ready.url, { ...probe, schema: ROUTES.ready.schema }, ready);
  app.get(
    '/ready',
    { ...probe, schema: { ...ROUTES.ready.schema, summary: 'Readiness (alias of /health/ready)' } },
    ready,
  );

  app.get(ROUTES.health.url, { ...probe, schema: ROUTES.health.schema }, async (request) => {
    const checks = await ctx.collectChecks();
    const details =
      request.query.detailed === 'true'
        ? { checks, circuit_breaker: report(ctx.breaker.snapshot()), last_probe: ctx.prober.lastResult() }
        : undefined;
    return {
      status: overallStatus(checks),
      timestamp: new Date(ctx.now()).toISOString(),
      version: SERVICE_VERSION.version,
      services: servicesMap(checks),
      ...(details ? { details } : {}),
    };
  });

  app.get(ROUTES.status.url, { ...probe, schema: ROUTES.status.schema }, async () => {
    const checks = await ctx.collectChecks();
    const readiness = evaluateReadiness(checks, ctx.lifecycle.isShuttingDown);
    return {
      status: overallStatus(checks),
      health_score: healthScore(checks),
      timestamp: new Date(ctx.now()).toISOString(),
      version: SERVICE_VERSION.version,
      environment: ctx.config.environment,
      uptime_seconds: uptimeSeconds(),
      liveness: await live(),
      readiness,
      services: servicesMap(checks),
      circuit_breaker: report(ctx.breaker.snapshot()),
      last_probe: ctx.prober.lastResult(),
    };
  });

  app.get(ROUTES.mlflowHealth.url, { ...probe, schema: ROUTES.mlflowHealth.schema }, async (_request, reply) => {
    const tracking_uri = ctx.config.mlflow.trackingUri;
    if (!ctx.breaker.isCallPermitted()) {
      const snapshot = ctx.breaker.snapshot();
      reply.header('retry-after', String(retryAfterSeconds(snapshot.msUntilRetry)));
      return reply.status(503).send({
        connected: false,
        status: mlflowStatus(snapshot),
        timestamp: new Date(ctx.now()).toISOString(),
        tracking_uri,
        error: 'circuit breaker open: MLflow is not called until the next trial',
        circuit_breaker: report(snapshot),
      });
    }
    const probe = await ctx.prober.probe({ maxAgeMs: MLFLOW_HEALTH_REUSE_MS });
    const snapshot = ctx.breaker.snapshot();
    return reply.status(probe.ok ? 200 : 503).send({
      connected: probe.ok,
      status: mlflowStatus(snapshot),
      timestamp: new Date(ctx.now()).toISOString(),
      tracking_uri,
      latency_ms: probe.latencyMs,
      ...(probe.error ? { error: probe.error } : {}),
      circuit_breaker: report(snapshot),
    });
  });

  const isAdmin = (request: FastifyRequest) => {
    const expected = ctx.config.auth.adminToken;
    const given = bearerToken(request.headers.authorization);
    return expected !== undefined && given !== undefined && secretsEqual(given, expected);
  };
  const requireAdmin = async (request: FastifyRequest) => {
    if (ctx.config.auth.adminToken === undefined) throw new ServiceError('ADMIN_DISABLED');
    if (!isAdmin(request)) throw new ServiceError('ADMIN_UNAUTHORIZED', { headers: { 'www-authenticate': 'Bearer' } });
  };

  // Failed admin authentications are limited per client address: a request with the right token is never
  // counted (allowList), every other one is, and past ADMIN_AUTH_MAX_FAILURES in ADMIN_AUTH_WINDOW the
  // client gets 429 before its token is even compared. One warning per client and window, not per attempt.
  const { adminMaxFailures, adminFailureWindowMs } = ctx.config.auth;
  const warned = new LRUCache<string, true>({ max: 10_000, ttl: adminFailureWindowMs });
  await app.register(rateLimit, { global: false });
  const limitFailedAdminAuth = app.rateLimit({
    max: adminMaxFailures,
    timeWindow: adminFailureWindowMs,
    allowList: (request) => isAdmin(request),
    // As the client shares count clients: an IPv6 client is its /64, where it may pick any address.
    keyGenerator: (request) => clientAddress(request.ip),
    onExceeded: (request, key) => {
      if (warned.has(key)) return;
      warned.set(key, true);
      request.log.warn(
        {
          event: 'admin_auth_limited',
          ip: request.ip,
          max_failures: adminMaxFailures,
          window_seconds: adminFailureWindowMs / 1000,
        },
        'manual breaker control: too many failed authentications from one client; refusing it until the window ends',
      );
    },
    errorResponseBuilder: (_request, context) =>
      new ServiceError('TOO_MANY_REQUESTS', {
        headers: { 'retry-after': String(retryAfterSeconds(context.ttl)) },
        details: { retry_after_seconds: retryAfterSeconds(context.ttl) },
      }),
  });

  const manual = (action: 'reset' | 'open') => async (request: FastifyRequest) => {
    const previous = action === 'reset' ? ctx.breaker.reset() : ctx.breaker.forceOpen();
    // After a reset, check MLflow at once so that the answer and /health reflect it, not the last failure.
    const probe = action === 'reset' ? await ctx.prober.probe() : undefined;
    const audit = {
      action,
      previous_state: previous,
      state: ctx.breaker.snapshot().state,
      performed_by: { ip: request.ip, user_agent: request.headers['user-agent'] ?? null, request_id: request.id },
      performed_at: new Date(ctx.now()).toISOString(),
    };
    request.log.warn({ audit }, `manual circuit breaker ${action} (was ${previous})`);
    return { ...audit, ...(probe ? { probe } : {}), circuit_breaker: report(ctx.breaker.snapshot()) };
  };
  // The token is checked before the body is read: an unauthenticated request holds no body.
  const admin = { onRequest: [limitFailedAdminAuth, requireAdmin] };
  app.post(ROUTES.resetBreaker.url, { ...admin, schema: ROUTES.resetBreaker.schema }, manual('reset'));
  app.post(ROUTES.openBreaker.url, { ...admin, schema: ROUTES.openBreaker.schema }, manual('open'));
}
