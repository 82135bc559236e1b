// The load scenarios, defined once. This module is plain data with no imports, so both engines load it:
// the Node engine (autocannon) and the k6 entry script (k6 runs TypeScript directly).

/** One request of a stream's mix; `weight` is its share of the stream's requests. */
export interface WeightedRequest {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: string;
  readonly weight: number;
}

/** How a stream's requests arrive. */
export type Load =
  /** One connection, one request after another. */
  | { readonly executor: 'sequential' }
  /** `vus` connections, each sending as fast as it gets answers; `thinkTimeMs` pauses between requests. */
  | { readonly executor: 'constant-vus'; readonly vus: number; readonly thinkTimeMs?: number }
  /** A fixed request rate (open model), whatever the latency. */
  | { readonly executor: 'constant-arrival-rate'; readonly rate: number; readonly vus: number }
  /** Arrival-rate stages, e.g. a spike: each stage holds `rate` for `durationSec`. */
  | {
      readonly executor: 'ramping-arrival-rate';
      readonly stages: readonly { readonly rate: number; readonly durationSec: number }[];
      readonly vus: number;
    };

/** Limits that fail the run when breached. */
export interface Thresholds {
  /** Largest share of requests that may fail (a status outside `expectedStatuses`, a socket error or a timeout). */
  readonly maxErrorRate: number;
  readonly p95Ms: number;
  readonly p99Ms: number;
  /**
   * Smallest throughput of a closed-loop stream, as a share of the baseline measured in the same run: a
   * bare Fastify route with the liveness body on the same machine (`baseline.ts`). Absolute requests per
   * second depend on the machine and are only printed; the share stays put on a slower or busier machine.
   * Arrival-rate streams have none: they are judged on latency and errors at a rate they must hold.
   */
  readonly minBaselineShare?: number;
  /**
   * Smallest share of answers that are 2xx, for a stream whose expected statuses include a refusal: a
   * service that refused every request would otherwise keep every other threshold.
   */
  readonly minServedShare?: number;
  /** Largest single latency (an ALB probe must never reach its 10 s timeout). */
  readonly maxMs?: number;
}

/** A named flow of requests inside a scenario, with its own thresholds. */
export interface Stream {
  readonly name: string;
  readonly requests: readonly WeightedRequest[];
  readonly load: Load;
  readonly thresholds: Thresholds;
  /** Statuses that count as success (default: 2xx). */
  readonly expectedStatuses?: readonly number[];
  /** Every expected 503 must carry a Retry-After header. */
  readonly requireRetryAfter?: boolean;
  /** The error catalogue code every expected non-2xx answer must carry (its `code` field). */
  readonly refusalCode?: string;
}

/** What the stack must look like before the scenario starts. */
export type Precondition = 'mlflow-healthy' | 'mlflow-down' | 'mlflow-slow';

/** Resource limits checked from the service's own metrics across the run. */
export interface ResourceThresholds {
  readonly maxRssGrowthMb: number;
  readonly maxEventLoopLagP99Ms: number;
}

/** One load scenario. */
export interface Scenario {
  readonly id: string;
  readonly title: string;
  readonly durationSec: number;
  readonly precondition: Precondition;
  readonly streams: readonly Stream[];
  readonly resources?: ResourceThresholds;
  /** The breaker must stay closed through the run (a slow but working MLflow must not trip it). */
  readonly breakerStaysClosed?: boolean;
}

/** Latency Toxiproxy adds for the slow-MLflow scenarios: well below the request timeout. */
export const SLOW_MLFLOW_LATENCY_MS = 300;

/**
 * The bulkhead the saturation scenario's thresholds assume: the service's defaults of
 * `MLFLOW_MAX_CONCURRENCY` and `MLFLOW_QUEUE_SIZE`, which the local stack also sets explicitly.
 */
export const LOAD_BULKHEAD = { maxConcurrency: 16, queueSize: 16 } as const;

/**
 * Users of a local run with keys of their own: a scenario's connections present them in turn, so that with
 * the most connections any scenario opens (SATURATION_USERS and 2 liveness probes) no key has more than 4
 * requests in flight, half the service's default per-client share (MLFLOW_CLIENT_MAX_CONCURRENCY, 8).
 */
export const LOAD_CLIENTS = 64;

/**
 * MLflow's own time per call, which a single-worker MLflow spends one call after another: 17-20 ms
 * measured at saturation on the shared 2-core machine the suites run on; this allows about 4x that.
 */
export const MLFLOW_CALL_COST_MS = 75;

/**
 * What one admitted MLflow call may take while MLflow is slow: the added latency plus MLflow's own time
 * for every call the bulkhead lets in alongside it.
 */
export const SLOW_MLFLOW_CALL_BUDGET_MS = SLOW_MLFLOW_LATENCY_MS + LOAD_BULKHEAD.maxConcurrency * MLFLOW_CALL_COST_MS;

/**
 * Longest an admitted request may take behind the bulkhead: a queued call waits for at most
 * `ceil(queueSize / maxConcurrency)` calls per slot, then makes its own. Independent of the request
 * timeout, which is what requests waited for before the bulkhead.
 */
export const SATURATED_P99_MS =
  (1 + Math.ceil(LOAD_BULKHEAD.queueSize / LOAD_BULKHEAD.maxConcurrency)) * SLOW_MLFLOW_CALL_BUDGET_MS;

/** Closed-loop users of the saturation scenario: far more than the bulkhead admits at once. */
export const SATURATION_USERS = 200;

/** Pause between a user's requests: a client that honours the smallest `Retry-After` (1 s). */
export const SATURATION_THINK_TIME_MS = 1000;

/**
 * Smallest share of 2xx answers while saturated. The bulkhead stays full, so it completes at least
 * `maxConcurrency` calls per `SATURATED_P99_MS`, out of at most one request per user per think time.
 */
export const SATURATED_MIN_SERVED_SHARE =
  Math.floor(
    ((LOAD_BULKHEAD.maxConcurrency * 1000) /
      SATURATED_P99_MS /
      (SATURATION_USERS * (1000 / SATURATION_THINK_TIME_MS))) *
      1000,
  ) / 1000;

const live: WeightedRequest = { method: 'GET', path: '/health/live', weight: 1 };
const ready: WeightedRequest = { method: 'GET', path: '/health/ready', weight: 1 };
const version: WeightedRequest = { method: 'GET', path: '/version', weight: 1 };
const listModels: WeightedRequest = { method: 'GET', path: '/api/v1/models?max_results=10', weight: 1 };
const getModel: WeightedRequest = { method: 'GET', path: '/api/v1/models/load-model', weight: 1 };
const uncachedSearch: WeightedRequest = { method: 'GET', path: '/api/v1/models?search=not-cached', weight: 1 };
/** A read through the MLflow pass-through, as the official MLflow client makes it: never served from cache. */
const passThroughGet: WeightedRequest = {
  method: 'GET',
  path: '/mlflow/api/2.0/mlflow/registered-models/get?name=load-model',
  weight: 1,
};
const transition: WeightedRequest = {
  method: 'POST',
  path: '/api/v1/models/load-model/versions/1/stage',
  body: '{"stage":"Staging"}',
  weight: 1,
};

/**
 * Thresholds, named so that tests and reports refer to the same numbers. Capacity floors are shares of the
 * run's bare-route baseline (about 57,000 rps with 50 connections on the 2-core machine), set near a third
 * of the share observed in CI (live 50 connections 0.35, sequential 0.17, detailed 0.28, core beside the
 * 503 stream 0.075, soak 0.6). Streams limited by MLflow or by think time (mixed, slow MLflow) and
 * arrival-rate streams (spike, ALB probe) have no floor: latency and errors at their load are the test.
 */
export const THRESHOLDS = {
  /** One connection on loopback: every answer in milliseconds. */
  liveSequential: { maxErrorRate: 0, p95Ms: 20, p99Ms: 50, minBaselineShare: 0.05 },
  /** 50 connections saturating one core. */
  healthConcurrent: { maxErrorRate: 0, p95Ms: 150, p99Ms: 300, minBaselineShare: 0.1 },
  healthDetailed: { maxErrorRate: 0, p95Ms: 150, p99Ms: 300, minBaselineShare: 0.08 },
  /** A probe beside the load, as an ALB would make it: never near its 10 s timeout. */
  albProbe: { maxErrorRate: 0, p95Ms: 500, p99Ms: 1000, maxMs: 2000 },
  /** Registry reads hit the real MLflow (a single Python worker). */
  mixed: { maxErrorRate: 0.01, p95Ms: 1000, p99Ms: 2000 },
  coreWhileDown: { maxErrorRate: 0, p95Ms: 150, p99Ms: 300, minBaselineShare: 0.02 },
  /** Fail fast: 503 + Retry-After within milliseconds. */
  mlflowBoundWhileDown: { maxErrorRate: 0, p95Ms: 25, p99Ms: 50, minBaselineShare: 0.02 },
  spike: { maxErrorRate: 0, p95Ms: 250, p99Ms: 500 },
  slowMlflow: { maxErrorRate: 0.01, p95Ms: SLOW_MLFLOW_LATENCY_MS * 4, p99Ms: SLOW_MLFLOW_LATENCY_MS * 8 },
  /**
   * Slow MLflow, far more users than the bulkhead admits: every answer, served or refused (503
   * MLFLOW_SATURATED), within the bulkhead's bound; no throughput floor (rps is reported, not judged).
   */
  mlflowSaturated: {
    maxErrorRate: 0.01,
    p95Ms: SATURATED_P99_MS,
    p99Ms: SATURATED_P99_MS,
    minServedShare: SATURATED_MIN_SERVED_SHARE,
  },
  /**
   * Liveness beside the saturated MLflow-bound routes: an answer that waited for even one MLflow round
   * trip would take longer than the added latency.
   */
  liveWhileSaturated: { maxErrorRate: 0, p95Ms: SLOW_MLFLOW_LATENCY_MS / 4, p99Ms: SLOW_MLFLOW_LATENCY_MS / 2 },
  soak: { maxErrorRate: 0, p95Ms: 150, p99Ms: 300, minBaselineShare: 0.15 },
} as const satisfies Record<string, Thresholds>;

/** Memory and event-loop bounds for the soak. */
export const SOAK_RESOURCES: ResourceThresholds = { maxRssGrowthMb: 64, maxEventLoopLagP99Ms: 100 };

const albProbe: Stream = {
  name: 'alb_probe',
  requests: [live],
  load: { executor: 'constant-arrival-rate', rate: 1, vus: 1 },
  thresholds: THRESHOLDS.albProbe,
};

/** Every scenario, in run order. */
export const SCENARIOS: readonly Scenario[] = [
  {
    id: 'live-sequential',
    title: '/health/live, sequential',
    durationSec: 5,
    precondition: 'mlflow-healthy',
    streams: [
      { name: 'live', requests: [live], load: { executor: 'sequential' }, thresholds: THRESHOLDS.liveSequential },
    ],
  },
  {
    id: 'live-concurrent',
    title: '/health/live, 50 concurrent connections (with an ALB probe beside it)',
    durationSec: 8,
    precondition: 'mlflow-healthy',
    streams: [
      {
        name: 'live',
        requests: [live],
        load: { executor: 'constant-vus', vus: 50 },
        thresholds: THRESHOLDS.healthConcurrent,
      },
      albProbe,
    ],
  },
  {
    id: 'health-detailed',
    title: '/health?detailed=true',
    durationSec: 5,
    precondition: 'mlflow-healthy',
    streams: [
      {
        name: 'health_detailed',
        requests: [{ method: 'GET', path: '/health?detailed=true', weight: 1 }],
        load: { executor: 'constant-vus', vus: 10 },
        thresholds: THRESHOLDS.healthDetailed,
      },
    ],
  },
  {
    id: 'ready-concurrent',
    title: '/health/ready, 50 concurrent connections',
    durationSec: 5,
    precondition: 'mlflow-healthy',
    streams: [
      {
        name: 'ready',
        requests: [ready],
        load: { executor: 'constant-vus', vus: 50 },
        thresholds: THRESHOLDS.healthConcurrent,
      },
    ],
  },
  {
    id: 'mixed',
    title: 'Mixed endpoints: health, core and registry reads through the real MLflow',
    durationSec: 10,
    precondition: 'mlflow-healthy',
    streams: [
      {
        name: 'mixed',
        requests: [
          { ...live, weight: 3 },
          { ...ready, weight: 2 },
          { ...version, weight: 1 },
          { ...listModels, weight: 2 },
          { ...getModel, weight: 2 },
        ],
        load: { executor: 'constant-vus', vus: 20 },
        thresholds: THRESHOLDS.mixed,
      },
      albProbe,
    ],
  },
  {
    id: 'mlflow-down',
    title: 'MLflow down (breaker open): core keeps its thresholds, MLflow-bound routes fail fast',
    durationSec: 8,
    precondition: 'mlflow-down',
    streams: [
      {
        name: 'core',
        requests: [live, ready, version],
        load: { executor: 'constant-vus', vus: 20 },
        thresholds: THRESHOLDS.coreWhileDown,
      },
      {
        name: 'mlflow_bound',
        requests: [uncachedSearch, transition],
        load: { executor: 'constant-vus', vus: 20 },
        thresholds: THRESHOLDS.mlflowBoundWhileDown,
        expectedStatuses: [503],
        requireRetryAfter: true,
      },
    ],
  },
  {
    id: 'spike',
    title: 'Spike: 5x the base arrival rate for 4 s (with an ALB probe beside it)',
    durationSec: 12,
    precondition: 'mlflow-healthy',
    streams: [
      {
        name: 'spike',
        requests: [
          { ...live, weight: 2 },
          { ...ready, weight: 1 },
          { ...version, weight: 1 },
        ],
        load: {
          executor: 'ramping-arrival-rate',
          vus: 100,
          stages: [
            { rate: 200, durationSec: 4 },
            { rate: 1000, durationSec: 4 },
            { rate: 200, durationSec: 4 },
          ],
        },
        thresholds: THRESHOLDS.spike,
      },
      albProbe,
    ],
  },
  {
    id: 'sustained-slow-mlflow',
    title: `Sustained load with think time while MLflow answers ${SLOW_MLFLOW_LATENCY_MS} ms slower (below the timeout)`,
    durationSec: 15,
    precondition: 'mlflow-slow',
    breakerStaysClosed: true,
    streams: [
      {
        name: 'sustained',
        requests: [
          { ...getModel, weight: 2 },
          { ...listModels, weight: 1 },
          { ...live, weight: 1 },
        ],
        load: { executor: 'constant-vus', vus: 20, thinkTimeMs: 500 },
        thresholds: THRESHOLDS.slowMlflow,
      },
    ],
  },
  {
    id: 'mlflow-saturated',
    title: `${SATURATION_USERS} users on MLflow-bound routes while MLflow answers ${SLOW_MLFLOW_LATENCY_MS} ms slower: the bulkhead (${LOAD_BULKHEAD.maxConcurrency} + ${LOAD_BULKHEAD.queueSize} queued) refuses the rest at once`,
    durationSec: 20,
    precondition: 'mlflow-slow',
    breakerStaysClosed: true,
    streams: [
      {
        name: 'mlflow_bound',
        // Registry reads may be answered from the last-known-good cache when the bulkhead is full;
        // pass-through reads never are, so half the requests meet the refusal itself.
        requests: [
          { ...getModel, weight: 1 },
          { ...listModels, weight: 1 },
          { ...passThroughGet, weight: 2 },
        ],
        load: { executor: 'constant-vus', vus: SATURATION_USERS, thinkTimeMs: SATURATION_THINK_TIME_MS },
        thresholds: THRESHOLDS.mlflowSaturated,
        expectedStatuses: [200, 503],
        requireRetryAfter: true,
        refusalCode: 'MLFLOW_SATURATED',
      },
      {
        name: 'live',
        requests: [live],
        load: { executor: 'constant-arrival-rate', rate: 20, vus: 2 },
        thresholds: THRESHOLDS.liveWhileSaturated,
      },
    ],
  },
  {
    id: 'soak-short',
    title: 'Soak (short): memory and event-loop delay stay bounded',
    durationSec: 30,
    precondition: 'mlflow-healthy',
    resources: SOAK_RESOURCES,
    streams: [
      {
        name: 'soak',
        requests: [
          { ...live, weight: 2 },
          { ...ready, weight: 1 },
          { ...version, weight: 1 },
        ],
        load: { executor: 'constant-vus', vus: 20 },
        thresholds: THRESHOLDS.soak,
      },
    ],
  },
];

/** The model the registry requests read; the harness creates it before the scenarios. */
export const LOAD_MODEL = 'load-model';

/** Scenarios that need to fail or slow MLflow, which needs a Toxiproxy in front of it. */
export function needsToxiproxy(scenario: Scenario): boolean {
  return scenario.precondition !== 'mlflow-healthy';
}
