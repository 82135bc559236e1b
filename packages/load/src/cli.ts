#!/usr/bin/env node
// `npm run load`: runs every load scenario with the Node engine against a local stack (real MLflow and
// Toxiproxy from testkit) or, with --target, against a deployed service; then the same scenarios with k6
// when a k6 binary is on PATH. Prints a table per scenario, writes JSON and HTML, exits 1 on a breach.
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseApiKeys, workspaceRoot } from '@registry/testkit';
import { BASELINE, measureBaseline } from './baseline.js';
import { isK6Available, runK6 } from './k6-engine.js';
import { formatScenario, type LoadReport, writeLoadReports } from './report.js';
import { runScenario, type ScenarioResult } from './run-scenario.js';
import { LOAD_BULKHEAD, needsToxiproxy, SCENARIOS } from './scenarios.js';
import { connectRemoteTarget, type LoadTarget, restoreTarget, seedLoadModel, startLocalTarget } from './target.js';

const FAULT_SCENARIOS = SCENARIOS.filter(needsToxiproxy)
  .map((s) => s.id)
  .join(', ');

const USAGE = `usage: npm run load -- [--target URL] [--toxiproxy URL] [--toxiproxy-proxy NAME] [--only id,id]
                       [--report-dir DIR] [--duration-scale N]

  --target          a deployed service (default: start a local stack: real MLflow, Toxiproxy, the service)
  --toxiproxy       with --target: the Toxiproxy API in front of that service's MLflow; without it the
                    MLflow-fault scenarios (${FAULT_SCENARIOS}) are not run; mlflow-saturated
                    assumes the service runs the default bulkhead (${LOAD_BULKHEAD.maxConcurrency} calls + ${LOAD_BULKHEAD.queueSize} queued)
  --toxiproxy-proxy the proxy's name on that Toxiproxy (default mlflow)
  --only            run only these scenarios: ${SCENARIOS.map((s) => s.id).join(', ')}
  --report-dir      where load-report.json and load-report.html go (default: reports/load in the repo)
  --duration-scale  multiply every scenario's duration (default 1)

  REGISTRY_API_KEY  with --target: the API key requests carry (x-api-key), for a service that runs with
                    API_KEYS (a deployed one does); several, comma-separated, are spread across
                    connections (the service gives each key MLFLOW_CLIENT_MAX_CONCURRENCY calls at once)`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      target: { type: 'string' },
      toxiproxy: { type: 'string' },
      'toxiproxy-proxy': { type: 'string' },
      only: { type: 'string' },
      'report-dir': { type: 'string' },
      'duration-scale': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.toxiproxy && !values.target) fail('--toxiproxy goes with --target (a local run starts its own Toxiproxy)');
  const only = values.only?.split(',').map((id) => id.trim());
  const unknown = only?.filter((id) => !SCENARIOS.some((s) => s.id === id)) ?? [];
  if (unknown.length > 0) fail(`--only: unknown scenario ${unknown.join(', ')}`);
  const durationScale = Number(values['duration-scale'] ?? 1);
  if (!Number.isFinite(durationScale) || durationScale <= 0) fail('--duration-scale: expected a number above 0');
  const reportDir = resolve(values['report-dir'] ?? `${workspaceRoot()}/reports/load`);
  // From the environment, not a flag: a key on the command line shows in the process list.
  const apiKeys = parseApiKeys(process.env.REGISTRY_API_KEY);
  const scenarios = only ? SCENARIOS.filter((s) => only.includes(s.id)) : SCENARIOS;

  const log = (line: string) => process.stdout.write(`${line}\n`);
  const started = Date.now();
  log(values.target ? `load: checking ${values.target}` : 'load: starting a local stack');
  const target: LoadTarget = values.target
    ? await connectRemoteTarget(values.target, values.toxiproxy, values['toxiproxy-proxy'], apiKeys)
    : await startLocalTarget();
  process.once('SIGINT', () => void target.stop().then(() => process.exit(130)));
  try {
    log(`load: target ${target.description}`);
    // Capacity thresholds are shares of a bare route on the machine that runs the service; against a
    // deployed target that machine is elsewhere, so its throughput is printed but not judged.
    const baselineRps = values.target ? undefined : await measureBaseline();
    log(
      baselineRps === undefined
        ? 'load: no baseline (deployed target): throughput is reported, not judged; latency and error thresholds hold'
        : `load: baseline ${Math.round(baselineRps)} rps (bare Fastify route, ${BASELINE.connections} connections, ${BASELINE.seconds} s); capacity thresholds are shares of it`,
    );
    await seedLoadModel(target.serviceUrl, target.apiKeys[0]);
    const results: ScenarioResult[] = [];
    const skipped: LoadReport['skipped'][number][] = [];
    for (const [index, scenario] of scenarios.entries()) {
      const progress = `[${index + 1}/${scenarios.length}]`;
      if (needsToxiproxy(scenario) && !target.proxy) {
        const reason = 'needs a Toxiproxy in front of MLflow (pass --toxiproxy)';
        log(`${progress} SKIP ${scenario.title}: ${reason}`);
        skipped.push({ id: scenario.id, title: scenario.title, reason });
        continue;
      }
      log(`${progress} running ${scenario.title} (${Math.round(scenario.durationSec * durationScale)} s) ...`);
      const result = await runScenario(scenario, target, { durationScale, baselineRps });
      results.push(result);
      log(formatScenario(result));
    }
    await restoreTarget(target);

    const engines: LoadReport['engines'][number][] = [
      { name: 'node (autocannon)', ran: true, note: `${results.length} scenarios run` },
    ];
    let k6Failures = 0;
    if (isK6Available()) {
      const healthy = scenarios.filter((s) => !needsToxiproxy(s));
      for (const scenario of healthy) {
        if ((await runK6(target.serviceUrl, scenario.id, baselineRps)) !== 0) k6Failures += 1;
      }
      engines.push({
        name: 'k6',
        ran: true,
        note: `${healthy.length - k6Failures} of ${healthy.length} scenarios within thresholds`,
      });
    } else {
      const note =
        'k6 not found on PATH: the k6 engine did not run (not counted as a pass); the Node engine ran the same definitions';
      log(`load: ${note}`);
      engines.push({ name: 'k6', ran: false, note });
    }
    const passed = results.every((r) => r.passed) && k6Failures === 0;
    const report: LoadReport = {
      target: target.description,
      baselineRps,
      startedAt: new Date(started).toISOString(),
      durationMs: Date.now() - started,
      engines,
      results,
      skipped,
      passed,
    };
    const paths = writeLoadReports(report, reportDir);
    const failed = results.filter((r) => !r.passed);
    log(`\nreports: ${paths.json}\n         ${paths.html}`);
    log(
      `load: ${results.length - failed.length} passed, ${failed.length} failed, ${skipped.length} not run in ${Math.round((Date.now() - started) / 1000)} s`,
    );
    return report.passed ? 0 : 1;
  } finally {
    await target.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`load: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
