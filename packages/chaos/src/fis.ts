import {
  type ExperimentTemplateSummary,
  type FisClient,
  GetExperimentCommand,
  ListExperimentTemplatesCommand,
  StartExperimentCommand,
  StopExperimentCommand,
} from '@aws-sdk/client-fis';
import { waitFor } from '@registry/testkit';
import { EXPERIMENTS, type Experiment } from './experiments.js';

/** The tag on each FIS experiment template naming the local experiment it mirrors (fis.tf). */
export const FIS_TAG = 'registry-chaos';

/** One FIS template of infrastructure/terraform/fis.tf: its key, its action, the local experiment it mirrors. */
export interface FisTemplate {
  readonly template: string;
  readonly action: string;
  readonly mirrors: string;
  /** What the mirrored fault does to the breaker; a task stop must leave every breaker closed. */
  readonly expectation: Experiment['expectation'];
}

/** The faults a deployed stack gets from AWS FIS, in run order (the contract test compares them with fis.tf). */
export const FIS_TEMPLATES: readonly FisTemplate[] = [
  {
    template: 'mlflow-unreachable',
    action: 'aws:ecs:task-network-packet-loss',
    mirrors: 'mlflow-down',
    expectation: 'trips',
  },
  {
    template: 'mlflow-latency-below-timeout',
    action: 'aws:ecs:task-network-latency',
    mirrors: 'latency-below-timeout',
    expectation: 'no-trip',
  },
  {
    template: 'mlflow-latency-above-timeout',
    action: 'aws:ecs:task-network-latency',
    mirrors: 'latency-above-timeout',
    expectation: 'trips',
  },
  {
    template: 'mlflow-blackhole',
    action: 'aws:ecs:task-network-blackhole-port',
    mirrors: 'blackhole',
    expectation: 'trips',
  },
  { template: 'task-stop', action: 'aws:ecs:stop-task', mirrors: 'replica-loss', expectation: 'no-trip' },
];

/** Local experiments with no FIS counterpart, and why (the contract test requires one or the other). */
export const LOCAL_ONLY: Readonly<Record<string, string>> = {
  'reset-peer': 'FIS has no action that resets established TCP connections',
  'slow-close': 'FIS has no action that delays connection close',
  bandwidth: 'FIS has no bandwidth limit for ECS tasks',
  slicer: 'FIS has no action that slices responses',
  'limit-data': 'FIS has no action that truncates responses',
  flapping: 'an FIS action runs once for its duration; flapping needs repeated on/off',
  'process-killed': "MLflow is not one of this service's tasks; FIS stops the service's own tasks (task-stop)",
  'mlflow-5xx': "MLflow's store failing is an RDS fault, outside this service's templates",
  'mlflow-db-slow': "a slow RDS is MLflow's database, outside this service's tasks (FIS has no RDS latency action)",
  'rolling-deployment': 'ECS performs it on every deploy (registry-ops deploy), judged by its circuit breaker',
  'rolling-deployment-mlflow-down':
    'ECS performs the deployment; run registry-ops deploy during mlflow-unreachable to combine them',
};

/** How often and how long to wait on FIS (an experiment takes seconds to start and to stop). */
export interface FisTiming {
  readonly pollMs: number;
  readonly startTimeoutMs: number;
  readonly stopTimeoutMs: number;
}

export const DEFAULT_FIS_TIMING: FisTiming = Object.freeze({
  pollMs: 2_000,
  startTimeoutMs: 5 * 60_000,
  stopTimeoutMs: 5 * 60_000,
});

/** Every experiment template of the account and region, across pages. */
async function listTemplates(client: FisClient): Promise<ExperimentTemplateSummary[]> {
  const templates: ExperimentTemplateSummary[] = [];
  let nextToken: string | undefined;
  for (let page = 0; page < 100; page += 1) {
    const answer = await client.send(new ListExperimentTemplatesCommand({ nextToken }));
    templates.push(...(answer.experimentTemplates ?? []));
    nextToken = answer.nextToken;
    if (!nextToken) break;
  }
  return templates;
}

async function experimentState(client: FisClient, id: string): Promise<{ status: string; reason: string }> {
  const answer = await client.send(new GetExperimentCommand({ id }));
  return { status: answer.experiment?.state?.status ?? 'unknown', reason: answer.experiment?.state?.reason ?? '' };
}

/**
 * The experiment that runs `template` through FIS: injecting starts it and waits until FIS reports it
 * running; removing stops it and waits until FIS reports it stopped. An experiment that ended before it
 * was removed (a stop condition: one of the alarms fired) fails loudly with FIS's reason.
 */
export function fisExperiment(
  client: FisClient,
  fis: FisTemplate,
  templateId: string,
  timing: FisTiming = DEFAULT_FIS_TIMING,
): Experiment {
  const local = EXPERIMENTS.find((experiment) => experiment.id === fis.mirrors);
  let experimentId: string | undefined;
  return {
    id: `fis-${fis.template}`,
    title: `${local?.title ?? fis.mirrors} (AWS FIS template ${fis.template}, ${fis.action})`,
    fault: `FIS ${fis.template}`,
    expectation: fis.expectation,
    async inject() {
      const started = await client.send(
        new StartExperimentCommand({ experimentTemplateId: templateId, tags: { [FIS_TAG]: fis.mirrors } }),
      );
      experimentId = started.experiment?.id;
      if (!experimentId) throw new Error(`FIS did not start template ${fis.template} (${templateId})`);
      const id = experimentId;
      await waitFor(
        async () => {
          const state = await experimentState(client, id);
          if (['failed', 'stopped', 'completed'].includes(state.status)) {
            throw new Error(`FIS experiment ${id} ended before it ran: ${state.status} ${state.reason}`);
          }
          return state.status === 'running';
        },
        { timeoutMs: timing.startTimeoutMs, intervalMs: timing.pollMs, what: `FIS experiment ${id} running` },
      );
    },
    async remove() {
      const id = experimentId;
      if (!id) return;
      const before = await experimentState(client, id);
      if (before.status !== 'running') {
        throw new Error(`FIS experiment ${id} was ${before.status} before the run removed the fault: ${before.reason}`);
      }
      await client.send(new StopExperimentCommand({ id }));
      await waitFor(async () => ['stopped', 'completed'].includes((await experimentState(client, id)).status), {
        timeoutMs: timing.stopTimeoutMs,
        intervalMs: timing.pollMs,
        what: `FIS experiment ${id} stopped`,
      });
    },
  };
}

/**
 * The FIS experiments of the account: each template of `FIS_TEMPLATES` found by its `registry-chaos` tag
 * (and, where several carry it, its `Name` ending in the template key). Throws naming every template not
 * found, with what creates them.
 */
export async function fisExperiments(client: FisClient, timing: FisTiming = DEFAULT_FIS_TIMING): Promise<Experiment[]> {
  const templates = await listTemplates(client);
  const found = FIS_TEMPLATES.map((fis) => {
    const tagged = templates.filter((t) => t.tags?.[FIS_TAG] === fis.mirrors);
    const match = tagged.find((t) => t.tags?.Name?.endsWith(fis.template)) ?? tagged[0];
    return { fis, id: match?.id };
  });
  const missing = found.filter((entry) => !entry.id).map((entry) => entry.fis.template);
  if (missing.length > 0) {
    throw new Error(
      `no FIS experiment template tagged ${FIS_TAG} for ${missing.join(', ')}: apply infrastructure/terraform (fis.tf) in this account and region first`,
    );
  }
  return found.map(({ fis, id }) => fisExperiment(client, fis, id as string, timing));
}
