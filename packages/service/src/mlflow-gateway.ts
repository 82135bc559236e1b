import { LRUCache } from 'lru-cache';
import { type CircuitBreaker, isBreakerOpenError } from './circuit-breaker.js';
import { ServiceError } from './errors.js';
import { isMlflowError, isMlflowOutage, type MlflowClient } from './mlflow-client.js';

/** A registry read, fresh from MLflow or served from the last-known-good cache while MLflow is unavailable. */
export interface ReadResult<T> {
  readonly value: T;
  readonly stale: boolean;
  /** Seconds since the value was fetched from MLflow (0 when fresh). */
  readonly ageSeconds: number;
}

/** The only way routes reach MLflow: every call goes through the breaker and maps failures to catalogue errors. */
export interface MlflowGateway {
  /** Runs a call through the breaker; throws `ServiceError` (503 + Retry-After while open, 502/504/...). */
  call<T>(operation: (client: MlflowClient) => Promise<T>): Promise<T>;
  /** A call that may be a recovery trial: the background probe's. */
  probe(operation: (client: MlflowClient) => Promise<void>): Promise<void>;
  /** Like `call`, but remembers the answer under `key` and serves it as stale while MLflow is unavailable. */
  read<T>(key: string, operation: (client: MlflowClient) => Promise<T>): Promise<ReadResult<T>>;
  readonly client: MlflowClient;
  readonly breaker: CircuitBreaker;
}

/** Options of `createMlflowGateway`. */
export interface MlflowGatewayOptions {
  readonly client: MlflowClient;
  readonly breaker: CircuitBreaker;
  /** Entries in the last-known-good cache; 0 disables it. */
  readonly cacheMaxEntries: number;
  readonly now: () => number;
  /**
   * True when a background probe makes the recovery trials: client requests then never become trials,
   * so no client waits on a still-unwell MLflow once the breaker has opened.
   */
  readonly trialsByProbe: boolean;
}

/** Retry-After, in whole seconds (at least 1), for a breaker rejection. */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
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
  if (isMlflowError(error)) {
    switch (error.kind) {
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
          return new ServiceError('MODEL_NOT_FOUND', { message: error.message, cause: error });
        }
        return new ServiceError('MLFLOW_REJECTED', {
          message: error.message,
          details: { mlflow_error_code: error.errorCode, mlflow_status: error.status },
          cause: error,
        });
    }
  }
  return new ServiceError('INTERNAL_ERROR', { cause: error });
}

/** Creates the gateway over one MLflow client and one breaker. */
export function createMlflowGateway(options: MlflowGatewayOptions): MlflowGateway {
  const { client, breaker, now } = options;
  const userCall = { mayTrial: !options.trialsByProbe };
  const cache =
    options.cacheMaxEntries > 0
      ? new LRUCache<string, { value: unknown; storedAt: number }>({ max: options.cacheMaxEntries })
      : undefined;

  async function call<T>(operation: (mlflow: MlflowClient) => Promise<T>): Promise<T> {
    try {
      return await breaker.execute(() => operation(client), userCall);
    } catch (error) {
      throw toServiceError(error);
    }
  }

  return {
    client,
    breaker,
    call,
    async probe(operation) {
      try {
        await breaker.execute(() => operation(client), { mayTrial: true });
      } catch (error) {
        throw toServiceError(error);
      }
    },
    async read<T>(key: string, operation: (mlflow: MlflowClient) => Promise<T>): Promise<ReadResult<T>> {
      try {
        const value = await breaker.execute(() => operation(client), userCall);
        cache?.set(key, { value, storedAt: now() });
        return { value, stale: false, ageSeconds: 0 };
      } catch (error) {
        const unavailable = isBreakerOpenError(error) || isMlflowOutage(error);
        const cached = unavailable ? cache?.get(key) : undefined;
        if (cached) {
          const ageSeconds = Math.max(0, Math.floor((now() - cached.storedAt) / 1000));
          return { value: cached.value as T, stale: true, ageSeconds };
        }
        throw toServiceError(error);
      }
    },
  };
}
