import { localProviders, providerSuiteTitle, type Stack, startStack, workspaceRoot } from '@registry/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Bounds,
  CHAOS_SERVICE_ENV,
  DEFAULT_TIME_SCALE,
  deriveBounds,
  EXPERIMENTS,
  type ExperimentResult,
  formatChecks,
  formatMatrix,
  missingCapabilities,
  readServiceSettings,
  resetProxy,
  runExperiment,
  seedRegistry,
  writeReports,
} from '../src/index.js';

for (const local of localProviders()) {
  const { provider, networking, name } = local;
  describe.skipIf(!local.available)(providerSuiteTitle('Chaos experiments', local), () => {
    let stack: Stack;
    let settings: Awaited<ReturnType<typeof readServiceSettings>>;
    let bounds: Bounds;
    const results: ExperimentResult[] = [];
    const started = Date.now();

    beforeAll(async () => {
      stack = await startStack({ provider, networking, serviceEnv: { ...CHAOS_SERVICE_ENV } });
      settings = await readServiceSettings(stack.service.url);
      bounds = deriveBounds(settings);
      await seedRegistry(stack);
    });

    afterAll(async () => {
      if (results.length > 0) {
        process.stdout.write(`\n[${name}]\n${formatMatrix(results)}\n`);
        writeReports(
          {
            provider,
            serviceUrl: stack.service.url,
            startedAt: new Date(started).toISOString(),
            durationMs: Date.now() - started,
            timeScale: DEFAULT_TIME_SCALE,
            settings,
            bounds,
            results,
            skipped: [],
            passed: results.every((r) => r.passed),
          },
          `${workspaceRoot()}/reports/chaos-test-${name}`,
        );
      }
      await stack?.stop();
    });

    for (const experiment of EXPERIMENTS) {
      it(`keeps the service degraded-but-available: ${experiment.title}`, async (context) => {
        const missing = missingCapabilities(experiment, stack);
        context.skip(missing.length > 0, `the ${stack.provider} provider cannot ${missing.join(', ')} MLflow`);
        await resetProxy(stack);
        const result = await runExperiment(experiment, { stack, bounds, settings, timeScale: DEFAULT_TIME_SCALE });
        results.push(result);
        const failed = result.checks.filter((c) => !c.passed);
        if (failed.length > 0) process.stdout.write(`${experiment.title}\n${formatChecks(result)}\n`);
        expect(failed).toEqual([]);
      });
    }
  });
}
