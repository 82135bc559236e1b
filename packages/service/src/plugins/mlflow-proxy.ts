import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { createApiKeyHook } from '../auth.js';
import { relayedErrorResponses } from '../contract/common.js';
import { API_KEY_SECURITY, MLFLOW_PROXY_PREFIX } from '../contract/routes.js';
import { createEntryWriteQueue } from '../entry-write-queue.js';
import { createErrorHandler } from '../error-handling.js';
import { ServiceError } from '../errors.js';
import { FORWARDED_REQUEST_HEADERS, type ForwardedResponse, type MlflowClient } from '../mlflow-client.js';
import { enforceEntryBudget } from '../mlflow-entry-budget.js';
import { decideProxyRequest, PROXY_METHODS, type ProxyRefusal, routeProxyRequest } from '../mlflow-proxy-policy.js';

export { MLFLOW_PROXY_PREFIX };

/** Most bytes of an MLflow server error the service reads (to log it and take its `error_code`). */
const SERVER_ERROR_READ_BYTES = 16 * 1024;
/** Most characters of it the log line keeps. */
const SERVER_ERROR_LOGGED_CHARACTERS = 2_048;
/** The `error_code` field at the top of MLflow's JSON error, holding a code as MLflow writes them (nothing else is passed on). */
const ERROR_CODE_FIELD = /^\s*\{\s*"error_code"\s*:\s*"([A-Z][A-Z_]{0,63})"/;

/** The first `max` bytes of a body, as text; the rest is never read (the stream is destroyed). */
async function readPrefix(body: Readable | null, max: number): Promise<string> {
  if (!body) return '';
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(Buffer.from(chunk as Uint8Array));
      size += (chunk as Uint8Array).byteLength;
      if (size >= max) break;
    }
  } catch {
    // A body cut off early: what came is all there is to log.
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

/**
 * MLflow's 5xx answers describe MLflow's inside (a failed SQL statement with its parameters, a stack): the
 * client gets the status, MLflow's `error_code` and a message pointing at the log; the answer itself goes to
 * the service's log under the request id. `Retry-After` is kept.
 */
async function withoutServerDetails(request: FastifyRequest, response: ForwardedResponse) {
  const text = await readPrefix(response.body, SERVER_ERROR_READ_BYTES);
  // MLflow writes `error_code` first, so it is found even in a body cut at the read limit; a body without
  // one (a proxy's HTML page) gets the generic code.
  const errorCode = ERROR_CODE_FIELD.exec(text)?.[1] ?? 'INTERNAL_ERROR';
  request.log.warn(
    { mlflow_status: response.status, mlflow_body: text.slice(0, SERVER_ERROR_LOGGED_CHARACTERS) },
    'MLflow answered a relayed request with a server error: logged here, not relayed',
  );
  const retryAfter = response.headers['retry-after'];
  return {
    headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter },
    body: {
      error_code: errorCode,
      message: `MLflow failed on this request (HTTP ${response.status}); its answer is in the service's log under request id ${request.id}.`,
    },
  };
}

/** A signal that aborts when the client's connection closes (or once the answer has been sent). */
function closedSignal(reply: FastifyReply): AbortSignal {
  const closed = new AbortController();
  reply.raw.once('close', () => closed.abort());
  return closed.signal;
}

/** The catalogue error for a refusal of `decideProxyRequest` (a 405 names the methods allowed). */
function refusalError(decision: ProxyRefusal): ServiceError {
  const headers: Record<string, string> =
    decision.code === 'METHOD_NOT_ALLOWED' ? { allow: PROXY_METHODS.join(', ') } : {};
  return new ServiceError(decision.code, { message: decision.message, headers });
}

/**
 * Pass-through of the MLflow REST API under `/mlflow/`, so the official MLflow client can use the service
 * as its tracking URI (`MLFLOW_TRACKING_URI=http://<service>/mlflow`). What it relays is decided by
 * `decideProxyRequest` (path confinement, methods, MLFLOW_PROXY); MLflow gets the service's credentials,
 * never the client's; answers stream back with MLflow's status and headers, capped at MLFLOW_PROXY_MAX_BYTES.
 * Calls are refused while the breaker is open but never counted by it. A write that stores tags or an
 * alias is held to MLFLOW_PROXY_MAX_ENTRY_BYTES for its entry (`enforceEntryBudget`), one write per entry at a
 * time (`createEntryWriteQueue`).
 */
export async function mlflowProxyRoutes(app: FastifyInstance): Promise<void> {
  const { gateway, config } = app.registry;
  // Errors here are read by the official MLflow client too: they also carry MLflow's `error_code`.
  app.setErrorHandler(createErrorHandler({ mlflowErrorCode: true }));
  app.addHook('onRequest', createApiKeyHook({ write: config.auth.apiKeys, readOnly: config.auth.readOnlyApiKeys }));
  // What is refused whatever the body says (the target, the method, the mode, a read-only key's write) is
  // answered before the body is received, and takes no body slot.
  app.addHook('onRequest', async (request) => {
    const route = routeProxyRequest({
      mode: config.mlflow.proxyMode,
      method: request.method,
      rawUrl: request.raw.url ?? '',
      routePrefix: MLFLOW_PROXY_PREFIX,
      access: request.registryAccess,
    });
    if (!route.ok) throw refusalError(route);
  });
  app.addHook('onRequest', app.registry.bodySlots.onRequest);
  // Bodies are relayed as bytes, whatever their type; this applies only inside this plugin.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  const entryWrites = createEntryWriteQueue();

  const relay = async (request: FastifyRequest, reply: FastifyReply) => {
    const body = Buffer.isBuffer(request.body) ? new Uint8Array(request.body) : undefined;
    const decision = decideProxyRequest({
      mode: config.mlflow.proxyMode,
      method: request.method,
      rawUrl: request.raw.url ?? '',
      routePrefix: MLFLOW_PROXY_PREFIX,
      trackingUri: config.mlflow.trackingUri,
      body,
      contentType: request.headers['content-type'],
      allowedSources: config.mlflow.allowedSources,
      access: request.registryAccess,
    });
    if (!decision.ok) throw refusalError(decision);
    // Only the headers MLflow needs to read the body; never the client's credentials or cookies.
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = request.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    const forward = (mlflow: MlflowClient) =>
      mlflow.forward({
        method: request.method,
        pathAndQuery: decision.pathAndQuery,
        headers,
        body,
        untimedBody: decision.artifact,
      });
    if (decision.artifact) {
      // An artifact body streams for as long as it takes, but its socket may not sit idle: a client that
      // stops reading stops the writes, and after MLFLOW_REQUEST_TIMEOUT without one the connection closes
      // (Fastify then ends the body, which frees its stream slot and MLflow's connection).
      reply.raw.setTimeout(config.mlflow.requestTimeoutMs, () => reply.raw.destroy());
    }
    const calls = gateway.forClient(request.registryClient);
    const { entryWrite } = decision;
    const relayed = () => (decision.artifact ? calls.relayStream(forward) : calls.relay(forward));
    const response =
      entryWrite === undefined
        ? await relayed()
        : await entryWrites.run(
            entryWrite.entry,
            async () => {
              await enforceEntryBudget(calls, entryWrite, config.mlflow.maxEntryBytes);
              return relayed();
            },
            // A write waiting for its entry leaves the queue when its client goes (its body slot is freed then).
            { signal: closedSignal(reply), maxWaitMs: config.mlflow.requestTimeoutMs },
          );
    if (response.status >= 500) {
      const masked = await withoutServerDetails(request, response);
      return reply.status(response.status).headers(masked.headers).send(masked.body);
    }
    reply.status(response.status).headers(response.headers);
    return reply.send(response.body ?? '');
  };

  const schema = {
    summary: 'The MLflow REST API, relayed (paths and methods within MLFLOW_PROXY)',
    description:
      "Answers are MLflow's own, streamed with its status, except a 5xx: its body becomes `{error_code, message}` (MLflow's `error_code`, a message naming the request id under which the service logged MLflow's answer); the service's refusals carry the catalogue body plus MLflow's `error_code`.",
    tags: ['mlflow'],
    security: API_KEY_SECURITY,
    params: z.object({
      '*': z.string().describe('the MLflow REST path, e.g. api/2.0/mlflow/registered-models/search'),
    }),
    response: {
      default: z.unknown().describe("MLflow's answer, relayed as it is"),
      ...relayedErrorResponses(
        'BAD_REQUEST',
        'UNAUTHORIZED',
        'MLFLOW_PROXY_FORBIDDEN',
        'API_KEY_READ_ONLY',
        'METHOD_NOT_ALLOWED',
        'MODEL_NOT_FOUND',
        'PAYLOAD_TOO_LARGE',
        'MLFLOW_ENTRY_TOO_LARGE',
        'MODEL_SOURCE_NOT_ALLOWED',
        'CLIENT_CONCURRENCY_LIMIT',
        'MLFLOW_UNREACHABLE',
        'MLFLOW_CIRCUIT_OPEN',
        'MLFLOW_TIMEOUT',
      ),
    },
  };
  // Every other method is refused by `decideProxyRequest` (405 with Allow) and is left out of the
  // document. Declared first, so that GET's automatic HEAD route gives way to this one.
  const others = app.supportedMethods.filter((method) => !(PROXY_METHODS as readonly string[]).includes(method));
  app.route({ method: others, url: '/*', schema: { hide: true }, handler: relay });
  app.route({ method: [...PROXY_METHODS], url: '/*', schema, handler: relay });
}
