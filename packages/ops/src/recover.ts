import { createRegistryClient, type RegistryClient } from '@registry/service/client';
import { type AwsClients, describeServices, describeTargets, forceNewDeployment } from './aws.js';
import { CHECK_IDS, type DiagnoseOptions, type Diagnosis, type DiagnosticCheck, diagnose } from './diagnose.js';

/** One thing `recover` did, would have done (dry run) or reported. */
export interface RecoveryAction {
  readonly at: string;
  readonly step: string;
  readonly description: string;
  readonly result: 'done' | 'planned' | 'skipped' | 'reported' | 'failed';
  readonly details?: unknown;
}

/** The outcome of `recover`. */
export interface RecoveryReport {
  readonly dryRun: boolean;
  readonly verdict: 'success' | 'partial' | 'failed';
  readonly actions: readonly RecoveryAction[];
  readonly initial: Diagnosis;
  readonly final: Diagnosis;
  readonly stabilized: boolean;
}

/** Options of `recover`: where to look, the admin token, and how stabilisation is judged. */
export interface RecoverOptions extends DiagnoseOptions {
  readonly adminToken?: string;
  readonly dryRun: boolean;
  /** Consecutive healthy checks that count as stable. */
  readonly stableChecks?: number;
  readonly stabilizeTimeoutMs?: number;
  readonly checkIntervalMs?: number;
}

const action = (
  step: string,
  description: string,
  result: RecoveryAction['result'],
  details?: unknown,
): RecoveryAction => ({
  at: new Date().toISOString(),
  step,
  description,
  result,
  details,
});

async function isStable(service: RegistryClient): Promise<boolean> {
  try {
    const [ready, health] = await Promise.all([service.ready(), service.health()]);
    return ready.status === 200 && health.status === 200 && health.body.status === 'healthy';
  } catch {
    return false;
  }
}

/** What `recover` does about the breaker: nothing, refuse (and why), plan the reset (dry run), or reset it. */
export type BreakerResetPlan = 'not-needed' | 'mlflow-down' | 'no-admin-token' | 'dry-run' | 'reset';

/**
 * Decides the breaker reset from a diagnosis: reset only when the breaker is not closed and MLflow answers
 * a direct call. Checks are found by their machine ids (`CHECK_IDS`), so renaming a display name cannot
 * silently disable the reset.
 */
export function planBreakerReset(
  checks: readonly DiagnosticCheck[],
  options: Pick<RecoverOptions, 'adminToken' | 'dryRun'>,
): BreakerResetPlan {
  const breaker = checks.find((c) => c.id === CHECK_IDS.breaker);
  const mlflow = checks.find((c) => c.id === CHECK_IDS.mlflowDirect);
  if (!breaker || breaker.status === 'healthy' || breaker.status === 'error') return 'not-needed';
  if (mlflow?.status !== 'healthy') return 'mlflow-down';
  if (!options.adminToken) return 'no-admin-token';
  return options.dryRun ? 'dry-run' : 'reset';
}

/**
 * Recovers what can be recovered safely: resets the breaker when it is open but MLflow answers again,
 * forces a new deployment of ECS services running fewer tasks than desired, reports unhealthy targets,
 * then waits for N consecutive healthy checks. With `dryRun` it only plans: nothing changes anywhere.
 */
export async function recover(options: RecoverOptions, deps: { aws?: AwsClients } = {}): Promise<RecoveryReport> {
  const actions: RecoveryAction[] = [];
  const initial = await diagnose(options, deps);
  actions.push(
    action('initial health', `overall ${initial.overall}, health score ${initial.healthScore} %`, 'reported'),
  );
  const api = options.apiUrl.replace(/\/+$/, '');
  const service = createRegistryClient({ baseUrl: api, adminToken: options.adminToken, timeoutMs: 10_000 });

  const plan = planBreakerReset(initial.checks, options);
  if (plan === 'mlflow-down') {
    actions.push(
      action(
        'reset breaker',
        'breaker not closed, but MLflow does not answer (or no --mlflow-url): not resetting',
        'skipped',
      ),
    );
  } else if (plan === 'no-admin-token') {
    actions.push(
      action('reset breaker', 'breaker not closed and MLflow answers, but no --admin-token was given', 'failed'),
    );
  } else if (plan === 'dry-run') {
    actions.push(action('reset breaker', `would POST ${api}/health/mlflow/reset`, 'planned'));
  } else if (plan === 'reset') {
    const answer = await service.breaker.reset();
    actions.push(
      action(
        'reset breaker',
        `POST /health/mlflow/reset answered ${answer.status}`,
        answer.status === 200 ? 'done' : 'failed',
        answer.body,
      ),
    );
  }

  if (deps.aws && options.ecsCluster && options.ecsServices?.length) {
    for (const service of await describeServices(deps.aws.ecs, options.ecsCluster, options.ecsServices)) {
      if (service.running >= service.desired) continue;
      const what = `${service.name}: running ${service.running} of ${service.desired}; force a new deployment`;
      if (options.dryRun) {
        actions.push(action('restart ECS service', what, 'planned'));
      } else {
        await forceNewDeployment(deps.aws.ecs, options.ecsCluster, service.name);
        actions.push(action('restart ECS service', what, 'done'));
      }
    }
  }
  if (deps.aws && options.targetGroupArns?.length) {
    const unhealthy = (await describeTargets(deps.aws.elb, options.targetGroupArns)).filter(
      (t) => t.state !== 'healthy',
    );
    if (unhealthy.length)
      actions.push(action('unhealthy targets', `${unhealthy.length} targets not healthy`, 'reported', unhealthy));
  }

  let stabilized = false;
  if (!options.dryRun) {
    const needed = options.stableChecks ?? 3;
    const deadline = Date.now() + (options.stabilizeTimeoutMs ?? 120_000);
    let consecutive = 0;
    while (Date.now() < deadline && consecutive < needed) {
      consecutive = (await isStable(service)) ? consecutive + 1 : 0;
      if (consecutive < needed) await new Promise((resolve) => setTimeout(resolve, options.checkIntervalMs ?? 2_000));
    }
    stabilized = consecutive >= needed;
    actions.push(
      action(
        'stabilisation',
        stabilized
          ? `${needed} consecutive healthy checks`
          : `not stable within ${options.stabilizeTimeoutMs ?? 120_000} ms`,
        stabilized ? 'done' : 'failed',
      ),
    );
  }

  const final = await diagnose(options, deps);
  actions.push(action('final health', `overall ${final.overall}, health score ${final.healthScore} %`, 'reported'));
  const verdict =
    final.exitCode === 0
      ? 'success'
      : final.exitCode < initial.exitCode || final.healthScore > initial.healthScore
        ? 'partial'
        : 'failed';
  return { dryRun: options.dryRun, verdict, actions, initial, final, stabilized };
}
