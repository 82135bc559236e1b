import { dealKeys } from '@registry/testkit';
import { runStream, type StreamResult, type ThresholdVerdict } from './engine-node.js';
import type { Scenario } from './scenarios.js';
import { applyPrecondition, type LoadTarget, readResources, readTrips } from './target.js';

/** What one scenario measured and whether every threshold held. */
export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  readonly durationSec: number;
  readonly streams: readonly StreamResult[];
  /** Resource and breaker verdicts (soak memory and event loop, breaker stays closed). */
  readonly checks: readonly ThresholdVerdict[];
  readonly passed: boolean;
}

/**
 * Runs one scenario on the Node engine: puts the target into the precondition, runs every stream at
 * once for the scenario's duration (times `durationScale`), and judges streams and resources; capacity
 * as a share of `baselineRps` when given. `awaitBreaker: false` puts a negative control's service under
 * the fault without waiting for a breaker state it cannot reach.
 */
export async function runScenario(
  scenario: Scenario,
  target: LoadTarget,
  options: { durationScale?: number; baselineRps?: number; awaitBreaker?: boolean } = {},
): Promise<ScenarioResult> {
  const durationSec = Math.max(1, scenario.durationSec * (options.durationScale ?? 1));
  await applyPrecondition(target, scenario.precondition, { awaitBreaker: options.awaitBreaker });
  const before = await readResources(target.serviceUrl);
  const tripsBefore = await readTrips(target.serviceUrl);
  // One dealer for the whole scenario: its streams' connections present the keys in turn, never two
  // streams starting from the same key.
  const apiKeys = dealKeys(target.apiKeys);
  const streams = await Promise.all(
    scenario.streams.map((stream) =>
      runStream(target.serviceUrl, stream, durationSec, { baselineRps: options.baselineRps, apiKeys }),
    ),
  );
  const after = await readResources(target.serviceUrl);
  const checks: ThresholdVerdict[] = [];
  if (scenario.resources) {
    const growth = Math.round((after.rssMb - before.rssMb) * 10) / 10;
    checks.push({
      name: 'RSS growth MB',
      limit: scenario.resources.maxRssGrowthMb,
      observed: growth,
      passed: growth <= scenario.resources.maxRssGrowthMb,
    });
    checks.push({
      name: 'event-loop lag p99 ms',
      limit: scenario.resources.maxEventLoopLagP99Ms,
      observed: after.eventLoopLagP99Ms,
      passed: after.eventLoopLagP99Ms <= scenario.resources.maxEventLoopLagP99Ms,
    });
  }
  if (scenario.breakerStaysClosed) {
    const trips = (await readTrips(target.serviceUrl)) - tripsBefore;
    checks.push({ name: 'breaker trips', limit: 0, observed: trips, passed: trips === 0 });
  }
  return {
    id: scenario.id,
    title: scenario.title,
    durationSec,
    streams,
    checks,
    passed: streams.every((s) => s.passed) && checks.every((c) => c.passed),
  };
}
