import { execFileSync } from 'node:child_process';
import { SERVICE_VERSION } from '@registry/service';
import {
  CONTAINER_LABEL,
  haproxyImage,
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
  type AbuseResult,
  CHAOS_SERVICE_ENV,
  CONTROLS,
  chaosFleet,
  controlPlan,
  DEFAULT_REPLICAS,
  DEFAULT_TIME_SCALE,
  defaultConcurrency,
  EXPERIMENTS,
  type ExperimentResult,
  FLEET_EXPERIMENTS,
  type FleetResult,
  formatAbuseChecks,
  formatAbuseMatrix,
  formatChecks,
  formatFleetTable,
  formatMatrix,
  runSuite,
  type SuiteReport,
  waitForServersUp,
  watchableMlflowPort,
  writeReports,
} from '../src/index.js';

requireSomeProvider('Chaos experiments', localProviders());

/** Lanes side by side, as `npm run chaos` runs by default on this machine. */
const CONCURRENCY = defaultConcurrency();

/** The result of `id` in `report`: its failed checks, or why it did not run (undefined when it ran). */
function outcome(
  report: SuiteReport,
  id: string,
): { failed: string; notRun?: undefined } | { failed?: undefined; notRun: string } {
  const skipped = report.skipped.find((s) => s.id === id);
  if (skipped) return { notRun: skipped.reason };
  const result: ExperimentResult | AbuseResult | FleetResult | undefined = [
    ...report.results,
    ...report.abuse,
    ...report.fleet,
  ].find((r) => r.id === id);
  if (!result) return { failed: `${id} has no result in the report` };
  const failed = result.checks.filter((c) => !c.passed);
  if (failed.length === 0) return { failed: '' };
  const text = 'attack' in result ? formatAbuseChecks(result) : formatChecks(result);
  return { failed: `${result.title}\n${text}` };
}

for (const local of localProviders()) {
  const { provider, networking, name } = local;
  describeOnProvider('Chaos experiments', local, () => {
    let stack: Stack;
    let report: SuiteReport;

    // One run of the whole suite, as `npm run chaos` makes it (lanes side by side); each test below then
    // holds one experiment to its hypotheses.
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
      report = await runSuite({ stack, timeScale: DEFAULT_TIME_SCALE, concurrency: CONCURRENCY });
    });

    afterAll(async () => {
      if (report) {
        if (report.results.length > 0) process.stdout.write(`\n[${name}]\n${formatMatrix(report.results)}\n`);
        if (report.abuse.length > 0) process.stdout.write(`\n[${name}, abuse]\n${formatAbuseMatrix(report.abuse)}\n`);
        if (report.fleet.length > 0) process.stdout.write(`\n[${name}, fleet]\n${formatFleetTable(report.fleet)}\n`);
        process.stdout.write(
          `[${name}] whole suite on ${CONCURRENCY} lane(s): ${Math.round(report.durationMs / 1000)} s\n`,
        );
        writeReports(report, `${workspaceRoot()}/reports/chaos-test-${name}`);
      }
      await stack?.stop();
    });

    it('records the versions that ran: the pinned MLflow and Toxiproxy, the installed HAProxy, and this service', () => {
      expect(report.versions).toMatchObject({
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
      expect(servers.map((server) => [server.name, server.status])).toEqual([
        ['replica-1', 'UP'],
        ['replica-2', 'UP'],
      ]);
    });

    /** Experiments that ran at the same time as `id` on the same MLflow, each as `id (lane)`. */
    const sharingMlflowWith = (id: string): string[] => {
      const mine = report.placements.filter((p) => p.id === id);
      return report.placements
        .filter((other) =>
          mine.some(
            (p) =>
              other.id !== id &&
              other.mlflowUrl === p.mlflowUrl &&
              other.startedAt < p.endedAt &&
              p.startedAt < other.endedAt,
          ),
        )
        .map((other) => `${other.id} (${other.lane})`);
    };

    it('runs each fault that kills or breaks MLflow on an MLflow no other experiment uses meanwhile', () => {
      const acting = EXPERIMENTS.filter((e) => (e.requires ?? []).length > 0).map((e) => e.id);
      const ran = acting.filter((id) => report.placements.some((p) => p.id === id));
      expect(ran.length, 'faults that act on MLflow itself ran').toBeGreaterThan(0);
      expect(Object.fromEntries(ran.map((id) => [id, sharingMlflowWith(id)]))).toEqual(
        Object.fromEntries(ran.map((id) => [id, []])),
      );
    });

    it('runs the abuse class on an MLflow no fault or fleet experiment uses meanwhile (its floods load MLflow)', () => {
      const ids = ABUSE_EXPERIMENTS.map((e) => e.id).filter((id) => report.placements.some((p) => p.id === id));
      expect(ids.length, 'abuse experiments ran').toBeGreaterThan(0);
      expect(Object.fromEntries(ids.map((id) => [id, sharingMlflowWith(id)]))).toEqual(
        Object.fromEntries(ids.map((id) => [id, []])),
      );
    });

    it('runs the fleet experiments one at a time (two replacements at once starved the shared MLflow)', () => {
      const fleet = report.placements.filter((p) => FLEET_EXPERIMENTS.some((e) => e.id === p.id));
      expect(fleet.length, 'fleet experiments ran').toBeGreaterThan(0);
      const overlapping = fleet.flatMap((p) =>
        fleet
          .filter((o) => o.id < p.id && o.startedAt < p.endedAt && p.startedAt < o.endedAt)
          .map((o) => `${o.id} + ${p.id}`),
      );
      expect(overlapping).toEqual([]);
    });

    // Only the containers provider has a container to look for: the test exists there alone (not a skip).
    if (provider === 'containers') {
      it('runs HAProxy as a container in the containers provider', () => {
        const running = execFileSync(
          'docker',
          ['ps', '--filter', `label=${CONTAINER_LABEL}=haproxy`, '--format', '{{.Image}}'],
          { encoding: 'utf8' },
        );
        expect(running.trim().split('\n')).toContain(haproxyImage());
      });
    }

    const classes = [
      ['keeps the service degraded-but-available', EXPERIMENTS],
      ['keeps serving through HAProxy', FLEET_EXPERIMENTS],
      ['withstands hostile clients', ABUSE_EXPERIMENTS],
    ] as const;
    for (const [sentence, experiments] of classes) {
      for (const experiment of experiments) {
        it(`${sentence}: ${experiment.title}`, (context) => {
          const { failed, notRun } = outcome(report, experiment.id);
          // The reason goes to the output, where the user reads it, not only into the test report.
          if (notRun !== undefined) process.stdout.write(`[${name}] not run: ${experiment.title}: ${notRun}\n`);
          // Where REGISTRY_REQUIRED_PROVIDERS names this provider (CI), an experiment that did not run fails.
          expect(notRun === undefined || !local.required, `required provider ${name} did not run it: ${notRun}`).toBe(
            true,
          );
          context.skip(notRun !== undefined, notRun);
          if (failed) process.stdout.write(`${failed}\n`);
          expect(failed).toBe('');
        });
      }
    }
  });
}

// Negative controls: the same experiments against a deliberately broken set-up must fail, on the
// hypothesis each control targets. One provider is enough: the controls test the hypotheses, not the stack.
// They run side by side, each on a stack of its own: nothing they judge is a timing the others' load
// could make pass (a breaker that cannot open, a check path that fails while MLflow is down, a killed
// replica without retries, no cache, no probe), and no timed suite runs beside them. A control with abuse
// experiments (the unbounded cache) runs after them, alone: its load, MLflow building 0.8 MB answers,
// stretched their scaled health checks (beside it, no-breaker's mlflow-down failed in 1 of 3 runs waiting
// for HAProxy to see its replicas UP, 2026-11-30).
const controlProvider = localProviders().find(({ name }) => name === 'process');
if (controlProvider) {
  describeOnProvider('Negative controls', controlProvider, () => {
    const plans = CONTROLS.map(controlPlan);
    const sideBySide = (plan: (typeof plans)[number]) => plan.abuseExperiments.length === 0;
    // vitest runs consecutive concurrent tests together, and a sequential one after them.
    for (const plan of [...plans.filter(sideBySide), ...plans.filter((plan) => !sideBySide(plan))]) {
      const control = plan.control;
      (sideBySide(plan) ? it.concurrent : it)(
        `reports "${plan.mustFail}" as FAILED in every experiment of control ${control}`,
        async ({ expect }) => {
          const stack = await startStack({
            provider: 'process',
            serviceEnv: { ...CHAOS_SERVICE_ENV, ...plan.serviceEnv },
            mlflowProxyPort: await watchableMlflowPort(),
            ...chaosFleet({ check: plan.loadBalancerCheck, retries: plan.loadBalancerRetries }),
          });
          try {
            const report = await runSuite({
              stack,
              control: plan,
              timeScale: DEFAULT_TIME_SCALE,
              concurrency: CONCURRENCY,
            });
            writeReports(report, `${workspaceRoot()}/reports/chaos-test-control-${control}`);
            process.stdout.write(`${report.control?.summary}\n`);
            expect([...report.results, ...report.fleet, ...report.abuse].map((result) => result.id)).toEqual(
              [...plan.experiments, ...plan.fleetExperiments, ...plan.abuseExperiments].map((e) => e.id),
            );
            expect(report.control).toMatchObject({ held: true, escaped: [] });
          } finally {
            await stack.stop();
          }
        },
        600_000,
      );
    }
  });
}
