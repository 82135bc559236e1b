import type { ErrorBody } from '@registry/service';
import {
  type Answer,
  type BreakerReport,
  CACHE_STATUS_HEADER,
  type CallInput,
  createRegistryClient,
  REGISTRY_PREFIX,
  ROUTES,
} from '@registry/service/client';
import { dealKeys, SERVED_BY_HEADER } from '@registry/testkit';

/** The kinds of route the hypothesis speaks about. */
export type RouteClass = 'live' | 'ready' | 'core' | 'cached_read' | 'uncached_read' | 'write';

/** Every route class, in report order. */
export const ROUTE_CLASSES: readonly RouteClass[] = ['live', 'ready', 'core', 'cached_read', 'uncached_read', 'write'];

/** MLflow-bound route classes (the others must never need MLflow). */
export const MLFLOW_BOUND: ReadonlySet<RouteClass> = new Set(['cached_read', 'uncached_read', 'write']);

/** One request the traffic generator made. */
export interface Sample {
  readonly routeClass: RouteClass;
  readonly at: number;
  readonly status: number | null;
  readonly latencyMs: number;
  readonly code?: string;
  readonly retryAfter?: number;
  readonly cache?: string;
  readonly degraded?: boolean;
  readonly rssMb?: number;
  /** The replica that answered, from HAProxy's `x-served-by`; absent when HAProxy answered itself (or no LB). */
  readonly servedBy?: string;
}

/** One look at the breaker through `/health/status`. */
export interface BreakerSample {
  readonly at: number;
  readonly state: BreakerReport['state'];
  readonly secondsUntilRetry: number;
  /** Times the breaker opened since the service started (`circuit_breaker.trips_total`). */
  readonly tripsTotal?: number;
}

/** The model the traffic reads (seeded before the experiments, so reads of it can be cached). */
export const SEEDED_MODEL = 'aaa-chaos-model';

/**
 * MLflow-bound reads go out every second tick (5/s per class) and writes every tenth (1/s): a
 * single-worker MLflow on SQLite must keep a wide margin below the request timeout, since the
 * experiments are about network faults, not about MLflow's own capacity (health routes go every tick).
 */
const READ_EVERY_TICKS = 2;
const WRITE_EVERY_TICKS = 10;

/** Traffic mode: everything, or health routes only (recovery must not need user traffic). */
export type TrafficMode = 'full' | 'health-only';

/** A running traffic generator. */
export interface Traffic {
  setMode(mode: TrafficMode): void;
  samples(): readonly Sample[];
  breakerSamples(): readonly BreakerSample[];
  /** The latest breaker state seen. */
  breakerState(): string | undefined;
  stop(): Promise<void>;
}

/** Limits that make every loop stop by itself. */
export interface TrafficLimits {
  readonly tickMs: number;
  readonly maxDurationMs: number;
  readonly maxTicks: number;
  readonly requestTimeoutMs: number;
}

/** Default traffic limits: a tick every 100 ms, at most 5 minutes or 3,000 ticks per experiment. */
export const DEFAULT_TRAFFIC_LIMITS: TrafficLimits = Object.freeze({
  tickMs: 100,
  maxDurationMs: 5 * 60_000,
  maxTicks: 3_000,
  requestTimeoutMs: 15_000,
});

let uncachedSequence = 0;

/** Letters of the search term whose case varies (the search ignores case): 2^5 spellings of each term. */
const CASE_VARIED_LETTERS = 5;

/**
 * An uncached read that still returns the seeded model (a real, several-kilobyte answer, so starvation
 * faults slow it like any other read): the page size (1 to 100, the default and below: a larger page is the
 * client's choice and never counted by the breaker), the search term's length and the case of its first
 * letters vary so that no two of the first 32,000 requests share a cache key.
 */
function uncachedSearchPath(sequence: number): string {
  const maxResults = 1 + (sequence % 100);
  const prefix = SEEDED_MODEL.slice(0, SEEDED_MODEL.length - (Math.floor(sequence / 100) % 10));
  const upperCase = Math.floor(sequence / 1000);
  let letters = 0;
  const term = [...prefix]
    .map((character) => {
      if (!/[a-z]/.test(character) || letters >= CASE_VARIED_LETTERS) return character;
      const upper = (upperCase >> letters) & 1;
      letters += 1;
      return upper ? character.toUpperCase() : character;
    })
    .join('');
  return `${ROUTES.searchModels.url}?search=${term}&max_results=${maxResults}`;
}

/** The stage every write asks for (the seeded version moves to Staging and stays there). */
const STAGE_BODY: CallInput<typeof ROUTES.transitionModelVersion>['body'] = { stage: 'Staging' };

/**
 * The fields a sample reads from whichever answer came, named by the contract (a renamed field fails to
 * compile) but checked at run time: a body that does not parse is still a sample, never an exception.
 */
type SampleFields = Partial<
  Record<keyof (ErrorBody & Answer<typeof ROUTES.live>['body'] & Answer<typeof ROUTES.ready>['body']), unknown>
>;

async function send(baseUrl: string, routeClass: RouteClass, timeoutMs: number, apiKey?: string): Promise<Sample> {
  uncachedSequence += 1;
  const requests: Record<RouteClass, { path: string; init?: RequestInit }> = {
    live: { path: ROUTES.live.url },
    ready: { path: ROUTES.ready.url },
    core: { path: ROUTES.version.url },
    cached_read: { path: `${REGISTRY_PREFIX}/models/${SEEDED_MODEL}` },
    uncached_read: { path: uncachedSearchPath(uncachedSequence) },
    write: {
      path: `${REGISTRY_PREFIX}/models/${SEEDED_MODEL}/versions/1/stage`,
      init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(STAGE_BODY) },
    },
  };
  const { path, init } = requests[routeClass];
  const at = Date.now();
  try {
    const headers = new Headers(init?.headers);
    if (apiKey) headers.set('x-api-key', apiKey);
    const response = await fetch(`${baseUrl}${path}`, { ...init, headers, signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    const latencyMs = Date.now() - at;
    let body: SampleFields = {};
    try {
      body = JSON.parse(text) as SampleFields;
    } catch {
      // A non-JSON answer is still a sample: its status tells the story.
    }
    const retryAfter = response.headers.get('retry-after');
    return {
      routeClass,
      at,
      status: response.status,
      latencyMs,
      code: typeof body.code === 'string' ? body.code : undefined,
      retryAfter: retryAfter === null ? undefined : Number(retryAfter),
      cache: response.headers.get(CACHE_STATUS_HEADER) ?? undefined,
      degraded: typeof body.degraded_mode === 'boolean' ? body.degraded_mode : undefined,
      rssMb: typeof body.memory_usage_mb === 'number' ? body.memory_usage_mb : undefined,
      servedBy: response.headers.get(SERVED_BY_HEADER) ?? undefined,
    };
  } catch {
    return { routeClass, at, status: null, latencyMs: Date.now() - at };
  }
}

/**
 * Sends a request of every route class each tick (health routes only in `health-only` mode) and, unless
 * `pollBreaker` is false (behind a load balancer, where each replica is read directly instead), reads the
 * breaker state from `/health/status`. `routeClasses` narrows the classes sent (an empty list: the breaker
 * alone). `apiKeys` go in `X-API-Key`, one request after another in turn (a
 * deployed service with API_KEYS gives each key its own share of the bulkhead). Bounded in time and count;
 * stops by itself at the limits.
 */
export function startTraffic(
  baseUrl: string,
  limits: TrafficLimits = DEFAULT_TRAFFIC_LIMITS,
  initialMode: TrafficMode = 'full',
  options: { pollBreaker?: boolean; apiKeys?: readonly string[]; routeClasses?: readonly RouteClass[] } = {},
): Traffic {
  const samples: Sample[] = [];
  const breakerSamples: BreakerSample[] = [];
  const inFlight = new Set<Promise<unknown>>();
  const deadline = Date.now() + limits.maxDurationMs;
  let mode: TrafficMode = initialMode;
  let running = true;
  let ticks = 0;
  const keys = dealKeys(options.apiKeys ?? []);

  const track = (promise: Promise<unknown>) => {
    inFlight.add(promise);
    void promise.finally(() => inFlight.delete(promise));
  };

  const service = createRegistryClient({ baseUrl, timeoutMs: limits.requestTimeoutMs });
  const pollBreaker = async () => {
    try {
      const status = await service.status();
      if (status.status === 200) {
        const breaker = status.body.circuit_breaker;
        breakerSamples.push({
          at: Date.now(),
          state: breaker.state,
          secondsUntilRetry: breaker.time_until_retry_seconds,
          tripsTotal: breaker.trips_total,
        });
      }
    } catch {
      // Counted through the other samples; a missing breaker sample only leaves a gap in the timeline.
    }
  };

  const loop = (async () => {
    while (running && Date.now() < deadline && ticks < limits.maxTicks) {
      const started = Date.now();
      ticks += 1;
      const sent = options.routeClasses ?? ROUTE_CLASSES;
      const classes = (mode === 'full' ? sent : sent.filter((c) => !MLFLOW_BOUND.has(c))).filter(
        (c) => !MLFLOW_BOUND.has(c) || ticks % (c === 'write' ? WRITE_EVERY_TICKS : READ_EVERY_TICKS) === 0,
      );
      for (const routeClass of classes) {
        const sending = send(baseUrl, routeClass, limits.requestTimeoutMs, keys.next());
        track(sending.then((sample) => samples.push(sample)));
      }
      if (options.pollBreaker !== false) track(pollBreaker());
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, limits.tickMs - (Date.now() - started))));
    }
  })();

  return {
    setMode(next) {
      mode = next;
    },
    samples: () => samples,
    breakerSamples: () => breakerSamples,
    breakerState: () => breakerSamples.at(-1)?.state,
    async stop() {
      running = false;
      await loop;
      await Promise.allSettled([...inFlight]);
    },
  };
}
