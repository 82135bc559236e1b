import {
  FisClient,
  GetExperimentCommand,
  ListExperimentTemplatesCommand,
  StartExperimentCommand,
  StopExperimentCommand,
} from '@aws-sdk/client-fis';
import type { Stack } from '@registry/testkit';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { type Bounds, FIS_TAG, FIS_TEMPLATES, fisExperiments } from '../src/index.js';

const fis = mockClient(FisClient);
const FAST = { pollMs: 1, startTimeoutMs: 1_000, stopTimeoutMs: 1_000 };
// FIS experiments never touch the stack: the faults happen in AWS.
const context = { stack: {} as Stack, bounds: {} as Bounds };

function templates(except: string[] = []) {
  return FIS_TEMPLATES.filter((t) => !except.includes(t.template)).map((t, index) => ({
    id: `EXT${index}`,
    tags: { [FIS_TAG]: t.mirrors, Name: `registry-${t.template}` },
  }));
}

/** GetExperiment answers: each call the next state, the last one repeated. */
function states(...sequence: { status: string; reason?: string }[]) {
  let call = 0;
  fis.on(GetExperimentCommand).callsFake(() => {
    const state = sequence[Math.min(call, sequence.length - 1)];
    call += 1;
    return { experiment: { id: 'EXP1', state } };
  });
}

beforeEach(() => {
  fis.reset();
});

describe('Faults from AWS FIS on a deployed stack', () => {
  it('finds every template by its registry-chaos tag, across pages, in run order', async () => {
    const all = templates();
    fis
      .on(ListExperimentTemplatesCommand, { nextToken: undefined })
      .resolves({ experimentTemplates: all.slice(0, 2), nextToken: 'page-2' })
      .on(ListExperimentTemplatesCommand, { nextToken: 'page-2' })
      .resolves({ experimentTemplates: all.slice(2) });
    const experiments = await fisExperiments(new FisClient({}), FAST);
    expect(experiments.map((e) => [e.id, e.expectation])).toEqual([
      ['fis-mlflow-unreachable', 'trips'],
      ['fis-mlflow-latency-below-timeout', 'no-trip'],
      ['fis-mlflow-latency-above-timeout', 'trips'],
      ['fis-mlflow-blackhole', 'trips'],
      ['fis-task-stop', 'no-trip'],
    ]);
  });

  it('names every missing template and what creates it', async () => {
    fis
      .on(ListExperimentTemplatesCommand)
      .resolves({ experimentTemplates: templates(['task-stop', 'mlflow-blackhole']) });
    await expect(fisExperiments(new FisClient({}), FAST)).rejects.toThrow(
      'no FIS experiment template tagged registry-chaos for mlflow-blackhole, task-stop: apply infrastructure/terraform (fis.tf) in this account and region first',
    );
  });

  it('starts the template and waits until FIS runs it, then stops it and waits until it stopped', async () => {
    fis.on(ListExperimentTemplatesCommand).resolves({ experimentTemplates: templates() });
    fis.on(StartExperimentCommand).resolves({ experiment: { id: 'EXP1' } });
    fis.on(StopExperimentCommand).resolves({});
    const [unreachable] = await fisExperiments(new FisClient({}), FAST);
    states({ status: 'initiating' }, { status: 'running' });
    await unreachable?.inject(context);
    expect(fis.commandCalls(StartExperimentCommand)[0]?.args[0].input).toMatchObject({
      experimentTemplateId: 'EXT0',
      tags: { [FIS_TAG]: 'mlflow-down' },
    });
    states({ status: 'running' }, { status: 'stopping' }, { status: 'stopped' });
    await unreachable?.remove(context);
    expect(fis.commandCalls(StopExperimentCommand)[0]?.args[0].input).toEqual({ id: 'EXP1' });
  });

  it('fails loudly when a stop condition ended the experiment before the run removed the fault', async () => {
    fis.on(ListExperimentTemplatesCommand).resolves({ experimentTemplates: templates() });
    fis.on(StartExperimentCommand).resolves({ experiment: { id: 'EXP1' } });
    const [unreachable] = await fisExperiments(new FisClient({}), FAST);
    states({ status: 'running' });
    await unreachable?.inject(context);
    states({ status: 'stopped', reason: 'Experiment stopped by stop condition registry-unhealthy-targets' });
    await expect(unreachable?.remove(context)).rejects.toThrow(
      'FIS experiment EXP1 was stopped before the run removed the fault: Experiment stopped by stop condition registry-unhealthy-targets',
    );
    expect(fis.commandCalls(StopExperimentCommand)).toHaveLength(0);
  });

  it('fails when FIS could not run the experiment at all', async () => {
    fis.on(ListExperimentTemplatesCommand).resolves({ experimentTemplates: templates() });
    fis.on(StartExperimentCommand).resolves({ experiment: { id: 'EXP1' } });
    const [unreachable] = await fisExperiments(new FisClient({}), FAST);
    states({ status: 'initiating' }, { status: 'failed', reason: 'Target resolution returned no tasks' });
    await expect(unreachable?.inject(context)).rejects.toThrow(
      'FIS experiment EXP1 ended before it ran: failed Target resolution returned no tasks',
    );
  });
});
