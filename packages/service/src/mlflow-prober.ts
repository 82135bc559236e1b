import type { FastifyBaseLogger } from 'fastify';
import type { MlflowGateway } from './mlflow-gateway.js';

/** Outcome of one probe of MLflow. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly at: number;
  readonly latencyMs: number;
  readonly error?: string;
}

/** Background prober: keeps the breaker's view of MLflow current and drives recovery without user traffic. */
export interface MlflowProber {
  start(): void;
  stop(): void;
  /**
   * Probes now through the breaker (a rejection while open counts as a failed probe result). With
   * `maxAgeMs`, a result that ended less than that long ago is returned instead of probing again.
   */
  probe(options?: { readonly maxAgeMs?: number }): Promise<ProbeResult>;
  lastResult(): ProbeResult | null;
}

/** Options of `createMlflowProber`. */
export interface MlflowProberOptions {
  readonly gateway: MlflowGateway;
  /** Period of the background probe; 0 disables it (recovery then needs traffic). */
  readonly intervalMs: number;
  readonly now: () => number;
  readonly logger: FastifyBaseLogger;
}

/**
 * Creates the prober. Besides the fixed interval it probes exactly when the breaker's next trial is due,
 * and again right after each successful half-open trial, so recovery takes the recovery timeout plus
 * the trials themselves, not extra probe intervals.
 */
export function createMlflowProber(options: MlflowProberOptions): MlflowProber {
  const { gateway, intervalMs, now, logger } = options;
  const breaker = gateway.breaker;
  let last: ProbeResult | null = null;
  let running = false;
  let inFlight: Promise<ProbeResult> | null = null;
  let intervalTimer: NodeJS.Timeout | undefined;
  let trialTimer: NodeJS.Timeout | undefined;
  let unsubscribe: (() => void) | undefined;

  async function runProbe(): Promise<ProbeResult> {
    const started = now();
    try {
      await gateway.probe((client) => client.ping());
      last = { ok: true, at: started, latencyMs: now() - started };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      last = { ok: false, at: started, latencyMs: now() - started, error: message };
    }
    return last;
  }

  function probe(probeOptions: { readonly maxAgeMs?: number } = {}): Promise<ProbeResult> {
    const age = last ? now() - (last.at + last.latencyMs) : Number.POSITIVE_INFINITY;
    // A clock that stepped back (negative age) never keeps an old result in use.
    if (!inFlight && last && age >= 0 && age < (probeOptions.maxAgeMs ?? 0)) return Promise.resolve(last);
    inFlight ??= runProbe().finally(() => {
      inFlight = null;
      if (running) scheduleTrialIfDue();
    });
    return inFlight;
  }

  function scheduleTrialIfDue(): void {
    clearTimeout(trialTimer);
    const snapshot = breaker.snapshot();
    if (snapshot.state === 'closed') return;
    // Half-open with the trial free: the next success is needed now. Open: wait for the trial time.
    const delay = snapshot.state === 'half_open' ? 0 : snapshot.msUntilRetry;
    trialTimer = setTimeout(() => {
      if (breaker.isCallPermitted()) void probe();
    }, delay);
    trialTimer.unref?.();
  }

  function tick(): void {
    if (breaker.isCallPermitted()) void probe();
    intervalTimer = setTimeout(tick, intervalMs);
    intervalTimer.unref?.();
  }

  return {
    start() {
      if (running || intervalMs <= 0) return;
      running = true;
      unsubscribe = breaker.onTransition((transition) => {
        if (transition.to === 'open') scheduleTrialIfDue();
      });
      intervalTimer = setTimeout(tick, 0);
      intervalTimer.unref?.();
      logger.debug({ intervalMs }, 'mlflow background probe started');
    },
    stop() {
      running = false;
      clearTimeout(intervalTimer);
      clearTimeout(trialTimer);
      unsubscribe?.();
    },
    probe,
    lastResult: () => last,
  };
}
