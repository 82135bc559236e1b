import {
  type Answer,
  BREAKER_STATE_VALUE,
  CACHE_STATUS_HEADER,
  createRegistryClient,
  METRICS,
  ROUTES,
} from '@registry/service/client';
import { type Stack, waitFor } from '@registry/testkit';
import { percentile } from './abuse/hypotheses.js';
import { LIVE_MAX_MS, LIVE_P99_MS } from './abuse/limits.js';
import type { Experiment } from './experiments.js';
import {
  FIXED_HEALTH_CHECK,
  type HealthCheckSettings,
  type HealthProbeFn,
  INCIDENT_HEALTH_CHECK,
  startTargetHealthChecker,
  type TargetHealthReport,
} from './load-balancer.js';
import type { Bounds } from './settings.js';
import {
  type BreakerSample,
  MLFLOW_BOUND,
  ROUTE_CLASSES,
  type RouteClass,
  type Sample,
  SEEDED_MODEL,
  startTraffic,
} from './traffic.js';

/** One hypothesis check of an experiment. */
export interface CheckResult {
  readonly name: string;
  readonly passed: boolean;
  readonly detail: string;
}

/** The observed and expected outcome of one route class during the fault. */
export interface MatrixCell {
  readonly expected: string;
  readonly observed: string;
  readonly matches: boolean;
}

/** Everything one experiment produced: verdict, checks, matrix row and the timeline for the report. */
export interface ExperimentResult {
  readonly id: string;
  readonly title: string;
  readonly fault: string;
  readonly expectation: Experiment['expectation'];
  readonly passed: boolean;
  readonly checks: readonly CheckResult[];
  readonly matrix: Readonly<Record<RouteClass, MatrixCell>>;
  readonly timeline: {
    readonly startedAt: number;
    readonly injectedAt: number;
    readonly openedAt: number | null;
    readonly removedAt: number;
    readonly recoveredAt: number | null;
    readonly endedAt: number;
    readonly samples: readonly Sample[];
    readonly breaker: readonly BreakerSample[];
    readonly loadBalancer: readonly TargetHealthReport[];
  };
}

/** Options of `runExperiment`. */
export interface RunOptions {
  readonly stack: Stack;
  readonly bounds: Bounds;
  readonly timeScale: number;
  /**
   * The health check of the fixed load balancer (default `FIXED_HEALTH_CHECK`); the load-balancer
   * control points it at a route that fails while MLflow is down.
   */
  readonly fixedHealthCheck?: HealthCheckSettings;
  readonly log?: (line: string) => void;
}

/** How long a fault is held after the breaker opened (or, for no-trip faults, in all). */
const HOLD_MS = 3_000;
const NO_TRIP_HOLD_MS = 4_000;
const MEMORY_GROWTH_LIMIT_MB = 150;

/**
 * The pre-fix readiness: it answered 503 whenever the service was degraded. A raw request, like the load
 * balancer's own: whatever it cannot read counts as no answer, never as an exception.
 */
const preFixReadiness: HealthProbeFn = async (url, timeoutMs) => {
  try {
    const readyUrl = url.replace(/\/ready$/, ROUTES.ready.url);
    const response = await fetch(readyUrl, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.json()) as Partial<Answer<typeof ROUTES.ready>['body']>;
    return response.status === 200 && body.degraded_mode ? 503 : response.status;
  } catch {
    return null;
  }
};

function label(sample: Sample): string {
  if (sample.status === null) return 'no answer';
  if (sample.routeClass === 'ready' && sample.degraded) return `${sample.status} degraded`;
  if (sample.cache === 'stale') return `${sample.status} stale`;
  return String(sample.status);
}

function expectedLabel(routeClass: RouteClass, experiment: Experiment): string {
  if (experiment.expectation === 'no-trip') return '200';
  const expected: Record<RouteClass, string> = {
    live: '200',
    ready: '200 degraded',
    core: '200',
    cached_read: '200 stale',
    uncached_read: '503',
    write: '503',
  };
  return expected[routeClass];
}

function summarize(samples: readonly Sample[]): string {
  if (samples.length === 0) return 'no samples';
  const counts = new Map<string, number>();
  for (const sample of samples) counts.set(label(sample), (counts.get(label(sample)) ?? 0) + 1);
  const [top, count] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0] as [string, number];
  const share = Math.round((count / samples.length) * 100);
  return share === 100 ? top : `${top} (${share} %)`;
}

/**
 * The breaker sample in effect at `at` (the latest at or before it) and the next one: a request counts as
 * made in a state only when both agree, so a transition between two looks never mislabels it.
 */
function breakerAround(
  breaker: readonly BreakerSample[],
  at: number,
): { before?: BreakerSample; after?: BreakerSample } {
  let before: BreakerSample | undefined;
  for (const sample of breaker) {
    if (sample.at > at) return { before, after: sample };
    before = sample;
  }
  return { before };
}

/** Whether the breaker was open throughout the request made at `at`, by the samples on both sides. */
function openAt(breaker: readonly BreakerSample[], at: number): boolean {
  const { before, after } = breakerAround(breaker, at);
  return before?.state === 'open' && after?.state === 'open';
}

/**
 * The Retry-After values (s) the breaker's own reports imply at `at`, rounded up as the service rounds
 * them (at least 1 s): the time until retry at the sample before, less the time since; and at the sample
 * after, plus the time until it. Two, because the breaker may re-open (with a longer timeout) between
 * two looks: a request then carries the later period's time, which only the sample after shows.
 */
function reportedRetryAfter(breaker: readonly BreakerSample[], at: number): number[] {
  const { before, after } = breakerAround(breaker, at);
  const seconds = (value: number) => Math.max(1, Math.ceil(value));
  return [
    ...(before ? [seconds(before.secondsUntilRetry - (at - before.at) / 1000)] : []),
    ...(after ? [seconds(after.secondsUntilRetry + (after.at - at) / 1000)] : []),
  ];
}

/** How far (s) a Retry-After may be from the breaker's reported time until retry: one sampling step. */
const RETRY_AFTER_TOLERANCE_S = 1;

function check(name: string, passed: boolean, detail: string): CheckResult {
  return { name, passed, detail };
}

/**
 * Waits for the steady state every experiment starts from (breaker closed, live reads of the seeded model)
 * and returns the service's resident memory then, in MB.
 */
export async function waitForSteadyState(stack: Stack, bounds: Bounds): Promise<number> {
  const service = createRegistryClient({ baseUrl: stack.service.url });
  await waitFor(
    async () => {
      // Not steady yet: say what was seen, so that a timeout reports the last state.
      const status = await service.status();
      const state = status.status === 200 ? status.body.circuit_breaker.state : undefined;
      if (state !== 'closed') throw new Error(`last seen: breaker ${state ?? `unknown (status ${status.status})`}`);
      const read = await service.models.get(SEEDED_MODEL);
      const cache = read.headers.get(CACHE_STATUS_HEADER);
      if (read.status === 200 && cache === 'live') return true;
      const code = 'code' in read.body ? read.body.code : '';
      throw new Error(`last seen: breaker closed, read of ${SEEDED_MODEL} ${read.status} ${code} cache ${cache}`);
    },
    { timeoutMs: bounds.recoverWithinMs, intervalMs: 200, what: 'steady state (breaker closed, live reads)' },
  );
  const live = await service.live();
  if (live.status !== 200) throw new Error(`/health/live answered ${live.status}`);
  return live.body.memory_usage_mb;
}

/** Hypothesis shared by every experiment: the service process still runs and logged no fatal or unhandled error. */
export async function checkNoCrash(stack: Stack): Promise<CheckResult> {
  const running = await stack.service.isRunning();
  const crashLines = stack.service
    .output()
    .split('\n')
    .filter((line) => /unhandled|"level":60|uncaught/i.test(line));
  return check(
    'no crash and no unhandled rejection',
    running && crashLines.length === 0,
    running ? `${crashLines.length} fatal/unhandled log lines` : 'the service process is gone',
  );
}

async function metricsBreakerState(serviceUrl: string): Promise<number | undefined> {
  const state = (await createRegistryClient({ baseUrl: serviceUrl }).metrics()).value(METRICS.breakerState);
  return Number.isNaN(state) ? undefined : state;
}

/**
 * Runs one experiment: verifies the steady state, injects the fault while traffic and a simulated load
 * balancer watch, holds it, removes it, waits for the breaker to close with health traffic only, and
 * checks every hypothesis.
 */
export async function runExperiment(experiment: Experiment, options: RunOptions): Promise<ExperimentResult> {
  const { stack, bounds } = options;
  const log = options.log ?? (() => {});
  const checks: CheckResult[] = [];
  const startedAt = Date.now();

  log('steady state');
  const baselineRssMb = await waitForSteadyState(stack, bounds);

  const traffic = startTraffic(stack.service.url);
  const fixedCheck = options.fixedHealthCheck ?? FIXED_HEALTH_CHECK;
  const fixedLb = startTargetHealthChecker(stack.service.url, fixedCheck, { timeScale: options.timeScale });
  const preFixLb = experiment.incidentReplay
    ? startTargetHealthChecker(stack.service.url, INCIDENT_HEALTH_CHECK, {
        timeScale: options.timeScale,
        probe: preFixReadiness,
      })
    : undefined;

  let openedAt: number | null = null;
  let recoveredAt: number | null = null;
  let metricsStateWhileOpen: number | undefined;
  let removedAt = Date.now();
  const injectedAt = Date.now();
  try {
    try {
      log(`inject ${experiment.fault}`);
      await experiment.inject({ stack, bounds });
      if (experiment.expectation === 'trips') {
        try {
          await waitFor(() => traffic.breakerState() === 'open', {
            timeoutMs: bounds.openWithinMs,
            intervalMs: 50,
            what: 'the breaker to open',
          });
          openedAt = traffic.breakerSamples().find((s) => s.at >= injectedAt && s.state === 'open')?.at ?? Date.now();
          log(`breaker open after ${openedAt - injectedAt} ms; holding the fault`);
          metricsStateWhileOpen = await metricsBreakerState(stack.service.url);
        } catch {
          log(`breaker did not open within ${bounds.openWithinMs} ms`);
        }
        const holdMs = experiment.incidentReplay
          ? ((INCIDENT_HEALTH_CHECK.unhealthyThreshold + 1) * INCIDENT_HEALTH_CHECK.intervalSeconds * 1000) /
            options.timeScale
          : HOLD_MS;
        await waitFor(() => Date.now() - (openedAt ?? injectedAt) >= holdMs, {
          timeoutMs: holdMs + 1_000,
          intervalMs: 50,
          what: 'the end of the fault window',
        });
      } else {
        await waitFor(() => Date.now() - injectedAt >= NO_TRIP_HOLD_MS, {
          timeoutMs: NO_TRIP_HOLD_MS + 1_000,
          intervalMs: 50,
          what: 'the end of the fault window',
        });
      }
    } finally {
      log(`remove ${experiment.fault}`);
      await experiment.remove({ stack, bounds });
      removedAt = Date.now();
      // Recovery must need no user traffic: only health routes from here on.
      traffic.setMode('health-only');
    }

    try {
      await waitFor(
        () => {
          const last = traffic.breakerSamples().at(-1);
          return last !== undefined && last.at > removedAt && last.state === 'closed';
        },
        { timeoutMs: bounds.recoverWithinMs, intervalMs: 50, what: 'the breaker to close by itself' },
      );
      recoveredAt = traffic.breakerSamples().find((s) => s.at > removedAt && s.state === 'closed')?.at ?? Date.now();
      log(`recovered ${recoveredAt - removedAt} ms after the fault was removed`);
    } catch {
      log(`no recovery within ${bounds.recoverWithinMs} ms`);
    }
  } catch (error) {
    // Every loop stops before the error leaves the experiment.
    await Promise.allSettled([traffic.stop(), fixedLb.stop(), preFixLb?.stop()]);
    throw error;
  }

  await traffic.stop();
  const lbReports = [await fixedLb.stop()];
  if (preFixLb) lbReports.push(await preFixLb.stop());
  const endedAt = Date.now();
  const samples = traffic.samples();
  const breaker = traffic.breakerSamples();
  const during = (s: Sample) => s.at >= injectedAt && s.at < removedAt;

  // Hypothesis: liveness answers 200 on every probe, fast in the percentile and under a hard maximum (one
  // scheduler stall on a shared machine is reported in the detail; a slow service fails).
  const live = samples.filter((s) => s.routeClass === 'live');
  const liveLatencies = live.map((s) => s.latencyMs);
  const liveP99 = percentile(liveLatencies, 99);
  const liveMax = Math.max(0, ...liveLatencies);
  const notOk = live.filter((s) => s.status !== 200);
  checks.push(
    check(
      `liveness 200 on every probe, p99 <= ${LIVE_P99_MS} ms, max <= ${LIVE_MAX_MS} ms`,
      live.length > 0 && notOk.length === 0 && liveP99 <= LIVE_P99_MS && liveMax <= LIVE_MAX_MS,
      `${live.length} probes, ${notOk.length} not 200; p50 ${percentile(liveLatencies, 50)} ms, p99 ${liveP99} ms, max ${liveMax} ms`,
    ),
  );

  // Hypothesis: readiness stays 200, in degraded mode while the breaker is open.
  const ready = samples.filter((s) => s.routeClass === 'ready');
  const badReady = ready.filter((s) => s.status !== 200);
  const degradedSeen = ready.some((s) => during(s) && s.degraded === true);
  checks.push(
    check(
      experiment.expectation === 'trips' ? 'readiness 200 with degraded_mode while open' : 'readiness 200',
      ready.length > 0 && badReady.length === 0 && (experiment.expectation === 'no-trip' || degradedSeen),
      `${ready.length} probes, ${badReady.length} not 200, degraded_mode seen: ${degradedSeen}`,
    ),
  );

  // Hypothesis: routes that do not need MLflow keep answering 200.
  const core = samples.filter((s) => s.routeClass === 'core');
  const badCore = core.filter((s) => s.status !== 200);
  checks.push(
    check(
      'core routes 200',
      core.length > 0 && badCore.length === 0,
      `${core.length} requests, ${badCore.length} not 200`,
    ),
  );

  const bound = samples.filter((s) => MLFLOW_BOUND.has(s.routeClass) && during(s));
  if (experiment.expectation === 'trips') {
    checks.push(
      check(
        'breaker opens within the bound',
        openedAt !== null,
        openedAt === null
          ? `not open within ${bounds.openWithinMs} ms`
          : `open after ${openedAt - injectedAt} ms (bound ${bounds.openWithinMs} ms)`,
      ),
    );
    checks.push(
      check(
        'breaker state visible in /health/status and /metrics',
        openedAt !== null && metricsStateWhileOpen === BREAKER_STATE_VALUE.open,
        `status: ${openedAt !== null ? 'open' : 'never open'}; ${METRICS.breakerState}: ${metricsStateWhileOpen}`,
      ),
    );
    const whileOpen = bound.filter((s) => openAt(breaker, s.at) && s.routeClass !== 'cached_read');
    const slow = whileOpen.filter((s) => s.status === null || s.latencyMs >= bounds.fastFailMs);
    const circuitOpen = whileOpen.filter((s) => s.code === 'MLFLOW_CIRCUIT_OPEN');
    const truthful = (s: Sample) =>
      s.status === 503 &&
      s.retryAfter !== undefined &&
      reportedRetryAfter(breaker, s.at).some(
        (reported) => Math.abs((s.retryAfter as number) - reported) <= RETRY_AFTER_TOLERANCE_S,
      );
    const untruthful = circuitOpen.filter((s) => !truthful(s));
    checks.push(
      check(
        'MLflow-bound requests fail fast with 503 while open',
        whileOpen.length > 0 && slow.length === 0 && circuitOpen.length > 0,
        `${whileOpen.length} requests while open, ${circuitOpen.length} MLFLOW_CIRCUIT_OPEN, ${slow.length} slower than ${bounds.fastFailMs} ms`,
      ),
    );
    const example = untruthful[0] ?? circuitOpen[0];
    checks.push(
      check(
        "Retry-After is the breaker's own time until retry",
        circuitOpen.length > 0 && untruthful.length === 0,
        `${circuitOpen.length} answers, ${untruthful.length} more than ${RETRY_AFTER_TOLERANCE_S} s from /health/status time_until_retry_seconds${example ? ` (${untruthful.length > 0 ? 'first' : 'e.g.'}: Retry-After ${example.retryAfter} s, reported ${reportedRetryAfter(breaker, example.at).join(' / ')} s)` : ''}`,
      ),
    );
    const cachedWhileOpen = bound.filter((s) => s.routeClass === 'cached_read' && openAt(breaker, s.at));
    const notStale = cachedWhileOpen.filter((s) => s.status !== 200 || s.cache !== 'stale');
    checks.push(
      check(
        'cached reads served stale while open',
        cachedWhileOpen.length > 0 && notStale.length === 0,
        `${cachedWhileOpen.length} reads while open, ${notStale.length} not 200 stale`,
      ),
    );
  } else {
    const notClosed = breaker.filter((s) => s.at >= injectedAt && s.at < removedAt && s.state !== 'closed');
    const failed = bound.filter((s) => s.status !== 200);
    checks.push(
      check(
        'breaker stays closed',
        notClosed.length === 0,
        `${notClosed.length} breaker samples not closed during the fault`,
      ),
    );
    checks.push(
      check(
        'MLflow-bound requests keep succeeding',
        bound.length > 0 && failed.length === 0,
        `${bound.length} requests during the fault, ${failed.length} not 200`,
      ),
    );
  }

  checks.push(
    check(
      'breaker closes by itself with no user traffic',
      recoveredAt !== null,
      recoveredAt === null
        ? `still not closed ${bounds.recoverWithinMs} ms after removal`
        : `closed ${recoveredAt - removedAt} ms after removal (bound ${bounds.recoverWithinMs} ms)`,
    ),
  );

  checks.push(await checkNoCrash(stack));

  const rss = live.map((s) => s.rssMb).filter((v): v is number => v !== undefined);
  const growth = Math.max(0, ...rss) - baselineRssMb;
  checks.push(
    check(
      'memory stays bounded',
      growth < MEMORY_GROWTH_LIMIT_MB,
      `RSS ${baselineRssMb} MB at start, peak ${Math.max(baselineRssMb, ...rss)} MB (limit +${MEMORY_GROWTH_LIMIT_MB} MB)`,
    ),
  );

  const fixed = lbReports[0] as TargetHealthReport;
  checks.push(
    check(
      `load balancer never marks the target unhealthy (path ${fixedCheck.path}, ${fixedCheck.healthyThreshold}/${fixedCheck.unhealthyThreshold}, ${fixedCheck.timeoutSeconds} s/${fixedCheck.intervalSeconds} s)`,
      !fixed.everUnhealthy,
      `${fixed.probes.length} health checks, ${fixed.probes.filter((p) => !p.passed).length} failed`,
    ),
  );
  if (preFixLb) {
    const preFix = lbReports[1] as TargetHealthReport;
    checks.push(
      check(
        'the pre-fix health check (/ready 503 when degraded, 2 failures, 5 s) marks the target unhealthy',
        preFix.everUnhealthy,
        `${preFix.probes.length} health checks, ${preFix.probes.filter((p) => !p.passed).length} failed, transitions: ${preFix.transitions.map((t) => t.to).join(', ') || 'none'}`,
      ),
    );
  }

  // The matrix row: what each route class answered while the fault lasted (and, for faults that trip it,
  // while the breaker was open on both sides of the request). Every cell must match its expectation for the experiment to pass.
  // A breaker that never opened leaves no open window: the row then shows the whole fault window.
  const windowSamples = samples.filter((s) =>
    experiment.expectation === 'trips' && openedAt !== null ? during(s) && openAt(breaker, s.at) : during(s),
  );
  const matrix = Object.fromEntries(
    ROUTE_CLASSES.map((routeClass) => {
      const expected = expectedLabel(routeClass, experiment);
      const observed = summarize(windowSamples.filter((s) => s.routeClass === routeClass));
      return [routeClass, { expected, observed, matches: observed === expected }];
    }),
  ) as Record<RouteClass, MatrixCell>;
  const mismatched = ROUTE_CLASSES.filter((routeClass) => !matrix[routeClass].matches);
  checks.push(
    check(
      'every route class answered as the matrix expects',
      mismatched.length === 0,
      mismatched.length === 0
        ? `${ROUTE_CLASSES.length} classes as expected`
        : mismatched
            .map(
              (routeClass) => `${routeClass}: ${matrix[routeClass].observed} (expected ${matrix[routeClass].expected})`,
            )
            .join('; '),
    ),
  );

  return {
    id: experiment.id,
    title: experiment.title,
    fault: experiment.fault,
    expectation: experiment.expectation,
    passed: checks.every((c) => c.passed),
    checks,
    matrix,
    timeline: {
      startedAt,
      injectedAt,
      openedAt,
      removedAt,
      recoveredAt,
      endedAt,
      samples,
      breaker,
      loadBalancer: lbReports,
    },
  };
}
