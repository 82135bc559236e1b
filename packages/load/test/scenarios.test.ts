import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatScenario,
  type LoadTarget,
  measureBaseline,
  restoreTarget,
  runScenario,
  SCENARIOS,
  seedLoadModel,
  startLocalTarget,
  startServiceBeside,
} from '../src/index.js';

let target: LoadTarget;
/** The bare-route throughput measured in this run: capacity thresholds are shares of it. */
let baselineRps: number;

beforeAll(async () => {
  baselineRps = await measureBaseline();
  process.stdout.write(`baseline: ${Math.round(baselineRps)} rps (bare Fastify route)\n`);
  target = await startLocalTarget();
  await seedLoadModel(target.serviceUrl, target.apiKeys[0]);
});

afterAll(async () => {
  if (target) await restoreTarget(target);
  await target?.stop();
});

describe('Load scenarios on the Node engine against a local stack', () => {
  for (const scenario of SCENARIOS) {
    it(`keeps every threshold: ${scenario.title}`, async () => {
      const result = await runScenario(scenario, target, { baselineRps });
      process.stdout.write(`${formatScenario(result)}\n`);
      const breached = [
        ...result.streams.flatMap((s) => s.verdicts.filter((v) => !v.passed).map((v) => `${s.name} ${v.name}`)),
        ...result.checks.filter((c) => !c.passed).map((c) => c.name),
      ];
      expect(breached).toEqual([]);
      expect(result.streams.every((s) => s.requests > 0)).toBe(true);
    });
  }
});

// The negative control: the thresholds must be able to fail. The MLflow-down scenario against a service
// whose breaker cannot open (MLFLOW_CB_FAILURE_THRESHOLD at its maximum), on the same MLflow proxy: its
// MLflow-bound calls are never refused fast with 503 and Retry-After, so that stream must breach.
describe('Load scenarios negative control', () => {
  it('breaches the MLflow-bound thresholds of the MLflow-down scenario on a service whose breaker cannot open', async () => {
    const mlflowDown = SCENARIOS.find((scenario) => scenario.id === 'mlflow-down');
    if (!mlflowDown) throw new Error('no mlflow-down scenario');
    await using broken = await startServiceBeside(target, { MLFLOW_CB_FAILURE_THRESHOLD: '1000000' });
    const result = await runScenario(mlflowDown, broken, { baselineRps, awaitBreaker: false });
    process.stdout.write(`negative control (breaker cannot open):\n${formatScenario(result)}\n`);
    const mlflowBound = result.streams.find((stream) => stream.name === 'mlflow_bound');
    expect(result.passed).toBe(false);
    expect(mlflowBound?.verdicts.filter((v) => !v.passed).map((v) => v.name)).toContain('error rate');
  });
});
