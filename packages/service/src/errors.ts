/**
 * The one catalogue of error codes the service answers with: code -> HTTP status and message.
 * `docs/errors.md` documents each entry; a unit test keeps the two in step in both directions.
 */
export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'The request is invalid.' },
  UNAUTHORIZED: {
    status: 401,
    message: 'A valid API key is required (X-API-Key header or Authorization: Bearer <key>).',
  },
  ADMIN_UNAUTHORIZED: { status: 401, message: 'A valid admin bearer token is required.' },
  ADMIN_DISABLED: { status: 401, message: 'Manual breaker control is disabled: ADMIN_TOKEN is not set.' },
  API_KEY_READ_ONLY: {
    status: 403,
    message: 'This API key may only read (API_READ_ONLY_KEYS); a write needs one of API_KEYS.',
  },
  MLFLOW_PROXY_FORBIDDEN: {
    status: 403,
    message: 'The MLflow pass-through does not allow this request (MLFLOW_PROXY setting).',
  },
  NOT_FOUND: { status: 404, message: 'No such route.' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'The MLflow pass-through accepts GET, POST, PATCH and DELETE only.' },
  MODEL_NOT_FOUND: { status: 404, message: 'MLflow has no such registered model or model version.' },
  REQUEST_TIMEOUT: {
    status: 408,
    message: 'The request was not received in time (HEADERS_TIMEOUT for the headers, REQUEST_TIMEOUT in all).',
  },
  PAYLOAD_TOO_LARGE: {
    status: 413,
    message: 'The request body is larger than BODY_LIMIT (on the registry API, than 64 KiB if BODY_LIMIT is larger).',
  },
  URI_TOO_LONG: { status: 414, message: 'A path parameter of the request is too long.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are larger than the server accepts.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be JSON (Content-Type: application/json).' },
  TOO_MANY_REQUESTS: {
    status: 429,
    message:
      'Too many failed authentications on the manual breaker routes from this client; retry after the Retry-After delay.',
  },
  CLIENT_CONCURRENCY_LIMIT: {
    status: 429,
    message:
      'This client already has MLFLOW_CLIENT_MAX_CONCURRENCY MLflow calls in flight or waiting; retry after the Retry-After delay.',
  },
  MLFLOW_REJECTED: { status: 400, message: 'MLflow rejected the request.' },
  MODEL_SOURCE_NOT_ALLOWED: {
    status: 400,
    message:
      "The model version's source does not start with one of MLFLOW_ALLOWED_SOURCES, or holds a dot segment or a backslash.",
  },
  MLFLOW_ENTRY_TOO_LARGE: {
    status: 400,
    message:
      'The write would leave its registry entry holding more tags and aliases than the pass-through allows (MLFLOW_PROXY_MAX_ENTRY_BYTES).',
  },
  MLFLOW_UNREACHABLE: { status: 502, message: 'MLflow could not be reached.' },
  MLFLOW_UPSTREAM_ERROR: { status: 502, message: 'MLflow answered with a server error.' },
  MLFLOW_BAD_RESPONSE: { status: 502, message: 'MLflow answered with a malformed response.' },
  MLFLOW_RESPONSE_TOO_LARGE: {
    status: 502,
    message:
      'MLflow answered with more bytes than the service reads (MLFLOW_API_MAX_BYTES) or relays (MLFLOW_PROXY_MAX_BYTES).',
  },
  MLFLOW_CIRCUIT_OPEN: {
    status: 503,
    message: 'MLflow is unavailable and the circuit breaker is open; retry after the Retry-After delay.',
  },
  MLFLOW_SATURATED: {
    status: 503,
    message:
      'Too many MLflow calls are in flight (MLFLOW_MAX_CONCURRENCY and MLFLOW_QUEUE_SIZE); retry after the Retry-After delay.',
  },
  MLFLOW_TIMEOUT: { status: 504, message: 'MLflow did not answer within MLFLOW_REQUEST_TIMEOUT.' },
  INTERNAL_ERROR: { status: 500, message: 'An unexpected error occurred.' },
} as const satisfies Record<string, { status: number; message: string }>;

/** A code from the error catalogue. */
export type ErrorCode = keyof typeof ERRORS;

/** The JSON body of every error response. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  requestId: string;
  details?: unknown;
  /** On `/mlflow/*` only: MLflow's error code for the status, which the official MLflow client reads. */
  error_code?: string;
}

/** An error that maps to a catalogue entry; routes throw it and the error handler renders it. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    options: { message?: string; details?: unknown; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(options.message ?? ERRORS[code].message, { cause: options.cause });
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = options.details;
    this.headers = options.headers ?? {};
  }
}

/** Type guard for catalogue errors. */
export function isServiceError(error: unknown): error is ServiceError {
  return error instanceof ServiceError;
}
