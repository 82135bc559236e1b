#!/usr/bin/env node
// `npm run bench`: the performance ratios of docs/performance.md, measured in one run on one machine,
// with the service at its default log level (LOG_LEVEL=info) and the load stack's probe, breaker and
// bulkhead settings (LOAD_SERVICE_ENV: the breaker-open ratio needs it to open and close in seconds).
//  1. /health/live throughput of the service vs a bare Fastify route returning the same body (>= 0.9),
//     and both vs Node's own http server with that body (the physical ceiling; reported)
//  2. MLflow-bound p99 with the breaker open vs the request timeout (<= 1/500)
//  3. core-route (/version) throughput with MLflow down vs healthy (>= 0.9)
// Each ratio is the median of its per-round ratios, printed with their spread (min-max). Rounds rotate
// which side goes first so that drift on a shared machine hits every side. Where `taskset` exists, the
// servers run on CPU 0 and the load generator (this process) on CPU 1, so they do not share a core.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { SETTINGS } from '@registry/service';
import { workspaceRoot } from '@registry/testkit';
import autocannon from 'autocannon';
import { type BareServer, startBareServer } from './baseline.js';
import { applyPrecondition, LOAD_SERVICE_ENV, startLocalTarget } from './target.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
/** Seconds of discarded load per side before measuring, so every side is JIT-warm. */
const WARMUP_SECONDS = 5;
const CONNECTIONS = 50;
/** The service's default MLFLOW_REQUEST_TIMEOUT, which the bench service runs with. */
const REQUEST_TIMEOUT_MS = 10_000;
const SERVER_CPU = 0;
const GENERATOR_CPU = 1;

async function measure(url: string, path: string, connections = CONNECTIONS, seconds = SECONDS) {
  const result = await autocannon({ url: `${url}${path}`, connections, duration: seconds });
  return { rps: result.requests.average, p99Ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors };
}

const sorted = (values: readonly number[]) => [...values].sort((a, b) => a - b);
const median = (values: readonly number[]) => sorted(values)[Math.floor(values.length / 2)] ?? 0;

/** CPUs this process may use, read before any pinning (pinning narrows what the call reports). */
const CPUS = availableParallelism();

/** Pins this process (every thread) to `cpu`; false where taskset is missing or the CPU does not exist. */
function pinSelf(cpu: number): boolean {
  if (CPUS <= cpu) return false;
  return spawnSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' }).status === 0;
}

/** One ratio: the median of the per-round ratios with their spread, and its target. */
interface Ratio {
  readonly name: string;
  readonly perRound: readonly number[];
  readonly value: number;
  readonly min: number;
  readonly max: number;
  readonly target: string;
  readonly passed: boolean | null;
}

function ratio(
  name: string,
  numerators: readonly number[],
  denominators: readonly number[],
  target?: [string, (value: number) => boolean],
): Ratio {
  const perRound = numerators.map((n, i) => n / (denominators[i] ?? Number.NaN));
  const value = median(perRound);
  return {
    name,
    perRound,
    value,
    min: sorted(perRound)[0] ?? 0,
    max: sorted(perRound).at(-1) ?? 0,
    target: target?.[0] ?? 'reported',
    passed: target ? target[1](value) : null,
  };
}

async function main(): Promise<void> {
  const log = (line: string) => process.stdout.write(`${line}\n`);
  // Children inherit the affinity: pin to the servers' CPU while starting them, then move to our own.
  const pinned = pinSelf(SERVER_CPU);
  // The service's own default log level, given explicitly: a started service otherwise logs at `warn`.
  const serviceEnv = { ...LOAD_SERVICE_ENV, LOG_LEVEL: SETTINGS.LOG_LEVEL.default };
  const target = await startLocalTarget(serviceEnv);
  const servers: BareServer[] = [];
  try {
    const bare = await startBareServer('fastify');
    servers.push(bare);
    const raw = await startBareServer('node-http');
    servers.push(raw);
    const separated = pinned && pinSelf(GENERATOR_CPU);
    log(
      `bench: ${ROUNDS} rounds of ${SECONDS} s, ${CONNECTIONS} connections; service (LOG_LEVEL=${serviceEnv.LOG_LEVEL}, its default) ${target.serviceUrl}, bare Fastify ${bare.url}, node:http ${raw.url}`,
    );
    log(
      separated
        ? `bench: servers on CPU ${SERVER_CPU}, load generator on CPU ${GENERATOR_CPU} (taskset)`
        : 'bench: taskset or a second CPU is missing: servers and load generator share the CPUs',
    );

    const sides = [
      { name: 'service', url: target.serviceUrl, rps: [] as number[] },
      { name: 'bare', url: bare.url, rps: [] as number[] },
      { name: 'node-http', url: raw.url, rps: [] as number[] },
    ];
    for (const side of sides) await measure(side.url, '/health/live', CONNECTIONS, WARMUP_SECONDS);
    await measure(target.serviceUrl, '/version', CONNECTIONS, WARMUP_SECONDS);
    for (let round = 0; round < ROUNDS; round += 1) {
      // Rotate which side goes first, so drift during a round does not favour one side.
      for (let i = 0; i < sides.length; i += 1) {
        const side = sides[(round + i) % sides.length] as (typeof sides)[number];
        side.rps.push((await measure(side.url, '/health/live')).rps);
      }
      log(`  live round ${round + 1}: ${sides.map((s) => `${s.name} ${s.rps.at(-1)} rps`).join(', ')}`);
    }
    const [service, bareSide, rawSide] = sides as [(typeof sides)[0], (typeof sides)[0], (typeof sides)[0]];

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
      ratio('/health/live throughput: service / bare Fastify', service.rps, bareSide.rps, ['>= 0.9', (v) => v >= 0.9]),
      ratio('/health/live throughput: service / node:http', service.rps, rawSide.rps),
      ratio('/health/live throughput: bare Fastify / node:http', bareSide.rps, rawSide.rps),
      ratio(
        'MLflow-bound p99 with the breaker open / request timeout',
        openP99,
        openP99.map(() => REQUEST_TIMEOUT_MS),
        ['<= 0.002 (1/500)', (v) => v <= 1 / 500],
      ),
      ratio('core-route throughput: MLflow down / MLflow healthy', coreDown, coreHealthy, ['>= 0.9', (v) => v >= 0.9]),
    ];
    log('\nratio | median | spread (min-max) | target | verdict');
    for (const r of ratios) {
      const verdict = r.passed === null ? '-' : r.passed ? 'met' : 'NOT MET';
      log(`${r.name} | ${r.value.toFixed(4)} | ${r.min.toFixed(4)}-${r.max.toFixed(4)} | ${r.target} | ${verdict}`);
    }
    const dir = `${workspaceRoot()}/reports/load`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      `${dir}/bench.json`,
      `${JSON.stringify({ at: new Date().toISOString(), rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS, separatedCpus: separated, live: Object.fromEntries(sides.map((s) => [s.name, s.rps])), coreHealthy, coreDown, openP99, ratios }, null, 2)}\n`,
    );
    log(`\nbench: raw numbers in ${dir}/bench.json`);
    process.exitCode = ratios.every((r) => r.passed !== false) ? 0 : 1;
  } finally {
    await Promise.all(servers.map((server) => server.stop()));
    await target.stop();
  }
}

await main();
