import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { REQUEST_ID_HEADER } from './contract/metrics.js';
import { ERRORS, type ErrorBody, type ErrorCode, isServiceError } from './errors.js';
import { isServiceRefusal } from './refusal-log.js';

/**
 * MLflow's own `error_code` for each status the service answers with: the official MLflow client reads
 * `error_code` (not `code`) and derives the status it reports from it, so pass-through errors carry both.
 */
export const MLFLOW_ERROR_CODE_BY_STATUS: Readonly<Record<number, string>> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'ENDPOINT_NOT_FOUND',
  429: 'REQUEST_LIMIT_EXCEEDED',
  500: 'INTERNAL_ERROR',
  502: 'TEMPORARILY_UNAVAILABLE',
  503: 'TEMPORARILY_UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/**
 * MLflow's own `error_code` for the catalogue codes that answer for MLflow itself, where the status alone
 * would say less: a model, version or logged model MLflow does not have (the pass-through reads one before
 * a write that adds tags or aliases to it).
 */
export const MLFLOW_ERROR_CODE_BY_CODE: Readonly<Partial<Record<ErrorCode, string>>> = {
  MODEL_NOT_FOUND: 'RESOURCE_DOES_NOT_EXIST',
  MODEL_SOURCE_NOT_ALLOWED: 'INVALID_PARAMETER_VALUE',
};

/** How error bodies are rendered in one part of the app. */
interface ErrorStyle {
  /** Add MLflow's `error_code` (the pass-through, where the official MLflow client reads the answers). */
  readonly mlflowErrorCode?: boolean;
}

function send(
  reply: FastifyReply,
  request: FastifyRequest,
  code: ErrorCode,
  message: string,
  details?: unknown,
  style: ErrorStyle = {},
) {
  const status = ERRORS[code].status;
  const body: ErrorBody = { code, message, requestId: request.id };
  if (details !== undefined) body.details = details;
  if (style.mlflowErrorCode) {
    body.error_code = MLFLOW_ERROR_CODE_BY_CODE[code] ?? MLFLOW_ERROR_CODE_BY_STATUS[status] ?? 'BAD_REQUEST';
  }
  // Routing errors never run the onRequest hooks, so the request id header is set here as well.
  return reply.status(status).header(REQUEST_ID_HEADER, request.id).type('application/json').send(body);
}

function codeForFrameworkError(statusCode: number): ErrorCode | undefined {
  if (statusCode === 413) return 'PAYLOAD_TOO_LARGE';
  if (statusCode === 415) return 'UNSUPPORTED_MEDIA_TYPE';
  if (statusCode === 414) return 'URI_TOO_LONG';
  if (statusCode === 408) return 'REQUEST_TIMEOUT';
  if (statusCode === 404) return 'NOT_FOUND';
  if (statusCode >= 400 && statusCode < 500) return 'BAD_REQUEST';
  return undefined;
}

/**
 * Fastify's own routing errors (a path that is not valid percent-encoding, a path parameter over the
 * router's length limit), rendered from the catalogue like every other error.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    send(reply, request, 'URI_TOO_LONG', ERRORS.URI_TOO_LONG.message);
    return;
  }
  if (error.code === 'FST_ERR_BAD_URL') {
    send(reply, request, 'BAD_REQUEST', 'The request path is not valid percent-encoding.');
    return;
  }
  send(reply, request, 'BAD_REQUEST', error.message);
}

/**
 * Errors Node raises before a request exists (a request or its headers too slow, headers too large, bytes
 * that are not HTTP), answered with a catalogue body on the raw socket, which then closes.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const code: ErrorCode =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? 'REQUEST_TIMEOUT'
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? 'HEADERS_TOO_LARGE'
        : 'BAD_REQUEST';
  const { status, message } = ERRORS[code];
  const requestId = randomUUID();
  const body = JSON.stringify({ code, message, requestId } satisfies ErrorBody);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\n${REQUEST_ID_HEADER}: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Where a schema found the problem, as the error message names it. */
const INPUT_PART: Readonly<Record<string, string>> = { querystring: 'query', params: 'path', body: 'body' };

/** The most characters of a problem an answer keeps: a problem may echo the input (unknown keys, say). */
const MAX_PROBLEM_CHARACTERS = 300;

/** `text` cut to at most `max` characters (never inside a surrogate pair), saying so. */
function cut(text: string, max: number): string {
  if (text.length <= max) return text;
  const end = /[\uD800-\uDBFF]/.test(text.charAt(max - 1)) ? max - 1 : max;
  return `${text.slice(0, end)}... (${text.length - end} more characters)`;
}

/**
 * Input that failed its route schema: BAD_REQUEST listing every problem by field, each cut to
 * MAX_PROBLEM_CHARACTERS (a body of 60,000 unknown keys was answered with 1.4 MB).
 */
function invalidInput(error: Pick<FastifyError, 'validationContext'> & { validation: FastifySchemaProblem[] }) {
  const where = INPUT_PART[error.validationContext ?? ''] ?? error.validationContext ?? 'request';
  const problems = error.validation.map((issue) => ({
    field: cut(issue.instancePath.slice(1).replaceAll('/', '.') || where, MAX_PROBLEM_CHARACTERS),
    problem: cut(issue.message ?? 'invalid', MAX_PROBLEM_CHARACTERS),
  }));
  const summary = problems.map((p) => `${p.field}: ${p.problem}`).join('; ');
  return { message: `Invalid ${where}: ${summary}`, details: problems };
}

type FastifySchemaProblem = { instancePath: string; message?: string };

/** The error handler: every error as `{ code, message, requestId }` from the catalogue. */
export function createErrorHandler(style: ErrorStyle = {}) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const { message, details } = invalidInput(error);
      return send(reply, request, 'BAD_REQUEST', message, details, style);
    }
    if (error.code === 'FST_ERR_RESPONSE_SERIALIZATION') {
      // An answer that does not match its own schema is a bug in the service, never sent half-right.
      request.log.error(
        { err: error, issues: (error.cause as { issues?: unknown } | undefined)?.issues },
        'answer does not match its schema',
      );
      return send(reply, request, 'INTERNAL_ERROR', ERRORS.INTERNAL_ERROR.message, undefined, style);
    }
    if (isServiceError(error)) {
      reply.headers(error.headers);
      if (isServiceRefusal(error.code))
        request.server.registry.refusals.refused(request.log, error.code, error.message);
      else if (error.status >= 500) request.log.warn({ err: error, code: error.code }, error.message);
      return send(reply, request, error.code, error.message, error.details, style);
    }
    const frameworkCode = typeof error.statusCode === 'number' ? codeForFrameworkError(error.statusCode) : undefined;
    if (frameworkCode) {
      const message = frameworkCode === 'BAD_REQUEST' ? error.message : ERRORS[frameworkCode].message;
      return send(reply, request, frameworkCode, message, undefined, style);
    }
    request.log.error({ err: error }, 'unhandled error');
    return send(reply, request, 'INTERNAL_ERROR', ERRORS.INTERNAL_ERROR.message, undefined, style);
  };
}

/** Renders every error as `{ code, message, requestId }` from the catalogue, and unknown routes as 404 JSON. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(createErrorHandler());

  app.setNotFoundHandler(sendNotFound);
}

/** Answers 404 NOT_FOUND for a request no route takes. */
export function sendNotFound(request: FastifyRequest, reply: FastifyReply) {
  return send(reply, request, 'NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}.`);
}
