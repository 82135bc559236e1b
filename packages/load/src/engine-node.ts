import { setTimeout as delay } from 'node:timers/promises';
import autocannon from 'autocannon';
import type { Load, Stream, Thresholds, WeightedRequest } from './scenarios.js';

/** One threshold compared with what was observed. */
export interface ThresholdVerdict {
  readonly name: string;
  readonly limit: number;
  readonly observed: number;
  readonly passed: boolean;
}

/** What one stream measured, with its threshold verdicts. */
export interface StreamResult {
  readonly name: string;
  readonly requests: number;
  readonly failures: number;
  readonly errorRate: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly statuses: Readonly<Record<string, number>>;
  /** Share of all requests answered 2xx. */
  readonly servedShare: number;
  readonly missingRetryAfter: number;
  /** Expected non-2xx answers whose `code` was not the stream's `refusalCode`. */
  readonly wrongRefusalCode: number;
  readonly verdicts: readonly ThresholdVerdict[];
  readonly passed: boolean;
}

/** Latency (ms) at percentile `p` (0-100) by nearest rank; 0 for no samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

/** Compares the measurements with the thresholds. */
export function judge(
  measured: { errorRate: number; p95Ms: number; p99Ms: number; rps: number; maxMs: number; servedShare: number },
  thresholds: Thresholds,
): ThresholdVerdict[] {
  const atMost = (name: string, limit: number | undefined, observed: number): ThresholdVerdict[] =>
    limit === undefined ? [] : [{ name, limit, observed, passed: observed <= limit }];
  const atLeast = (name: string, limit: number | undefined, observed: number): ThresholdVerdict[] =>
    limit === undefined ? [] : [{ name, limit, observed, passed: observed >= limit }];
  return [
    ...atMost('error rate', thresholds.maxErrorRate, measured.errorRate),
    ...atMost('p95 ms', thresholds.p95Ms, measured.p95Ms),
    ...atMost('p99 ms', thresholds.p99Ms, measured.p99Ms),
    ...atLeast('min rps', thresholds.minRps, measured.rps),
    ...atLeast('served share', thresholds.minServedShare, measured.servedShare),
    ...atMost('max ms', thresholds.maxMs, measured.maxMs),
  ];
}

/** The stream's mix as autocannon's request cycle: each request repeated `weight` times. */
function requestCycle(requests: readonly WeightedRequest[], onResponse: autocannon.Request['onResponse']) {
  return requests.flatMap((request) =>
    Array.from({ length: Math.max(1, Math.round(request.weight)) }, () => ({
      method: request.method,
      path: request.path,
      ...(request.body ? { body: request.body, headers: { 'content-type': 'application/json' } } : {}),
      onResponse,
    })),
  );
}

/** One autocannon run; `startDelayMs` holds it back from the start of its stage. */
export interface Run {
  readonly connections: number;
  readonly durationSec: number;
  readonly overallRate?: number;
  readonly connectionRate?: number;
  readonly startDelayMs?: number;
}

/** Groups a think-time population starts in: enough that no group's burst fills the bulkhead's queue. */
const STAGGER_GROUPS = 20;

/**
 * autocannon runs for one load shape, as stages run one after the other (one stage, or one per stage of
 * a ramp), each a list of runs made at once. autocannon paces every connection of a run on the same
 * clock, so users with a think time start in groups spread over one think time: started together, they
 * would send in lockstep bursts for the whole run, which no population of independent users does.
 */
export function planRuns(load: Load, durationSec: number): Run[][] {
  switch (load.executor) {
    case 'sequential':
      return [[{ connections: 1, durationSec }]];
    case 'constant-vus': {
      if (!load.thinkTimeMs) return [[{ connections: load.vus, durationSec }]];
      const thinkTimeMs = load.thinkTimeMs;
      const groups = Math.min(load.vus, STAGGER_GROUPS);
      return [
        Array.from({ length: groups }, (_, group) => {
          const startDelayMs = (group * thinkTimeMs) / groups;
          return {
            connections: Math.floor((load.vus * (group + 1)) / groups) - Math.floor((load.vus * group) / groups),
            durationSec: durationSec - startDelayMs / 1000,
            connectionRate: 1000 / thinkTimeMs,
            startDelayMs,
          };
        }),
      ];
    }
    case 'constant-arrival-rate':
      return [[{ connections: load.vus, durationSec, overallRate: load.rate }]];
    case 'ramping-arrival-rate': {
      const total = load.stages.reduce((sum, stage) => sum + stage.durationSec, 0);
      return load.stages.map((stage) => [
        {
          connections: Math.min(load.vus, Math.max(1, stage.rate)),
          durationSec: (stage.durationSec / total) * durationSec,
          overallRate: stage.rate,
        },
      ]);
    }
  }
}

/** Hard cap on recorded latencies per stream, so a long run cannot grow memory without bound. */
const MAX_SAMPLES = 2_000_000;
/** Per-request timeout: the ALB's 10 s health-check timeout. */
const REQUEST_TIMEOUT_SEC = 10;

/**
 * Runs one stream with autocannon for `durationSec` (each stage of a ramp in turn), recording every
 * response's status and latency, and judges it against the stream's thresholds.
 */
export async function runStream(baseUrl: string, stream: Stream, durationSec: number): Promise<StreamResult> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const expected = new Set(stream.expectedStatuses ?? []);
  const isExpected = (status: number) => (expected.size > 0 ? expected.has(status) : status >= 200 && status < 300);
  let unexpected = 0;
  let socketErrors = 0;
  let missingRetryAfter = 0;
  let wrongRefusalCode = 0;
  const onResponse: autocannon.Request['onResponse'] = (status, body, _context, headers) => {
    if (
      stream.requireRetryAfter &&
      status === 503 &&
      !(headers as Record<string, string> | undefined)?.['retry-after']
    ) {
      missingRetryAfter += 1;
    }
    if (
      stream.refusalCode !== undefined &&
      isExpected(status) &&
      status >= 300 &&
      errorCode(body) !== stream.refusalCode
    ) {
      wrongRefusalCode += 1;
    }
  };
  const run = async (phase: Run): Promise<autocannon.Result> => {
    if (phase.startDelayMs) await delay(phase.startDelayMs);
    return new Promise<autocannon.Result>((resolveRun, rejectRun) => {
      const instance = autocannon(
        {
          url: baseUrl,
          connections: phase.connections,
          duration: Math.max(1, phase.durationSec),
          timeout: REQUEST_TIMEOUT_SEC,
          requests: requestCycle(stream.requests, onResponse),
          ...(phase.overallRate ? { overallRate: phase.overallRate } : {}),
          ...(phase.connectionRate ? { connectionRate: phase.connectionRate } : {}),
        },
        (error, finished) => (error ? rejectRun(error) : resolveRun(finished)),
      );
      instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
        if (latencies.length < MAX_SAMPLES) latencies.push(responseTime);
        statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
        if (!isExpected(statusCode)) unexpected += 1;
      });
    });
  };
  const started = Date.now();
  for (const runs of planRuns(stream.load, durationSec)) {
    for (const result of await Promise.all(runs.map(run))) socketErrors += result.errors + result.timeouts;
  }
  const elapsedSec = (Date.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const requests = sorted.length + socketErrors;
  const failures = unexpected + socketErrors + missingRetryAfter + wrongRefusalCode;
  const served = Object.entries(statuses)
    .filter(([status]) => Number(status) >= 200 && Number(status) < 300)
    .reduce((sum, [, count]) => sum + count, 0);
  const measured = {
    errorRate: requests === 0 ? 1 : failures / requests,
    servedShare: requests === 0 ? 0 : round(served / requests, 4),
    p95Ms: round(percentile(sorted, 95)),
    p99Ms: round(percentile(sorted, 99)),
    rps: round(sorted.length / elapsedSec),
    maxMs: round(sorted.at(-1) ?? 0),
  };
  const verdicts = judge(measured, stream.thresholds);
  return {
    name: stream.name,
    requests,
    failures,
    errorRate: measured.errorRate,
    rps: measured.rps,
    p50Ms: round(percentile(sorted, 50)),
    p95Ms: measured.p95Ms,
    p99Ms: measured.p99Ms,
    maxMs: measured.maxMs,
    statuses,
    servedShare: measured.servedShare,
    missingRetryAfter,
    wrongRefusalCode,
    verdicts,
    passed: requests > 0 && verdicts.every((v) => v.passed),
  };
}

function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

/** The catalogue `code` of an error body, if it has one. */
function errorCode(body: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body);
    return typeof parsed === 'object' && parsed !== null && 'code' in parsed && typeof parsed.code === 'string'
      ? parsed.code
      : undefined;
  } catch {
    return undefined;
  }
}
