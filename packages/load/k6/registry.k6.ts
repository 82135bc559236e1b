// k6 entry script: runs one scenario from ../src/scenarios.ts with k6's own executors and thresholds.
//   k6 run -e TARGET=http://127.0.0.1:8000 -e SCENARIO=live-concurrent packages/load/k6/registry.k6.ts
// `npm run load` calls it once per scenario when a k6 binary is on PATH. Scenarios that fail or slow
// MLflow need Toxiproxy, which the Node engine drives; this script runs the others.
import { sleep } from 'k6';
import http, { type RefinedResponse, type ResponseType } from 'k6/http';
import { Rate } from 'k6/metrics';
import type { Scenario as K6Scenario, Options } from 'k6/options';
import { type Load, SCENARIOS, type Stream, type WeightedRequest } from '../src/scenarios.ts';

const target = (__ENV.TARGET ?? 'http://127.0.0.1:8000').replace(/\/+$/, '');
const scenarioId = __ENV.SCENARIO ?? 'live-sequential';
// The bare-route throughput measured by `npm run load` in the same run; capacity thresholds are shares of it.
const baselineRps = __ENV.BASELINE_RPS ? Number(__ENV.BASELINE_RPS) : undefined;
// k6 passes the system environment through: the keys stay out of the command line. Several,
// comma-separated, are spread across virtual users, as the Node engine spreads them across connections.
const apiKeys = (__ENV.REGISTRY_API_KEY ?? '')
  .split(',')
  .map((key) => key.trim())
  .filter((key) => key !== '');
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
      if (!load.thinkTimeMs) return { ...base, executor: 'constant-vus', vus: load.vus, duration: `${durationSec}s` };
      // Users with a think time start spread over one think time, as the Node engine starts them.
      return {
        ...base,
        executor: 'ramping-vus',
        startVUs: 0,
        stages: [
          { target: load.vus, duration: `${load.thinkTimeMs}ms` },
          { target: load.vus, duration: `${Math.max(0, durationSec * 1000 - load.thinkTimeMs)}ms` },
        ],
      };
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

// A failure as the Node engine counts it: an unexpected status (0 for a socket error or timeout), an
// expected 503 without Retry-After, or an expected refusal with another catalogue code.
const failed = new Rate('registry_failed');
// Answers that are 2xx, for streams whose expected statuses include a refusal.
const served = new Rate('registry_served');

function thresholdsFor(stream: Stream): Record<string, string[]> {
  const tag = `{scenario:${stream.name}}`;
  const t = stream.thresholds;
  return {
    [`http_req_duration${tag}`]: [`p(95)<=${t.p95Ms}`, `p(99)<=${t.p99Ms}`, ...(t.maxMs ? [`max<=${t.maxMs}`] : [])],
    [`registry_failed${tag}`]: [`rate<=${t.maxErrorRate}`],
    ...(t.minBaselineShare !== undefined && baselineRps !== undefined
      ? { [`http_reqs${tag}`]: [`rate>=${Math.floor(t.minBaselineShare * baselineRps)}`] }
      : {}),
    ...(t.minServedShare !== undefined ? { [`registry_served${tag}`]: [`rate>=${t.minServedShare}`] } : {}),
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

function errorCode(response: RefinedResponse<ResponseType | undefined>): string | undefined {
  try {
    const code = response.json('code');
    return typeof code === 'string' ? code : undefined;
  } catch {
    return undefined;
  }
}

function isFailure(stream: Stream, response: RefinedResponse<ResponseType | undefined>): boolean {
  const status = response.status;
  const expected = stream.expectedStatuses ? stream.expectedStatuses.includes(status) : status >= 200 && status < 300;
  if (!expected) return true;
  if (stream.requireRetryAfter && status === 503 && response.headers['Retry-After'] === undefined) return true;
  return stream.refusalCode !== undefined && status >= 300 && errorCode(response) !== stream.refusalCode;
}

export function runStream(): void {
  const stream = scenario.streams.find((s) => s.name === __ENV.STREAM) as Stream;
  const request = pick(stream.requests);
  const headers: Record<string, string> = request.body ? { 'content-type': 'application/json' } : {};
  if (apiKeys.length > 0) headers['x-api-key'] = apiKeys[(__VU - 1) % apiKeys.length] as string;
  const params = {
    headers,
    timeout: '10s',
    responseCallback: stream.expectedStatuses ? http.expectedStatuses(...stream.expectedStatuses) : undefined,
  };
  const response = http.request(request.method, `${target}${request.path}`, request.body ?? null, params);
  failed.add(isFailure(stream, response));
  served.add(response.status >= 200 && response.status < 300);
  if (stream.load.executor === 'constant-vus' && stream.load.thinkTimeMs) sleep(stream.load.thinkTimeMs / 1000);
}
