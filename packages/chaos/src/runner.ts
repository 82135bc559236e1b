import { BREAKER_STATE_VALUE, CACHE_STATUS_HEADER, createRegistryClient, METRICS } from '@registry/service/client';
import {
  type HaproxyCheck,
  type HaproxyHandle,
  percentile,
  type Stack,
  startHaproxy,
  waitFor,
} from '@registry/testkit';
import type { Experiment } from './experiments.js';
import { type BackendSample, isOutOfService, startFleetWatch, watchedReplicas } from './fleet.js';
import { haproxyCheck, INCIDENT_HEALTH_CHECK } from './health-checks.js';
import { judgeLiveness, livenessHypothesis } from './liveness.js';
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

/** What one load balancer did during an experiment: its check, its servers' states, the requests it lost. */
export interface LoadBalancerView {
  /** `fixed` (the stack's HAProxy) or `before-fix` (the incident replay's HAProxy). */
  readonly label: string;
  readonly check: HaproxyCheck;
  readonly samples: readonly BackendSample[];
  /** Whether HAProxy ever took a server out of service, and whether it ever had none left. */
  readonly everDown: boolean;
  readonly everAllDown: boolean;
  /** Time with every server out of service (total outage), ms. */
  readonly outageMs: number;
  /** Requests sent through it during the experiment, and those it answered itself or never answered. */
  readonly requests: number;
  readonly lost: number;
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
    /** Each replica's breaker samples, read from the replica itself, by replica name. */
    readonly breakers: Readonly<Record<string, readonly BreakerSample[]>>;
    readonly loadBalancers: readonly LoadBalancerView[];
  };
}

/** Options of `runExperiment`. */
export interface RunOptions {
  readonly stack: Stack;
  readonly bounds: Bounds;
  /** Time compression of the load balancer's checks (the incident replay's HAProxy uses it). */
  readonly timeScale: number;
  readonly log?: (line: string) => void;
}

/** How long a fault is held after the breaker opened (or, for no-trip faults, in all). */
const HOLD_MS = 3_000;
const NO_TRIP_HOLD_MS = 4_000;
const MEMORY_GROWTH_LIMIT_MB = 150;

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
 * The Retry-After values (s) the breaker's own reports imply for a request sent at `at` and answered
 * `latencyMs` later, rounded up as the service rounds them (at least 1 s): the time until retry at the
 * sample before it was sent, less the time since; and at every sample up to the first one after it was
 * answered, plus the time until then. Several, because the breaker may re-open (with a longer timeout)
 * while the request is on its way: it then carries the later period's time, which only a sample taken
 * after the service answered shows (a sample taken while the request was in flight may still show the
 * old period).
 */
function reportedRetryAfter(breaker: readonly BreakerSample[], at: number, latencyMs: number): number[] {
  const { before } = breakerAround(breaker, at);
  const answeredAt = at + latencyMs;
  const during = breaker.filter((sample) => sample.at > at && sample.at <= answeredAt);
  const { after } = breakerAround(breaker, answeredAt);
  const seconds = (value: number) => Math.max(1, Math.ceil(value));
  return [
    ...(before ? [seconds(before.secondsUntilRetry - (at - before.at) / 1000)] : []),
    ...[...during, ...(after ? [after] : [])].map((sample) =>
      seconds(sample.secondsUntilRetry + (sample.at - at) / 1000),
    ),
  ];
}

/** How far (s) a Retry-After may be from the breaker's reported time until retry: one sampling step. */
const RETRY_AFTER_TOLERANCE_S = 1;

function check(name: string, passed: boolean, detail: string): CheckResult {
  return { name, passed, detail };
}

/**
 * Waits for the steady state every experiment starts from, on every replica directly (breaker closed,
 * live reads of the seeded model, which also warms each replica's cache) and returns each replica's
 * resident memory then, in MB, in replica order.
 */
export async function waitForSteadyState(stack: Stack, bounds: Bounds): Promise<number[]> {
  return Promise.all(
    stack.replicas.map(async (replica) => {
      const service = createRegistryClient({ baseUrl: replica.url });
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
        {
          timeoutMs: bounds.recoverWithinMs,
          intervalMs: 200,
          what: `steady state of ${replica.url} (breaker closed, live reads)`,
        },
      );
      const live = await service.live();
      if (live.status !== 200) throw new Error(`${replica.url}/health/live answered ${live.status}`);
      return live.body.memory_usage_mb;
    }),
  );
}

/**
 * Waits until every server of `haproxy` is fully UP. HAProxy starts a server UP but one failed check from
 * DOWN (`UP 1/3`); only after `fall - 1` passing checks does it take `fall` failures to mark it DOWN, as a
 * target group does. An experiment starts from there, so that its thresholds are the configured ones.
 */
export async function waitForServersUp(haproxy: HaproxyHandle): Promise<void> {
  const { intervalMs, rise, fall } = haproxy.check;
  await waitFor(
    async () => {
      const servers = await haproxy.servers();
      if (servers.length > 0 && servers.every((server) => server.status === 'UP')) return true;
      throw new Error(`last seen: ${servers.map((server) => `${server.name} ${server.status}`).join(', ')}`);
    },
    { timeoutMs: (rise + fall + 2) * intervalMs, intervalMs: 50, what: 'every HAProxy server fully UP' },
  );
}

/** Hypothesis shared by every experiment: every replica still runs and logged no fatal or unhandled error. */
export async function checkNoCrash(stack: Stack): Promise<CheckResult> {
  const gone: string[] = [];
  let crashLines = 0;
  for (const [index, replica] of stack.replicas.entries()) {
    if (!(await replica.isRunning())) gone.push(watchedReplicas(stack.replicas)[index]?.name ?? replica.url);
    crashLines += replica
      .output()
      .split('\n')
      .filter((line) => /unhandled|"level":60|uncaught/i.test(line)).length;
  }
  return check(
    'no crash and no unhandled rejection',
    gone.length === 0 && crashLines === 0,
    `${stack.replicas.length} replica(s), ${gone.length === 0 ? 'all running' : `gone: ${gone.join(', ')}`}; ${crashLines} fatal/unhandled log lines`,
  );
}

async function metricsBreakerState(serviceUrl: string): Promise<number | undefined> {
  const state = (await createRegistryClient({ baseUrl: serviceUrl }).metrics()).value(METRICS.breakerState);
  return Number.isNaN(state) ? undefined : state;
}

/** How a load balancer's check reads in a hypothesis: path, thresholds and (scaled) timings. */
export function describeCheck(check: HaproxyCheck): string {
  return `GET ${check.path} every ${check.intervalMs} ms, timeout ${check.timeoutMs} ms, rise ${check.rise}, fall ${check.fall}`;
}

/** A load balancer's view: server states over time, total outage, and the requests it lost. */
export function loadBalancerView(
  label: string,
  check: HaproxyCheck,
  samples: readonly BackendSample[],
  requests: readonly Sample[],
  endedAt: number,
): LoadBalancerView {
  const allDown = (sample: BackendSample) => {
    const states = Object.values(sample.servers);
    return states.length > 0 && states.every(isOutOfService);
  };
  let outageMs = 0;
  samples.forEach((sample, index) => {
    if (allDown(sample)) outageMs += (samples[index + 1]?.at ?? endedAt) - sample.at;
  });
  return {
    label,
    check,
    samples,
    everDown: samples.some((sample) => Object.values(sample.servers).some(isOutOfService)),
    everAllDown: samples.some(allDown),
    outageMs,
    requests: requests.length,
    lost: requests.filter(answeredByLoadBalancer).length,
  };
}

/** A request HAProxy answered itself (no replica named in `x-served-by`), or that got no answer at all. */
function answeredByLoadBalancer(sample: Sample): boolean {
  return sample.status === null || sample.servedBy === undefined;
}

/** Classes whose requests must never need MLflow (so the load balancer must never refuse them). */
const NOT_MLFLOW_BOUND = ROUTE_CLASSES.filter((routeClass) => !MLFLOW_BOUND.has(routeClass));

/**
 * Runs one experiment: verifies the steady state of every replica, injects the fault while traffic goes
 * through HAProxy and a fleet watch reads each replica's breaker and HAProxy's server states, holds it,
 * removes it, waits for every breaker to close with health traffic only, and checks every hypothesis. An
 * incident replay also puts a second HAProxy, configured as before the fix, in front of the same replicas.
 */
export async function runExperiment(experiment: Experiment, options: RunOptions): Promise<ExperimentResult> {
  const { stack, bounds } = options;
  const log = options.log ?? (() => {});
  const checks: CheckResult[] = [];
  const startedAt = Date.now();
  const replicas = watchedReplicas(stack.replicas);
  const soleReplica = replicas.length === 1 ? replicas[0]?.name : undefined;

  const fixedLb = stack.loadBalancer;
  const preFixCheck = haproxyCheck(INCIDENT_HEALTH_CHECK, options.timeScale);
  const preFixLb: HaproxyHandle | undefined =
    experiment.incidentReplay && fixedLb && stack.replicas.length > 0
      ? await startHaproxy({
          name: 'haproxy-before-fix',
          servers: stack.replicas.map((replica, index) => ({
            name: replicas[index]?.name ?? `replica-${index + 1}`,
            host: '127.0.0.1',
            port: Number(new URL(replica.url).port),
          })),
          check: preFixCheck,
          container: stack.provider === 'containers',
        })
      : undefined;

  log('steady state');
  let baselineRssMb: number[];
  try {
    baselineRssMb = await waitForSteadyState(stack, bounds);
    for (const haproxy of [fixedLb, preFixLb]) if (haproxy) await waitForServersUp(haproxy);
  } catch (error) {
    await preFixLb?.stop();
    throw error;
  }
  const traffic = startTraffic(fixedLb?.url ?? stack.service.url, undefined, 'full', {
    pollBreaker: false,
    apiKeys: stack.clientApiKeys,
  });
  const preFixTraffic = preFixLb ? startTraffic(preFixLb.url, undefined, 'full', { pollBreaker: false }) : undefined;
  const fleet = startFleetWatch(() => replicas, {
    ...(fixedLb ? { fixed: fixedLb } : {}),
    ...(preFixLb ? { 'before-fix': preFixLb } : {}),
  });
  const stopLoops = async () => {
    await Promise.allSettled([traffic.stop(), preFixTraffic?.stop(), fleet.stop()]);
  };
  const breakerOf = (name: string | undefined) =>
    (name === undefined ? undefined : fleet.breakers()[name]) ??
    (soleReplica ? fleet.breakers()[soleReplica] : []) ??
    [];

  let openedAt: number | null = null;
  let recoveredAt: number | null = null;
  const metricsStatesWhileOpen: (number | undefined)[] = [];
  let removedAt = Date.now();
  const injectedAt = Date.now();
  try {
    try {
      log(`inject ${experiment.fault}`);
      await experiment.inject({ stack, bounds });
      if (experiment.expectation === 'trips') {
        try {
          await waitFor(() => fleet.allIn('open'), {
            timeoutMs: bounds.openWithinMs,
            intervalMs: 50,
            what: 'every replica breaker to open',
          });
          openedAt = Math.max(
            ...replicas.map(
              (replica) =>
                breakerOf(replica.name).find((s) => s.at >= injectedAt && s.state === 'open')?.at ?? Date.now(),
            ),
          );
          log(`every breaker open after ${openedAt - injectedAt} ms; holding the fault`);
          for (const replica of replicas) metricsStatesWhileOpen.push(await metricsBreakerState(replica.url));
        } catch {
          log(`not every breaker opened within ${bounds.openWithinMs} ms`);
        }
        // The incident replay holds the fault until the pre-fix check can have failed `fall` times, twice over.
        const holdMs = preFixLb ? (preFixCheck.fall + 2) * preFixCheck.intervalMs : HOLD_MS;
        // And on, up to twice as long, until every MLflow-bound class has an answer from a replica open on
        // both sides of it, which the matrix judges: writes go out once a second, and replicas that open
        // seconds apart can leave each only a short open spell (slicer on containers-host, CI 2026-12-01:
        // the 3 writes of the window each fell at an edge of its replica's open spell, and the row failed).
        const sampledWhileOpen = () => {
          const samples = traffic.samples();
          return [...MLFLOW_BOUND].every((routeClass) =>
            samples.some(
              (s) => s.routeClass === routeClass && s.at >= injectedAt && openAt(breakerOf(s.servedBy), s.at),
            ),
          );
        };
        await waitFor(
          () => {
            const held = Date.now() - (openedAt ?? injectedAt);
            return held >= holdMs && (openedAt === null || held >= 2 * holdMs || sampledWhileOpen());
          },
          { timeoutMs: 2 * holdMs + 1_000, intervalMs: 50, what: 'the end of the fault window' },
        );
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
      preFixTraffic?.setMode('health-only');
    }

    try {
      await waitFor(
        () =>
          replicas.every((replica) => {
            const last = breakerOf(replica.name).at(-1);
            return last !== undefined && last.at > removedAt && last.state === 'closed';
          }),
        { timeoutMs: bounds.recoverWithinMs, intervalMs: 50, what: 'every breaker to close by itself' },
      );
      recoveredAt = Math.max(
        ...replicas.map(
          (replica) => breakerOf(replica.name).find((s) => s.at > removedAt && s.state === 'closed')?.at ?? Date.now(),
        ),
      );
      log(`recovered ${recoveredAt - removedAt} ms after the fault was removed`);
    } catch {
      log(`no recovery within ${bounds.recoverWithinMs} ms`);
    }
  } catch (error) {
    // Every loop stops before the error leaves the experiment.
    await stopLoops();
    await preFixLb?.stop();
    throw error;
  }

  if (preFixLb) {
    // The pre-fix check keeps the replicas out until `rise` checks pass again: the outage outlasts the fault.
    // Measured to its end (bounded), with health traffic only.
    await waitFor(
      () => {
        const last = fleet.backends()['before-fix']?.at(-1);
        return last !== undefined && last.at > removedAt && Object.values(last.servers).some((s) => !isOutOfService(s));
      },
      {
        timeoutMs: (preFixCheck.rise + 2) * preFixCheck.intervalMs + bounds.recoverWithinMs,
        intervalMs: 50,
        what: 'the pre-fix HAProxy to put a server back',
      },
    ).catch(() => log('the pre-fix HAProxy put no server back in time'));
  }
  await stopLoops();
  await preFixLb?.stop();
  const endedAt = Date.now();
  const samples = traffic.samples();
  const breakers = fleet.breakers();
  const during = (s: Sample) => s.at >= injectedAt && s.at < removedAt;
  const servedOpen = (s: Sample) => openAt(breakerOf(s.servedBy), s.at);

  // Hypothesis: liveness answers 200 on every probe, fast (one scheduler stall on a shared machine is
  // reported in the detail; a slow service fails).
  const live = samples.filter((s) => s.routeClass === 'live');
  const liveness = judgeLiveness(live);
  checks.push(check(livenessHypothesis(), liveness.passed, liveness.detail));

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
        'every replica breaker opens within the bound',
        openedAt !== null,
        openedAt === null
          ? `not every one of ${replicas.length} open within ${bounds.openWithinMs} ms`
          : `all ${replicas.length} open after ${openedAt - injectedAt} ms (bound ${bounds.openWithinMs} ms)`,
      ),
    );
    checks.push(
      check(
        'breaker state visible in /health/status and /metrics of every replica',
        openedAt !== null &&
          metricsStatesWhileOpen.length === replicas.length &&
          metricsStatesWhileOpen.every((state) => state === BREAKER_STATE_VALUE.open),
        `status: ${openedAt !== null ? 'open' : 'never open'}; ${METRICS.breakerState}: ${metricsStatesWhileOpen.join(', ') || 'not read'}`,
      ),
    );
    const whileOpen = bound.filter((s) => servedOpen(s) && s.routeClass !== 'cached_read');
    const slow = whileOpen.filter((s) => s.status === null || s.latencyMs >= bounds.fastFailMs);
    const circuitOpen = whileOpen.filter((s) => s.code === 'MLFLOW_CIRCUIT_OPEN');
    const truthful = (s: Sample) =>
      s.status === 503 &&
      s.retryAfter !== undefined &&
      reportedRetryAfter(breakerOf(s.servedBy), s.at, s.latencyMs).some(
        (reported) => Math.abs((s.retryAfter as number) - reported) <= RETRY_AFTER_TOLERANCE_S,
      );
    const untruthful = circuitOpen.filter((s) => !truthful(s));
    checks.push(
      check(
        'MLflow-bound requests fail fast with 503 while open',
        whileOpen.length > 0 && slow.length === 0 && circuitOpen.length > 0,
        `${whileOpen.length} requests while the answering replica was open, ${circuitOpen.length} MLFLOW_CIRCUIT_OPEN, ${slow.length} slower than ${bounds.fastFailMs} ms`,
      ),
    );
    const example = untruthful[0] ?? circuitOpen[0];
    checks.push(
      check(
        "Retry-After is the answering replica's own time until retry",
        circuitOpen.length > 0 && untruthful.length === 0,
        `${circuitOpen.length} answers, ${untruthful.length} more than ${RETRY_AFTER_TOLERANCE_S} s from that replica's /health/status time_until_retry_seconds${example ? ` (${untruthful.length > 0 ? 'first' : 'e.g.'}: Retry-After ${example.retryAfter} s from ${example.servedBy ?? 'the service'}, reported ${reportedRetryAfter(breakerOf(example.servedBy), example.at, example.latencyMs).join(' / ')} s)` : ''}`,
      ),
    );
    const cachedWhileOpen = bound.filter((s) => s.routeClass === 'cached_read' && servedOpen(s));
    const notStale = cachedWhileOpen.filter((s) => s.status !== 200 || s.cache !== 'stale');
    checks.push(
      check(
        'cached reads served stale while open',
        cachedWhileOpen.length > 0 && notStale.length === 0,
        `${cachedWhileOpen.length} reads while open, ${notStale.length} not 200 stale`,
      ),
    );
  } else {
    const notClosed = Object.values(breakers)
      .flat()
      .filter((s) => s.at >= injectedAt && s.at < removedAt && s.state !== 'closed');
    const failed = bound.filter((s) => s.status !== 200);
    checks.push(
      check(
        'every replica breaker stays closed',
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
    if (experiment.slowsToAtLeastMs) {
      // Evidence that the fault was there at all: a no-trip fault that never took effect would pass.
      const minimum = experiment.slowsToAtLeastMs(bounds);
      const uncached = bound.filter((s) => s.routeClass === 'uncached_read' && s.status === 200);
      const median = percentile(
        uncached.map((s) => s.latencyMs),
        50,
      );
      checks.push(
        check(
          `the fault took effect: uncached reads slowed to a median >= ${minimum} ms`,
          uncached.length > 0 && median >= minimum,
          `${uncached.length} uncached reads, median ${median} ms`,
        ),
      );
    }
  }

  checks.push(
    check(
      'every replica breaker closes by itself with no user traffic',
      recoveredAt !== null,
      recoveredAt === null
        ? `not all closed ${bounds.recoverWithinMs} ms after removal`
        : `all closed ${recoveredAt - removedAt} ms after removal (bound ${bounds.recoverWithinMs} ms)`,
    ),
  );

  checks.push(await checkNoCrash(stack));

  // Memory per replica: the live probes it answered against its own baseline.
  const growth = replicas.map((replica, index) => {
    const rss = live
      .filter((s) => (s.servedBy ?? soleReplica) === replica.name)
      .map((s) => s.rssMb)
      .filter((v): v is number => v !== undefined);
    const baseline = baselineRssMb[index] ?? 0;
    return { name: replica.name, baseline, peak: Math.max(baseline, ...rss) };
  });
  checks.push(
    check(
      'memory stays bounded on every replica',
      growth.every((g) => g.peak - g.baseline < MEMORY_GROWTH_LIMIT_MB),
      `${growth.map((g) => `${g.name} RSS ${g.baseline} MB at start, peak ${g.peak} MB`).join('; ')} (limit +${MEMORY_GROWTH_LIMIT_MB} MB)`,
    ),
  );

  const loadBalancers: LoadBalancerView[] = [];
  if (fixedLb) {
    const view = loadBalancerView('fixed', fixedLb.check, fleet.backends().fixed ?? [], samples, endedAt);
    loadBalancers.push(view);
    const statesSeen = [...new Set(view.samples.flatMap((sample) => Object.values(sample.servers)))];
    checks.push(
      check(
        `HAProxy never marks a backend DOWN (${describeCheck(fixedLb.check)})`,
        view.samples.length > 0 && !view.everDown,
        `${view.samples.length} looks at ${replicas.length} servers; states seen: ${statesSeen.join(', ') || 'none'}`,
      ),
    );
    const refused = samples.filter((s) => NOT_MLFLOW_BOUND.includes(s.routeClass) && answeredByLoadBalancer(s));
    checks.push(
      check(
        'no request to a route that does not need MLflow is answered by HAProxy itself',
        refused.length === 0,
        `${samples.filter((s) => NOT_MLFLOW_BOUND.includes(s.routeClass)).length} requests, ${refused.length} answered by HAProxy or not at all; ${view.lost} of ${view.requests} on every route`,
      ),
    );
  }
  if (preFixLb && preFixTraffic) {
    const preFix = loadBalancerView(
      'before-fix',
      preFixCheck,
      fleet.backends()['before-fix'] ?? [],
      preFixTraffic.samples(),
      endedAt,
    );
    loadBalancers.push(preFix);
    const fixed = loadBalancers[0];
    checks.push(
      check(
        `the pre-fix HAProxy (${describeCheck(preFixCheck)}) takes every backend DOWN: the incident's outage`,
        preFix.everAllDown && preFix.lost > 0,
        `before the fix: ${(preFix.outageMs / 1000).toFixed(1)} s of total outage, ${preFix.lost} of ${preFix.requests} requests answered by HAProxy itself; fixed: ${((fixed?.outageMs ?? 0) / 1000).toFixed(1)} s, ${fixed?.lost ?? 0} of ${fixed?.requests ?? 0}`,
      ),
    );
  }

  // The matrix row: what each route class answered while the fault lasted (and, for faults that trip it,
  // while the answering replica's breaker was open on both sides of the request). Every cell must match
  // its expectation for the experiment to pass. A breaker that never opened leaves no open window: the
  // row then shows the whole fault window.
  const windowSamples = samples.filter((s) =>
    experiment.expectation === 'trips' && openedAt !== null ? during(s) && servedOpen(s) : during(s),
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
      breakers,
      loadBalancers,
    },
  };
}
