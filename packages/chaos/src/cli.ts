#!/usr/bin/env node
// `npm run chaos`: starts (or connects to) MLflow, Toxiproxy and the service, runs every experiment with
// progress, prints the resiliency matrix, writes JSON and HTML reports, exits 1 if any hypothesis failed.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FisClient } from '@aws-sdk/client-fis';
import {
  type ContainerNetworking,
  connectDeployedStack,
  containerNetworkingFromEnv,
  PROVIDERS,
  type ProviderName,
  parseContainerNetworking,
  providerFromEnv,
  startStack,
  workspaceRoot,
} from '@registry/testkit';
import { ABUSE_EXPERIMENTS } from './abuse/experiments.js';
import { watchableMlflowPort } from './abuse/neighbours.js';
import { formatAbuseChecks, formatAbuseMatrix } from './abuse/report.js';
import { CONTROLS, type Control, controlPlan } from './controls.js';
import { EXPERIMENTS } from './experiments.js';
import { fisExperiments } from './fis.js';
import { FLEET_EXPERIMENTS } from './fleet-experiments.js';
import {
  chaosFleet,
  DEFAULT_CONCURRENCY_RULE,
  DEFAULT_REPLICAS,
  DEFAULT_TIME_SCALE,
  defaultConcurrency,
  MAX_CONCURRENCY,
  MAX_REPLICAS,
} from './health-checks.js';
import { formatChecks, formatFleetTable, formatMatrix, writeReports } from './report.js';
import { CHAOS_SERVICE_ENV } from './settings.js';
import { runSuite } from './suite.js';

const CLASSES = ['fault', 'abuse', 'fleet'] as const;

const USAGE = `usage: npm run chaos -- [--provider process|containers|external] [--network host|network]
                        [--class fault|abuse|fleet] [--only id,id] [--report-dir DIR] [--time-scale N]
                        [--replicas N] [--concurrency N] [--abuse-alongside] [--fis]
                        [--control ${CONTROLS.join('|')}]

  --provider    default REGISTRY_PROVIDER, else containers when a Docker engine answers, else process.
                process: start MLflow and Toxiproxy here as processes (needs Python and Go; npm run setup);
                containers: start them as containers (testcontainers; the PostgreSQL and HAProxy images
                are built from the Debian packages npm run setup installs);
                external: use running ones (REGISTRY_SERVICE_URL, REGISTRY_MLFLOW_URL, REGISTRY_TOXIPROXY_URL,
                REGISTRY_TOXIPROXY_PROXY)
  --concurrency fault experiments side by side, each on a lane of its own (a proxy in front of a shared
                MLflow, its own replicas and HAProxy; those that kill or break MLflow on a lane with an
                MLflow of its own), the fleet experiments one after the other on one of the lanes from the
                start; then the abuse class, alone (default ${defaultConcurrency()} here:
                ${DEFAULT_CONCURRENCY_RULE}; 1: every experiment one after the other)
  --abuse-alongside  with lanes, the abuse class (but its floods) runs on the stack beside them, the lanes
                around MLflows of their own: faster, but on 2 cores the liveness bound did not hold
  --fis         external only: the faults come from AWS FIS experiment templates (infrastructure/terraform/
                fis.tf, found by their registry-chaos tag; AWS credentials and region from the usual AWS_*
                variables) instead of Toxiproxy; traffic and hypotheses go through REGISTRY_SERVICE_URL, the
                load balancer's URL (REGISTRY_API_KEY when the service requires API keys)
  --network     containers only; default REGISTRY_CONTAINERS_NETWORK, else host when the engine has no
                bridge network, else network. host: every container on the host's network, on loopback
                ports; network: a network created for the run, Toxiproxy reaching MLflow by its alias
  --class       run one class only: fault (MLflow fails), abuse (hostile clients) or fleet (replicas
                killed and replaced, rolling deployments); default all three
  --only        run only these experiments; fault: ${EXPERIMENTS.map((e) => e.id).join(', ')}
                abuse: ${ABUSE_EXPERIMENTS.map((e) => e.id).join(', ')}
                fleet: ${FLEET_EXPERIMENTS.map((e) => e.id).join(', ')}
  --report-dir  where chaos-report.json and chaos-report.html go (default: reports/chaos in the repo)
  --time-scale  load-balancer time compression (default ${DEFAULT_TIME_SCALE}: 30 s intervals become 1.5 s)
  --replicas    service replicas behind HAProxy, 1 to ${MAX_REPLICAS} (default ${DEFAULT_REPLICAS}; process and containers)
  --control     a negative control, whose hypotheses must FAIL (exit 0 when they all do, 1 otherwise):
${CONTROLS.map((name) => `                ${name}: ${controlPlan(name).description}; must fail "${controlPlan(name).mustFail}"`).join('\n')}`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      provider: { type: 'string' },
      network: { type: 'string' },
      only: { type: 'string' },
      class: { type: 'string' },
      'report-dir': { type: 'string' },
      'time-scale': { type: 'string' },
      replicas: { type: 'string' },
      fis: { type: 'boolean' },
      concurrency: { type: 'string' },
      'abuse-alongside': { type: 'boolean' },
      control: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const provider = (values.provider ?? providerFromEnv()) as ProviderName;
  if (!PROVIDERS.includes(provider)) fail(`--provider: expected one of ${PROVIDERS.join(', ')} (got "${provider}")`);
  if (values.network && provider !== 'containers') fail('--network applies to the containers provider only');
  let networking: ContainerNetworking | undefined;
  try {
    if (values.network) networking = parseContainerNetworking(values.network, '--network');
    else if (provider === 'containers') networking = containerNetworkingFromEnv();
  } catch (error) {
    fail((error as Error).message);
  }
  const only = values.only?.split(',').map((id) => id.trim());
  const known = [...EXPERIMENTS, ...ABUSE_EXPERIMENTS, ...FLEET_EXPERIMENTS].map((e) => e.id);
  const unknown = only?.filter((id) => !known.includes(id)) ?? [];
  if (unknown.length > 0) fail(`--only: unknown experiment ${unknown.join(', ')}`);
  const experimentClass = values.class;
  if (experimentClass !== undefined && !(CLASSES as readonly string[]).includes(experimentClass)) {
    fail(`--class: expected one of ${CLASSES.join(', ')} (got "${experimentClass}")`);
  }
  const selected = <T extends { id: string }>(list: readonly T[], name: (typeof CLASSES)[number]) =>
    (experimentClass ?? name) === name ? list.filter((e) => !only || only.includes(e.id)) : [];
  const timeScale = Number(values['time-scale'] ?? DEFAULT_TIME_SCALE);
  if (!Number.isFinite(timeScale) || timeScale < 1) fail('--time-scale: expected a number of 1 or more');
  const replicas = Number(values.replicas ?? DEFAULT_REPLICAS);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) {
    fail(`--replicas: expected a whole number from 1 to ${MAX_REPLICAS} (got "${values.replicas}")`);
  }
  if (values.replicas !== undefined && provider === 'external')
    fail('--replicas: the external provider runs no replicas');
  if (values.fis && provider !== 'external') fail('--fis applies to the external provider only');
  const concurrency = Number(values.concurrency ?? defaultConcurrency());
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    fail(`--concurrency: expected a whole number from 1 to ${MAX_CONCURRENCY} (got "${values.concurrency}")`);
  }
  if (values.concurrency !== undefined && provider === 'external')
    fail('--concurrency: the external provider has one stack');
  if (values.fis && (values.only || values.class || values.control)) fail('--fis runs every FIS template, on its own');

  const controlName = values.control;
  if (controlName !== undefined && !(CONTROLS as readonly string[]).includes(controlName)) {
    fail(`--control: expected one of ${CONTROLS.join(', ')} (got "${controlName}")`);
  }
  if (controlName !== undefined && (values.only || values.class)) fail('--control runs its own experiments');
  const control = controlName === undefined ? undefined : controlPlan(controlName as Control);
  const defaultReportDir = `${workspaceRoot()}/reports/chaos${control ? `/control-${control.control}` : ''}`;
  const reportDir = resolve(values['report-dir'] ?? defaultReportDir);
  const experiments = selected(EXPERIMENTS, 'fault');
  const abuseExperiments = selected(ABUSE_EXPERIMENTS, 'abuse');
  const fleetExperiments = selected(FLEET_EXPERIMENTS, 'fleet');
  if (experiments.length + abuseExperiments.length + fleetExperiments.length === 0) fail('no experiment selected');

  const log = (line: string) => process.stdout.write(`${line}\n`);
  if (values.fis) return runFis(reportDir, timeScale, log);
  log(`chaos: starting the ${provider} stack${networking ? ` (${networking} networking)` : ''}`);
  if (control) log(`chaos: negative control ${control.control}: ${control.description}; its hypotheses must FAIL`);
  const started = Date.now();
  // A low port for MLflow's proxy, so that every port next to it can be watched (abuse class).
  const mlflowProxyPort = await watchableMlflowPort();
  const serviceEnv = { ...CHAOS_SERVICE_ENV, ...control?.serviceEnv };
  const fleet = chaosFleet({
    replicas,
    timeScale,
    check: control?.loadBalancerCheck,
    retries: control?.loadBalancerRetries,
  });
  const stack = await startStack({ provider, networking, serviceEnv, mlflowProxyPort, ...fleet });
  const stop = async () => {
    await stack.stop();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    const entry = stack.loadBalancer
      ? `HAProxy ${stack.loadBalancer.url} in front of ${stack.replicas.map((replica) => replica.url).join(', ')}`
      : `service ${stack.service.url}`;
    log(`chaos: stack up in ${Math.round((Date.now() - started) / 1000)} s; ${entry}`);
    const report = await runSuite({
      stack,
      experiments,
      abuseExperiments,
      fleetExperiments,
      timeScale,
      concurrency: provider === 'external' ? 1 : concurrency,
      abuseAlongside: values['abuse-alongside'] === true,
      control,
      log,
      onResult: (result) => {
        log(`    ${result.passed ? 'PASS' : 'FAIL'} ${result.title}`);
        log(formatChecks(result));
      },
      onAbuseResult: (result) => {
        log(`    ${result.passed ? 'PASS' : 'FAIL'} ${result.title}`);
        log(formatAbuseChecks(result));
      },
      onFleetResult: (result) => {
        log(`    ${result.passed ? 'PASS' : 'FAIL'} ${result.title}`);
        log(formatChecks(result));
      },
    });
    if (report.results.length > 0) {
      log('\nResiliency matrix (observed outcome while the fault lasted and the breaker was open):\n');
      log(formatMatrix(report.results));
    }
    if (report.abuse.length > 0) {
      log('\nResiliency matrix, abuse class (observed figure per hypothesis while hostile clients attacked):\n');
      log(formatAbuseMatrix(report.abuse));
    }
    if (report.fleet.length > 0) {
      log('\nFleet class (replicas behind HAProxy killed, drained and replaced under traffic):\n');
      log(formatFleetTable(report.fleet));
    }
    for (const skipped of report.skipped) log(`not run: ${skipped.title} (${skipped.reason})`);
    const paths = writeReports(report, reportDir);
    const all = [...report.results, ...report.abuse, ...report.fleet];
    const failed = all.filter((r) => !r.passed);
    log(`\nreports: ${paths.json}\n         ${paths.html}`);
    if (report.control) {
      log(report.control.summary);
      return report.control.held ? 0 : 1;
    }
    log(
      `chaos: ${all.length - failed.length} passed, ${failed.length} failed, ${report.skipped.length} not run in ${Math.round((Date.now() - started) / 1000)} s`,
    );
    return failed.length === 0 ? 0 : 1;
  } finally {
    await stop();
  }
}

/** `--provider external --fis`: every FIS template against the deployed stack, through its load balancer. */
async function runFis(reportDir: string, timeScale: number, log: (line: string) => void): Promise<number> {
  const stack = connectDeployedStack();
  log(`chaos: deployed stack at ${stack.service.url}; faults from AWS FIS`);
  const experiments = await fisExperiments(new FisClient({}));
  const report = await runSuite({
    stack,
    experiments,
    abuseExperiments: [],
    fleetExperiments: [],
    timeScale,
    log,
    onResult: (result) => {
      log(`    ${result.passed ? 'PASS' : 'FAIL'} ${result.title}`);
      log(formatChecks(result));
    },
  });
  log('\nResiliency matrix (AWS FIS faults, observed through the load balancer):\n');
  log(formatMatrix(report.results));
  const paths = writeReports(report, reportDir);
  const failed = report.results.filter((r) => !r.passed);
  log(`\nreports: ${paths.json}\n         ${paths.html}`);
  log(`chaos: ${report.results.length - failed.length} passed, ${failed.length} failed (AWS FIS)`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // The message says what went wrong (a setting, a server that did not start, with its output).
    process.stderr.write(`chaos: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
