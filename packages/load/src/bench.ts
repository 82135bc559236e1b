#!/usr/bin/env node
// `npm run bench`: the three ratios of docs/performance.md, measured in one run on one machine.
//  1. /health/live throughput of the service vs a bare Fastify route returning the same body (>= 0.9)
//  2. MLflow-bound p99 with the breaker open vs the request timeout (<= 1/500)
//  3. core-route (/version) throughput with MLflow down vs healthy (>= 0.9)
// Rounds alternate between the two sides of each ratio so that drift on a shared machine hits both.
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fetchJson, freePort, spawnManaged, waitFor, workspaceRoot } from '@registry/testkit';
import autocannon from 'autocannon';
import { applyPrecondition, startLocalTarget } from './target.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
/** Seconds of discarded load per side before measuring, so both are JIT-warm. */
const WARMUP_SECONDS = 5;
const CONNECTIONS = 50;
/** The service's default MLFLOW_REQUEST_TIMEOUT, which the bench service runs with. */
const REQUEST_TIMEOUT_MS = 10_000;

async function measure(url: string, path: string, connections = CONNECTIONS, seconds = SECONDS) {
  const result = await autocannon({ url: `${url}${path}`, connections, duration: seconds });
  return { rps: result.requests.average, p99Ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
};

async function main(): Promise<void> {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  const target = await startLocalTarget();
  const barePort = await freePort();
  const bare = spawnManaged('bare-fastify', process.execPath, [
    fileURLToPath(new URL('./bare-server.js', import.meta.url)),
    String(barePort),
  ]);
  const bareUrl = `http://127.0.0.1:${barePort}`;
  try {
    await waitFor(async () => (await fetchJson(`${bareUrl}/health/live`)).status === 200, {
      timeoutMs: 15_000,
      what: 'the bare Fastify server',
    });
    log(
      `bench: ${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections; service ${target.serviceUrl}, bare ${bareUrl}`,
    );

    await measure(bareUrl, '/health/live', CONNECTIONS, WARMUP_SECONDS);
    await measure(target.serviceUrl, '/health/live', CONNECTIONS, WARMUP_SECONDS);
    await measure(target.serviceUrl, '/version', CONNECTIONS, WARMUP_SECONDS);
    const serviceLive: number[] = [];
    const bareLive: number[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      // Alternate which side goes first, so drift during a round does not favour one side.
      if (round % 2 === 1) {
        bareLive.push((await measure(bareUrl, '/health/live')).rps);
        serviceLive.push((await measure(target.serviceUrl, '/health/live')).rps);
      } else {
        serviceLive.push((await measure(target.serviceUrl, '/health/live')).rps);
        bareLive.push((await measure(bareUrl, '/health/live')).rps);
      }
      log(`  live round ${round}: bare ${bareLive.at(-1)} rps, service ${serviceLive.at(-1)} rps`);
    }

    const coreHealthy: number[] = [];
    const coreDown: number[] = [];
    const openP99: number[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      await applyPrecondition(target, 'mlflow-healthy');
      coreHealthy.push((await measure(target.serviceUrl, '/version')).rps);
      await applyPrecondition(target, 'mlflow-down');
      coreDown.push((await measure(target.serviceUrl, '/version')).rps);
      const failing = await measure(target.serviceUrl, '/api/v1/models?search=bench-uncached', 20);
      openP99.push(failing.p99Ms);
      log(
        `  core round ${round}: healthy ${coreHealthy.at(-1)} rps, down ${coreDown.at(-1)} rps; breaker-open p99 ${failing.p99Ms} ms over ${failing.non2xx} answers (503s)`,
      );
    }
    await applyPrecondition(target, 'mlflow-healthy');

    const ratios = [
      {
        name: '/health/live throughput: service / bare Fastify',
        value: median(serviceLive) / median(bareLive),
        target: '>= 0.9',
        passed: median(serviceLive) / median(bareLive) >= 0.9,
      },
      {
        name: 'MLflow-bound p99 with the breaker open / request timeout',
        value: median(openP99) / REQUEST_TIMEOUT_MS,
        target: '<= 0.002 (1/500)',
        passed: median(openP99) / REQUEST_TIMEOUT_MS <= 1 / 500,
      },
      {
        name: 'core-route throughput: MLflow down / MLflow healthy',
        value: median(coreDown) / median(coreHealthy),
        target: '>= 0.9',
        passed: median(coreDown) / median(coreHealthy) >= 0.9,
      },
    ];
    log('\nratio | value | target | verdict');
    for (const r of ratios) log(`${r.name} | ${r.value.toFixed(4)} | ${r.target} | ${r.passed ? 'met' : 'NOT MET'}`);
    const dir = `${workspaceRoot()}/reports/load`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      `${dir}/bench.json`,
      `${JSON.stringify({ at: new Date().toISOString(), rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, serviceLive, bareLive, coreHealthy, coreDown, openP99, ratios }, null, 2)}\n`,
    );
    log(`\nbench: raw numbers in ${dir}/bench.json`);
    process.exitCode = ratios.every((r) => r.passed) ? 0 : 1;
  } finally {
    await bare.stop();
    await target.stop();
  }
}

await main();
