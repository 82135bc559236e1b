import type { BreakerSettings } from './config.js';

/** The three states of the breaker, as reported in health routes and metrics. */
export type BreakerState = 'closed' | 'open' | 'half_open';

/** Why the breaker changed state; logged and counted. */
export type TransitionReason =
  | 'failure_threshold'
  | 'trial_started'
  | 'trial_failed'
  | 'recovered'
  | 'manual_reset'
  | 'manual_open';

/** A state change, as given to listeners. */
export interface BreakerTransition {
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly reason: TransitionReason;
  readonly at: number;
}

/** Everything an operator can observe about the breaker at one instant (times are epoch ms). */
export interface BreakerSnapshot {
  readonly state: BreakerState;
  readonly failureCount: number;
  readonly consecutiveSuccesses: number;
  readonly recoveryAttempts: number;
  readonly lastFailureAt: number | null;
  readonly lastSuccessAt: number | null;
  readonly openedAt: number | null;
  readonly nextAttemptAt: number | null;
  readonly msUntilRetry: number;
  readonly currentOpenTimeoutMs: number;
  readonly tripsTotal: number;
  readonly rejectionsTotal: number;
}

/** Thrown instead of calling through while the breaker is open (or half-open with its trial in flight). */
export class BreakerOpenError extends Error {
  override readonly name = 'BreakerOpenError';
  constructor(
    readonly state: BreakerState,
    readonly retryAfterMs: number,
  ) {
    super(`circuit breaker is ${state}; next trial in ${retryAfterMs} ms`);
  }
}

/** Type guard for breaker rejections. */
export function isBreakerOpenError(error: unknown): error is BreakerOpenError {
  return error instanceof BreakerOpenError;
}

/**
 * What a failed call says about the dependency: `failure` counts against the breaker; `success` proves
 * it is up (it answered properly, a 404 say); `ignored` says nothing (the request never reached it, or the
 * caller caused the error).
 */
export type CallOutcome = 'failure' | 'success' | 'ignored';

/** Options of `createCircuitBreaker`: the settings plus the injectable clock and randomness. */
export interface CircuitBreakerOptions extends BreakerSettings {
  /** Judges an error of a call (default: every error is a failure). */
  readonly classify?: (error: unknown) => CallOutcome;
  readonly now?: () => number;
  /** Returns a number in [0, 1); drives the backoff jitter. */
  readonly random?: () => number;
}

/** Per-call options of `CircuitBreaker.execute`. */
export interface ExecuteOptions {
  readonly mayTrial?: boolean;
  readonly record?: boolean;
}

/** A circuit breaker that guards calls to one dependency. */
export interface CircuitBreaker {
  /**
   * Runs `operation` through the breaker, or throws `BreakerOpenError` without running it. With
   * `mayTrial: false` the call never becomes a recovery trial: it is refused while open or half-open
   * (callers that must not wait on an unwell dependency while a background probe makes the trials).
   * With `record: false` the call's outcome is not counted either way (calls whose shape a client chose).
   */
  execute<T>(operation: () => Promise<T>, options?: ExecuteOptions): Promise<T>;
  /** True when a call made now would run (closed, or a trial is due / free). */
  isCallPermitted(): boolean;
  snapshot(): BreakerSnapshot;
  /** Closes the breaker and clears its counters and backoff; returns the state before. */
  reset(): BreakerState;
  /** Opens the breaker now for the current recovery timeout; returns the state before. */
  forceOpen(): BreakerState;
  /** Subscribes to state changes; returns the unsubscribe function. */
  onTransition(listener: (transition: BreakerTransition) => void): () => void;
}

/** Share of the backoff delay that is randomised (plus or minus), so replicas do not retry in lockstep. */
export const BACKOFF_JITTER_RATIO = 0.1;
/** Retry-After given to callers turned away while a trial is in flight or left to the probe. */
export const HALF_OPEN_RETRY_AFTER_MS = 1000;

/**
 * Open time after `failedTrials` failed recovery trials: the base recovery timeout until
 * `maxRecoveryAttempts` trials have failed (the first opening always uses it, so 0 behaves as 1), then
 * multiplied by `backoffMultiplier` per further failed trial, with jitter, never above `maxRecoveryTimeoutMs`.
 */
export function computeOpenTimeoutMs(settings: BreakerSettings, failedTrials: number, random: number): number {
  const { recoveryTimeoutMs, backoffMultiplier, maxRecoveryTimeoutMs } = settings;
  const attemptsAtBase = Math.max(1, settings.maxRecoveryAttempts);
  if (failedTrials < attemptsAtBase) return recoveryTimeoutMs;
  const exponent = failedTrials - attemptsAtBase + 1;
  const grown = recoveryTimeoutMs * backoffMultiplier ** exponent;
  const jittered = grown * (1 + BACKOFF_JITTER_RATIO * (2 * random - 1));
  return Math.round(Math.min(maxRecoveryTimeoutMs, Math.max(recoveryTimeoutMs, jittered)));
}

/**
 * Creates a consecutive-failure circuit breaker with staged exponential backoff and an N-success
 * half-open state. Time comes from `now`, so fake timers drive it in tests.
 */
export function createCircuitBreaker(options: CircuitBreakerOptions): CircuitBreaker {
  const now = options.now ?? (() => Date.now());
  const random = options.random ?? (() => Math.random());
  const classify = options.classify ?? ((): CallOutcome => 'failure');
  const threshold = Math.max(1, options.failureThreshold);
  const successesToClose = Math.max(1, options.halfOpenSuccesses);
  const listeners = new Set<(transition: BreakerTransition) => void>();

  let state: BreakerState = 'closed';
  let failureCount = 0;
  let consecutiveSuccesses = 0;
  let recoveryAttempts = 0;
  let lastFailureAt: number | null = null;
  let lastSuccessAt: number | null = null;
  let openedAt: number | null = null;
  let nextAttemptAt: number | null = null;
  let currentOpenTimeoutMs = options.recoveryTimeoutMs;
  let tripsTotal = 0;
  let rejectionsTotal = 0;
  let trialInFlight = false;

  function transition(to: BreakerState, reason: TransitionReason): void {
    const from = state;
    state = to;
    const event = { from, to, reason, at: now() };
    for (const listener of listeners) listener(event);
  }

  function open(reason: TransitionReason): void {
    const at = now();
    currentOpenTimeoutMs = computeOpenTimeoutMs(options, recoveryAttempts, random());
    openedAt = at;
    nextAttemptAt = at + currentOpenTimeoutMs;
    consecutiveSuccesses = 0;
    trialInFlight = false;
    tripsTotal += 1;
    transition('open', reason);
  }

  function msUntilRetry(): number {
    if (state === 'closed' || nextAttemptAt === null) return 0;
    if (state === 'half_open') return trialInFlight ? HALF_OPEN_RETRY_AFTER_MS : 0;
    return Math.max(0, nextAttemptAt - now());
  }

  function isCallPermitted(): boolean {
    if (state === 'closed') return true;
    if (state === 'half_open') return !trialInFlight;
    return nextAttemptAt !== null && now() >= nextAttemptAt;
  }

  function onSuccess(): void {
    lastSuccessAt = now();
    consecutiveSuccesses += 1;
    if (state === 'closed') {
      failureCount = 0;
      return;
    }
    trialInFlight = false;
    if (state === 'half_open' && consecutiveSuccesses >= successesToClose) {
      failureCount = 0;
      recoveryAttempts = 0;
      openedAt = null;
      nextAttemptAt = null;
      currentOpenTimeoutMs = options.recoveryTimeoutMs;
      transition('closed', 'recovered');
    }
  }

  function onFailure(): void {
    lastFailureAt = now();
    consecutiveSuccesses = 0;
    if (state === 'half_open') {
      recoveryAttempts += 1;
      open('trial_failed');
      return;
    }
    if (state === 'closed') {
      failureCount += 1;
      if (failureCount >= threshold) open('failure_threshold');
    }
  }

  /** A call that turned out to say nothing: a trial it was holding is free again. */
  function onIgnored(): void {
    if (state === 'half_open') trialInFlight = false;
  }

  async function execute<T>(operation: () => Promise<T>, executeOptions: ExecuteOptions = {}): Promise<T> {
    const record = executeOptions.record ?? true;
    // An unrecorded call can never be a trial: it could neither hold nor decide one.
    const mayTrial = record && (executeOptions.mayTrial ?? true);
    if (!isCallPermitted() || (state !== 'closed' && !mayTrial)) {
      rejectionsTotal += 1;
      const retryAfterMs = msUntilRetry();
      // A due trial is the prober's to make: tell the caller to come back shortly.
      throw new BreakerOpenError(state, retryAfterMs > 0 ? retryAfterMs : HALF_OPEN_RETRY_AFTER_MS);
    }
    if (!record) return operation();
    if (state === 'open') transition('half_open', 'trial_started');
    if (state === 'half_open') trialInFlight = true;
    const stateAtStart = state;
    try {
      const result = await operation();
      // A manual reset or force-open during the call wins over its outcome.
      if (state === stateAtStart) onSuccess();
      return result;
    } catch (error) {
      if (state === stateAtStart) {
        const outcome = classify(error);
        if (outcome === 'failure') onFailure();
        else if (outcome === 'success') onSuccess();
        else onIgnored();
      }
      throw error;
    }
  }

  return {
    execute,
    isCallPermitted,
    snapshot: () => ({
      state,
      failureCount,
      consecutiveSuccesses,
      recoveryAttempts,
      lastFailureAt,
      lastSuccessAt,
      openedAt,
      nextAttemptAt,
      msUntilRetry: msUntilRetry(),
      currentOpenTimeoutMs,
      tripsTotal,
      rejectionsTotal,
    }),
    reset() {
      const previous = state;
      failureCount = 0;
      consecutiveSuccesses = 0;
      recoveryAttempts = 0;
      openedAt = null;
      nextAttemptAt = null;
      trialInFlight = false;
      currentOpenTimeoutMs = options.recoveryTimeoutMs;
      if (previous !== 'closed') transition('closed', 'manual_reset');
      return previous;
    },
    forceOpen() {
      const previous = state;
      open('manual_open');
      return previous;
    },
    onTransition(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
