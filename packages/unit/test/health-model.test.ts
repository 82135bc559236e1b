import {
  type BreakerSnapshot,
  type Check,
  evaluateReadiness,
  healthScore,
  mlflowCheck,
  mlflowStatus,
  overallStatus,
} from '@registry/service';
import { describe, expect, it } from 'vitest';

const closed: BreakerSnapshot = {
  state: 'closed',
  failureCount: 0,
  consecutiveSuccesses: 0,
  recoveryAttempts: 0,
  lastFailureAt: null,
  lastSuccessAt: null,
  openedAt: null,
  nextAttemptAt: null,
  msUntilRetry: 0,
  currentOpenTimeoutMs: 30_000,
  tripsTotal: 0,
  rejectionsTotal: 0,
};

const check = (name: string, passed: boolean, critical: boolean): Check => ({
  name,
  passed,
  critical,
  status: passed ? 'healthy' : 'unhealthy',
});

describe('mlflowStatus', () => {
  it('reports degraded while the breaker is open', () => {
    expect(mlflowStatus({ ...closed, state: 'open' })).toBe('degraded');
  });

  it('reports recovering while the breaker is half-open', () => {
    expect(mlflowStatus({ ...closed, state: 'half_open' })).toBe('recovering');
  });

  it('reports unhealthy when closed but the last call failed', () => {
    expect(mlflowStatus({ ...closed, lastSuccessAt: 1, lastFailureAt: 2 })).toBe('unhealthy');
  });

  it('reports healthy when closed and the last call succeeded', () => {
    expect(mlflowStatus({ ...closed, lastSuccessAt: 3, lastFailureAt: 2 })).toBe('healthy');
  });
});

describe('evaluateReadiness', () => {
  it('stays ready in degraded mode when only non-critical checks fail', () => {
    const readiness = evaluateReadiness([check('mlflow', false, false), check('redis', false, false)], false);
    expect(readiness).toMatchObject({ ready: true, can_serve_traffic: true, degraded_mode: true });
  });

  it('is not ready when a critical dependency is down', () => {
    expect(evaluateReadiness([check('postgres', false, true)], false).ready).toBe(false);
  });

  it('is not in degraded mode while not ready, even with MLflow down too (degraded means serving)', () => {
    const readiness = evaluateReadiness([check('postgres', false, true), check('mlflow', false, false)], false);
    expect(readiness).toMatchObject({ ready: false, can_serve_traffic: false, degraded_mode: false });
  });

  it('is not ready while shutting down', () => {
    const readiness = evaluateReadiness([check('mlflow', true, false)], true);
    expect(readiness.ready).toBe(false);
    expect(readiness.checks.map((c) => c.name)).toContain('shutdown');
  });
});

describe('overallStatus', () => {
  it('is unhealthy when a critical dependency is down, degraded for anything else', () => {
    expect(overallStatus([check('postgres', false, true), check('mlflow', true, false)])).toBe('unhealthy');
    expect(overallStatus([check('redis', false, false)])).toBe('degraded');
    expect(overallStatus([check('mlflow', true, false)])).toBe('healthy');
  });
});

describe('healthScore', () => {
  it('is the percentage of passing checks', () => {
    expect(healthScore([check('a', true, false), check('b', false, false), check('c', true, true)])).toBe(66.7);
    expect(healthScore([])).toBe(100);
  });
});

describe('mlflowStatus when the breaker is closed', () => {
  it('reports unhealthy when a call failed and none ever succeeded', () => {
    expect(mlflowStatus({ ...closed, lastFailureAt: 2 })).toBe('unhealthy');
  });

  it('reports healthy when the last success and the last failure fall in the same millisecond', () => {
    expect(mlflowStatus({ ...closed, lastSuccessAt: 2, lastFailureAt: 2 })).toBe('healthy');
  });
});

describe('mlflowCheck', () => {
  it.each([
    ['passes, non-critical, while MLflow is healthy', { lastSuccessAt: 1 }, { passed: true, status: 'healthy' }],
    [
      'fails, non-critical, naming the failed call while the breaker is closed',
      { lastFailureAt: 1 },
      { passed: false, status: 'unhealthy', error: 'last MLflow call failed' },
    ],
    [
      'fails, non-critical, with the breaker state and the seconds until the next trial while open',
      { state: 'open', msUntilRetry: 12_001 },
      { passed: false, status: 'degraded', error: 'circuit breaker open; next trial in 13 s' },
    ],
  ] as const)('%s', (_behaviour, snapshot, expected) => {
    expect(mlflowCheck({ ...closed, ...snapshot })).toEqual({ name: 'mlflow', critical: false, ...expected });
  });
});

describe('evaluateReadiness details', () => {
  it('adds a failed critical shutdown check while shutting down', () => {
    const readiness = evaluateReadiness([], true);
    expect(readiness.checks).toEqual([
      { name: 'shutdown', passed: false, critical: true, status: 'unhealthy', error: 'shutting down' },
    ]);
  });

  it('turns on degraded mode when one check of several fails', () => {
    const readiness = evaluateReadiness([check('postgres', true, true), check('mlflow', false, false)], false);
    expect(readiness).toMatchObject({ ready: true, degraded_mode: true });
  });

  it('is not in degraded mode when every check passes', () => {
    expect(evaluateReadiness([check('postgres', true, true)], false).degraded_mode).toBe(false);
  });
});

describe('overallStatus with mixed components', () => {
  it('is degraded when one non-critical component of several is not healthy', () => {
    expect(overallStatus([check('postgres', true, true), check('redis', false, false)])).toBe('degraded');
  });
});
