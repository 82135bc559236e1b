import { createRegistryClient, METRICS } from '@registry/service/client';
import {
  percentile,
  type RecordedConnection,
  requireToxiproxy,
  type Stack,
  startRecordingListener,
  waitFor,
} from '@registry/testkit';
import { type CheckResult, checkNoCrash, waitForSteadyState } from '../runner.js';
import type { Bounds, ReportedBreakerSettings } from '../settings.js';
import { type BreakerSample, DEFAULT_TRAFFIC_LIMITS, type Sample, startTraffic } from '../traffic.js';
import type { AttackSample } from './clients.js';
import type { AbuseExperiment, AttackContext } from './experiments.js';
import { type AbuseObservation, type BreakerReading, outcomeLabel, SHARED_HYPOTHESES } from './hypotheses.js';
import type { AbuseLimits } from './limits.js';
import { startLiveProbes } from './live-probes.js';
import { neighbourPorts } from './neighbours.js';
import { startStallWitness } from './stall-witness.js';

/** One hypothesis' verdict in a result: the shared ones carry their matrix column. */
export interface AbuseCheck extends CheckResult {
  /** Column in the abuse matrix (shared hypotheses); undefined for the experiment's own. */
  readonly column?: string;
  readonly figure: string;
}

/** What one abuse experiment produced: verdicts, figures for the report, and the health timeline. */
export interface AbuseResult {
  readonly id: string;
  readonly title: string;
  readonly attack: string;
  readonly passed: boolean;
  readonly checks: readonly AbuseCheck[];
  readonly summary: {
    readonly requests: number;
    /** How the hostile requests were answered: outcome label -> count. */
    readonly answers: Readonly<Record<string, number>>;
    readonly attackMs: number;
    readonly baselineRssMb: number;
    readonly peakRssMb: number;
    readonly rssBoundMb: number;
    readonly liveP99Ms: number;
    readonly liveMaxMs: number;
    readonly breakerBefore: BreakerReading;
    readonly breakerAfter: BreakerReading;
    readonly watchedPorts: readonly string[];
    readonly connections: number;
    /** The first connections the neighbour listeners recorded (their first bytes shortened). */
    readonly connectionSamples: readonly RecordedConnection[];
  };
  readonly timeline: {
    readonly startedAt: number;
    readonly attackStartedAt: number;
    readonly attackEndedAt: number;
    readonly endedAt: number;
    readonly live: readonly Sample[];
    readonly breaker: readonly BreakerSample[];
  };
}

/** Options of `runAbuseExperiment`. */
export interface AbuseRunOptions {
  readonly stack: Stack;
  readonly bounds: Bounds;
  readonly settings: ReportedBreakerSettings;
  readonly limits: AbuseLimits;
  readonly log?: (line: string) => void;
}

/** Recorded connections kept in a result (the count is always complete). */
const RECORDED_CONNECTION_SAMPLES = 10;

async function readBreaker(serviceUrl: string): Promise<BreakerReading> {
  const answer = await createRegistryClient({ baseUrl: serviceUrl }).status();
  if (answer.status !== 200) throw new Error(`/health/status answered ${answer.status}`);
  return { state: answer.body.circuit_breaker.state, tripsTotal: answer.body.circuit_breaker.trips_total };
}

/**
 * The service's CPU time so far, and its longest event-loop delay since the last scrape (which this one
 * ends), read at `at`.
 */
async function readServiceLoad(
  serviceUrl: string,
): Promise<{ readonly at: number; readonly cpuSeconds: number; readonly loopMaxMs: number }> {
  const at = Date.now();
  const metrics = await createRegistryClient({ baseUrl: serviceUrl }).metrics();
  return {
    at,
    cpuSeconds: metrics.value(METRICS.processCpuSeconds),
    loopMaxMs: Math.round(metrics.value(METRICS.eventLoopLagMaxSeconds) * 1000),
  };
}

/** The context an attack runs in; throws when the stack does not say which MLflow address the service uses. */
export function attackContext(options: AbuseRunOptions): AttackContext {
  const { stack } = options;
  if (stack.service.mlflowUrl === undefined) {
    throw new Error('the stack does not tell which MLflow address the service uses');
  }
  const service = new URL(stack.service.url);
  const mlflowPort = Number(new URL(stack.service.mlflowUrl).port || 80);
  return {
    stack,
    target: { host: service.hostname, port: Number(service.port || 80) },
    mlflowUrl: requireToxiproxy(stack).mlflow.url,
    mlflowPort,
    neighbourPorts: neighbourPorts(mlflowPort),
    limits: options.limits,
    bounds: options.bounds,
    settings: options.settings,
  };
}

function countAnswers(samples: readonly AttackSample[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const sample of samples) {
    const label = outcomeLabel(sample);
    counts[label] = (counts[label] ?? 0) + 1;
  }
  return counts;
}

/** How long to wait for one liveness probe after the attack before judging without it. */
const POST_ATTACK_PROBE_TIMEOUT_MS = 5_000;

/**
 * Runs one abuse experiment: seeds what it needs, waits for the steady state, watches the ports next to
 * MLflow and the health routes, runs the hostile clients (with MLflow's fault, if any), waits for the
 * breaker to close by itself when MLflow was at fault, restores what a vulnerable service let through,
 * and judges the shared hypotheses and the experiment's own.
 */
export async function runAbuseExperiment(experiment: AbuseExperiment, options: AbuseRunOptions): Promise<AbuseResult> {
  const { stack, bounds } = options;
  const log = options.log ?? (() => {});
  const context = attackContext(options);
  const startedAt = Date.now();

  if (experiment.prepare) {
    log('prepare');
    await experiment.prepare(context);
  }
  log('steady state');
  const baselineRssMb = (await waitForSteadyState(stack, bounds))[0] ?? 0;
  const before = await readBreaker(stack.service.url);
  // A slow probe is judged without the time the whole machine stood still, which a process that only watches
  // the clock records (see judgeLiveness). Started first: what starts after it is stopped with it in the
  // `finally` below, if anything in between fails.
  const witness = await startStallWitness(DEFAULT_TRAFFIC_LIMITS.maxDurationMs);
  const neighbours = await startRecordingListener({
    ports: context.neighbourPorts,
    hosts: ['127.0.0.1', '::1'],
  }).catch(async (error: unknown) => {
    await witness.stop();
    throw error;
  });
  // Liveness is probed from a thread of its own, as a load balancer would from a machine of its own; the
  // breaker is read from here (its samples' timing is not judged).
  const probes = startLiveProbes(stack.service.url, DEFAULT_TRAFFIC_LIMITS);
  const health = startTraffic(stack.service.url, DEFAULT_TRAFFIC_LIMITS, 'health-only', { routeClasses: [] });

  let attackStartedAt = Date.now();
  let attackEndedAt = attackStartedAt;
  let faultRemovedAt: number | null = null;
  let recoveredAt: number | null = null;
  let outcome: Awaited<ReturnType<AbuseExperiment['run']>>;
  let probing: PromiseSettledResult<void> | undefined;
  let serviceLoad: AbuseObservation['serviceLoad'];
  try {
    // Starts the service's own measure of its event-loop delay, read again when the attack is over.
    const loadBefore = await readServiceLoad(stack.service.url);
    attackStartedAt = loadBefore.at;
    try {
      if (experiment.fault) {
        log('inject the MLflow fault');
        await experiment.fault.inject({ stack, bounds });
      }
      log(`attack: ${experiment.attack}`);
      outcome = await experiment.run(context);
      attackEndedAt = Date.now();
      const loadAfter = await readServiceLoad(stack.service.url);
      serviceLoad = {
        loopMaxMs: loadAfter.loopMaxMs,
        cpuShare: (loadAfter.cpuSeconds - loadBefore.cpuSeconds) / (Math.max(1, loadAfter.at - loadBefore.at) / 1000),
      };
      log(`attack over in ${attackEndedAt - attackStartedAt} ms: ${outcome.samples.length} requests`);
    } finally {
      if (experiment.fault) {
        await experiment.fault.remove({ stack, bounds });
        faultRemovedAt = Date.now();
      }
    }
    if (experiment.breaker === 'follows-mlflow' && faultRemovedAt !== null) {
      const removed = faultRemovedAt;
      try {
        await waitFor(
          () => {
            const last = health.breakerSamples().at(-1);
            return last !== undefined && last.at > removed && last.state === 'closed';
          },
          { timeoutMs: bounds.recoverWithinMs, intervalMs: 50, what: 'the breaker to close by itself' },
        );
        recoveredAt = health.breakerSamples().find((s) => s.at > removed && s.state === 'closed')?.at ?? Date.now();
      } catch {
        log(`the breaker did not close within ${bounds.recoverWithinMs} ms`);
      }
    }
    // However short the attack, judge at least one liveness probe (with its RSS reading) taken after it.
    const ended = attackEndedAt;
    await waitFor(() => probes.samples().some((s) => s.at >= ended), {
      timeoutMs: POST_ATTACK_PROBE_TIMEOUT_MS,
      intervalMs: 20,
      what: 'a liveness probe after the attack',
    }).catch(() => log(`no liveness probe answered within ${POST_ATTACK_PROBE_TIMEOUT_MS} ms of the attack's end`));
  } finally {
    // Every loop and listener stops before an error leaves the experiment.
    [probing] = await Promise.allSettled([probes.stop(), health.stop(), neighbours.close(), witness.stop()]);
    if (experiment.restore) await experiment.restore(context);
  }
  // A probe thread that failed leaves liveness unjudged: a fault of the harness, not a verdict.
  if (probing?.status === 'rejected') throw probing.reason;

  const after = await readBreaker(stack.service.url);
  const endedAt = Date.now();
  const live = probes.samples().filter((s) => s.at >= attackStartedAt);
  const breaker = health.breakerSamples().filter((s) => s.at >= attackStartedAt);
  const rssAllowanceMb = experiment.rssAllowanceMb(options.limits);
  const observation: AbuseObservation = {
    breakerExpectation: experiment.breaker,
    rssAllowanceMb,
    limits: options.limits,
    bounds,
    settings: options.settings,
    samples: outcome.samples,
    facts: outcome.facts,
    live,
    serviceLoad,
    probeLoopMaxMs: probes.loopMaxMs(),
    stalls: {
      prober: probes.stalls().filter((stall) => stall.to >= attackStartedAt),
      machine: witness.stalls().filter((stall) => stall.to >= attackStartedAt),
      raised: witness.raised && probes.priorityRaised() === true,
    },
    // While MLflow is at fault the breaker may move; the shared hypothesis then judges the recovery.
    breaker: breaker.filter((s) => s.at <= attackEndedAt),
    before,
    after,
    baselineRssMb,
    neighbours: { bound: neighbours.bound, connections: neighbours.connections() },
    faultRemovedAt,
    recoveredAt,
    crash: await checkNoCrash(stack),
  };
  const checks: AbuseCheck[] = [
    ...SHARED_HYPOTHESES.map((h) => ({ name: h.name, column: h.column, ...h.judge(observation) })),
    ...experiment.hypotheses.map((h) => ({ name: h.name, ...h.judge(observation) })),
  ];
  const latencies = live.map((s) => s.latencyMs);
  const rss = live.map((s) => s.rssMb).filter((v): v is number => v !== undefined);
  return {
    id: experiment.id,
    title: experiment.title,
    attack: experiment.attack,
    passed: checks.every((c) => c.passed),
    checks,
    summary: {
      requests: outcome.samples.length,
      answers: countAnswers(outcome.samples),
      attackMs: attackEndedAt - attackStartedAt,
      baselineRssMb,
      peakRssMb: Math.max(baselineRssMb, ...rss),
      rssBoundMb: baselineRssMb + rssAllowanceMb,
      liveP99Ms: percentile(latencies, 99),
      liveMaxMs: Math.max(0, ...latencies),
      breakerBefore: before,
      breakerAfter: after,
      watchedPorts: neighbours.bound,
      connections: neighbours.connections().length,
      connectionSamples: neighbours
        .connections()
        .slice(0, RECORDED_CONNECTION_SAMPLES)
        .map((c) => ({ ...c, firstBytes: c.firstBytes.slice(0, 300) })),
    },
    timeline: { startedAt, attackStartedAt, attackEndedAt, endedAt, live, breaker },
  };
}
