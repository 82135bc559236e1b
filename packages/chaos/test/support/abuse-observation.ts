import { ERRORS } from '@registry/service';
import {
  type AbuseObservation,
  CHAOS_SERVICE_ENV,
  deriveBounds,
  readAbuseLimits,
  SHARED_HYPOTHESES,
} from '../../src/index.js';

// A catalogue code that every version of the service has, and its status.
export const KNOWN_CODE = 'NOT_FOUND';
export const KNOWN_STATUS = ERRORS[KNOWN_CODE].status;

/** A quiet abuse experiment's observation (every shared hypothesis holds), changed by `overrides`. */
export function observation(overrides: Partial<AbuseObservation> = {}): AbuseObservation {
  const settings = {
    failure_threshold: 3,
    recovery_timeout_seconds: 2,
    max_recovery_attempts: 2,
    backoff_multiplier: 2,
    max_recovery_timeout_seconds: 4,
    half_open_successes: 2,
    request_timeout_seconds: 2,
    health_probe_interval_seconds: 0.5,
  };
  return {
    breakerExpectation: 'stays-closed',
    rssAllowanceMb: 96,
    limits: readAbuseLimits(CHAOS_SERVICE_ENV),
    bounds: deriveBounds(settings),
    settings,
    samples: [
      {
        label: 'GET /mlflow/x',
        expect: { kind: 'refusal', codes: [KNOWN_CODE] },
        at: 0,
        latencyMs: 3,
        status: KNOWN_STATUS,
        code: KNOWN_CODE,
        requestId: 'r-1',
        bodyBytes: 80,
        truncated: false,
        gaveUp: false,
      },
    ],
    facts: undefined,
    live: [{ routeClass: 'live', at: 0, status: 200, latencyMs: 2, rssMb: 100 }],
    breaker: [{ at: 0, state: 'closed', secondsUntilRetry: 0, tripsTotal: 0 }],
    before: { state: 'closed', tripsTotal: 0 },
    after: { state: 'closed', tripsTotal: 0 },
    baselineRssMb: 100,
    neighbours: { bound: ['127.0.0.1:5001'], connections: [] },
    faultRemovedAt: null,
    recoveredAt: null,
    crash: { name: 'no crash', passed: true, detail: '0 lines' },
    ...overrides,
  };
}

/** The verdict of the shared hypothesis in matrix column `column`. */
export function judge(column: string, observed: AbuseObservation) {
  const hypothesis = SHARED_HYPOTHESES.find((h) => h.column === column);
  if (!hypothesis) throw new Error(`no shared hypothesis in column ${column}`);
  return hypothesis.judge(observed);
}
