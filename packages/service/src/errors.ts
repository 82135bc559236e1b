/**
 * The one catalogue of error codes the service answers with: code -> HTTP status and message.
 * `docs/errors.md` documents each entry; a unit test keeps the two in step in both directions.
 */
export const ERRORS = {
  BAD_REQUEST: { status: 400, message: 'The request is invalid.' },
  UNAUTHORIZED: { status: 401, message: 'A valid API key is required (X-API-Key header).' },
  ADMIN_UNAUTHORIZED: { status: 401, message: 'A valid admin bearer token is required.' },
  ADMIN_DISABLED: { status: 401, message: 'Manual breaker control is disabled: ADMIN_TOKEN is not set.' },
  NOT_FOUND: { status: 404, message: 'No such route.' },
  MODEL_NOT_FOUND: { status: 404, message: 'MLflow has no such registered model or model version.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body is larger than BODY_LIMIT.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be JSON (Content-Type: application/json).' },
  MLFLOW_REJECTED: { status: 400, message: 'MLflow rejected the request.' },
  MLFLOW_UNREACHABLE: { status: 502, message: 'MLflow could not be reached.' },
  MLFLOW_UPSTREAM_ERROR: { status: 502, message: 'MLflow answered with a server error.' },
  MLFLOW_BAD_RESPONSE: { status: 502, message: 'MLflow answered with a malformed response.' },
  MLFLOW_CIRCUIT_OPEN: {
    status: 503,
    message: 'MLflow is unavailable and the circuit breaker is open; retry after the Retry-After delay.',
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
