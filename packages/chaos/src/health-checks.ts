import { availableParallelism } from 'node:os';
import { ROUTES } from '@registry/service/client';
import type { HaproxyCheck } from '@registry/testkit';

/**
 * A target-group health check in the load balancer's own units: the one place the chaos stack's HAProxy
 * takes its check from, and that the HCL contract test compares with the Terraform target group.
 */
export interface HealthCheckSettings {
  readonly name: string;
  readonly path: string;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
  readonly timeoutSeconds: number;
  readonly intervalSeconds: number;
}

/** The ALB health check of the fix (also in the infrastructure definitions): liveness, 2 / 3, 10 s / 30 s. */
export const FIXED_HEALTH_CHECK: HealthCheckSettings = Object.freeze({
  name: 'fixed',
  path: ROUTES.live.url,
  healthyThreshold: 2,
  unhealthyThreshold: 3,
  timeoutSeconds: 10,
  intervalSeconds: 30,
});

/**
 * The health check before the fix: a dependency-aware path (the service's `/health/mlflow` answers 503
 * while MLflow is down, as the old readiness did), unhealthy after 2 failures, 5 s timeout.
 */
export const INCIDENT_HEALTH_CHECK: HealthCheckSettings = Object.freeze({
  name: 'before-fix',
  path: ROUTES.mlflowHealth.url,
  healthyThreshold: 3,
  unhealthyThreshold: 2,
  timeoutSeconds: 5,
  intervalSeconds: 30,
});

/**
 * Default time compression of the load balancer's checks: 30 s intervals become 1.5 s, 10 s timeouts
 * 0.5 s. The ratios between interval, timeout and thresholds are kept.
 */
export const DEFAULT_TIME_SCALE = 20;

/** `settings` as HAProxy's server check, `timeScale` times faster. */
export function haproxyCheck(settings: HealthCheckSettings, timeScale: number): HaproxyCheck {
  return {
    path: settings.path,
    intervalMs: Math.round((settings.intervalSeconds * 1000) / timeScale),
    timeoutMs: Math.round((settings.timeoutSeconds * 1000) / timeScale),
    rise: settings.healthyThreshold,
    fall: settings.unhealthyThreshold,
  };
}

/** Service replicas behind HAProxy in a chaos stack, unless `--replicas` says otherwise. */
export const DEFAULT_REPLICAS = 2;

/** The most replicas `--replicas` accepts: each is a Node process on the machine that runs the suite. */
export const MAX_REPLICAS = 8;

/**
 * How a chaos stack is laid out: `replicas` service processes behind HAProxy, whose active check is
 * `check` (the fixed one unless a negative control changes it), `timeScale` times faster, with retries
 * and redispatch unless a negative control takes them away.
 */
export function chaosFleet(
  options: { replicas?: number; timeScale?: number; check?: HealthCheckSettings; retries?: boolean } = {},
): { replicas: number; loadBalancer: HaproxyCheck; loadBalancerRetries: boolean } {
  return {
    replicas: options.replicas ?? DEFAULT_REPLICAS,
    loadBalancer: haproxyCheck(options.check ?? FIXED_HEALTH_CHECK, options.timeScale ?? DEFAULT_TIME_SCALE),
    loadBalancerRetries: options.retries ?? true,
  };
}

/** The target group's deregistration delay (alb.tf): how long the ALB lets a draining target finish. */
export const DEREGISTRATION_DELAY_SECONDS = 30;

/** The task's SHUTDOWN_DRAIN_DELAY (ecs.tf): readiness 503 before the listener closes on SIGTERM. */
export const SHUTDOWN_DRAIN_DELAY_SECONDS = 5;

/** The most lanes `--concurrency` accepts. */
export const MAX_CONCURRENCY = 8;

/** How the default concurrency follows the machine, in words for `--help`. */
export const DEFAULT_CONCURRENCY_RULE = 'one lane per core, plus one';

/**
 * Lanes side by side by default: one per core, plus one (a lane mostly waits: on timers, on MLflow). On
 * the 2-core machine that is 3, where the whole suite held every hypothesis at 2, 3, 4 and 5 lanes; more
 * lanes gained little there (decision 0013 has the figures).
 */
export function defaultConcurrency(cores: number = availableParallelism()): number {
  return Math.max(1, Math.min(MAX_CONCURRENCY, cores + 1));
}
