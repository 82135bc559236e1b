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
  /** Smallest acceptable throughput, requests per second. */
  readonly minRps: number;
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

/** Latency Toxiproxy adds for the slow-MLflow scenario: well below the request timeout. */
export const SLOW_MLFLOW_LATENCY_MS = 300;

const live: WeightedRequest = { method: 'GET', path: '/health/live', weight: 1 };
const ready: WeightedRequest = { method: 'GET', path: '/health/ready', weight: 1 };
const version: WeightedRequest = { method: 'GET', path: '/version', weight: 1 };
const listModels: WeightedRequest = { method: 'GET', path: '/api/v1/models?max_results=10', weight: 1 };
const getModel: WeightedRequest = { method: 'GET', path: '/api/v1/models/load-model', weight: 1 };
const uncachedSearch: WeightedRequest = { method: 'GET', path: '/api/v1/models?search=not-cached', weight: 1 };
const transition: WeightedRequest = {
  method: 'POST',
  path: '/api/v1/models/load-model/versions/1/stage',
  body: '{"stage":"Staging"}',
  weight: 1,
};

/** Thresholds, named so that tests and reports refer to the same numbers. */
export const THRESHOLDS = {
  /** One connection on loopback: every answer in milliseconds. */
  liveSequential: { maxErrorRate: 0, p95Ms: 20, p99Ms: 50, minRps: 200 },
  /** 50 connections saturating one core. */
  healthConcurrent: { maxErrorRate: 0, p95Ms: 150, p99Ms: 300, minRps: 1000 },
  healthDetailed: { maxErrorRate: 0, p95Ms: 150, p99Ms: 300, minRps: 300 },
  /** A probe beside the load, as an ALB would make it: never near its 10 s timeout. */
  albProbe: { maxErrorRate: 0, p95Ms: 500, p99Ms: 1000, minRps: 0.5, maxMs: 2000 },
  /** Registry reads hit the real MLflow (a single Python worker). */
  mixed: { maxErrorRate: 0.01, p95Ms: 1000, p99Ms: 2000, minRps: 50 },
  coreWhileDown: { maxErrorRate: 0, p95Ms: 150, p99Ms: 300, minRps: 500 },
  /** Fail fast: 503 + Retry-After within milliseconds. */
  mlflowBoundWhileDown: { maxErrorRate: 0, p95Ms: 25, p99Ms: 50, minRps: 300 },
  spike: { maxErrorRate: 0, p95Ms: 250, p99Ms: 500, minRps: 450 },
  slowMlflow: { maxErrorRate: 0.01, p95Ms: SLOW_MLFLOW_LATENCY_MS * 4, p99Ms: SLOW_MLFLOW_LATENCY_MS * 8, minRps: 10 },
  soak: { maxErrorRate: 0, p95Ms: 150, p99Ms: 300, minRps: 300 },
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
