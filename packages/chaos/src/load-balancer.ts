import { ROUTES } from '@registry/service/client';

/** A target-group health check, in the load balancer's own units. */
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

/** The health check before the fix: readiness, unhealthy after 2 failures, 5 s timeout. */
export const INCIDENT_HEALTH_CHECK: HealthCheckSettings = Object.freeze({
  name: 'before-fix',
  path: '/ready',
  healthyThreshold: 3,
  unhealthyThreshold: 2,
  timeoutSeconds: 5,
  intervalSeconds: 30,
});

/**
 * Default time compression of the simulation: 30 s intervals become 1.5 s, 10 s timeouts 0.5 s. The ratios
 * between interval, timeout and thresholds are kept.
 */
export const DEFAULT_TIME_SCALE = 20;

/** One health check the simulated load balancer made. */
export interface HealthProbe {
  readonly at: number;
  readonly status: number | null;
  readonly latencyMs: number;
  readonly passed: boolean;
}

/** What the simulated load balancer saw during one run. */
export interface TargetHealthReport {
  readonly settings: HealthCheckSettings;
  readonly timeScale: number;
  readonly probes: readonly HealthProbe[];
  readonly transitions: readonly { readonly at: number; readonly to: 'healthy' | 'unhealthy' }[];
  readonly everUnhealthy: boolean;
}

/** Answers one health check: the HTTP status, or null when there was no answer in time. */
export type HealthProbeFn = (url: string, timeoutMs: number) => Promise<number | null>;

/** A plain GET, as the load balancer makes it. */
export const httpHealthProbe: HealthProbeFn = async (url, timeoutMs) => {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return null;
  }
};

/** A running simulated target-group health checker. */
export interface TargetHealthChecker {
  state(): 'healthy' | 'unhealthy';
  /** Stops polling and returns everything it saw. */
  stop(): Promise<TargetHealthReport>;
}

/**
 * Polls `baseUrl + settings.path` like an ALB target group: every interval, with the timeout, matcher
 * 200-299, counting consecutive passes and failures against the thresholds. The target starts healthy
 * (registered and in service). Stops by itself after `maxDurationMs` at the latest.
 */
export function startTargetHealthChecker(
  baseUrl: string,
  settings: HealthCheckSettings,
  options: { timeScale?: number; probe?: HealthProbeFn; maxDurationMs?: number } = {},
): TargetHealthChecker {
  const timeScale = options.timeScale ?? DEFAULT_TIME_SCALE;
  const probeFn = options.probe ?? httpHealthProbe;
  const intervalMs = (settings.intervalSeconds * 1000) / timeScale;
  const timeoutMs = (settings.timeoutSeconds * 1000) / timeScale;
  const deadline = Date.now() + (options.maxDurationMs ?? 15 * 60_000);
  const probes: HealthProbe[] = [];
  const transitions: { at: number; to: 'healthy' | 'unhealthy' }[] = [];
  let state: 'healthy' | 'unhealthy' = 'healthy';
  let passes = 0;
  let failures = 0;
  let running = true;

  async function checkOnce(): Promise<void> {
    const started = Date.now();
    const status = await probeFn(`${baseUrl}${settings.path}`, timeoutMs);
    const latencyMs = Date.now() - started;
    const passed = status !== null && status >= 200 && status <= 299 && latencyMs <= timeoutMs;
    probes.push({ at: started, status, latencyMs, passed });
    if (passed) {
      passes += 1;
      failures = 0;
      if (state === 'unhealthy' && passes >= settings.healthyThreshold) {
        state = 'healthy';
        transitions.push({ at: Date.now(), to: 'healthy' });
      }
    } else {
      failures += 1;
      passes = 0;
      if (state === 'healthy' && failures >= settings.unhealthyThreshold) {
        state = 'unhealthy';
        transitions.push({ at: Date.now(), to: 'unhealthy' });
      }
    }
  }

  const loop = (async () => {
    while (running && Date.now() < deadline) {
      const started = Date.now();
      await checkOnce();
      const wait = Math.max(0, intervalMs - (Date.now() - started));
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  })();

  return {
    state: () => state,
    async stop() {
      running = false;
      await loop;
      return { settings, timeScale, probes, transitions, everUnhealthy: transitions.some((t) => t.to === 'unhealthy') };
    },
  };
}
