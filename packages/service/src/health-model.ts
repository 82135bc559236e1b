import type { z } from 'zod';
import type { BreakerSnapshot } from './circuit-breaker.js';
import type { checkSchema, componentStatusSchema, overallStatusSchema, readinessSchema } from './contract/health.js';

/** Health of one component as `/health` reports it. */
export type ComponentStatus = z.infer<typeof componentStatusSchema>;
/** Health of the whole service as `/health` reports it. */
export type OverallStatus = z.infer<typeof overallStatusSchema>;
/** One readiness check, in the shape the health routes answer with. */
export type Check = z.infer<typeof checkSchema>;
/** The readiness verdict (`/health/ready`). */
export type Readiness = z.infer<typeof readinessSchema>;

/**
 * MLflow's status from the breaker: open is degraded (served in degraded mode), half-open is recovering,
 * closed but with its last call failed is unhealthy (unreachable, breaker not yet tripped).
 */
export function mlflowStatus(snapshot: BreakerSnapshot): ComponentStatus {
  if (snapshot.state === 'open') return 'degraded';
  if (snapshot.state === 'half_open') return 'recovering';
  const lastFailed =
    snapshot.lastFailureAt !== null &&
    (snapshot.lastSuccessAt === null || snapshot.lastFailureAt > snapshot.lastSuccessAt);
  return lastFailed ? 'unhealthy' : 'healthy';
}

/** The MLflow check: never critical, since the service serves traffic without MLflow. */
export function mlflowCheck(snapshot: BreakerSnapshot): Check {
  const status = mlflowStatus(snapshot);
  if (status === 'healthy') return { name: 'mlflow', passed: true, critical: false, status };
  const error =
    status === 'unhealthy'
      ? 'last MLflow call failed'
      : `circuit breaker ${snapshot.state}; next trial in ${Math.ceil(snapshot.msUntilRetry / 1000)} s`;
  return { name: 'mlflow', passed: false, critical: false, status, error };
}

/**
 * Readiness: ready (200) unless a critical check failed or the process is shutting down; any other
 * failed check only turns on degraded mode. MLflow being down never makes the service unready.
 */
export function evaluateReadiness(checks: readonly Check[], isShuttingDown: boolean): Readiness {
  const criticalDown = checks.some((check) => check.critical && !check.passed);
  const ready = !criticalDown && !isShuttingDown;
  const all = isShuttingDown
    ? [
        ...checks,
        { name: 'shutdown', passed: false, critical: true, status: 'unhealthy' as const, error: 'shutting down' },
      ]
    : checks;
  return {
    ready,
    can_serve_traffic: ready,
    degraded_mode: ready && checks.some((check) => !check.passed),
    checks: [...all],
  };
}

/** Overall status: unhealthy if a critical component is down, degraded if anything else is not healthy. */
export function overallStatus(checks: readonly Check[]): OverallStatus {
  if (checks.some((check) => check.critical && !check.passed)) return 'unhealthy';
  if (checks.some((check) => check.status !== 'healthy')) return 'degraded';
  return 'healthy';
}

/** Percentage (0-100, one decimal) of component checks passing; 100 when there are none. */
export function healthScore(checks: readonly Check[]): number {
  if (checks.length === 0) return 100;
  const passed = checks.filter((check) => check.passed).length;
  return Math.round((passed / checks.length) * 1000) / 10;
}
