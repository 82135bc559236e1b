import type { FastifyBaseLogger } from 'fastify';
import type { ErrorCode } from './errors.js';

/**
 * The service's own refusals of MLflow-bound work, answered without MLflow's answer (at once, or after an
 * entry's write queue kept a write waiting): every one is counted in `registry_refusals_total{code}`.
 */
export const SERVICE_REFUSALS = ['MLFLOW_CIRCUIT_OPEN', 'MLFLOW_SATURATED'] as const satisfies readonly ErrorCode[];

/** A code of `SERVICE_REFUSALS`. */
export type ServiceRefusal = (typeof SERVICE_REFUSALS)[number];

/** Longest the log stays silent about a refusal code that keeps being answered. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** Counts the service's own refusals, and writes them to the log as a summary: one line per code per interval. */
export interface RefusalLog {
  /** Counts one refusal answered with `code`, and logs it if its code's interval has passed. */
  refused(log: FastifyBaseLogger, code: ServiceRefusal, message: string): void;
  /** Refusals answered since start, by code. */
  totals(): Readonly<Record<ServiceRefusal, number>>;
}

/** True for a catalogue code of the service's own refusals (see `SERVICE_REFUSALS`). */
export function isServiceRefusal(code: ErrorCode): code is ServiceRefusal {
  return (SERVICE_REFUSALS as readonly ErrorCode[]).includes(code);
}

/**
 * The first refusal of a code is logged at once; the ones after it within `intervalMs` are counted, and the
 * next line (the first refusal after the interval) says how many. A line per refusal, with its stack, was
 * 2.3 KB of log for each request of a flood (3.5 MB for 1,500 requests, about a quarter of the service's CPU
 * during it): a client could make the log, and whatever ships it, carry 20 times what it sent.
 */
export function createRefusalLog(now: () => number, intervalMs = REFUSAL_LOG_INTERVAL_MS): RefusalLog {
  const byCode = new Map<ServiceRefusal, { loggedAt: number; unlogged: number }>();
  const totals = Object.fromEntries(SERVICE_REFUSALS.map((code) => [code, 0])) as Record<ServiceRefusal, number>;
  return {
    totals: () => ({ ...totals }),
    refused(log, code, message) {
      totals[code] += 1;
      const at = now();
      const last = byCode.get(code);
      if (last && at - last.loggedAt < intervalMs) {
        last.unlogged += 1;
        return;
      }
      byCode.set(code, { loggedAt: at, unlogged: 0 });
      if (!last) {
        log.warn({ code, refused: 1 }, message);
        return;
      }
      const refused = last.unlogged + 1;
      const seconds = Math.round((at - last.loggedAt) / 1000);
      log.warn(
        { code, refused, since_ms: at - last.loggedAt },
        `${message} (${refused} refused with ${code} in the last ${seconds} s, this one included)`,
      );
    },
  };
}
