import type { FastifyBaseLogger } from 'fastify';
import type { ErrorCode } from './errors.js';

/**
 * The service's own fast refusals of MLflow-bound work: it answers them at once, without calling MLflow,
 * and counts every one in its metrics (`registry_mlflow_saturated_total`,
 * `registry_mlflow_circuit_breaker_rejections_total`).
 */
export const FAST_REFUSALS = ['MLFLOW_CIRCUIT_OPEN', 'MLFLOW_SATURATED'] as const satisfies readonly ErrorCode[];

/** A code of `FAST_REFUSALS`. */
export type FastRefusal = (typeof FAST_REFUSALS)[number];

/** Longest the log stays silent about a fast refusal code that keeps being answered. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** Writes the fast refusals to the log as a summary: at most one line per code per interval. */
export interface RefusalLog {
  refused(log: FastifyBaseLogger, code: FastRefusal, message: string): void;
}

/** True for a catalogue code the service answers by refusing fast (see `FAST_REFUSALS`). */
export function isFastRefusal(code: ErrorCode): code is FastRefusal {
  return (FAST_REFUSALS as readonly ErrorCode[]).includes(code);
}

/**
 * The first refusal of a code is logged at once; the ones after it within `intervalMs` are counted, and the
 * next line (the first refusal after the interval) says how many. A line per refusal, with its stack, was
 * 2.3 KB of log for each request of a flood (3.5 MB for 1,500 requests, a quarter of the service's CPU
 * during it): a client could make the log, and whatever ships it, carry 20 times what it sent.
 */
export function createRefusalLog(now: () => number, intervalMs = REFUSAL_LOG_INTERVAL_MS): RefusalLog {
  const byCode = new Map<FastRefusal, { loggedAt: number; unlogged: number }>();
  return {
    refused(log, code, message) {
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
