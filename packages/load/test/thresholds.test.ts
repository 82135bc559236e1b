import { ERRORS, SETTINGS } from '@registry/service';
import { dealKeys, parseApiKeys, percentile, percentileOfSorted } from '@registry/testkit';
import { describe, expect, it } from 'vitest';
import {
  ARRIVAL_TOLERANCE,
  judge,
  LOAD_BULKHEAD,
  LOAD_CLIENT_KEYS,
  LOAD_CLIENTS,
  LOAD_SERVICE_ENV,
  MLFLOW_CALL_COST_MS,
  needsToxiproxy,
  planRuns,
  SATURATED_MIN_SERVED_SHARE,
  SATURATED_P99_MS,
  SATURATION_THINK_TIME_MS,
  SATURATION_USERS,
  SCENARIOS,
  SLOW_MLFLOW_CALL_BUDGET_MS,
  SLOW_MLFLOW_LATENCY_MS,
  THRESHOLDS,
} from '../src/index.js';

const measuredOk = { errorRate: 0, p95Ms: 1, p99Ms: 1, maxMs: 1, servedShare: 1 };

function scenario(id: string) {
  const found = SCENARIOS.find((s) => s.id === id);
  if (!found) throw new Error(`no scenario ${id}`);
  return found;
}

function stream(scenarioId: string, name: string) {
  const found = scenario(scenarioId).streams.find((s) => s.name === name);
  if (!found) throw new Error(`no stream ${name} in ${scenarioId}`);
  return found;
}

describe('percentileOfSorted', () => {
  it('returns the nearest-rank percentile of sorted latencies', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    const at = (p: number) => percentileOfSorted(sorted, p);
    expect([at(50), at(95), at(99), at(100)]).toEqual([50, 95, 99, 100]);
  });

  it('returns 0 without samples', () => {
    expect(percentileOfSorted([], 99)).toBe(0);
  });
});

describe('percentile', () => {
  it('sorts the samples it is given before it ranks them', () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([5, 1, 4, 2, 3], 100)).toBe(5);
  });
});

describe('planRuns', () => {
  it('starts users with a think time in groups spread over one think time, all ending together', () => {
    const [runs = []] = planRuns({ executor: 'constant-vus', vus: 200, thinkTimeMs: 1000 }, 20);
    expect(runs.reduce((sum, run) => sum + run.connections, 0)).toBe(200);
    expect(runs.map((run) => run.startDelayMs)).toEqual(Array.from({ length: runs.length }, (_, i) => i * 50));
    expect(
      runs.every((run) => run.connectionRate === 1 && run.durationSec + (run.startDelayMs ?? 0) / 1000 === 20),
    ).toBe(true);
  });

  it('starts users without a think time at once, as one run', () => {
    expect(planRuns({ executor: 'constant-vus', vus: 50 }, 8)).toEqual([[{ connections: 50, durationSec: 8 }]]);
  });

  it('holds an arrival rate by count: each stage sends exactly its rate times its seconds', () => {
    const stages = planRuns(
      {
        executor: 'ramping-arrival-rate',
        vus: 100,
        stages: [
          { rate: 200, durationSec: 4 },
          { rate: 1000, durationSec: 4 },
        ],
      },
      8,
    );
    expect(stages.map(([run]) => [run?.overallRate, run?.amount])).toEqual([
      [200, 800],
      [1000, 4000],
    ]);
  });
});

describe('judge', () => {
  it('fails every threshold that is breached and only those', () => {
    const verdicts = judge(
      { errorRate: 0.02, p95Ms: 10, p99Ms: 600, maxMs: 700, servedShare: 1, arrivalShare: 0.8 },
      THRESHOLDS.spike,
    );
    expect(verdicts.filter((v) => !v.passed).map((v) => v.name)).toEqual([
      'error rate',
      'p99 ms',
      'arrival rate / asked (held)',
    ]);
  });

  it('voids an arrival-rate stream whose engine overshot the rate it was asked for', () => {
    const verdicts = judge({ ...measuredOk, arrivalShare: 1 + ARRIVAL_TOLERANCE + 0.01 }, THRESHOLDS.spike);
    expect(verdicts.filter((v) => !v.passed).map((v) => v.name)).toEqual(['arrival rate / asked (no overshoot)']);
  });

  it("judges throughput as a share of the run's baseline, and not at all without one", () => {
    const limit = THRESHOLDS.healthConcurrent.minBaselineShare;
    const below = judge({ ...measuredOk, baselineShare: limit - 0.01 }, THRESHOLDS.healthConcurrent);
    expect(below.filter((v) => !v.passed).map((v) => v.name)).toEqual(['rps / baseline']);
    expect(judge({ ...measuredOk, baselineShare: limit }, THRESHOLDS.healthConcurrent).every((v) => v.passed)).toBe(
      true,
    );
    expect(judge(measuredOk, THRESHOLDS.healthConcurrent).map((v) => v.name)).not.toContain('rps / baseline');
  });

  it('checks the maximum latency when the thresholds name one', () => {
    const verdicts = judge({ ...measuredOk, maxMs: 10_000 }, THRESHOLDS.albProbe);
    expect(verdicts.find((v) => v.name === 'max ms')?.passed).toBe(false);
  });

  it('judges no throughput when the thresholds name no floor', () => {
    const verdicts = judge({ ...measuredOk, baselineShare: 0 }, THRESHOLDS.mlflowSaturated);
    expect(verdicts.map((v) => v.name)).not.toContain('rps / baseline');
    expect(verdicts.every((v) => v.passed)).toBe(true);
  });

  it('fails a stream that refuses more than its served share allows', () => {
    const verdicts = judge({ ...measuredOk, servedShare: 0 }, THRESHOLDS.mlflowSaturated);
    expect(verdicts.filter((v) => !v.passed).map((v) => v.name)).toEqual(['served share']);
  });
});

describe('Scenario definitions', () => {
  it('define the ten scenarios the load plan names, each with p99 at or above p95 on every stream', () => {
    expect(SCENARIOS.map((scenario) => scenario.id)).toEqual([
      'live-sequential',
      'live-concurrent',
      'health-detailed',
      'ready-concurrent',
      'mixed',
      'mlflow-down',
      'spike',
      'sustained-slow-mlflow',
      'mlflow-saturated',
      'soak-short',
    ]);
    for (const { streams } of SCENARIOS) {
      for (const { thresholds } of streams) {
        expect(thresholds.p99Ms).toBeGreaterThanOrEqual(thresholds.p95Ms);
        if (thresholds.minBaselineShare !== undefined) {
          expect(thresholds.minBaselineShare).toBeGreaterThan(0);
          expect(thresholds.minBaselineShare).toBeLessThan(1);
        }
      }
    }
  });

  it('judges arrival-rate streams on latency and errors at their rate, never on a throughput floor', () => {
    const arrival = SCENARIOS.flatMap((s) => s.streams).filter((s) => s.load.executor.endsWith('arrival-rate'));
    expect(arrival.length).toBeGreaterThan(0);
    expect(arrival.filter((s) => s.thresholds.minBaselineShare !== undefined).map((s) => s.name)).toEqual([]);
  });

  it('marks exactly the MLflow-fault scenarios as needing Toxiproxy', () => {
    expect(SCENARIOS.filter(needsToxiproxy).map((s) => s.id)).toEqual([
      'mlflow-down',
      'sustained-slow-mlflow',
      'mlflow-saturated',
    ]);
  });

  it('passes only service settings to the local stack', () => {
    expect(Object.keys(LOAD_SERVICE_ENV).filter((name) => !(name in SETTINGS))).toEqual([]);
  });
});

describe('Saturated MLflow scenario', () => {
  it('assumes the bulkhead the service ships with and gives it to the local stack', () => {
    expect(LOAD_BULKHEAD).toEqual({
      maxConcurrency: Number(SETTINGS.MLFLOW_MAX_CONCURRENCY.default),
      queueSize: Number(SETTINGS.MLFLOW_QUEUE_SIZE.default),
    });
    expect(LOAD_SERVICE_ENV).toMatchObject({
      MLFLOW_MAX_CONCURRENCY: String(LOAD_BULKHEAD.maxConcurrency),
      MLFLOW_QUEUE_SIZE: String(LOAD_BULKHEAD.queueSize),
    });
  });

  it("gives each local user a key, so that no key holds more than half the service's default per-client share", () => {
    expect(new Set(LOAD_CLIENT_KEYS).size).toBe(LOAD_CLIENTS);
    expect(LOAD_SERVICE_ENV.API_KEYS?.split(',')).toEqual([...LOAD_CLIENT_KEYS]);
    expect(LOAD_SERVICE_ENV).not.toHaveProperty('MLFLOW_CLIENT_MAX_CONCURRENCY');
    // A scenario's streams run at once and share the keys: count every connection of the scenario.
    const connections = SCENARIOS.map((s) =>
      s.streams.reduce((sum, stream) => sum + ('vus' in stream.load ? stream.load.vus : 1), 0),
    );
    const perKey = Math.ceil(Math.max(...connections) / LOAD_CLIENTS);
    expect(Math.max(...connections)).toBe(SATURATION_USERS + 2);
    expect(perKey).toBeLessThanOrEqual(Number(SETTINGS.MLFLOW_CLIENT_MAX_CONCURRENCY.default) / 2);
  });

  it('deals the keys in turn across every call, round and round, and none when there are none', () => {
    const dealer = dealKeys(['k1', 'k2', 'k3']);
    expect(Array.from({ length: 5 }, () => dealer.next())).toEqual(['k1', 'k2', 'k3', 'k1', 'k2']);
    expect(dealKeys([]).next()).toBeUndefined();
  });

  it('reads a comma-separated key list, trimmed, without empty entries', () => {
    expect(parseApiKeys(' k1, k2,,k3 ')).toEqual(['k1', 'k2', 'k3']);
    expect(parseApiKeys(undefined)).toEqual([]);
  });

  it('keeps MLflow slow but below the request timeout, so nothing fails for the breaker to count', () => {
    const saturated = scenario('mlflow-saturated');
    expect(saturated.precondition).toBe('mlflow-slow');
    expect(saturated.breakerStaysClosed).toBe(true);
    expect(SLOW_MLFLOW_LATENCY_MS).toBeLessThan(Number(SETTINGS.MLFLOW_REQUEST_TIMEOUT.default) * 1000);
  });

  it('runs far more closed-loop users than the bulkhead admits, pausing as a client honouring Retry-After would', () => {
    const { load } = stream('mlflow-saturated', 'mlflow_bound');
    expect(load).toEqual({ executor: 'constant-vus', vus: SATURATION_USERS, thinkTimeMs: SATURATION_THINK_TIME_MS });
    expect(SATURATION_USERS).toBeGreaterThanOrEqual(4 * (LOAD_BULKHEAD.maxConcurrency + LOAD_BULKHEAD.queueSize));
    expect(SATURATION_THINK_TIME_MS).toBe(1000);
  });

  it('sends only MLflow-bound reads, half of them through the pass-through that no cache answers', () => {
    const { requests } = stream('mlflow-saturated', 'mlflow_bound');
    const weight = (prefix: string) =>
      requests.filter((r) => r.path.startsWith(prefix)).reduce((sum, r) => sum + r.weight, 0);
    expect(requests.every((r) => r.method === 'GET')).toBe(true);
    expect(weight('/api/v1/models') + weight('/mlflow/')).toBe(requests.reduce((sum, r) => sum + r.weight, 0));
    expect(weight('/mlflow/')).toBe(weight('/api/v1/models'));
  });

  it('counts only 503 MLFLOW_SATURATED with Retry-After as an expected refusal', () => {
    const saturated = stream('mlflow-saturated', 'mlflow_bound');
    expect(saturated.expectedStatuses).toEqual([200, 503]);
    expect(saturated.requireRetryAfter).toBe(true);
    expect(saturated.refusalCode).toBe('MLFLOW_SATURATED');
    expect(ERRORS.MLFLOW_SATURATED.status).toBe(503);
  });

  it('derives the p99 bound from the latency and the bulkhead, far below the request timeout', () => {
    expect(SLOW_MLFLOW_CALL_BUDGET_MS).toBe(
      SLOW_MLFLOW_LATENCY_MS + LOAD_BULKHEAD.maxConcurrency * MLFLOW_CALL_COST_MS,
    );
    expect(SATURATED_P99_MS).toBe(
      (1 + Math.ceil(LOAD_BULKHEAD.queueSize / LOAD_BULKHEAD.maxConcurrency)) * SLOW_MLFLOW_CALL_BUDGET_MS,
    );
    expect(SATURATED_P99_MS).toBe(3000);
    expect(SATURATED_P99_MS).toBeLessThan(Number(SETTINGS.MLFLOW_REQUEST_TIMEOUT.default) * 1000 * 0.5);
  });

  it('holds every answer to that bound, allows 1 % errors and judges no throughput floor', () => {
    expect(stream('mlflow-saturated', 'mlflow_bound').thresholds).toBe(THRESHOLDS.mlflowSaturated);
    expect(THRESHOLDS.mlflowSaturated).toEqual({
      maxErrorRate: 0.01,
      p95Ms: SATURATED_P99_MS,
      p99Ms: SATURATED_P99_MS,
      minServedShare: SATURATED_MIN_SERVED_SHARE,
    });
  });

  it('derives the served share from what a full bulkhead completes within the bound', () => {
    const completedPerSecond = (LOAD_BULKHEAD.maxConcurrency * 1000) / SATURATED_P99_MS;
    const offeredPerSecond = (SATURATION_USERS * 1000) / SATURATION_THINK_TIME_MS;
    expect(SATURATED_MIN_SERVED_SHARE).toBeLessThanOrEqual(completedPerSecond / offeredPerSecond);
    expect(SATURATED_MIN_SERVED_SHARE).toBe(0.026);
  });

  it('holds liveness beside it below one MLflow round trip, without errors', () => {
    const live = stream('mlflow-saturated', 'live');
    expect(live.requests.map((r) => r.path)).toEqual(['/health/live']);
    expect(live.thresholds).toBe(THRESHOLDS.liveWhileSaturated);
    expect(THRESHOLDS.liveWhileSaturated).toEqual({ maxErrorRate: 0, p95Ms: 75, p99Ms: 150 });
    expect(THRESHOLDS.liveWhileSaturated.p99Ms).toBeLessThan(SLOW_MLFLOW_LATENCY_MS);
  });
});
