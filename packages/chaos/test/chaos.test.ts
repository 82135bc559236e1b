import { execFileSync } from 'node:child_process';
import { SERVICE_VERSION } from '@registry/service';
import {
  CONTAINER_LABEL,
  HAPROXY_IMAGE,
  installedHaproxyVersion,
  localProviders,
  MLFLOW_VERSION,
  type Stack,
  startStack,
  TOXIPROXY_VERSION,
  workspaceRoot,
} from '@registry/testkit';
import { describeOnProvider, requireSomeProvider } from '@registry/testkit/suites';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ABUSE_EXPERIMENTS,
  type AbuseLimits,
  type AbuseResult,
  type Bounds,
  CHAOS_SERVICE_ENV,
  CONTROLS,
  chaosFleet,
  controlPlan,
  DEFAULT_REPLICAS,
  DEFAULT_TIME_SCALE,
  deriveBounds,
  EXPERIMENTS,
  type ExperimentResult,
  FLEET_EXPERIMENTS,
  type FleetResult,
  fleetMissingReason,
  formatAbuseChecks,
  formatAbuseMatrix,
  formatChecks,
  formatFleetTable,
  formatMatrix,
  missingReason,
  type RanVersions,
  readAbuseLimits,
  readServiceSettings,
  readVersions,
  resetProxy,
  runAbuseExperiment,
  runExperiment,
  runFleetExperiment,
  runSuite,
  seedRegistry,
  waitForServersUp,
  watchableMlflowPort,
  writeReports,
} from '../src/index.js';

requireSomeProvider('Chaos experiments', localProviders());

for (const local of localProviders()) {
  const { provider, networking, name } = local;
  describeOnProvider('Chaos experiments', local, () => {
    let stack: Stack;
    let settings: Awaited<ReturnType<typeof readServiceSettings>>;
    let bounds: Bounds;
    let versions: RanVersions;
    const limits: AbuseLimits = readAbuseLimits(CHAOS_SERVICE_ENV);
    const results: ExperimentResult[] = [];
    const abuse: AbuseResult[] = [];
    const fleet: FleetResult[] = [];
    const started = Date.now();

    beforeAll(async () => {
      // A low port for MLflow's proxy, so that every port next to it can be watched (abuse class).
      const mlflowProxyPort = await watchableMlflowPort();
      stack = await startStack({
        provider,
        networking,
        serviceEnv: { ...CHAOS_SERVICE_ENV },
        mlflowProxyPort,
        ...chaosFleet(),
      });
      settings = await readServiceSettings(stack.service.url);
      bounds = deriveBounds(settings);
      versions = await readVersions(stack);
      await seedRegistry(stack);
    });

    it('records the versions that ran: the pinned MLflow and Toxiproxy, the installed HAProxy, and this service', () => {
      expect(versions).toMatchObject({
        service: SERVICE_VERSION.version,
        mlflow: MLFLOW_VERSION,
        toxiproxy: TOXIPROXY_VERSION,
        haproxy: installedHaproxyVersion(),
      });
    });

    it('runs the default fleet: two replicas behind HAProxy, every server UP', async () => {
      expect(stack.replicas).toHaveLength(DEFAULT_REPLICAS);
      if (!stack.loadBalancer) throw new Error('the chaos stack started without HAProxy');
      await waitForServersUp(stack.loadBalancer);
      const servers = await stack.loadBalancer.servers();
      expect(servers?.map((server) => [server.name, server.status])).toEqual([
        ['replica-1', 'UP'],
        ['replica-2', 'UP'],
      ]);
    });

    // Only the containers provider has a container to look for: the test exists there alone (not a skip).
    if (provider === 'containers') {
      it('runs HAProxy as a container in the containers provider', () => {
        const running = execFileSync(
          'docker',
          ['ps', '--filter', `label=${CONTAINER_LABEL}=haproxy`, '--format', '{{.Image}}'],
          { encoding: 'utf8' },
        );
        expect(running.trim().split('\n')).toContain(HAPROXY_IMAGE);
      });
    }

    afterAll(async () => {
      if (results.length + abuse.length + fleet.length > 0) {
        if (results.length > 0) process.stdout.write(`\n[${name}]\n${formatMatrix(results)}\n`);
        if (abuse.length > 0) process.stdout.write(`\n[${name}, abuse]\n${formatAbuseMatrix(abuse)}\n`);
        if (fleet.length > 0) process.stdout.write(`\n[${name}, fleet]\n${formatFleetTable(fleet)}\n`);
        writeReports(
          {
            provider,
            versions,
            serviceUrl: stack.loadBalancer?.url ?? stack.service.url,
            replicas: stack.replicas.map((replica) => replica.url),
            startedAt: new Date(started).toISOString(),
            durationMs: Date.now() - started,
            timeScale: DEFAULT_TIME_SCALE,
            settings,
            bounds,
            results,
            abuseLimits: limits,
            abuse,
            fleet,
            skipped: [],
            passed: [...results, ...abuse, ...fleet].every((r) => r.passed),
          },
          `${workspaceRoot()}/reports/chaos-test-${name}`,
        );
      }
      await stack?.stop();
    });

    for (const experiment of EXPERIMENTS) {
      it(`keeps the service degraded-but-available: ${experiment.title}`, async (context) => {
        const reason = missingReason(experiment, stack);
        context.skip(reason !== undefined, reason);
        await resetProxy(stack);
        const result = await runExperiment(experiment, { stack, bounds, timeScale: DEFAULT_TIME_SCALE });
        results.push(result);
        const failed = result.checks.filter((c) => !c.passed);
        if (failed.length > 0) process.stdout.write(`${experiment.title}\n${formatChecks(result)}\n`);
        expect(failed).toEqual([]);
      });
    }

    for (const experiment of ABUSE_EXPERIMENTS) {
      it(`withstands hostile clients: ${experiment.title}`, async (context) => {
        const reason = missingReason(experiment, stack);
        context.skip(reason !== undefined, reason);
        await resetProxy(stack);
        const result = await runAbuseExperiment(experiment, { stack, bounds, settings, limits });
        abuse.push(result);
        const failed = result.checks.filter((c) => !c.passed);
        if (failed.length > 0) process.stdout.write(`${experiment.title}\n${formatAbuseChecks(result)}\n`);
        expect(failed).toEqual([]);
      });
    }

    // Last: these replace the replicas that the classes above ran on.
    for (const experiment of FLEET_EXPERIMENTS) {
      it(`keeps serving through HAProxy: ${experiment.title}`, async (context) => {
        const reason = fleetMissingReason(stack);
        context.skip(reason !== undefined, reason);
        await resetProxy(stack);
        const result = await runFleetExperiment(experiment, { stack, bounds, timeScale: DEFAULT_TIME_SCALE });
        fleet.push(result);
        const failed = result.checks.filter((c) => !c.passed);
        if (failed.length > 0) process.stdout.write(`${experiment.title}\n${formatChecks(result)}\n`);
        expect(failed).toEqual([]);
      });
    }
  });
}

// Negative controls: the same experiments against a deliberately broken set-up must fail, on the
// hypothesis each control targets. One provider is enough: the controls test the hypotheses, not the stack.
const controlProvider = localProviders().find(({ name }) => name === 'process');
if (controlProvider) {
  describeOnProvider('Negative controls', controlProvider, () => {
    for (const control of CONTROLS) {
      const plan = controlPlan(control);
      it(`reports "${plan.mustFail}" as FAILED in every experiment of control ${control}`, async () => {
        const stack = await startStack({
          provider: 'process',
          serviceEnv: { ...CHAOS_SERVICE_ENV, ...plan.serviceEnv },
          ...chaosFleet({ check: plan.loadBalancerCheck, retries: plan.loadBalancerRetries }),
        });
        try {
          const report = await runSuite({ stack, control: plan, timeScale: DEFAULT_TIME_SCALE });
          writeReports(report, `${workspaceRoot()}/reports/chaos-test-control-${control}`);
          process.stdout.write(`${report.control?.summary}\n`);
          expect([...report.results, ...report.fleet].map((result) => result.id)).toEqual(
            [...plan.experiments, ...plan.fleetExperiments].map((e) => e.id),
          );
          expect(report.control).toMatchObject({ held: true, escaped: [] });
        } finally {
          await stack.stop();
        }
      }, 600_000);
    }
  });
}
