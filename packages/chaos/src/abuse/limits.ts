import { loadConfig } from '@registry/service';

/** The service's limits against hostile clients (times in ms, sizes in bytes), as its configuration holds them. */
export interface AbuseLimits {
  /** `MLFLOW_PROXY`: off, read-only, registry or full. */
  readonly proxyMode: string;
  readonly proxyMaxBytes: number;
  readonly maxConcurrency: number;
  readonly queueSize: number;
  /** `MLFLOW_CLIENT_MAX_CONCURRENCY`: calls one client may hold at once. */
  readonly clientMaxConcurrency: number;
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
/** Slack on a timeout the server itself enforces (its timer granularity, a loaded 2-core machine). */
export const CUT_SLACK_MS = 2_000;

/**
 * Resident memory V8 and the allocator keep after a stream of large answers (each is read, parsed and
 * serialized, several copies per request) and give back lazily. Measured on the fixed service: 200 answers
 * of 1 MB over HTTP left the heap used after a full GC unchanged (23 MB) while RSS grew by 140 MB; the
 * cache-fill experiment with one 1 MB description per answer (SQLite) grew RSS by 190-212 MB in four runs.
 * On PostgreSQL, which holds MLflow's descriptions to 5,000 characters, each 0.8 MB answer is 160 models:
 * more objects to parse and validate, and RSS grew by 274-300 MB in five runs (2026-11-29), cache included.
 * A cache that keeps every answer, as before issue 10, grows past this bound plus the cache's share: the
 * negative control `unbounded-cache` grew RSS by 493-537 MB against 384 MB (2026-11-30).
 */
export const LARGE_ANSWER_CHURN_MB = 256;

/** The RSS growth allowed while the cache may fill: `CACHE_RSS_FACTOR` x `CACHE_MAX_BYTES` + `RSS_HEADROOM_MB`. */
export function cacheRssAllowanceMb(limits: AbuseLimits): number {
  return Math.ceil((CACHE_RSS_FACTOR * limits.cacheMaxBytes) / MIB) + RSS_HEADROOM_MB;
}

/**
 * The limits the service runs with, read by the service's own `loadConfig` from the environment it was
 * started with (`env`, e.g. `CHAOS_SERVICE_ENV`; defaults for what it leaves out), so the bounds follow
 * the operator's settings exactly as the service parses them. `/health/status` does not report these
 * settings, so for an external service pass the environment it was given.
 */
export function readAbuseLimits(env: Readonly<Record<string, string | undefined>>): AbuseLimits {
  const config = loadConfig(env);
  return Object.freeze({
    proxyMode: config.mlflow.proxyMode,
    proxyMaxBytes: config.mlflow.maxResponseBytes,
    maxConcurrency: config.mlflow.maxConcurrency,
    queueSize: config.mlflow.queueSize,
    clientMaxConcurrency: config.mlflow.clientMaxConcurrency,
    cacheMaxBytes: config.cache.maxBytes,
    cacheMaxEntryBytes: config.cache.maxEntryBytes,
    requestTimeoutMs: config.requestTimeoutMs,
    headersTimeoutMs: config.headersTimeoutMs,
    adminMaxFailures: config.auth.adminMaxFailures,
    adminWindowMs: config.auth.adminFailureWindowMs,
  });
}

/** Calls one client's burst can have admitted at once: the bulkhead and its queue, or the client's share if smaller. */
export function admissionCap(limits: AbuseLimits): number {
  return Math.min(limits.maxConcurrency + limits.queueSize, limits.clientMaxConcurrency);
}
