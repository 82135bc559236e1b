import {
  BreakerOpenError,
  type BreakerTransition,
  type CircuitBreakerOptions,
  classifyMlflowOutcome,
  computeOpenTimeoutMs,
  createCircuitBreaker,
  HALF_OPEN_RETRY_AFTER_MS,
  MlflowError,
  type MlflowErrorKind,
} from '@registry/service';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const SETTINGS = {
  failureThreshold: 3,
  recoveryTimeoutMs: 30_000,
  maxRecoveryAttempts: 3,
  backoffMultiplier: 2,
  maxRecoveryTimeoutMs: 300_000,
  halfOpenSuccesses: 2,
};

const fail = () => Promise.reject(new Error('mlflow down'));
const succeed = () => Promise.resolve('ok');

function breakerWith(overrides: Partial<CircuitBreakerOptions> = {}) {
  const transitions: BreakerTransition[] = [];
  const breaker = createCircuitBreaker({ ...SETTINGS, random: () => 0.5, ...overrides });
  breaker.onTransition((t) => transitions.push(t));
  return { breaker, transitions };
}

async function failTimes(breaker: ReturnType<typeof breakerWith>['breaker'], times: number) {
  for (let i = 0; i < times; i += 1) await expect(breaker.execute(fail)).rejects.toThrow();
}

describe('CircuitBreaker', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stays closed below the failure threshold', async () => {
    const { breaker } = breakerWith();
    await failTimes(breaker, 2);
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', failureCount: 2 });
  });

  it('opens when consecutive failures reach the threshold', async () => {
    const { breaker, transitions } = breakerWith();
    await failTimes(breaker, 3);
    expect(breaker.snapshot()).toMatchObject({ state: 'open', tripsTotal: 1, msUntilRetry: 30_000 });
    expect(transitions).toEqual([expect.objectContaining({ from: 'closed', to: 'open', reason: 'failure_threshold' })]);
  });

  it('opens on the first failure when the threshold is 0', async () => {
    const { breaker } = breakerWith({ failureThreshold: 0 });
    await failTimes(breaker, 1);
    expect(breaker.snapshot().state).toBe('open');
  });

  it('resets the failure count after a success while closed', async () => {
    const { breaker } = breakerWith();
    await failTimes(breaker, 2);
    await breaker.execute(succeed);
    await failTimes(breaker, 2);
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', failureCount: 2 });
  });

  it('does not count errors that are not failures', async () => {
    const { breaker } = breakerWith({ classify: () => 'success' });
    await failTimes(breaker, 5);
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', failureCount: 0 });
  });

  it('rejects calls without running them while open, with the time until the trial', async () => {
    const { breaker } = breakerWith();
    await failTimes(breaker, 3);
    vi.advanceTimersByTime(10_000);
    const operation = vi.fn(succeed);
    const error = await breaker.execute(operation).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BreakerOpenError);
    expect((error as BreakerOpenError).retryAfterMs).toBe(20_000);
    expect(operation).not.toHaveBeenCalled();
    expect(breaker.snapshot().rejectionsTotal).toBe(1);
  });

  it('lets one trial through after the recovery timeout (half-open)', async () => {
    const { breaker, transitions } = breakerWith();
    await failTimes(breaker, 3);
    vi.advanceTimersByTime(30_000);
    expect(breaker.isCallPermitted()).toBe(true);
    await breaker.execute(succeed);
    expect(breaker.snapshot().state).toBe('half_open');
    expect(transitions.map((t) => t.reason)).toEqual(['failure_threshold', 'trial_started']);
  });

  it('fails other callers fast while the half-open trial is in flight', async () => {
    const { breaker } = breakerWith();
    await failTimes(breaker, 3);
    vi.advanceTimersByTime(30_000);
    let finishTrial: (value: string) => void = () => {};
    const trial = breaker.execute(() => new Promise<string>((resolve) => (finishTrial = resolve)));
    const other = await breaker.execute(succeed).catch((e: unknown) => e);
    expect(other).toBeInstanceOf(BreakerOpenError);
    expect((other as BreakerOpenError).retryAfterMs).toBe(HALF_OPEN_RETRY_AFTER_MS);
    finishTrial('ok');
    await expect(trial).resolves.toBe('ok');
  });

  it('refuses calls that may not be trials once the trial is due', async () => {
    const { breaker } = breakerWith();
    await failTimes(breaker, 3);
    vi.advanceTimersByTime(30_000);
    const operation = vi.fn(succeed);
    const error = await breaker.execute(operation, { mayTrial: false }).catch((e: unknown) => e);
    expect((error as BreakerOpenError).retryAfterMs).toBe(HALF_OPEN_RETRY_AFTER_MS);
    expect(operation).not.toHaveBeenCalled();
    expect(breaker.snapshot().state).toBe('open');
  });

  it('closes after the configured number of half-open successes', async () => {
    const { breaker, transitions } = breakerWith();
    await failTimes(breaker, 3);
    vi.advanceTimersByTime(30_000);
    await breaker.execute(succeed);
    await breaker.execute(succeed);
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', failureCount: 0, recoveryAttempts: 0 });
    expect(transitions.at(-1)).toMatchObject({ from: 'half_open', to: 'closed', reason: 'recovered' });
  });

  it('closes after one half-open success when half-open successes is 0', async () => {
    const { breaker } = breakerWith({ halfOpenSuccesses: 0 });
    await failTimes(breaker, 3);
    vi.advanceTimersByTime(30_000);
    await breaker.execute(succeed);
    expect(breaker.snapshot().state).toBe('closed');
  });

  it('reopens on one failure in half-open and counts a recovery attempt', async () => {
    const { breaker } = breakerWith();
    await failTimes(breaker, 3);
    vi.advanceTimersByTime(30_000);
    await breaker.execute(succeed);
    await failTimes(breaker, 1);
    expect(breaker.snapshot()).toMatchObject({ state: 'open', recoveryAttempts: 1, tripsTotal: 2 });
  });

  it('keeps the base open time for the first failed trials, then grows it by the multiplier', async () => {
    const { breaker } = breakerWith();
    await failTimes(breaker, 3);
    const openTimes: number[] = [breaker.snapshot().currentOpenTimeoutMs];
    for (let trial = 0; trial < 5; trial += 1) {
      vi.advanceTimersByTime(breaker.snapshot().msUntilRetry);
      await failTimes(breaker, 1);
      openTimes.push(breaker.snapshot().currentOpenTimeoutMs);
    }
    expect(openTimes).toEqual([30_000, 30_000, 30_000, 60_000, 120_000, 240_000]);
  });

  it('never grows the open time beyond the cap', async () => {
    const { breaker } = breakerWith({ maxRecoveryAttempts: 0, maxRecoveryTimeoutMs: 100_000, random: () => 0.999 });
    await failTimes(breaker, 3);
    for (let trial = 0; trial < 6; trial += 1) {
      vi.advanceTimersByTime(breaker.snapshot().msUntilRetry);
      await failTimes(breaker, 1);
    }
    expect(breaker.snapshot().currentOpenTimeoutMs).toBe(100_000);
  });

  it('resets the backoff when it closes', async () => {
    const { breaker } = breakerWith({ maxRecoveryAttempts: 0 });
    await failTimes(breaker, 3);
    vi.advanceTimersByTime(30_000);
    await failTimes(breaker, 1);
    expect(breaker.snapshot().currentOpenTimeoutMs).toBe(60_000);
    vi.advanceTimersByTime(60_000);
    await breaker.execute(succeed);
    await breaker.execute(succeed);
    await failTimes(breaker, 3);
    expect(breaker.snapshot().currentOpenTimeoutMs).toBe(30_000);
  });

  it('closes and clears every counter on manual reset', async () => {
    const { breaker, transitions } = breakerWith();
    await failTimes(breaker, 3);
    expect(breaker.reset()).toBe('open');
    expect(breaker.snapshot()).toMatchObject({
      state: 'closed',
      failureCount: 0,
      consecutiveSuccesses: 0,
      recoveryAttempts: 0,
      nextAttemptAt: null,
      msUntilRetry: 0,
    });
    expect(transitions.at(-1)?.reason).toBe('manual_reset');
  });

  it('opens at once on force-open and recovers automatically afterwards', async () => {
    const { breaker } = breakerWith();
    expect(breaker.forceOpen()).toBe('closed');
    expect(breaker.snapshot()).toMatchObject({ state: 'open', msUntilRetry: 30_000 });
    vi.advanceTimersByTime(30_000);
    await breaker.execute(succeed);
    await breaker.execute(succeed);
    expect(breaker.snapshot().state).toBe('closed');
  });

  it('records the last failure and success times', async () => {
    const { breaker } = breakerWith();
    await breaker.execute(succeed);
    vi.advanceTimersByTime(5_000);
    await failTimes(breaker, 1);
    const snapshot = breaker.snapshot();
    expect(snapshot.lastSuccessAt).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(snapshot.lastFailureAt).toBe(Date.parse('2026-01-01T00:00:05Z'));
  });
});

describe('CircuitBreaker outcomes', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const mlflowFailure = (kind: MlflowErrorKind) => () => Promise.reject(new MlflowError(kind, kind));
  const mlflowBreaker = () => breakerWith({ classify: classifyMlflowOutcome });
  async function outages(breaker: ReturnType<typeof breakerWith>['breaker'], times: number) {
    for (let i = 0; i < times; i += 1) await expect(breaker.execute(mlflowFailure('unreachable'))).rejects.toThrow();
  }

  it('never counts a request fetch refused to build', async () => {
    const { breaker } = mlflowBreaker();
    for (let i = 0; i < 5; i += 1) {
      await expect(breaker.execute(mlflowFailure('invalid_request'))).rejects.toThrow();
    }
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', failureCount: 0 });
  });

  it('leaves the failure count as it was after an ignored outcome', async () => {
    const { breaker } = mlflowBreaker();
    await outages(breaker, 2);
    await expect(breaker.execute(mlflowFailure('invalid_request'))).rejects.toThrow();
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', failureCount: 2 });
  });

  it('counts a proper MLflow error answer as proof MLflow is up', async () => {
    const { breaker } = mlflowBreaker();
    await outages(breaker, 2);
    await expect(breaker.execute(mlflowFailure('api'))).rejects.toThrow();
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', failureCount: 0 });
  });

  it('frees the half-open trial after an ignored outcome, so the next call may be the trial', async () => {
    const { breaker } = mlflowBreaker();
    await outages(breaker, 3);
    vi.advanceTimersByTime(30_000);
    await expect(breaker.execute(mlflowFailure('invalid_request'))).rejects.toThrow();
    expect(breaker.snapshot().state).toBe('half_open');
    expect(breaker.isCallPermitted()).toBe(true);
  });

  it('never counts an unrecorded call, whatever it did', async () => {
    const { breaker } = breakerWith();
    for (let i = 0; i < 5; i += 1) await expect(breaker.execute(fail, { record: false })).rejects.toThrow();
    await failTimes(breaker, 2);
    await breaker.execute(succeed, { record: false });
    expect(breaker.snapshot()).toMatchObject({ state: 'closed', failureCount: 2, lastSuccessAt: null });
  });

  it('refuses unrecorded calls while open, even once the trial is due', async () => {
    const { breaker } = breakerWith();
    await failTimes(breaker, 3);
    vi.advanceTimersByTime(30_000);
    const operation = vi.fn(succeed);
    await expect(breaker.execute(operation, { record: false })).rejects.toBeInstanceOf(BreakerOpenError);
    expect(operation).not.toHaveBeenCalled();
    expect(breaker.snapshot().state).toBe('open');
  });
});

describe('classifyMlflowOutcome', () => {
  it.each([
    ['unreachable', 'failure'],
    ['timeout', 'failure'],
    ['upstream', 'failure'],
    ['malformed', 'failure'],
    ['api', 'success'],
    ['too_large', 'success'],
    ['invalid_request', 'ignored'],
  ] as const)('judges an MLflow %s error a %s', (kind, outcome) => {
    expect(classifyMlflowOutcome(new MlflowError(kind, kind))).toBe(outcome);
  });

  it("ignores an error that is not MLflow's", () => {
    expect(classifyMlflowOutcome(new TypeError('bug'))).toBe('ignored');
  });
});

describe('computeOpenTimeoutMs', () => {
  it('adds at most 10 % jitter to a grown open time', () => {
    const grown = [0, 0.5, 0.999].map((random) => computeOpenTimeoutMs(SETTINGS, 3, random));
    expect(grown[0]).toBe(54_000);
    expect(grown[1]).toBe(60_000);
    expect(grown[2]).toBe(65_988);
  });

  it('supports fractional settings in milliseconds', () => {
    const settings = { ...SETTINGS, recoveryTimeoutMs: 500, maxRecoveryAttempts: 0, backoffMultiplier: 1.5 };
    expect(computeOpenTimeoutMs(settings, 1, 0.5)).toBe(750);
  });
});
