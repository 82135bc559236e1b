import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The k6 entry script: the same scenario definitions, run with k6's executors and thresholds. */
export const K6_SCRIPT = fileURLToPath(new URL('../k6/registry.k6.ts', import.meta.url));

/** True when a `k6` binary answers on PATH (checked once, before any scenario runs). */
export function isK6Available(): boolean {
  const result = spawnSync('k6', ['version'], { stdio: 'ignore' });
  return result.status === 0;
}

/**
 * Runs one scenario of the k6 entry script against `serviceUrl`, capacity thresholds as shares of
 * `baselineRps` when given; resolves to k6's exit code (non-zero on a breach). It does not block: the
 * service and the dependencies under load are children of this process and keep their pipes drained.
 */
export async function runK6(serviceUrl: string, scenarioId: string, baselineRps?: number): Promise<number> {
  const env = ['-e', `TARGET=${serviceUrl}`, '-e', `SCENARIO=${scenarioId}`];
  if (baselineRps !== undefined) env.push('-e', `BASELINE_RPS=${Math.round(baselineRps)}`);
  const child = spawn('k6', ['run', ...env, K6_SCRIPT], { stdio: 'inherit' });
  const [code] = (await once(child, 'exit')) as [number | null];
  return code ?? 1;
}
