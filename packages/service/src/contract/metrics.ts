import type { BreakerState } from '../circuit-breaker.js';

/** Prefix of every breaker metric. */
export const BREAKER_METRIC_PREFIX = 'registry_mlflow_circuit_breaker_';

/** Names of the Prometheus metrics consumers read (`GET /metrics`). */
export const METRICS = {
  requestDuration: 'registry_http_request_duration_seconds',
  breakerState: `${BREAKER_METRIC_PREFIX}state`,
  breakerTrips: `${BREAKER_METRIC_PREFIX}trips_total`,
  breakerRejections: `${BREAKER_METRIC_PREFIX}rejections_total`,
  callsInFlight: 'registry_mlflow_calls_in_flight',
  callsQueued: 'registry_mlflow_calls_queued',
  streamsInFlight: 'registry_mlflow_streams_in_flight',
  bodiesInProgress: 'registry_request_bodies_in_progress',
  saturated: 'registry_mlflow_saturated_total',
  refusals: 'registry_refusals_total',
  clientLimited: 'registry_mlflow_client_limited_total',
  clientsHoldingCalls: 'registry_mlflow_clients_holding_calls',
  healthScore: 'registry_health_score',
  residentMemoryBytes: 'registry_process_resident_memory_bytes',
  eventLoopLagP99Seconds: 'registry_nodejs_eventloop_lag_p99_seconds',
  /** The longest event-loop delay since the last scrape (each scrape starts a new measurement). */
  eventLoopLagMaxSeconds: 'registry_nodejs_eventloop_lag_max_seconds',
  processCpuSeconds: 'registry_process_cpu_seconds_total',
} as const;

/** Numeric value of each breaker state in `registry_mlflow_circuit_breaker_state`. */
export const BREAKER_STATE_VALUE: Readonly<Record<BreakerState, number>> = { closed: 0, half_open: 1, open: 2 };

/** Header telling a client whether a registry read is fresh (`live`) or last-known-good (`stale`). */
export const CACHE_STATUS_HEADER = 'x-registry-cache';

/** Header carrying the request's id on every answer (a well-formed id the client sent is kept). */
export const REQUEST_ID_HEADER = 'x-request-id';
