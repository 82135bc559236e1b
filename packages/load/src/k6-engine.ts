import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The k6 entry script: the same scenario definitions, run with k6's executors and thresholds. */
export const K6_SCRIPT = fileURLToPath(new URL('../k6/registry.k6.ts', import.meta.url));

/** True when a `k6` binary answers on PATH. */
export function isK6Available(): boolean {
  const result = spawnSync('k6', ['version'], { stdio: 'ignore' });
  return result.status === 0;
}

/**
 * Runs one scenario of the k6 entry script against `serviceUrl`, capacity thresholds as shares of
 * `baselineRps` when given; returns k6's exit code (non-zero on a breach).
 */
export function runK6(serviceUrl: string, scenarioId: string, baselineRps?: number): number {
  const env = ['-e', `TARGET=${serviceUrl}`, '-e', `SCENARIO=${scenarioId}`];
  if (baselineRps !== undefined) env.push('-e', `BASELINE_RPS=${Math.round(baselineRps)}`);
  const result = spawnSync('k6', ['run', ...env, K6_SCRIPT], { stdio: 'inherit' });
  return result.status ?? 1;
}
