import { describe, expect, it } from 'vitest';
import { CHAOS_SERVICE_ENV, controlPlan, judgeControl, readAbuseLimits, SHARED_HYPOTHESES } from '../src/index.js';
import { observation } from './support/abuse-observation.js';

const unboundedCache = controlPlan('unbounded-cache');
const [cacheFill] = unboundedCache.abuseExperiments;

/** The cache fill's shared checks for a replica whose RSS grew by `growthMb`, judged by `limitsEnv`'s limits. */
function cacheFillChecks(growthMb: number, limitsEnv: Readonly<Record<string, string | undefined>>) {
  if (!cacheFill) throw new Error('the unbounded-cache control has no abuse experiment');
  const limits = readAbuseLimits(limitsEnv);
  const observed = observation({
    limits,
    rssAllowanceMb: cacheFill.rssAllowanceMb(limits),
    baselineRssMb: 140,
    live: [
      { routeClass: 'live', at: 0, status: 200, latencyMs: 3, rssMb: 140 },
      { routeClass: 'live', at: 1, status: 200, latencyMs: 3, rssMb: 140 + growthMb },
    ],
  });
  return SHARED_HYPOTHESES.map((hypothesis) => ({ name: hypothesis.name, ...hypothesis.judge(observed) }));
}

describe('controlPlan', () => {
  it('runs only the cache fill in unbounded-cache, on a cache whose byte bound is far over what 480 answers of 0.8 MB need', () => {
    expect(unboundedCache.abuseExperiments.map((experiment) => experiment.id)).toEqual(['abuse-cache-memory']);
    expect([...unboundedCache.experiments, ...unboundedCache.fleetExperiments]).toEqual([]);
    const broken = readAbuseLimits({ ...CHAOS_SERVICE_ENV, ...unboundedCache.serviceEnv });
    expect(broken.cacheMaxBytes).toBeGreaterThan(480 * 0.8 * 1024 * 1024);
    expect(broken.cacheMaxEntryBytes).toBeGreaterThan(1024 * 1024);
  });

  it('names in each description the settings the control starts the service with', () => {
    for (const [name, value] of Object.entries(unboundedCache.serviceEnv)) {
      expect(unboundedCache.description).toContain(`${name}=${value}`);
    }
  });
});

describe('judgeControl', () => {
  it('holds unbounded-cache when the growth of a cache keeping every answer passes the ordinary bound', () => {
    const checks = cacheFillChecks(540, CHAOS_SERVICE_ENV);
    expect(checks.find((check) => check.name === unboundedCache.mustFail)?.passed).toBe(false);
    expect(judgeControl(unboundedCache, [{ id: 'abuse-cache-memory', passed: false, checks }])).toMatchObject({
      held: true,
      escaped: [],
    });
  });

  it('does not hold unbounded-cache when the memory bound held', () => {
    const checks = cacheFillChecks(250, CHAOS_SERVICE_ENV);
    expect(judgeControl(unboundedCache, [{ id: 'abuse-cache-memory', passed: true, checks }])).toMatchObject({
      held: false,
      escaped: ['abuse-cache-memory'],
    });
  });

  it('does not hold unbounded-cache when the bound was judged by the limits the control broke', () => {
    const checks = cacheFillChecks(540, { ...CHAOS_SERVICE_ENV, ...unboundedCache.serviceEnv });
    expect(judgeControl(unboundedCache, [{ id: 'abuse-cache-memory', passed: true, checks }]).held).toBe(false);
  });

  it('does not hold unbounded-cache when the memory bound failed because the replica crashed', () => {
    const checks = cacheFillChecks(540, CHAOS_SERVICE_ENV).map((check) =>
      check.name.startsWith('no crash') ? { ...check, passed: false } : check,
    );
    expect(judgeControl(unboundedCache, [{ id: 'abuse-cache-memory', passed: false, checks }])).toMatchObject({
      held: false,
      escaped: ['abuse-cache-memory'],
    });
  });
});
