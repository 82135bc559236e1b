import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ECSClient } from '@aws-sdk/client-ecs';
import {
  describeServices,
  describeTaskDefinition,
  nextTaskDefinitionInput,
  registerTaskDefinition,
  updateServiceTaskDefinition,
} from './aws.js';
import type { Diagnosis } from './diagnose.js';

/** One step of a deploy or rollback, as logged. */
export interface DeployStep {
  readonly at: string;
  readonly step: string;
  readonly result: 'done' | 'planned' | 'failed' | 'skipped';
  readonly detail: string;
}

/** The outcome of a deploy or rollback. */
export interface DeployReport {
  readonly operation: 'deploy' | 'rollback';
  readonly dryRun: boolean;
  readonly outcome: 'deployed' | 'rolled-back' | 'planned' | 'cancelled' | 'failed';
  readonly previousTaskDefinition: string | undefined;
  readonly newTaskDefinition: string | undefined;
  readonly steps: readonly DeployStep[];
}

/** What deploy and rollback need from the outside world; all injectable. */
export interface DeployDeps {
  readonly ecs: ECSClient;
  /** Asks the operator; `--yes` answers yes without asking. */
  confirm(question: string): Promise<boolean>;
  /** Health verification after the rollout (diagnose against the service). */
  verify(): Promise<Diagnosis>;
  /** Polling pause while waiting for the service to be stable. */
  pause?(ms: number): Promise<void>;
}

/** Common options of deploy and rollback. */
export interface RolloutOptions {
  readonly cluster: string;
  readonly service: string;
  readonly dryRun: boolean;
  readonly waitTimeoutMs?: number;
}

const step = (name: string, result: DeployStep['result'], detail: string): DeployStep => ({
  at: new Date().toISOString(),
  step: name,
  result,
  detail,
});

const defaultPause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits until the service has one deployment, completed, with every desired task running. */
export async function waitForStable(
  ecs: ECSClient,
  cluster: string,
  service: string,
  timeoutMs: number,
  pause: (ms: number) => Promise<void> = defaultPause,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const [state] = await describeServices(ecs, cluster, [service]);
    if (state && state.deployments === 1 && state.running === state.desired && state.rolloutState !== 'IN_PROGRESS')
      return true;
    if (state?.rolloutState === 'FAILED') return false;
    await pause(5_000);
  }
  return false;
}

async function currentTaskDefinition(ecs: ECSClient, cluster: string, service: string): Promise<string> {
  const [state] = await describeServices(ecs, cluster, [service]);
  if (!state?.taskDefinition) throw new Error(`ECS service ${service} not found in cluster ${cluster}`);
  return state.taskDefinition;
}

/** Points the service at `taskDefinition`, waits until stable and verifies health; logs each step. Returns whether all held. */
async function rollOut(
  options: RolloutOptions,
  deps: DeployDeps,
  taskDefinition: string,
  steps: DeployStep[],
): Promise<boolean> {
  await updateServiceTaskDefinition(deps.ecs, options.cluster, options.service, taskDefinition);
  steps.push(step('update service', 'done', `${options.service} -> ${taskDefinition}`));
  const stable = await waitForStable(
    deps.ecs,
    options.cluster,
    options.service,
    options.waitTimeoutMs ?? 600_000,
    deps.pause,
  );
  steps.push(step('wait stable', stable ? 'done' : 'failed', stable ? 'service stable' : 'service not stable in time'));
  if (!stable) return false;
  const health = await deps.verify();
  steps.push(step('verify health', health.exitCode < 2 ? 'done' : 'failed', `diagnose: ${health.overall}`));
  return health.exitCode < 2;
}

/**
 * Deploys a new image: backs up the current task definition, registers the new one, updates the
 * service, waits until it is stable, verifies health, and rolls back automatically when either fails.
 */
export async function deploy(
  options: RolloutOptions & { image: string; container?: string; backupDir: string },
  deps: DeployDeps,
): Promise<DeployReport> {
  const steps: DeployStep[] = [];
  const { ecs } = deps;
  const previous = await currentTaskDefinition(ecs, options.cluster, options.service);
  const definition = await describeTaskDefinition(ecs, previous);
  mkdirSync(options.backupDir, { recursive: true });
  const backup = join(options.backupDir, `${definition.family}-${definition.revision}.json`);
  writeFileSync(backup, `${JSON.stringify(definition, null, 2)}\n`);
  steps.push(step('backup', 'done', `current task definition ${previous} saved to ${backup}`));
  const input = nextTaskDefinitionInput(definition, { image: options.image, container: options.container });
  const report = (outcome: DeployReport['outcome'], next?: string): DeployReport => ({
    operation: 'deploy',
    dryRun: options.dryRun,
    outcome,
    previousTaskDefinition: previous,
    newTaskDefinition: next,
    steps,
  });
  if (options.dryRun) {
    steps.push(step('register', 'planned', `would register ${definition.family} with image ${options.image}`));
    steps.push(
      step('update service', 'planned', `would point ${options.service} at the new revision and wait until stable`),
    );
    return report('planned');
  }
  if (!(await deps.confirm(`Deploy ${options.image} to ${options.cluster}/${options.service} (now ${previous})?`))) {
    steps.push(step('confirm', 'skipped', 'not confirmed; nothing changed'));
    return report('cancelled');
  }
  const next = await registerTaskDefinition(ecs, input);
  steps.push(step('register', 'done', next));
  if (await rollOut(options, deps, next, steps)) return report('deployed', next);
  await updateServiceTaskDefinition(ecs, options.cluster, options.service, previous);
  steps.push(step('automatic rollback', 'done', `${options.service} -> ${previous}`));
  const back = await waitForStable(ecs, options.cluster, options.service, options.waitTimeoutMs ?? 600_000, deps.pause);
  steps.push(
    step(
      'wait stable',
      back ? 'done' : 'failed',
      back ? 'previous revision stable' : 'previous revision not stable in time',
    ),
  );
  return report(back ? 'rolled-back' : 'failed', next);
}

/** Rolls the service back to the previous task-definition revision (or `toRevision`), then verifies health. */
export async function rollback(
  options: RolloutOptions & { toRevision?: number },
  deps: DeployDeps,
): Promise<DeployReport> {
  const steps: DeployStep[] = [];
  const current = await currentTaskDefinition(deps.ecs, options.cluster, options.service);
  const match = /^(?:.*task-definition\/)?([^:]+):(\d+)$/.exec(current);
  if (!match?.[1] || !match[2]) throw new Error(`cannot read family and revision from ${current}`);
  const revision = options.toRevision ?? Number(match[2]) - 1;
  if (revision < 1) throw new Error(`${current} has no previous revision`);
  const target = `${match[1]}:${revision}`;
  await describeTaskDefinition(deps.ecs, target);
  const report = (outcome: DeployReport['outcome']): DeployReport => ({
    operation: 'rollback',
    dryRun: options.dryRun,
    outcome,
    previousTaskDefinition: current,
    newTaskDefinition: target,
    steps,
  });
  if (options.dryRun) {
    steps.push(step('update service', 'planned', `would point ${options.service} at ${target} (now ${current})`));
    return report('planned');
  }
  if (!(await deps.confirm(`Roll ${options.cluster}/${options.service} back from ${current} to ${target}?`))) {
    steps.push(step('confirm', 'skipped', 'not confirmed; nothing changed'));
    return report('cancelled');
  }
  return report((await rollOut(options, deps, target, steps)) ? 'rolled-back' : 'failed');
}
