import { describe, expect, it } from 'vitest';
import { CHECK_IDS, type CheckId, type CheckStatus, type DiagnosticCheck, planBreakerReset } from '../src/index.js';

function check(id: CheckId, name: string, status: CheckStatus): DiagnosticCheck {
  return { id, name, status, critical: true, durationMs: 1, summary: status };
}

const RESET = { adminToken: 'token', dryRun: false } as const;

describe('planBreakerReset', () => {
  it('resets an open breaker when MLflow answers, whatever the checks are called', () => {
    const checks = [
      check(CHECK_IDS.breaker, 'renamed breaker label', 'unhealthy'),
      check(CHECK_IDS.mlflowDirect, 'renamed MLflow label', 'healthy'),
    ];
    expect(planBreakerReset(checks, RESET)).toBe('reset');
  });

  it('ignores checks that only carry the old display names', () => {
    const checks = [
      check(CHECK_IDS.status, 'circuit breaker', 'unhealthy'),
      check(CHECK_IDS.redis, 'MLflow (direct REST call)', 'healthy'),
    ];
    expect(planBreakerReset(checks, RESET)).toBe('not-needed');
  });

  it('does not reset while MLflow does not answer', () => {
    const checks = [check(CHECK_IDS.breaker, 'b', 'unhealthy'), check(CHECK_IDS.mlflowDirect, 'm', 'unhealthy')];
    expect(planBreakerReset(checks, RESET)).toBe('mlflow-down');
  });

  it('asks for the admin token before resetting', () => {
    const checks = [check(CHECK_IDS.breaker, 'b', 'recovering'), check(CHECK_IDS.mlflowDirect, 'm', 'healthy')];
    expect(planBreakerReset(checks, { dryRun: false })).toBe('no-admin-token');
  });

  it('only plans the reset in a dry run', () => {
    const checks = [check(CHECK_IDS.breaker, 'b', 'recovering'), check(CHECK_IDS.mlflowDirect, 'm', 'healthy')];
    expect(planBreakerReset(checks, { adminToken: 'token', dryRun: true })).toBe('dry-run');
  });

  it('leaves a closed breaker alone', () => {
    const checks = [check(CHECK_IDS.breaker, 'b', 'healthy'), check(CHECK_IDS.mlflowDirect, 'm', 'healthy')];
    expect(planBreakerReset(checks, RESET)).toBe('not-needed');
  });
});
