import { ROUTES } from '@registry/service/client';
import { ABUSE_EXPERIMENTS, type AbuseExperiment } from './abuse/experiments.js';
import { EXPERIMENTS, type Experiment } from './experiments.js';
import { FLEET_EXPERIMENTS, type FleetExperiment } from './fleet-experiments.js';
import { FIXED_HEALTH_CHECK, type HealthCheckSettings } from './health-checks.js';
import type { ExperimentResult } from './runner.js';
import { CHAOS_SERVICE_ENV, type ReportedBreakerSettings } from './settings.js';

/**
 * Negative controls: runs against a deliberately broken set-up whose hypotheses must FAIL. A suite whose
 * controls fail is evidence that its passing runs mean something.
 */
export const CONTROLS = [
  'no-breaker',
  'lb-dependency-check',
  'lb-no-retries',
  'no-cache',
  'no-probe',
  'unbounded-cache',
] as const;
export type Control = (typeof CONTROLS)[number];

/** How a control breaks the set-up, what it runs, and which hypothesis must fail in every experiment. */
export interface ControlPlan {
  readonly control: Control;
  readonly description: string;
  /** Settings the service starts with on top of `CHAOS_SERVICE_ENV` (its ordinary environment variables). */
  readonly serviceEnv: Readonly<Record<string, string>>;
  /** Breaker settings the bounds are derived from instead of the reported ones (the ordinary suite's). */
  readonly boundsSettings?: Partial<ReportedBreakerSettings>;
  /** The health check the stack's HAProxy starts with, when the control changes it. */
  readonly loadBalancerCheck?: HealthCheckSettings;
  /** False when the control takes HAProxy's retries and redispatch away. */
  readonly loadBalancerRetries?: boolean;
  readonly experiments: readonly Experiment[];
  readonly fleetExperiments: readonly FleetExperiment[];
  /**
   * Abuse experiments of the control. Their limits come from the ordinary settings (`CHAOS_SERVICE_ENV`),
   * never from the control's `serviceEnv`.
   */
  readonly abuseExperiments: readonly AbuseExperiment[];
  /**
   * Checks (by name prefix) that must still pass in every experiment that has them: the run itself worked,
   * so the targeted failure is the broken set-up's and not, say, a service that stopped answering.
   */
  readonly mustHold?: readonly string[];
  /** The check (by name prefix) that must fail in every experiment of the control, of any class. */
  readonly mustFail: string;
}

/** The failure threshold no experiment can reach: a breaker that cannot open (the setting's maximum). */
const UNREACHABLE_FAILURE_THRESHOLD = '1000000';

const faults = (...ids: string[]) => EXPERIMENTS.filter((experiment) => ids.includes(experiment.id));
const fleet = (...ids: string[]) => FLEET_EXPERIMENTS.filter((experiment) => ids.includes(experiment.id));

/** The plan of `control`. */
export function controlPlan(control: Control): ControlPlan {
  if (control === 'no-breaker') {
    return {
      control,
      description:
        'the breaker-dependent experiments against a service whose breaker cannot open (MLFLOW_CB_FAILURE_THRESHOLD=1000000)',
      serviceEnv: { MLFLOW_CB_FAILURE_THRESHOLD: UNREACHABLE_FAILURE_THRESHOLD },
      boundsSettings: { failure_threshold: Number(CHAOS_SERVICE_ENV.MLFLOW_CB_FAILURE_THRESHOLD) },
      experiments: EXPERIMENTS.filter((experiment) => experiment.expectation === 'trips'),
      fleetExperiments: [],
      abuseExperiments: [],
      mustFail: 'every replica breaker opens within the bound',
    };
  }
  if (control === 'no-cache') {
    return {
      control,
      description: 'MLflow down against a service without its last-known-good cache (CACHE_MAX_ENTRIES=0)',
      serviceEnv: { CACHE_MAX_ENTRIES: '0' },
      experiments: faults('mlflow-down'),
      fleetExperiments: [],
      abuseExperiments: [],
      mustFail: 'cached reads served stale while open',
    };
  }
  if (control === 'unbounded-cache') {
    const serviceEnv = {
      CACHE_MAX_BYTES: String(2 ** 32),
      CACHE_MAX_ENTRIES: '1000000',
      CACHE_MAX_ENTRY_BYTES: String(2 ** 24),
    };
    return {
      control,
      description: `hostile searches against a service whose last-known-good cache keeps every answer, as before issue 10 (${Object.entries(
        serviceEnv,
      )
        .map(([name, value]) => `${name}=${value}`)
        .join(', ')})`,
      serviceEnv,
      experiments: [],
      fleetExperiments: [],
      abuseExperiments: ABUSE_EXPERIMENTS.filter((experiment) => experiment.id === 'abuse-cache-memory'),
      mustFail: 'resident memory stays under the stated bound',
      // Memory readings come from the replica's own liveness answers: a replica that crashed or stopped
      // answering would fail the bound for another reason.
      mustHold: ['no crash and no unhandled rejection', 'every hostile request gets the answer the contract gives it'],
    };
  }
  if (control === 'no-probe') {
    return {
      control,
      description:
        'connections to MLflow reset against a service without its background probe (MLFLOW_HEALTH_PROBE_INTERVAL=0): only user traffic could close the breaker',
      serviceEnv: { MLFLOW_HEALTH_PROBE_INTERVAL: '0' },
      boundsSettings: {
        health_probe_interval_seconds: Number(CHAOS_SERVICE_ENV.MLFLOW_HEALTH_PROBE_INTERVAL),
      },
      // Not mlflow-down: its incident replay has a second HAProxy checking /health/mlflow, a real call
      // that closes the breaker with no user traffic and no probe.
      experiments: faults('reset-peer'),
      fleetExperiments: [],
      abuseExperiments: [],
      mustFail: 'every replica breaker closes by itself with no user traffic',
    };
  }
  if (control === 'lb-no-retries') {
    return {
      control,
      description: 'a replica killed under traffic with HAProxy neither retrying nor redispatching',
      serviceEnv: {},
      loadBalancerRetries: false,
      experiments: [],
      fleetExperiments: fleet('replica-loss'),
      abuseExperiments: [],
      mustFail: 'no MLflow-bound read failed',
    };
  }
  return {
    control,
    description: `HAProxy checking ${ROUTES.mlflowHealth.url} (the fixed thresholds), a route that fails while MLflow is down: MLflow down, and a rolling deployment while MLflow is down`,
    serviceEnv: {},
    loadBalancerCheck: { ...FIXED_HEALTH_CHECK, name: 'dependency-path', path: ROUTES.mlflowHealth.url },
    experiments: faults('mlflow-down'),
    fleetExperiments: fleet('rolling-deployment-mlflow-down'),
    abuseExperiments: [],
    mustFail: 'HAProxy never marks a backend DOWN',
  };
}

/**
 * The verdict of a control run: it holds when every experiment failed, on the hypothesis it targets, and
 * passed the checks it must still pass.
 */
export interface ControlVerdict {
  readonly control: Control;
  readonly held: boolean;
  /** Experiments that passed anyway, or failed without failing the targeted hypothesis. */
  readonly escaped: readonly string[];
  readonly summary: string;
}

/** Judges a control run from its results (fault, fleet and abuse experiments alike). */
export function judgeControl(
  plan: ControlPlan,
  results: readonly Pick<ExperimentResult, 'id' | 'passed' | 'checks'>[],
): ControlVerdict {
  const escaped = results
    .filter(
      (result) =>
        result.passed ||
        !result.checks.some((check) => check.name.startsWith(plan.mustFail) && !check.passed) ||
        result.checks.some(
          (check) => (plan.mustHold ?? []).some((name) => check.name.startsWith(name)) && !check.passed,
        ),
    )
    .map((result) => result.id);
  const held = results.length > 0 && escaped.length === 0;
  const failed = results.length - escaped.length;
  return {
    control: plan.control,
    held,
    escaped,
    summary: held
      ? `control ${plan.control}: ${failed} of ${results.length} experiments FAILED "${plan.mustFail}", as they must`
      : `control ${plan.control} DID NOT HOLD: ${escaped.length} of ${results.length} experiments did not fail "${plan.mustFail}" (${escaped.join(', ') || 'none ran'}); the suite cannot tell this broken set-up from a working one`,
  };
}
