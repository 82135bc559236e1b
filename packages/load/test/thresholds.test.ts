import { describe, expect, it } from 'vitest';
import { judge, needsToxiproxy, percentile, SCENARIOS, THRESHOLDS } from '../src/index.js';

describe('percentile', () => {
  it('returns the nearest-rank percentile of sorted latencies', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(sorted, 50), percentile(sorted, 95), percentile(sorted, 99), percentile(sorted, 100)]).toEqual([
      50, 95, 99, 100,
    ]);
  });

  it('returns 0 without samples', () => {
    expect(percentile([], 99)).toBe(0);
  });
});

describe('judge', () => {
  it('fails every threshold that is breached and only those', () => {
    const verdicts = judge({ errorRate: 0.02, p95Ms: 10, p99Ms: 600, rps: 100, maxMs: 700 }, THRESHOLDS.spike);
    expect(verdicts.filter((v) => !v.passed).map((v) => v.name)).toEqual(['error rate', 'p99 ms', 'min rps']);
  });

  it('checks the maximum latency when the thresholds name one', () => {
    const verdicts = judge({ errorRate: 0, p95Ms: 1, p99Ms: 1, rps: 1, maxMs: 10_000 }, THRESHOLDS.albProbe);
    expect(verdicts.find((v) => v.name === 'max ms')?.passed).toBe(false);
  });
});

describe('Scenario definitions', () => {
  it('define at least the nine scenarios the load plan names, each with thresholds on every stream', () => {
    expect(SCENARIOS.length).toBeGreaterThanOrEqual(9);
    for (const scenario of SCENARIOS) {
      for (const stream of scenario.streams) {
        expect(stream.thresholds.p99Ms).toBeGreaterThanOrEqual(stream.thresholds.p95Ms);
        expect(stream.thresholds.minRps).toBeGreaterThan(0);
      }
    }
  });

  it('marks exactly the MLflow-fault scenarios as needing Toxiproxy', () => {
    expect(SCENARIOS.filter(needsToxiproxy).map((s) => s.id)).toEqual(['mlflow-down', 'sustained-slow-mlflow']);
  });
});
