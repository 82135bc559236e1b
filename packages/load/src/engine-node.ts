import { setTimeout as delay } from 'node:timers/promises';
import { type KeyDealer, percentileOfSorted } from '@registry/testkit';
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
  /** Throughput over the run's baseline (bare route), when one was measured. */
  readonly baselineShare?: number;
  /** Arrival-rate streams: achieved rate over the rate asked for. */
  readonly arrivalShare?: number;
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

/** What `judge` compares with the thresholds. */
export interface Measured {
  readonly errorRate: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly servedShare: number;
  /** Throughput over the baseline measured in the same run; absent when the run measured none. */
  readonly baselineShare?: number;
  /** Arrival-rate streams: the rate achieved over the rate asked for (the engine must hold it). */
  readonly arrivalShare?: number;
}

/** How far an arrival-rate stream's achieved rate may be from the rate asked for before the run is void. */
export const ARRIVAL_TOLERANCE = 0.1;

/** Compares the measurements with the thresholds. */
export function judge(measured: Measured, thresholds: Thresholds): ThresholdVerdict[] {
  const atMost = (name: string, limit: number | undefined, observed: number): ThresholdVerdict[] =>
    limit === undefined ? [] : [{ name, limit, observed, passed: observed <= limit }];
  const atLeast = (name: string, limit: number | undefined, observed: number): ThresholdVerdict[] =>
    limit === undefined ? [] : [{ name, limit, observed, passed: observed >= limit }];
  return [
    ...atMost('error rate', thresholds.maxErrorRate, measured.errorRate),
    ...atMost('p95 ms', thresholds.p95Ms, measured.p95Ms),
    ...atMost('p99 ms', thresholds.p99Ms, measured.p99Ms),
    ...(measured.baselineShare === undefined
      ? []
      : atLeast('rps / baseline', thresholds.minBaselineShare, measured.baselineShare)),
    ...(measured.arrivalShare === undefined
      ? []
      : [
          ...atLeast('arrival rate / asked (held)', 1 - ARRIVAL_TOLERANCE, measured.arrivalShare),
          ...atMost('arrival rate / asked (no overshoot)', 1 + ARRIVAL_TOLERANCE, measured.arrivalShare),
        ]),
    ...atLeast('served share', thresholds.minServedShare, measured.servedShare),
    ...atMost('max ms', thresholds.maxMs, measured.maxMs),
  ];
}

/** The stream's mix as autocannon's request cycle: each request repeated `weight` times. */
function requestCycle(
  requests: readonly WeightedRequest[],
  onResponse: autocannon.Request['onResponse'],
  apiKey: string | undefined,
) {
  return requests.flatMap((request) => {
    const headers: Record<string, string> = {
      ...(request.body ? { 'content-type': 'application/json' } : {}),
      ...(apiKey ? { 'x-api-key': apiKey } : {}),
    };
    return Array.from({ length: Math.max(1, Math.round(request.weight)) }, () => ({
      method: request.method,
      path: request.path,
      ...(request.body ? { body: request.body } : {}),
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      onResponse,
    }));
  });
}

/** One autocannon run; `startDelayMs` holds it back from the start of its stage. */
export interface Run {
  readonly connections: number;
  readonly durationSec: number;
  readonly overallRate?: number;
  /** Arrival-rate runs: exactly this many requests (autocannon's `amount`), at `overallRate`. */
  readonly amount?: number;
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
      return [
        [{ connections: load.vus, durationSec, overallRate: load.rate, amount: Math.round(load.rate * durationSec) }],
      ];
    case 'ramping-arrival-rate': {
      const total = load.stages.reduce((sum, stage) => sum + stage.durationSec, 0);
      return load.stages.map((stage) => {
        const stageSec = (stage.durationSec / total) * durationSec;
        return [
          {
            connections: Math.min(load.vus, Math.max(1, stage.rate)),
            durationSec: stageSec,
            overallRate: stage.rate,
            amount: Math.round(stage.rate * stageSec),
          },
        ];
      });
    }
  }
}

/** Hard cap on recorded latencies per stream, so a long run cannot grow memory without bound. */
const MAX_SAMPLES = 2_000_000;
/** Per-request timeout: the ALB's 10 s health-check timeout. */
const REQUEST_TIMEOUT_SEC = 10;

/**
 * Runs one stream with autocannon for `durationSec` (each stage of a ramp in turn), recording every
 * response's status and latency, and judges it against the stream's thresholds. With `apiKeys` (a service
 * that runs with API_KEYS), each connection is one user and carries the key the dealer gives it in `x-api-key`.
 */
export async function runStream(
  baseUrl: string,
  stream: Stream,
  durationSec: number,
  options: { baselineRps?: number; apiKeys?: KeyDealer } = {},
): Promise<StreamResult> {
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
  // autocannon calls this once per connection, as it creates it: the connection's key, in turn.
  const setupClient = (client: autocannon.Client) => {
    client.setRequests(requestCycle(stream.requests, onResponse, options.apiKeys?.next()));
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
          requests: requestCycle(stream.requests, onResponse, undefined),
          ...(options.apiKeys?.size ? { setupClient } : {}),
          ...(phase.overallRate ? { overallRate: phase.overallRate } : {}),
          // An arrival rate is held by count: exactly `amount` requests, so the engine cannot overshoot
          // the load it was asked for; the rate achieved is then checked against the rate asked.
          ...(phase.amount ? { amount: phase.amount } : {}),
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
  const plan = planRuns(stream.load, durationSec);
  const started = Date.now();
  for (const runs of plan) {
    for (const result of await Promise.all(runs.map(run))) socketErrors += result.errors + result.timeouts;
  }
  const elapsedSec = (Date.now() - started) / 1000;
  const sorted = latencies.sort((a, b) => a - b);
  const requests = sorted.length + socketErrors;
  const failures = unexpected + socketErrors + missingRetryAfter + wrongRefusalCode;
  const served = Object.entries(statuses)
    .filter(([status]) => Number(status) >= 200 && Number(status) < 300)
    .reduce((sum, [, count]) => sum + count, 0);
  const rps = sorted.length / elapsedSec;
  const asked = plan.flat().reduce((sum, run) => sum + (run.amount ?? 0), 0);
  const measured = {
    errorRate: requests === 0 ? 1 : failures / requests,
    ...(options.baselineRps ? { baselineShare: round(rps / options.baselineRps, 4) } : {}),
    // Asked: the requests of the plan over its nominal duration; achieved: those sent over the time taken.
    ...(asked > 0 ? { arrivalShare: round(requests / elapsedSec / (asked / durationSec), 4) } : {}),
    servedShare: requests === 0 ? 0 : round(served / requests, 4),
    p95Ms: round(percentileOfSorted(sorted, 95)),
    p99Ms: round(percentileOfSorted(sorted, 99)),
    maxMs: round(sorted.at(-1) ?? 0),
  };
  const verdicts = judge(measured, stream.thresholds);
  return {
    name: stream.name,
    requests,
    failures,
    errorRate: measured.errorRate,
    rps: round(rps),
    baselineShare: measured.baselineShare,
    arrivalShare: measured.arrivalShare,
    p50Ms: round(percentileOfSorted(sorted, 50)),
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
