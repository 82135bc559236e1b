import { z } from 'zod';
import { isoInstant } from './common.js';

/** The breaker's three states. */
export const breakerStateSchema = z.enum(['closed', 'open', 'half_open']);

/** Health of one component. */
export const componentStatusSchema = z.enum(['healthy', 'degraded', 'recovering', 'unhealthy']);

/** Health of the whole service. */
export const overallStatusSchema = z.enum(['healthy', 'degraded', 'unhealthy']);

/** One component check; `name` is a stable machine name (`mlflow`, `postgres`, `redis`, `shutdown`). */
export const checkSchema = z
  .strictObject({
    name: z.string(),
    passed: z
      .boolean()
      .describe('true exactly when status is healthy; degraded, recovering (half-open) and unhealthy have not passed'),
    critical: z.boolean().describe('a failed critical check makes the service unready'),
    status: componentStatusSchema,
    error: z.string().optional(),
  })
  .meta({ id: 'Check' });

/** The readiness verdict of `/health/ready` (200 when ready, else 503). */
export const readinessSchema = z
  .strictObject({
    ready: z.boolean(),
    can_serve_traffic: z.boolean(),
    degraded_mode: z
      .boolean()
      .describe('true only while ready: serving, with a non-critical component (MLflow, Redis) not passing its check'),
    checks: z.array(checkSchema),
  })
  .meta({ id: 'Readiness' });

/** The liveness answer of `/health/live`. */
export const livenessSchema = z
  .strictObject({ alive: z.literal(true), uptime_seconds: z.number(), memory_usage_mb: z.number() })
  .meta({ id: 'Liveness' });

/** The circuit breaker as the health routes report it (snake_case, ISO times, seconds). */
export const breakerReportSchema = z
  .strictObject({
    state: breakerStateSchema,
    failure_count: z.number().int(),
    consecutive_successes: z.number().int(),
    recovery_attempts: z.number().int(),
    last_failure_time: isoInstant.nullable(),
    last_success_time: isoInstant.nullable(),
    opened_at: isoInstant.nullable(),
    next_attempt_at: isoInstant.nullable(),
    time_until_retry_seconds: z.number(),
    current_open_timeout_seconds: z.number(),
    trips_total: z.number().int(),
    rejections_total: z.number().int(),
    settings: z.strictObject({
      failure_threshold: z.number().int(),
      recovery_timeout_seconds: z.number(),
      max_recovery_attempts: z.number().int(),
      backoff_multiplier: z.number(),
      max_recovery_timeout_seconds: z.number(),
      half_open_successes: z.number().int(),
      request_timeout_seconds: z.number(),
      health_probe_interval_seconds: z.number(),
    }),
  })
  .meta({ id: 'BreakerReport' });

/** The circuit breaker as the health routes report it. */
export type BreakerReport = z.infer<typeof breakerReportSchema>;

/** The last background probe of MLflow (null before the first). */
export const probeResultSchema = z
  .strictObject({ ok: z.boolean(), at: z.number(), latencyMs: z.number(), error: z.string().optional() })
  .nullable()
  .meta({ id: 'ProbeResult' });

/** `GET /health`: the overall status, each component's, and with `?detailed=true` the details. */
export const healthSchema = z
  .strictObject({
    status: overallStatusSchema,
    timestamp: isoInstant,
    version: z.string(),
    services: z.record(z.string(), componentStatusSchema),
    details: z
      .strictObject({
        checks: z.array(checkSchema),
        circuit_breaker: breakerReportSchema,
        last_probe: probeResultSchema,
      })
      .optional(),
  })
  .meta({ id: 'Health' });

/** `GET /health/status`: everything an operator needs in one answer. */
export const statusSchema = z
  .strictObject({
    status: overallStatusSchema,
    health_score: z.number().min(0).max(100),
    timestamp: isoInstant,
    version: z.string(),
    environment: z.string(),
    uptime_seconds: z.number(),
    liveness: livenessSchema,
    readiness: readinessSchema,
    services: z.record(z.string(), componentStatusSchema),
    circuit_breaker: breakerReportSchema,
    last_probe: probeResultSchema,
  })
  .meta({ id: 'Status' });

/** `GET /health/mlflow`: MLflow connectivity (200 connected, 503 not, with Retry-After while open). */
export const mlflowHealthSchema = z
  .strictObject({
    connected: z.boolean(),
    status: componentStatusSchema,
    timestamp: isoInstant,
    tracking_uri: z.string(),
    latency_ms: z.number().optional(),
    error: z.string().optional(),
    circuit_breaker: breakerReportSchema,
  })
  .meta({ id: 'MlflowHealth' });

/** `POST /health/mlflow/reset|open`: the audit record of a manual breaker action. */
export const manualActionSchema = z
  .strictObject({
    action: z.enum(['reset', 'open']),
    previous_state: breakerStateSchema,
    state: breakerStateSchema,
    performed_by: z.strictObject({ ip: z.string(), user_agent: z.string().nullable(), request_id: z.string() }),
    performed_at: isoInstant,
    probe: probeResultSchema.unwrap().optional(),
    circuit_breaker: breakerReportSchema,
  })
  .meta({ id: 'ManualBreakerAction' });

/** `GET /health` query. */
export const healthQuerySchema = z.object({
  detailed: z.string().optional().describe('`true` adds the checks, the breaker and the last probe'),
});
