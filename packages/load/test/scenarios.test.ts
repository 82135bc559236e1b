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
} from '../src/index.js';

let target: LoadTarget;
/** The bare-route throughput measured in this run: capacity thresholds are shares of it. */
let baselineRps: number;

beforeAll(async () => {
  baselineRps = await measureBaseline();
  process.stdout.write(`baseline: ${Math.round(baselineRps)} rps (bare Fastify route)\n`);
  target = await startLocalTarget();
  await seedLoadModel(target.serviceUrl);
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
