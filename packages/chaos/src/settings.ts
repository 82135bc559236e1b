import { type BreakerReport, createRegistryClient } from '@registry/service/client';
import { DEFAULT_TIME_SCALE, SHUTDOWN_DRAIN_DELAY_SECONDS } from './health-checks.js';

/**
 * The service settings the chaos suite runs with: the same environment variables an operator sets,
 * shortened so that a full fault cycle takes seconds. Recovery bounds are derived from them.
 */
export const CHAOS_SERVICE_ENV: Readonly<Record<string, string>> = Object.freeze({
  MLFLOW_REQUEST_TIMEOUT: '2',
  MLFLOW_CB_FAILURE_THRESHOLD: '3',
  MLFLOW_CB_RECOVERY_TIMEOUT: '2',
  MLFLOW_CB_MAX_RECOVERY_ATTEMPTS: '2',
  MLFLOW_CB_BACKOFF_MULTIPLIER: '2',
  MLFLOW_CB_MAX_RECOVERY_TIMEOUT: '4',
  MLFLOW_CB_HALF_OPEN_SUCCESSES: '2',
  MLFLOW_HEALTH_PROBE_INTERVAL: '0.5',
  ADMIN_TOKEN: 'chaos-suite-admin-token',
  LOG_LEVEL: 'warn',
  // The abuse class (abuse/limits.ts reads these back): stated explicitly, since its bounds follow them,
  // and shortened or shrunk so that every attack takes seconds.
  MLFLOW_PROXY: 'registry',
  MLFLOW_PROXY_MAX_BYTES: String(48 * 1024 * 1024),
  MLFLOW_MAX_CONCURRENCY: '16',
  MLFLOW_QUEUE_SIZE: '16',
  // Every chaos client (the traffic, standing for many users, and the attacks) comes from one address
  // without a key, so the share is the whole bulkhead and its queue here, which means none: the
  // experiments test the bulkhead itself. The share is tested by the unit tests and against the real MLflow by the integration suite,
  // and the load suite runs with it at its default, its users each presenting a key.
  MLFLOW_CLIENT_MAX_CONCURRENCY: '32',
  CACHE_MAX_BYTES: String(16 * 1024 * 1024),
  CACHE_MAX_ENTRY_BYTES: String(1024 * 1024),
  REQUEST_TIMEOUT: '3',
  HEADERS_TIMEOUT: '2',
  ADMIN_AUTH_MAX_FAILURES: '5',
  ADMIN_AUTH_WINDOW: '10',
  // The task's drain delay, scaled like the load balancer's timings (5 s in ecs.tf, 1/20).
  SHUTDOWN_DRAIN_DELAY: String(SHUTDOWN_DRAIN_DELAY_SECONDS / DEFAULT_TIME_SCALE),
});

/** Breaker settings as `/health/status` reports them (`circuit_breaker.settings`), from the contract. */
export type ReportedBreakerSettings = BreakerReport['settings'];

/** Time bounds every experiment is held to, derived from the running service's breaker settings. */
export interface Bounds {
  /** From fault injection until the breaker must be open. */
  readonly openWithinMs: number;
  /** From fault removal until the breaker must be closed again, with no manual action. */
  readonly recoverWithinMs: number;
  /** Longest an MLflow-bound request may take once the breaker is open (fail fast). */
  readonly fastFailMs: number;
  /** Request timeout to MLflow. */
  readonly requestTimeoutMs: number;
}

/** Slack for scheduling on a loaded 2-core machine; the bounds stay far below any real-world setting. */
const SLACK_MS = 3_000;
const JITTER = 1.1;

/**
 * Derives the bounds: the breaker opens after `threshold` failures, each taking at most the request timeout
 * plus a probe interval; it closes after the longest open time (with jitter), the half-open trials and one
 * probe interval. Fail fast means well under the request timeout.
 */
export function deriveBounds(settings: ReportedBreakerSettings): Bounds {
  const timeoutMs = settings.request_timeout_seconds * 1000;
  const probeMs = settings.health_probe_interval_seconds * 1000;
  const threshold = Math.max(1, settings.failure_threshold);
  const successes = Math.max(1, settings.half_open_successes);
  return {
    openWithinMs: Math.round(threshold * (timeoutMs + probeMs) + SLACK_MS),
    recoverWithinMs: Math.round(
      settings.max_recovery_timeout_seconds * 1000 * JITTER + successes * timeoutMs + probeMs + SLACK_MS,
    ),
    fastFailMs: Math.round(timeoutMs / 2),
    requestTimeoutMs: timeoutMs,
  };
}

/** Reads the running service's breaker settings from `/health/status`. */
export async function readServiceSettings(serviceUrl: string): Promise<ReportedBreakerSettings> {
  const answer = await createRegistryClient({ baseUrl: serviceUrl }).status();
  if (answer.status !== 200) {
    throw new Error(`${serviceUrl}/health/status did not report breaker settings (status ${answer.status})`);
  }
  return answer.body.circuit_breaker.settings;
}
