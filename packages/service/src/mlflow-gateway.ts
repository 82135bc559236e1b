import { finished, type Readable } from 'node:stream';
import { type BulkheadPolicy, bulkhead, isBulkheadRejectedError } from 'cockatiel';
import { LRUCache } from 'lru-cache';
import { type CircuitBreaker, isBreakerOpenError } from './circuit-breaker.js';
import { createClientShares } from './client-shares.js';
import { ServiceError } from './errors.js';
import { isMlflowError, isMlflowOutage, type MlflowClient } from './mlflow-client.js';

/** How `MlflowCalls.read` counts a read. */
export interface ReadOptions {
  /** A filter, page token or page size a client chose: the outcome is not counted at all (as for `relay`). */
  readonly clientShaped?: boolean;
  /** Kept in the searches' share of the cache (SEARCH_CACHE_SHARE). */
  readonly search?: boolean;
}

/** How `MlflowCalls.relay` answers MLflow's failures. */
export interface RelayOptions {
  /** The message of the 400 MLFLOW_REJECTED that MLflow's 500 becomes: the client's input made MLflow fail. */
  readonly rejected?: string;
}

/** A registry read, fresh from MLflow or served from the last-known-good cache while MLflow is unavailable. */
export interface ReadResult<T> {
  readonly value: T;
  readonly stale: boolean;
  /** Seconds since the value was fetched from MLflow (0 when fresh). */
  readonly ageSeconds: number;
}

/** The calls a route makes to MLflow; `MlflowGateway.forClient` charges them to one client's share. */
export interface MlflowCalls {
  /** Runs a call through the breaker and the bulkhead; throws `ServiceError` (503 + Retry-After while open or saturated, 502/504/...). */
  call<T>(operation: (client: MlflowClient) => Promise<T>): Promise<T>;
  /**
   * Like `call` for a request whose shape a client chose (the pass-through, a registration's source): refused
   * while the breaker is not closed, but its outcome is never counted, so no client can open (or hold closed)
   * the breaker for others. With `rejected`, MLflow's 500 is the request's: 400 MLFLOW_REJECTED with that message.
   */
  relay<T>(operation: (client: MlflowClient) => Promise<T>, options?: RelayOptions): Promise<T>;
  /**
   * Like `relay`, for an answer whose body streams on after the call returns (artifact downloads). The
   * bulkhead's slot is freed when the headers arrive, so long downloads never hold up registry calls; but
   * at most `bulkhead.maxConcurrency` such bodies stream at once, each holding a stream slot until it ends,
   * and one more is refused with 503 MLFLOW_SATURATED: no client decides how many MLflow connections stay open.
   */
  relayStream<T extends { readonly body: Readable | null }>(
    operation: (client: MlflowClient) => Promise<T>,
  ): Promise<T>;
  /**
   * Like `call`, but remembers the answer under `key` and serves it as stale while MLflow is unavailable.
   * With `clientShaped` (a search filter, page token or page size a client chose) the outcome is not counted, as for
   * `relay`, and an MLflow 500 is the request's: 400 MLFLOW_REJECTED. With `search`, the answer is kept in
   * the searches' share of the cache (SEARCH_CACHE_SHARE), so that searches never evict single models and versions.
   */
  read<T>(key: string, operation: (client: MlflowClient) => Promise<T>, options?: ReadOptions): Promise<ReadResult<T>>;
}

/**
 * The only way routes reach MLflow: every call is charged to a client, goes through the breaker and the
 * bulkhead, and maps failures to catalogue errors.
 */
export interface MlflowGateway {
  /**
   * The calls a route makes for `client` (`request.registryClient`: an API key or an address): it may hold
   * at most `bulkhead.clientMaxConcurrency` of them at once, in flight, waiting or with an artifact body
   * streaming, and one more is refused at once with 429 CLIENT_CONCURRENCY_LIMIT, before the breaker and
   * the bulkhead see it. So no one client takes more than its share of the slots and the queue. An empty
   * `client` (a route without the API key hook, which names it) throws.
   */
  forClient(client: string): MlflowCalls;
  /** A call that may be a recovery trial: the background probe's. */
  probe(operation: (client: MlflowClient) => Promise<void>): Promise<void>;
  readonly client: MlflowClient;
  readonly breaker: CircuitBreaker;
  /**
   * Calls in flight, calls waiting for a slot, artifact bodies streaming, calls turned away since start
   * (bulkhead full), calls refused since start because their client held its share, and clients holding calls now.
   */
  load(): {
    readonly active: number;
    readonly queued: number;
    readonly streaming: number;
    readonly rejectedTotal: number;
    readonly clientLimitedTotal: number;
    readonly clients: number;
  };
}

/** Limits of the last-known-good cache, searches included (SEARCH_CACHE_SHARE of them); 0 entries or bytes disables it. */
export interface CacheLimits {
  readonly maxEntries: number;
  /** Total size, counted as the JSON size of each value. */
  readonly maxBytes: number;
  /** Largest single value kept; larger ones are served but not cached. */
  readonly maxEntryBytes: number;
}

/** Limits of the bulkhead around MLflow calls. */
export interface BulkheadLimits {
  readonly maxConcurrency: number;
  readonly queueSize: number;
  /** Calls one client may hold at once (`forClient`); `maxConcurrency + queueSize` or more means no share. */
  readonly clientMaxConcurrency: number;
}

/** Options of `createMlflowGateway`. */
export interface MlflowGatewayOptions {
  readonly client: MlflowClient;
  readonly breaker: CircuitBreaker;
  readonly cache: CacheLimits;
  readonly bulkhead: BulkheadLimits;
  readonly now: () => number;
  /**
   * True when a background probe makes the recovery trials: client requests then never become trials,
   * so no client waits on a still-unwell MLflow once the breaker has opened.
   */
  readonly trialsByProbe: boolean;
}

/** Retry-After given to a call turned away because the bulkhead and its queue are full. */
export const SATURATED_RETRY_AFTER_SECONDS = 1;

/** 503 MLFLOW_SATURATED: every slot for MLflow-bound work is taken; come back in a moment. */
export function saturated(options: { readonly cause?: unknown; readonly message?: string } = {}): ServiceError {
  const { cause, message } = options;
  return new ServiceError('MLFLOW_SATURATED', {
    message,
    headers: { 'retry-after': String(SATURATED_RETRY_AFTER_SECONDS) },
    details: { retry_after_seconds: SATURATED_RETRY_AFTER_SECONDS },
    cause,
  });
}

/** 429 CLIENT_CONCURRENCY_LIMIT: the client holds its whole share (`limit`) already. */
export function clientLimited(limit: number, message?: string): ServiceError {
  return new ServiceError('CLIENT_CONCURRENCY_LIMIT', {
    message,
    headers: { 'retry-after': String(SATURATED_RETRY_AFTER_SECONDS) },
    details: { client_max_concurrency: limit, retry_after_seconds: SATURATED_RETRY_AFTER_SECONDS },
  });
}

/** Retry-After, in whole seconds (at least 1), for a breaker rejection. */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}

/** Longest part of MLflow's own message a client sees in MLFLOW_REJECTED / MODEL_NOT_FOUND. */
export const MLFLOW_MESSAGE_MAX_LENGTH = 500;

/**
 * MLflow's message for a request it refused, as a client may see it: without what its database said
 * (SQLAlchemy appends the SQL statement and its parameters, e.g. to "integer out of range") and at most
 * MLFLOW_MESSAGE_MAX_LENGTH characters. The whole message stays on the error's `cause`.
 */
export function toClientFacingMessage(message: string): string {
  const sqlAt = message.search(/\[SQL: |\(Background on this error/);
  const kept = (sqlAt === -1 ? message : message.slice(0, sqlAt)).trim();
  if (/^\((psycopg2?|sqlalchemy|sqlite3|pymysql|mysqldb)[.)]/i.test(kept)) {
    return 'MLflow could not store or read a value of this request (its database refused it)';
  }
  // Cut by code points, so that a character outside the BMP is never split in half.
  const characters = Array.from(kept);
  return characters.length > MLFLOW_MESSAGE_MAX_LENGTH
    ? `${characters.slice(0, MLFLOW_MESSAGE_MAX_LENGTH).join('')}...`
    : kept;
}

/**
 * MLflow's 500 to a call whose shape a client chose, as the request's failure: 400 MLFLOW_REJECTED with
 * `message`; undefined for any other failure (a 502, 503 or 504 from what stands in front of MLflow is an outage).
 */
function rejectedBy(error: unknown, message: string): ServiceError | undefined {
  if (!isMlflowError(error) || error.kind !== 'upstream' || error.status !== 500) return undefined;
  return new ServiceError('MLFLOW_REJECTED', { message, details: { mlflow_status: error.status }, cause: error });
}

/** Maps an MLflow or breaker failure to the catalogue error a client sees. */
export function toServiceError(error: unknown): ServiceError {
  if (isBreakerOpenError(error)) {
    const seconds = retryAfterSeconds(error.retryAfterMs);
    return new ServiceError('MLFLOW_CIRCUIT_OPEN', {
      headers: { 'retry-after': String(seconds) },
      details: { breaker_state: error.state, retry_after_seconds: seconds },
      cause: error,
    });
  }
  if (isBulkheadRejectedError(error)) return saturated({ cause: error });
  if (isMlflowError(error)) {
    switch (error.kind) {
      case 'invalid_request':
        return new ServiceError('BAD_REQUEST', { message: error.message, cause: error });
      case 'too_large':
        return new ServiceError('MLFLOW_RESPONSE_TOO_LARGE', {
          cause: error,
          ...(error.size ? { details: { answer_bytes: error.size.declared, max_bytes: error.size.max } } : {}),
        });
      case 'unreachable':
        return new ServiceError('MLFLOW_UNREACHABLE', { cause: error });
      case 'timeout':
        return new ServiceError('MLFLOW_TIMEOUT', { cause: error });
      case 'upstream':
        return new ServiceError('MLFLOW_UPSTREAM_ERROR', { details: { mlflow_status: error.status }, cause: error });
      case 'malformed':
        return new ServiceError('MLFLOW_BAD_RESPONSE', { cause: error });
      case 'api':
        if (error.errorCode === 'RESOURCE_DOES_NOT_EXIST') {
          return new ServiceError('MODEL_NOT_FOUND', {
            message: toClientFacingMessage(error.message),
            cause: error,
          });
        }
        return new ServiceError('MLFLOW_REJECTED', {
          message: toClientFacingMessage(error.message),
          details: { mlflow_error_code: error.errorCode, mlflow_status: error.status },
          cause: error,
        });
    }
  }
  return new ServiceError('INTERNAL_ERROR', { cause: error });
}

interface CacheEntry {
  readonly value: unknown;
  readonly storedAt: number;
}

/**
 * Share of the cache's entries and bytes that searches may hold (rounded down; none on a cache too small to
 * share). Their keys are whatever a client searched for: one client's thousand distinct cheap searches
 * evicted every model that readers relied on during an outage, when both shared one LRU.
 */
export const SEARCH_CACHE_SHARE = 0.25;

/** The last-known-good cache: single models and versions, and searches, each in a share of its own. */
function createCaches(limits: CacheLimits) {
  const searchEntries = Math.floor(limits.maxEntries * SEARCH_CACHE_SHARE);
  const searchBytes = Math.floor(limits.maxBytes * SEARCH_CACHE_SHARE);
  return {
    resources: createCache({
      ...limits,
      maxEntries: limits.maxEntries - searchEntries,
      maxBytes: limits.maxBytes - searchBytes,
    }),
    searches: createCache({ ...limits, maxEntries: searchEntries, maxBytes: searchBytes }),
  };
}

function createCache(limits: CacheLimits): LRUCache<string, CacheEntry> | undefined {
  if (limits.maxEntries === 0 || limits.maxBytes === 0) return undefined;
  return new LRUCache<string, CacheEntry>({
    max: limits.maxEntries,
    maxSize: limits.maxBytes,
    maxEntrySize: Math.min(limits.maxEntryBytes, limits.maxBytes),
    // The key counts too: a client chooses it (a search text), so it must not grow memory for free.
    sizeCalculation: (entry, key) => Math.max(1, Buffer.byteLength(JSON.stringify(entry.value)) + key.length),
  });
}

/** Runs `call`, then calls `release` once the answer's body has ended (at once without a body, or on failure). */
async function holdUntilBodyEnds<T extends { readonly body: Readable | null }>(
  call: () => Promise<T>,
  release: () => void,
): Promise<T> {
  try {
    const answer = await call();
    if (answer.body) finished(answer.body, release);
    else release();
    return answer;
  } catch (error) {
    release();
    throw error;
  }
}

/** Creates the gateway over one MLflow client and one breaker. */
export function createMlflowGateway(options: MlflowGatewayOptions): MlflowGateway {
  const { client, breaker, now } = options;
  const userCall = { mayTrial: !options.trialsByProbe };
  const relayCall = { record: false };
  const caches = createCaches(options.cache);
  // The breaker is asked first, so an open breaker answers MLFLOW_CIRCUIT_OPEN (and stale reads) rather
  // than a full bulkhead; a bulkhead rejection never reached MLflow and so says nothing to the breaker.
  const slots: BulkheadPolicy = bulkhead(options.bulkhead.maxConcurrency, options.bulkhead.queueSize);
  let rejectedTotal = 0;
  slots.onReject(() => {
    rejectedTotal += 1;
  });
  const limited =
    <T>(operation: (mlflow: MlflowClient) => Promise<T>) =>
    (): Promise<T> =>
      slots.execute(() => operation(client));

  async function call<T>(operation: (mlflow: MlflowClient) => Promise<T>): Promise<T> {
    try {
      return await breaker.execute(limited(operation), userCall);
    } catch (error) {
      throw toServiceError(error);
    }
  }

  async function relay<T>(
    operation: (mlflow: MlflowClient) => Promise<T>,
    relayOptions: RelayOptions = {},
  ): Promise<T> {
    try {
      return await breaker.execute(limited(operation), relayCall);
    } catch (error) {
      throw (relayOptions.rejected !== undefined && rejectedBy(error, relayOptions.rejected)) || toServiceError(error);
    }
  }

  let streaming = 0;
  async function relayStream<T extends { readonly body: Readable | null }>(
    operation: (mlflow: MlflowClient) => Promise<T>,
  ): Promise<T> {
    if (streaming >= options.bulkhead.maxConcurrency) {
      rejectedTotal += 1;
      throw saturated();
    }
    streaming += 1;
    const release = () => {
      streaming -= 1;
    };
    return holdUntilBodyEnds(() => relay(operation), release);
  }

  async function read<T>(
    key: string,
    operation: (mlflow: MlflowClient) => Promise<T>,
    readOptions: ReadOptions = {},
  ): Promise<ReadResult<T>> {
    const cache = readOptions.search ? caches.searches : caches.resources;
    try {
      const value = await breaker.execute(limited(operation), readOptions.clientShaped ? relayCall : userCall);
      cache?.set(key, { value, storedAt: now() });
      return { value, stale: false, ageSeconds: 0 };
    } catch (error) {
      // MLflow answers some filters and page tokens a client wrote with a 500 (`page_token=W10=`): that
      // failure is the request's, so the client gets a 400 and no stale answer stands in for it. Any other
      // 5xx (a 502, 503 or 504 from what stands in front of an MLflow that is down) is an outage like any
      // other: stale or 502, still not counted, since the request's shape was the client's.
      const rejected =
        readOptions.clientShaped &&
        rejectedBy(
          error,
          'MLflow failed on the filter, page token or page size of this request (it answered 500); check them.',
        );
      if (rejected) throw rejected;
      const unavailable = isBreakerOpenError(error) || isBulkheadRejectedError(error) || isMlflowOutage(error);
      const cached = unavailable ? cache?.get(key) : undefined;
      if (cached) {
        const ageSeconds = Math.max(0, Math.floor((now() - cached.storedAt) / 1000));
        return { value: cached.value as T, stale: true, ageSeconds };
      }
      throw toServiceError(error);
    }
  }

  // The per-client share: calls each client holds now, in flight, waiting or streaming.
  const shares = createClientShares(options.bulkhead.clientMaxConcurrency);
  let clientLimitedTotal = 0;
  function take(owner: string): () => void {
    const release = shares.take(owner);
    if (release) return release;
    clientLimitedTotal += 1;
    throw clientLimited(options.bulkhead.clientMaxConcurrency);
  }
  async function charged<T>(owner: string, run: () => Promise<T>): Promise<T> {
    const release = take(owner);
    try {
      return await run();
    } finally {
      release();
    }
  }
  // A share as large as the bulkhead and its queue would refuse calls the bulkhead would refuse anyway, with
  // another code (artifact bodies aside): the bulkhead alone then decides (503 MLFLOW_SATURATED), and the
  // share is off.
  const hasShare = options.bulkhead.clientMaxConcurrency < options.bulkhead.maxConcurrency + options.bulkhead.queueSize;
  function forClient(owner: string): MlflowCalls {
    if (owner === '') throw new Error('an MLflow call without a client: the route lacks the API key hook');
    if (!hasShare) return { call, relay, relayStream, read };
    return {
      call: (operation) => charged(owner, () => call(operation)),
      relay: (operation, relayOptions) => charged(owner, () => relay(operation, relayOptions)),
      read: (key, operation, readOptions) => charged(owner, () => read(key, operation, readOptions)),
      // An artifact body holds its client's share until it ends, as it holds a stream slot.
      relayStream: async (operation) => holdUntilBodyEnds(() => relayStream(operation), take(owner)),
    };
  }

  return {
    client,
    breaker,
    forClient,
    load: () => ({
      active: options.bulkhead.maxConcurrency - slots.executionSlots,
      queued: options.bulkhead.queueSize - slots.queueSlots,
      streaming,
      rejectedTotal,
      clientLimitedTotal,
      clients: shares.holders(),
    }),
    async probe(operation) {
      try {
        await breaker.execute(() => operation(client), { mayTrial: true });
      } catch (error) {
        throw toServiceError(error);
      }
    },
  };
}
