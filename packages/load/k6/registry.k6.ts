// k6 entry script: runs one scenario from ../src/scenarios.ts with k6's own executors and thresholds.
//   k6 run -e TARGET=http://127.0.0.1:8000 -e SCENARIO=live-concurrent packages/load/k6/registry.k6.ts
// `npm run load` calls it once per scenario when a k6 binary is on PATH. Scenarios that fail or slow
// MLflow need Toxiproxy, which the Node engine drives; this script runs the others.
import { check, sleep } from 'k6';
import http from 'k6/http';
import type { Scenario as K6Scenario, Options } from 'k6/options';
import { type Load, SCENARIOS, type Stream, type WeightedRequest } from '../src/scenarios.ts';

const target = (__ENV.TARGET ?? 'http://127.0.0.1:8000').replace(/\/+$/, '');
const scenarioId = __ENV.SCENARIO ?? 'live-sequential';
const found = SCENARIOS.find((s) => s.id === scenarioId);
if (!found) throw new Error(`unknown scenario ${scenarioId}`);
if (found.precondition !== 'mlflow-healthy') {
  throw new Error(
    `scenario ${scenarioId} needs MLflow ${found.precondition}: run it with the Node engine (npm run load)`,
  );
}
const scenario = found;

function executor(load: Load, durationSec: number, stream: string): K6Scenario {
  const base = { exec: 'runStream', env: { STREAM: stream } };
  switch (load.executor) {
    case 'sequential':
      return { ...base, executor: 'constant-vus', vus: 1, duration: `${durationSec}s` };
    case 'constant-vus':
      return { ...base, executor: 'constant-vus', vus: load.vus, duration: `${durationSec}s` };
    case 'constant-arrival-rate':
      return {
        ...base,
        executor: 'constant-arrival-rate',
        rate: load.rate,
        timeUnit: '1s',
        duration: `${durationSec}s`,
        preAllocatedVUs: load.vus,
      };
    case 'ramping-arrival-rate':
      return {
        ...base,
        executor: 'ramping-arrival-rate',
        startRate: load.stages[0]?.rate ?? 1,
        timeUnit: '1s',
        preAllocatedVUs: load.vus,
        // Each stage: jump to its rate within a second, then hold it.
        stages: load.stages.flatMap((stage) => [
          { target: stage.rate, duration: '1s' },
          { target: stage.rate, duration: `${Math.max(1, stage.durationSec - 1)}s` },
        ]),
      };
  }
}

function thresholdsFor(stream: Stream): Record<string, string[]> {
  const tag = `{scenario:${stream.name}}`;
  const t = stream.thresholds;
  return {
    [`http_req_duration${tag}`]: [`p(95)<=${t.p95Ms}`, `p(99)<=${t.p99Ms}`, ...(t.maxMs ? [`max<=${t.maxMs}`] : [])],
    [`http_req_failed${tag}`]: [`rate<=${t.maxErrorRate}`],
    [`http_reqs${tag}`]: [`rate>=${t.minRps}`],
  };
}

export const options: Options = {
  scenarios: Object.fromEntries(scenario.streams.map((s) => [s.name, executor(s.load, scenario.durationSec, s.name)])),
  thresholds: Object.assign({}, ...scenario.streams.map(thresholdsFor)),
};

function pick(requests: readonly WeightedRequest[]): WeightedRequest {
  const total = requests.reduce((sum, r) => sum + r.weight, 0);
  let roll = Math.random() * total;
  for (const request of requests) {
    roll -= request.weight;
    if (roll <= 0) return request;
  }
  return requests[requests.length - 1] as WeightedRequest;
}

export function runStream(): void {
  const stream = scenario.streams.find((s) => s.name === __ENV.STREAM) as Stream;
  const request = pick(stream.requests);
  const headers: Record<string, string> = request.body ? { 'content-type': 'application/json' } : {};
  const params = {
    headers,
    timeout: '10s',
    responseCallback: stream.expectedStatuses ? http.expectedStatuses(...stream.expectedStatuses) : undefined,
  };
  const response = http.request(request.method, `${target}${request.path}`, request.body ?? null, params);
  if (stream.requireRetryAfter) check(response, { 'has Retry-After': (r) => r.headers['Retry-After'] !== undefined });
  if (stream.load.executor === 'constant-vus' && stream.load.thinkTimeMs) sleep(stream.load.thinkTimeMs / 1000);
}
