import { SETTINGS } from '@registry/service';

/**
 * The service settings the abuse class is judged by, each with its environment variable. They are the
 * operator's own settings, so every bound below follows whatever the service runs with.
 */
const LIMIT_SETTINGS = {
  proxyMode: 'MLFLOW_PROXY',
  proxyMaxBytes: 'MLFLOW_PROXY_MAX_BYTES',
  maxConcurrency: 'MLFLOW_MAX_CONCURRENCY',
  queueSize: 'MLFLOW_QUEUE_SIZE',
  cacheMaxBytes: 'CACHE_MAX_BYTES',
  cacheMaxEntryBytes: 'CACHE_MAX_ENTRY_BYTES',
  requestTimeout: 'REQUEST_TIMEOUT',
  headersTimeout: 'HEADERS_TIMEOUT',
  adminMaxFailures: 'ADMIN_AUTH_MAX_FAILURES',
  adminWindow: 'ADMIN_AUTH_WINDOW',
} as const;

/** The service's limits against hostile clients (times in ms, sizes in bytes). */
export interface AbuseLimits {
  /** `MLFLOW_PROXY`: off, read-only, registry or full. */
  readonly proxyMode: string;
  readonly proxyMaxBytes: number;
  readonly maxConcurrency: number;
  readonly queueSize: number;
  readonly cacheMaxBytes: number;
  readonly cacheMaxEntryBytes: number;
  /** Longest a client may take to send a whole request. */
  readonly requestTimeoutMs: number;
  /** Longest a client may take to send the request headers. */
  readonly headersTimeoutMs: number;
  /** Failed admin authentications per client and window before 429. */
  readonly adminMaxFailures: number;
  readonly adminWindowMs: number;
}

const MIB = 1024 * 1024;

/** Resident memory an attack may add when it must not use memory at all: sockets, buffers, garbage not yet collected. */
export const RSS_HEADROOM_MB = 96;
/**
 * Resident memory per byte the last-known-good cache counts (it counts an entry's JSON size; the parsed
 * objects and V8's heap slack cost about as much again).
 */
export const CACHE_RSS_FACTOR = 2;
/**
 * Liveness latency every abuse experiment must keep, at the 99th percentile and at worst: 10x under the
 * ALB probe's 5 s timeout. 250 ms failed once in CI (one probe of 357 ms out of 19 while 64 MiB
 * artifacts streamed through Docker's proxy on 2 cores), so the p99 bound is 500 ms.
 */
export const LIVE_P99_MS = 500;
export const LIVE_MAX_MS = 1_000;
/** Slack on a timeout the server itself enforces (its timer granularity, a loaded 2-core machine). */
export const CUT_SLACK_MS = 2_000;

/**
 * Resident memory V8 and the allocator keep after a stream of large answers (each is read, parsed and
 * serialized, several copies per request) and give back lazily. Measured on the fixed service: 200 answers
 * of 1 MB over HTTP left the heap used after a full GC unchanged (23 MB) while RSS grew by 140 MB; the
 * cache-fill experiment with one 1 MB description per answer (SQLite) grew RSS by 190-212 MB in four runs.
 * On PostgreSQL, which holds MLflow's descriptions to 5,000 characters, each 0.8 MB answer is 160 models:
 * more objects to parse and validate, and RSS grew by 274-300 MB in five runs (2026-11-29), cache included.
 * The service before issue 10 kept every answer (480 x 0.8 MB, before any parsing overhead) and passes
 * this bound plus the cache's share.
 */
export const LARGE_ANSWER_CHURN_MB = 256;

/** The RSS growth allowed while the cache may fill: `CACHE_RSS_FACTOR` x `CACHE_MAX_BYTES` + `RSS_HEADROOM_MB`. */
export function cacheRssAllowanceMb(limits: AbuseLimits): number {
  return Math.ceil((CACHE_RSS_FACTOR * limits.cacheMaxBytes) / MIB) + RSS_HEADROOM_MB;
}

function settingValue(name: string, env: Readonly<Record<string, string | undefined>>): string {
  const given = env[name];
  if (given !== undefined && given !== '') return given;
  const spec = (SETTINGS as Readonly<Record<string, { readonly default?: string }>>)[name];
  if (spec?.default === undefined) {
    throw new Error(`the abuse experiments need ${name}: it is not set and the service has no default for it`);
  }
  return spec.default;
}

function positive(name: string, text: string, scale = 1): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}: expected a number, got "${text}"`);
  return Math.round(value * scale);
}

/**
 * The limits the service runs with: each from the environment it was started with (`env`, e.g.
 * `CHAOS_SERVICE_ENV`), else the default in the service's own `SETTINGS`. `/health/status` does not report
 * these settings, so for an external service pass the environment it was given.
 */
export function readAbuseLimits(env: Readonly<Record<string, string | undefined>>): AbuseLimits {
  const value = (key: keyof typeof LIMIT_SETTINGS) => settingValue(LIMIT_SETTINGS[key], env);
  const number = (key: keyof typeof LIMIT_SETTINGS, scale = 1) => positive(LIMIT_SETTINGS[key], value(key), scale);
  return Object.freeze({
    proxyMode: value('proxyMode'),
    proxyMaxBytes: number('proxyMaxBytes'),
    maxConcurrency: number('maxConcurrency'),
    queueSize: number('queueSize'),
    cacheMaxBytes: number('cacheMaxBytes'),
    cacheMaxEntryBytes: number('cacheMaxEntryBytes'),
    requestTimeoutMs: number('requestTimeout', 1000),
    headersTimeoutMs: number('headersTimeout', 1000),
    adminMaxFailures: number('adminMaxFailures'),
    adminWindowMs: number('adminWindow', 1000),
  });
}
