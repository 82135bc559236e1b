import { createRegistryClient, MLFLOW_PROXY_PREFIX } from '@registry/service/client';
import { fetchJson, type Stack, setProxyEnabled } from '@registry/testkit';
import { ABUSE_EXPERIMENTS, type AbuseExperiment } from './abuse/experiments.js';
import { type AbuseLimits, readAbuseLimits } from './abuse/limits.js';
import { type AbuseResult, runAbuseExperiment } from './abuse/runner.js';
import { type ControlPlan, type ControlVerdict, judgeControl } from './controls.js';
import { EXPERIMENTS, type Experiment, missingReason } from './experiments.js';
import { FLEET_EXPERIMENTS, type FleetExperiment } from './fleet-experiments.js';
import { type FleetResult, fleetMissingReason, runFleetExperiment } from './fleet-runner.js';
import { DEFAULT_TIME_SCALE } from './health-checks.js';
import { type ExperimentResult, runExperiment } from './runner.js';
import {
  type Bounds,
  CHAOS_SERVICE_ENV,
  deriveBounds,
  type ReportedBreakerSettings,
  readServiceSettings,
} from './settings.js';
import { SEEDED_MODEL } from './traffic.js';
import { formatVersions, type RanVersions, readVersions } from './versions.js';

/** An experiment that could not run on this stack, with the reason shown to the user. */
export interface SkippedExperiment {
  readonly id: string;
  readonly title: string;
  readonly reason: string;
}

/** Where an experiment ran: its lane (`stack`, or `lane N`), the MLflow behind it, and when. */
export interface Placement {
  readonly id: string;
  readonly lane: string;
  readonly mlflowUrl?: string;
  readonly startedAt: number;
  readonly endedAt: number;
}

/** The whole run: settings, bounds, every result, and the experiments that could not run. */
export interface SuiteReport {
  readonly provider: string;
  /** The versions of the service (and its commit), MLflow and Toxiproxy, as each reported itself. */
  readonly versions: RanVersions;
  /** Where the traffic went: HAProxy in front of the replicas, or the service itself. */
  readonly serviceUrl: string;
  /** The replicas the experiments ran on (their own URLs). */
  readonly replicas: readonly string[];
  readonly startedAt: string;
  readonly durationMs: number;
  readonly timeScale: number;
  readonly settings: ReportedBreakerSettings;
  readonly bounds: Bounds;
  readonly results: readonly ExperimentResult[];
  /**
   * The abuse class's limits and results. The limits are those the hypotheses were judged by: the service's
   * settings, or on a control run the ordinary ones (`CHAOS_SERVICE_ENV`), whatever the control started it with.
   */
  readonly abuseLimits?: AbuseLimits;
  readonly abuse: readonly AbuseResult[];
  /** The fleet class: replicas killed and replaced, rolling deployments. */
  readonly fleet: readonly FleetResult[];
  readonly skipped: readonly SkippedExperiment[];
  /** Where and when each experiment ran: its lane and the MLflow behind it (experiments side by side share one only when no fault acts on it). */
  readonly placements: readonly Placement[];
  /** Set on a negative-control run: the control and whether it held (every experiment failed as it must). */
  readonly control?: ControlVerdict;
  /** An ordinary run: every experiment passed. A control run: the control held. */
  readonly passed: boolean;
}

/** A description long enough that a starved link cannot carry a registry answer within the timeout. */
const LONG_TEXT = 'Registry chaos-suite model. '.repeat(170);

/**
 * Seeds MLflow with the model the traffic reads (long descriptions, so bandwidth and slicer faults hit
 * every registry call, probes included) and warms the service's last-known-good cache with it. Directly
 * where MLflow's address is known; on a deployed stack through the service's MLflow pass-through.
 */
export async function seedRegistry(stack: Stack): Promise<void> {
  const api = `${stack.mlflow?.url ?? `${stack.service.url}${MLFLOW_PROXY_PREFIX}`}/api/2.0/mlflow`;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const [apiKey] = stack.clientApiKeys;
  if (apiKey) headers['x-api-key'] = apiKey;
  const post = (path: string, body: unknown) =>
    fetchJson<{ error_code?: string }>(`${api}/${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const created = await post('registered-models/create', { name: SEEDED_MODEL, description: LONG_TEXT });
  if (created.status !== 200 && created.body?.error_code !== 'RESOURCE_ALREADY_EXISTS') {
    throw new Error(`could not seed MLflow: registered-models/create answered ${created.status}`);
  }
  const version = await fetchJson(`${api}/model-versions/get?name=${SEEDED_MODEL}&version=1`, { headers });
  if (version.status === 404) {
    const made = await post('model-versions/create', {
      name: SEEDED_MODEL,
      source: 's3://registry-chaos/models/aaa-chaos-model/1',
      description: LONG_TEXT,
    });
    if (made.status !== 200) throw new Error(`could not seed MLflow: model-versions/create answered ${made.status}`);
  }
  const read = await createRegistryClient({ baseUrl: stack.service.url, apiKey }).models.get(SEEDED_MODEL);
  if (read.status !== 200) throw new Error(`the service could not read the seeded model (status ${read.status})`);
}

/** Puts the proxies (MLflow's, and its database's) back to a clean state: enabled, no toxics. */
export async function resetProxy(stack: Stack): Promise<void> {
  const { toxiproxy } = stack;
  if (!toxiproxy || !stack.proxy) return; // a deployed stack driven by AWS FIS: nothing to reset
  for (const { name } of [stack.proxy, ...(stack.databaseProxy ? [stack.databaseProxy] : [])]) {
    const proxy = await toxiproxy.client.get(name);
    const toxics = await fetchJson<{ name: string }[]>(`${toxiproxy.url}/proxies/${name}/toxics`);
    for (const toxic of toxics.body ?? []) await (await proxy.getToxic(toxic.name)).remove();
    if (!proxy.enabled) await setProxyEnabled(proxy, true);
  }
}

function abortedResult(experiment: Experiment, error: unknown): ExperimentResult {
  const now = Date.now();
  const message = error instanceof Error ? error.message : String(error);
  const cell = { expected: '-', observed: 'not run', matches: false };
  return {
    id: experiment.id,
    title: experiment.title,
    fault: experiment.fault,
    expectation: experiment.expectation,
    passed: false,
    checks: [{ name: 'experiment ran to completion', passed: false, detail: message }],
    matrix: { live: cell, ready: cell, core: cell, cached_read: cell, uncached_read: cell, write: cell },
    timeline: {
      startedAt: now,
      injectedAt: now,
      openedAt: null,
      removedAt: now,
      recoveredAt: null,
      endedAt: now,
      samples: [],
      breakers: {},
      loadBalancers: [],
    },
  };
}

/** The result of an abuse experiment that stopped with an error (a seeding failure, say). */
export function abortedAbuseResult(experiment: AbuseExperiment, error: unknown): AbuseResult {
  const now = Date.now();
  const message = error instanceof Error ? error.message : String(error);
  const breaker = { state: 'unknown', tripsTotal: 0 };
  return {
    id: experiment.id,
    title: experiment.title,
    attack: experiment.attack,
    passed: false,
    checks: [{ name: 'experiment ran to completion', passed: false, detail: message, figure: 'not run' }],
    summary: {
      requests: 0,
      answers: {},
      attackMs: 0,
      baselineRssMb: 0,
      peakRssMb: 0,
      rssBoundMb: 0,
      liveP99Ms: 0,
      liveMaxMs: 0,
      breakerBefore: breaker,
      breakerAfter: breaker,
      watchedPorts: [],
      connections: 0,
      connectionSamples: [],
    },
    timeline: { startedAt: now, attackStartedAt: now, attackEndedAt: now, endedAt: now, live: [], breaker: [] },
  };
}

/** The result of a fleet experiment that stopped with an error. */
export function abortedFleetResult(experiment: FleetExperiment, error: unknown): FleetResult {
  const now = Date.now();
  const message = error instanceof Error ? error.message : String(error);
  return {
    id: experiment.id,
    title: experiment.title,
    fault: experiment.fault,
    passed: false,
    checks: [{ name: 'experiment ran to completion', passed: false, detail: message }],
    replacements: [],
    timeline: {
      startedAt: now,
      injectedAt: now,
      removedAt: now,
      recoveredAt: null,
      endedAt: now,
      samples: [],
      breakers: {},
      loadBalancers: [],
      events: [],
    },
  };
}

/**
 * Waits for every one of `work` to settle, then rejects with the first failure, if any: nothing still runs
 * (a lane still starting, say) when the caller stops its lanes.
 */
async function settleAll(work: readonly Promise<unknown>[]): Promise<void> {
  const failed = (await Promise.allSettled(work)).find((outcome) => outcome.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Options of `runSuite`. */
export interface SuiteOptions {
  readonly stack: Stack;
  /** Fault experiments (default: all of `EXPERIMENTS`). */
  readonly experiments?: readonly Experiment[];
  /** Abuse experiments (default: all of `ABUSE_EXPERIMENTS`). */
  readonly abuseExperiments?: readonly AbuseExperiment[];
  /** Fleet experiments (default: all of `FLEET_EXPERIMENTS`). */
  readonly fleetExperiments?: readonly FleetExperiment[];
  /**
   * The environment the service was started with, for the abuse limits (default `CHAOS_SERVICE_ENV`); not
   * read on a control run, whose limits are always the ordinary ones.
   */
  readonly serviceEnv?: Readonly<Record<string, string | undefined>>;
  readonly timeScale?: number;
  /**
   * Fault and fleet experiments run side by side on this many lanes, one of them with an MLflow of its own
   * for the faults that kill or break MLflow (default 1: every experiment one after the other).
   */
  readonly concurrency?: number;
  /**
   * With lanes: the abuse class runs on the stack while the fault and fleet experiments run on lanes
   * around MLflows of their own (default false: the abuse class runs after them, alone; on the 2-core
   * machine, alongside did not hold the liveness bound: see the README). Abuse experiments marked `alone`
   * (the floods) always run last, alone.
   */
  readonly abuseAlongside?: boolean;
  readonly log?: (line: string) => void;
  /** Called after each experiment, e.g. to print its checks as the run goes. */
  readonly onResult?: (result: ExperimentResult) => void;
  readonly onAbuseResult?: (result: AbuseResult) => void;
  readonly onFleetResult?: (result: FleetResult) => void;
  /**
   * A negative control: its experiments (of any class) against a service started with its settings;
   * the report's verdict is whether the control held.
   */
  readonly control?: ControlPlan;
}

/** Reads the live service's settings, derives the bounds, seeds MLflow and runs every experiment in order. */
export async function runSuite(options: SuiteOptions): Promise<SuiteReport> {
  const { stack } = options;
  const log = options.log ?? (() => {});
  const started = Date.now();
  const versions = await readVersions(stack);
  log(`chaos: ${formatVersions(versions)}`);
  const timeScale = options.timeScale ?? DEFAULT_TIME_SCALE;
  const settings = await readServiceSettings(stack.service.url);
  const bounds = deriveBounds({ ...settings, ...options.control?.boundsSettings });
  await seedRegistry(stack);
  // By experiment index, so that the report keeps the run order whatever ran side by side.
  const results: ExperimentResult[] = [];
  const abuse: AbuseResult[] = [];
  const skipped: SkippedExperiment[] = [];
  const control = options.control;
  const experiments = control?.experiments ?? options.experiments ?? EXPERIMENTS;
  const abuseExperiments = control ? control.abuseExperiments : (options.abuseExperiments ?? ABUSE_EXPERIMENTS);
  const fleetExperiments = control ? control.fleetExperiments : (options.fleetExperiments ?? FLEET_EXPERIMENTS);
  const fleet: FleetResult[] = [];
  const placements: Placement[] = [];
  const total = experiments.length + abuseExperiments.length + fleetExperiments.length;
  const skip = (index: number, experiment: { id: string; title: string }, reason: string) => {
    log(`[${index}/${total}] SKIP ${experiment.title}: ${reason}`);
    skipped.push({ id: experiment.id, title: experiment.title, reason });
  };
  /** Runs one experiment of either class on `on` (the stack or a lane), its failure turned into a result. */
  const runOn = async <R>(
    position: number,
    experiment: { id: string; title: string },
    on: Stack,
    label: string,
    run: (runOptions: { stack: Stack; bounds: Bounds; timeScale: number; log: (line: string) => void }) => Promise<R>,
    aborted: (error: unknown) => R,
  ): Promise<R> => {
    log(`[${position}/${total}]${label} ${experiment.title}`);
    const startedAt = Date.now();
    const result = await resetProxy(on)
      .then(() => run({ stack: on, bounds, timeScale, log: (line) => log(`   ${label} ${line}`) }))
      .catch(aborted);
    placements.push({
      id: experiment.id,
      lane: label.trim().replace(/^\[|\]$/g, '') || 'stack',
      mlflowUrl: on.mlflow?.url,
      startedAt,
      endedAt: Date.now(),
    });
    return result;
  };
  const runOne = async (index: number, experiment: Experiment, on: Stack, label: string) => {
    const result = await runOn(
      index + 1,
      experiment,
      on,
      label,
      (runOptions) => runExperiment(experiment, runOptions),
      (error) => abortedResult(experiment, error),
    );
    results[index] = result;
    options.onResult?.(result);
  };
  const runnable = [...experiments.entries()].filter(([index, experiment]) => {
    const reason = missingReason(experiment, stack);
    if (reason) skip(index + 1, experiment, reason);
    return !reason;
  });
  // Faults that act on MLflow itself (kill, restart, its store or database) must have an MLflow no other
  // experiment uses; the others sit in a proxy of their own and run side by side on lanes.
  const shared = runnable.filter(([, experiment]) => (experiment.requires ?? []).length > 0);
  const laned = runnable.filter(([, experiment]) => (experiment.requires ?? []).length === 0);
  const fleetReason = fleetMissingReason(stack);
  if (fleetReason) {
    for (const [index, experiment] of fleetExperiments.entries()) {
      skip(experiments.length + index + 1, experiment, fleetReason);
    }
  }
  type Task = (on: Stack, label: string) => Promise<void>;
  const faultTask =
    ([index, experiment]: [number, Experiment]): Task =>
    (on, label) =>
      runOne(index, experiment, on, label);
  const ownMlflowTasks = shared.map(faultTask);
  // The pool: the faults that sit in a proxy, each on the first lane free.
  const queue = laned.map(faultTask);
  // The fleet class, one experiment after the other on one lane (each replaces that lane's replicas), from
  // the start beside the faults. One at a time: each starts replacement replicas, and two at once
  // (containers on a created network) starved the shared MLflow for about 2 s, so that MLflow calls timed
  // out under the fleet's traffic (2 CI runs of 2 on 2026-11-30; 504s and a breaker opened).
  const runFleetClass: Task | undefined =
    fleetReason || fleetExperiments.length === 0
      ? undefined
      : async (on, label) => {
          for (const [index, experiment] of fleetExperiments.entries()) {
            const result = await runOn(
              experiments.length + index + 1,
              experiment,
              on,
              label,
              (runOptions) => runFleetExperiment(experiment, runOptions),
              (error) => abortedFleetResult(experiment, error),
            );
            fleet[index] = result;
            options.onFleetResult?.(result);
          }
        };
  // Read only when abuse experiments run: a fault-only run needs none of their settings.
  // A control judges its service by the ordinary settings' bounds, not by those it broke.
  const abuseLimits =
    abuseExperiments.length > 0
      ? readAbuseLimits(control ? CHAOS_SERVICE_ENV : (options.serviceEnv ?? CHAOS_SERVICE_ENV))
      : undefined;
  /**
   * Abuse experiments (those that run `alone`, or the others), one after the other, on the stack (its
   * MLflow proxy's neighbours are watched).
   */
  const runAbuseClass = async (alone: boolean) => {
    for (const [index, experiment] of abuseExperiments.entries()) {
      if ((experiment.alone === true) !== alone) continue;
      const position = experiments.length + fleetExperiments.length + index + 1;
      const reason = missingReason(experiment, stack);
      if (reason) {
        skip(position, experiment, reason);
        continue;
      }
      const result = await runOn(
        position,
        experiment,
        stack,
        '',
        (runOptions) => runAbuseExperiment(experiment, { ...runOptions, settings, limits: abuseLimits as AbuseLimits }),
        (error: unknown) => abortedAbuseResult(experiment, error),
      );
      abuse[index] = result;
      options.onAbuseResult?.(result);
    }
  };
  const concurrency = Math.max(
    1,
    Math.min(options.concurrency ?? 1, queue.length + (runFleetClass ? 1 : 0) + Math.min(1, shared.length)),
  );
  const alongside = concurrency > 1 && options.abuseAlongside === true && abuseExperiments.length > 0;
  // Every lane started here (a lane with an MLflow of its own stops the lanes it hosts), stopped at the end
  // side by side, not as a stack: a lane of containers takes seconds to stop (12 s one after the other).
  const lanes: Stack[] = [];
  const drain = async (lane: Stack, label: string) => {
    for (let next = queue.shift(); next; next = queue.shift()) await next(lane, label);
  };
  const label = (n: number) => ` [lane ${n}]`;
  /** Every fault and fleet experiment: one after the other on the stack, or side by side on lanes. */
  const runPool = async () => {
    if (concurrency === 1) {
      // The faults that act on MLflow first, then the rest.
      for (const task of ownMlflowTasks) await task(stack, '');
      await drain(stack, '');
      await runFleetClass?.(stack, '');
      return;
    }
    const addLane = stack.addLane;
    if (!addLane) throw new Error(`the ${stack.provider} provider cannot run experiments side by side`);
    const startOwn = async (name: string) => {
      const lane = await addLane(name, { ownMlflow: true }).catch((error: unknown) => {
        throw new Error(`could not start ${name} with an MLflow of its own: ${(error as Error).message}`, {
          cause: error,
        });
      });
      lanes.push(lane);
      await seedRegistry(lane); // its MLflow starts empty
      return lane;
    };
    // One lane gets an MLflow of its own (started beside the others, which begin at once) for the faults
    // that kill or break MLflow, then joins the pool. The other lanes share an MLflow: the stack's, or
    // (abuse class alongside) one of their own, so that the abuse class's load on MLflow stays off them.
    const ownLane = ownMlflowTasks.length > 0;
    const sharing = concurrency - (ownLane ? 1 : 0);
    log(
      `chaos: ${queue.length + ownMlflowTasks.length + (runFleetClass ? fleetExperiments.length : 0)} experiments on ${concurrency} lanes side by side` +
        (ownLane
          ? `; the ${ownMlflowTasks.length} that kill or break MLflow on a lane with an MLflow of its own`
          : '') +
        (alongside ? `; the abuse class alongside, on the stack` : ''),
    );
    const runOwnLane = async () => {
      const lane = await startOwn(`lane-${concurrency}`);
      for (const task of ownMlflowTasks) await task(lane, label(concurrency));
      await drain(lane, label(concurrency));
    };
    const runSharedLanes = async () => {
      const host = alongside ? await startOwn('lane-1') : stack;
      const started = await Promise.allSettled(
        Array.from({ length: sharing - 1 }, (_, i) => (host.addLane as typeof addLane)(`lane-${i + 2}`)),
      );
      const others = started.flatMap((lane) => (lane.status === 'fulfilled' ? [lane.value] : []));
      if (!alongside) lanes.push(...others); // otherwise stopped with their host
      const failed = started.find((lane) => lane.status === 'rejected');
      if (failed) throw failed.reason;
      // The fleet class takes a lane of its own from the start (not the stack's, when there is another: the
      // abuse class runs on the stack's replicas after the pool), then that lane drains the faults left.
      const pool = [host, ...others];
      const fleetLane = runFleetClass ? Math.min(1, pool.length - 1) : -1;
      await Promise.all(
        pool.map(async (lane, i) => {
          if (i === fleetLane) await runFleetClass?.(lane, label(i + 1));
          await drain(lane, label(i + 1));
        }),
      );
    };
    await settleAll([
      runSharedLanes(),
      ...(ownLane
        ? [
            runOwnLane().catch((error: unknown) => {
              for (const [index, experiment] of shared) {
                if (results[index]) continue;
                results[index] = abortedResult(experiment, error);
                options.onResult?.(results[index]);
              }
            }),
          ]
        : []),
    ]);
  };
  try {
    await settleAll([runPool(), ...(alongside ? [runAbuseClass(false)] : [])]);
  } finally {
    await Promise.allSettled(lanes.map((lane) => lane.stop()));
  }
  if (!alongside) await runAbuseClass(false);
  await runAbuseClass(true);
  const ran = results.filter((result): result is ExperimentResult => result !== undefined);
  const fleetRan = fleet.filter((result): result is FleetResult => result !== undefined);
  const abuseRan = abuse.filter((result): result is AbuseResult => result !== undefined);
  const verdict = control ? judgeControl(control, [...ran, ...fleetRan, ...abuseRan]) : undefined;
  return {
    provider: stack.provider,
    versions,
    serviceUrl: stack.loadBalancer?.url ?? stack.service.url,
    replicas: stack.replicas.map((replica) => replica.url),
    startedAt: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    timeScale,
    settings,
    bounds,
    results: ran,
    abuseLimits,
    abuse: abuseRan,
    fleet: fleetRan,
    skipped,
    placements,
    control: verdict,
    passed: verdict ? verdict.held : [...ran, ...abuseRan, ...fleetRan].every((r) => r.passed),
  };
}
