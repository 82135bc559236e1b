import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, type ErrorBody, type ErrorCode, isServiceError } from './errors.js';

function send(reply: FastifyReply, request: FastifyRequest, code: ErrorCode, message: string, details?: unknown) {
  const body: ErrorBody = { code, message, requestId: request.id };
  if (details !== undefined) body.details = details;
  return reply.status(ERRORS[code].status).type('application/json').send(body);
}

function codeForFrameworkError(statusCode: number): ErrorCode | undefined {
  if (statusCode === 413) return 'PAYLOAD_TOO_LARGE';
  if (statusCode === 415) return 'UNSUPPORTED_MEDIA_TYPE';
  if (statusCode === 404) return 'NOT_FOUND';
  if (statusCode >= 400 && statusCode < 500) return 'BAD_REQUEST';
  return undefined;
}

/** Renders every error as `{ code, message, requestId }` from the catalogue, and unknown routes as 404 JSON. */
export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (isServiceError(error)) {
      reply.headers(error.headers);
      if (error.status >= 500) request.log.warn({ err: error, code: error.code }, error.message);
      return send(reply, request, error.code, error.message, error.details);
    }
    const frameworkCode = typeof error.statusCode === 'number' ? codeForFrameworkError(error.statusCode) : undefined;
    if (frameworkCode) {
      const message = frameworkCode === 'BAD_REQUEST' ? error.message : ERRORS[frameworkCode].message;
      return send(reply, request, frameworkCode, message);
    }
    request.log.error({ err: error }, 'unhandled error');
    return send(reply, request, 'INTERNAL_ERROR', ERRORS.INTERNAL_ERROR.message);
  });

  app.setNotFoundHandler((request, reply) =>
    send(reply, request, 'NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}.`),
  );
}
