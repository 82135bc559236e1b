import type { FastifyInstance, FastifyReply } from 'fastify';
import { createApiKeyHook } from '../auth.js';
import { isServiceError } from '../errors.js';
import { type ForwardedResponse, isMlflowError } from '../mlflow-client.js';

function relay(reply: FastifyReply, response: ForwardedResponse) {
  return reply.status(response.status).headers(response.headers).send(Buffer.from(response.body));
}

/**
 * Pass-through of the MLflow REST API under `/mlflow/`, so the official MLflow client can use the service
 * as its tracking URI (`MLFLOW_TRACKING_URI=http://<service>/mlflow`). Calls go through the breaker like
 * every other MLflow call; MLflow's own answers, errors included, are relayed unchanged.
 */
export async function mlflowProxyRoutes(app: FastifyInstance): Promise<void> {
  const { gateway, config } = app.registry;
  app.addHook('onRequest', createApiKeyHook(config.auth.apiKeys));
  // Bodies are relayed as bytes, whatever their type; this applies only inside this plugin.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.all('/*', async (request, reply) => {
    const pathAndQuery = request.url.slice(request.url.indexOf('/mlflow') + '/mlflow'.length) || '/';
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === 'string') headers[name] = value;
    }
    const body = Buffer.isBuffer(request.body) ? new Uint8Array(request.body) : undefined;
    try {
      const response = await gateway.call((mlflow) =>
        mlflow.forward({ method: request.method, pathAndQuery, headers, body }),
      );
      return relay(reply, response);
    } catch (error) {
      // An MLflow 5xx counts against the breaker, but the client still sees MLflow's own answer.
      const cause = isServiceError(error) ? error.cause : undefined;
      if (isMlflowError(cause) && cause.response) return relay(reply, cause.response);
      throw error;
    }
  });
}
