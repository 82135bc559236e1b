import type { Stack } from '@registry/testkit';
import { waitFor } from '@registry/testkit';
import { setProxyEnabled } from './experiments.js';
import { isOutOfService, startFleetWatch, watchedReplicas } from './fleet.js';
import type { FleetEvent, FleetExperiment, Replacement } from './fleet-experiments.js';
import { judgeLiveness, livenessHypothesis } from './liveness.js';
import {
  type CheckResult,
  checkNoCrash,
  describeCheck,
  type ExperimentResult,
  loadBalancerView,
  waitForServersUp,
  waitForSteadyState,
} from './runner.js';
import type { Bounds } from './settings.js';
import { MLFLOW_BOUND, type Sample, startTraffic } from './traffic.js';

/** Everything a fleet experiment produced: verdict, checks, what happened to each replica, the timeline. */
export interface FleetResult extends Pick<ExperimentResult, 'id' | 'title' | 'fault' | 'passed' | 'checks'> {
  readonly replacements: readonly Replacement[];
  /**
   * A fault experiment's timeline without the breaker's opening (`injectedAt` and `removedAt` mark when
   * the actions, and for MLflow-down experiments the outage, began and ended), plus what happened to the
   * fleet.
   */
  readonly timeline: Omit<ExperimentResult['timeline'], 'openedAt'> & { readonly events: readonly FleetEvent[] };
}

/** Options of `runFleetExperiment`. */
export interface FleetRunOptions {
  readonly stack: Stack;
  readonly bounds: Bounds;
  readonly timeScale: number;
  readonly log?: (line: string) => void;
}

/**
 * Writes an unretried POST may lose to a SIGKILL: the one in flight when the replica died (HAProxy retries
 * only what it knows never reached the server, or idempotent requests; the traffic writes once a second).
 */
export const WRITES_LOST_TO_A_KILL = 1;

function check(name: string, passed: boolean, detail: string): CheckResult {
  return { name, passed, detail };
}

/** A request a replica answered as it should: any status but a 5xx, named by the replica that answered. */
const answeredByReplica = (sample: Sample) => sample.status !== null && sample.servedBy !== undefined;

/** Why `stack` cannot run fleet experiments, or undefined when it can. */
export function fleetMissingReason(stack: Stack): string | undefined {
  if (!stack.loadBalancer || !stack.replaceReplica) {
    return `the ${stack.provider} provider runs no replicas behind HAProxy here (the deployed stack's are ECS tasks)`;
  }
  if (stack.replicas.length < 2)
    return `it needs at least 2 replicas behind HAProxy (the stack has ${stack.replicas.length})`;
  return undefined;
}

/**
 * Runs one fleet experiment: steady state, traffic of every class through HAProxy while a watch reads each
 * replica's breaker and HAProxy's server states, the experiment's actions on the replicas (with MLflow
 * down for the whole of them where it says so), recovery with health traffic only, then the hypotheses.
 */
export async function runFleetExperiment(experiment: FleetExperiment, options: FleetRunOptions): Promise<FleetResult> {
  const { stack, bounds, timeScale } = options;
  const log = options.log ?? (() => {});
  const haproxy = stack.loadBalancer;
  if (!haproxy) throw new Error('fleet experiments need replicas behind HAProxy');
  const startedAt = Date.now();
  const events: FleetEvent[] = [];
  const record = (replica: string, what: FleetEvent['what'], detail?: string) => {
    events.push({ at: Date.now(), replica, what, detail });
    log(`${replica} ${what}${detail ? ` (${detail})` : ''}`);
  };

  log('steady state');
  await waitForSteadyState(stack, bounds);
  await waitForServersUp(haproxy);
  const traffic = startTraffic(haproxy.url, undefined, 'full', { pollBreaker: false });
  const fleet = startFleetWatch(() => watchedReplicas(stack.replicas), { fixed: haproxy });
  const context = { stack, haproxy, bounds, timeScale, record, log };

  let replacements: Replacement[] = [];
  let injectedAt = Date.now();
  let removedAt = Date.now();
  let openedEverywhere = true;
  let recoveredAt: number | null = null;
  try {
    if (experiment.mlflowDown) {
      await setProxyEnabled(stack, false);
      record('mlflow', 'mlflow down');
      openedEverywhere = await waitFor(() => fleet.allIn('open'), {
        timeoutMs: bounds.openWithinMs,
        intervalMs: 50,
        what: 'every replica breaker to open',
      }).then(
        () => true,
        () => false,
      );
    }
    injectedAt = Date.now();
    try {
      replacements = await experiment.act(context);
    } finally {
      removedAt = Date.now();
      if (experiment.mlflowDown) {
        await setProxyEnabled(stack, true);
        record('mlflow', 'mlflow up');
        traffic.setMode('health-only');
      }
    }
    // Every replica now in the stack (replacements included) must end closed, by itself.
    await waitFor(
      () =>
        stack.replicas.every((replica) => {
          const last = fleet.breakers()[replica.name]?.at(-1);
          return last !== undefined && last.at > removedAt && last.state === 'closed';
        }),
      { timeoutMs: bounds.recoverWithinMs, intervalMs: 50, what: 'every breaker closed' },
    ).then(
      () => {
        recoveredAt = Date.now();
      },
      () => log(`not every breaker closed within ${bounds.recoverWithinMs} ms`),
    );
  } finally {
    await Promise.allSettled([traffic.stop(), fleet.stop()]);
    // Whatever happened, MLflow is reachable again for the next experiment.
    if (experiment.mlflowDown) await setProxyEnabled(stack, true).catch(() => {});
  }
  const endedAt = Date.now();
  const samples = traffic.samples();
  const breakers = fleet.breakers();
  const view = loadBalancerView('fixed', haproxy.check, fleet.backends().fixed ?? [], samples, endedAt);
  const checks: CheckResult[] = [];
  const acting = (s: Sample) => s.at >= injectedAt && s.at < removedAt;

  const liveness = judgeLiveness(
    samples.filter((s) => s.routeClass === 'live'),
    (s) => s.status === 200 && answeredByReplica(s),
  );
  checks.push(check(livenessHypothesis(' from a replica'), liveness.passed, liveness.detail));

  const notMlflowBound = samples.filter((s) => !MLFLOW_BOUND.has(s.routeClass));
  const coreFailed = notMlflowBound.filter((s) => s.status !== 200 || !answeredByReplica(s));
  checks.push(
    check(
      'every request to a route that does not need MLflow answered 200 by a replica',
      notMlflowBound.length > 0 && coreFailed.length === 0,
      `${notMlflowBound.length} requests (liveness, readiness, core), ${coreFailed.length} failed or answered by HAProxy`,
    ),
  );

  const bound = samples.filter((s) => MLFLOW_BOUND.has(s.routeClass));
  if (experiment.mlflowDown) {
    const whileDown = bound.filter(acting);
    // A new replica's breaker starts closed: its first calls meet the outage itself (502 MLFLOW_UNREACHABLE,
    // fast, since the address refuses connections) until it opens (503 MLFLOW_CIRCUIT_OPEN).
    const mlflowError = (s: Sample) =>
      s.status !== null && s.status >= 502 && s.status <= 504 && /^MLFLOW_/.test(s.code ?? '');
    const badDown = whileDown.filter(
      (s) =>
        !answeredByReplica(s) ||
        s.latencyMs >= bounds.fastFailMs ||
        !(mlflowError(s) || (s.status === 200 && s.cache === 'stale')),
    );
    checks.push(
      check(
        'MLflow-bound requests answered fast by a replica while MLflow is down (an MLflow error, or 200 stale)',
        whileDown.length > 0 && badDown.length === 0,
        `${whileDown.length} requests during the deployment, ${badDown.length} otherwise (slower than ${bounds.fastFailMs} ms, another answer, or from HAProxy)`,
      ),
    );
    const degraded = samples.some((s) => s.routeClass === 'ready' && acting(s) && s.degraded === true);
    checks.push(
      check(
        'every replica breaker opened while MLflow was down; readiness showed degraded_mode',
        openedEverywhere && degraded,
        `breakers all open before the deployment: ${openedEverywhere}; degraded_mode seen: ${degraded}`,
      ),
    );
  } else {
    const reads = bound.filter((s) => s.routeClass !== 'write');
    const failedReads = reads.filter((s) => s.status !== 200 || !answeredByReplica(s));
    const writes = bound.filter((s) => s.routeClass === 'write');
    const failedWrites = writes.filter((s) => s.status !== 200 || !answeredByReplica(s));
    const writeBound = experiment.id === 'replica-loss' ? WRITES_LOST_TO_A_KILL : 0;
    checks.push(
      check(
        'no MLflow-bound read failed (HAProxy retries and redispatches idempotent requests)',
        reads.length > 0 && failedReads.length === 0,
        `${reads.length} reads, ${failedReads.length} failed`,
      ),
    );
    checks.push(
      check(
        `at most ${writeBound} write(s) failed`,
        writes.length > 0 && failedWrites.length <= writeBound,
        `${writes.length} writes, ${failedWrites.length} failed${failedWrites[0] ? ` (first: ${failedWrites[0].status ?? 'no answer'} ${failedWrites[0].servedBy ? `from ${failedWrites[0].servedBy}` : 'from HAProxy'})` : ''}`,
      ),
    );
    const notClosed = Object.values(breakers)
      .flat()
      .filter((s) => s.state !== 'closed');
    checks.push(
      check('every replica breaker stays closed', notClosed.length === 0, `${notClosed.length} samples not closed`),
    );
  }

  for (const replacement of replacements) {
    if (replacement.how === 'kill') {
      checks.push(
        check(
          `HAProxy marks the killed ${replacement.replica} DOWN within its thresholds (${describeCheck(haproxy.check)})`,
          replacement.markedDownAfterMs !== null && replacement.markedDownAfterMs !== undefined,
          replacement.markedDownAfterMs === null || replacement.markedDownAfterMs === undefined
            ? `not DOWN within ${replacement.downBoundMs} ms`
            : `DOWN ${replacement.markedDownAfterMs} ms after the kill (bound ${replacement.downBoundMs} ms)`,
        ),
      );
    } else {
      checks.push(
        check(
          `${replacement.replica} drained and exited 0 on SIGTERM`,
          replacement.exitCode === 0,
          `exit code ${replacement.exitCode}`,
        ),
      );
    }
    checks.push(
      check(
        `the replacement ${replacement.replica} is marked UP by HAProxy${experiment.mlflowDown ? ' while MLflow is down' : ''}`,
        replacement.upAfterMs !== null,
        replacement.upAfterMs === null
          ? `not UP within ${replacement.upBoundMs} ms`
          : `UP ${replacement.upAfterMs} ms after it was registered (bound ${replacement.upBoundMs} ms)`,
      ),
    );
  }
  if (replacements.length === 0) checks.push(check('the experiment replaced replicas', false, 'none replaced'));

  // A replica is out of service legitimately from its kill or drain until its replacement is marked UP.
  const windows = replacements.map((replacement) => {
    const mine = events.filter((event) => event.replica === replacement.replica);
    const from = mine.find((event) => event.what === 'killed' || event.what === 'drained')?.at ?? endedAt;
    const to = mine.find((event) => event.what === 'marked up')?.at ?? endedAt;
    return { replica: replacement.replica, from, to };
  });
  const replacing = (name: string, at: number) =>
    windows.some((w) => w.replica === name && at >= w.from && at <= w.to + haproxy.check.intervalMs);
  const outside = view.samples.filter((sample) =>
    Object.entries(sample.servers).some(([name, status]) => isOutOfService(status) && !replacing(name, sample.at)),
  );
  checks.push(
    check(
      `HAProxy never marks a backend DOWN outside its own replacement (${describeCheck(haproxy.check)})`,
      view.samples.length > 0 && outside.length === 0,
      `${view.samples.length} looks at HAProxy, ${outside.length} with a server out of service that was not being replaced${outside[0] ? ` (first: ${JSON.stringify(outside[0].servers)})` : ''}`,
    ),
  );

  checks.push(
    check(
      'every replica breaker closed at the end, by itself',
      recoveredAt !== null,
      recoveredAt === null
        ? `not all closed within ${bounds.recoverWithinMs} ms`
        : `${recoveredAt - removedAt} ms after the actions ended`,
    ),
  );
  checks.push(await checkNoCrash(stack));

  return {
    id: experiment.id,
    title: experiment.title,
    fault: experiment.fault,
    passed: checks.every((c) => c.passed),
    checks,
    replacements,
    timeline: {
      startedAt,
      injectedAt,
      removedAt,
      recoveredAt,
      endedAt,
      samples,
      breakers,
      loadBalancers: [view],
      events,
    },
  };
}
