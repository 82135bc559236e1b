import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { Registry } from 'prom-client';
import { type CircuitBreaker, createCircuitBreaker } from './circuit-breaker.js';
import type { Config } from './config.js';
import { REQUEST_ID_HEADER } from './contract/metrics.js';
import { REGISTRY_PREFIX } from './contract/routes.js';
import { type DependencyCheck, withTimeout } from './dependency-checks.js';
import { clientErrorHandler, frameworkErrors, registerErrorHandling, sendNotFound } from './error-handling.js';
import { type Check, mlflowCheck } from './health-model.js';
import { classifyMlflowOutcome, createMlflowClient, type MlflowClient } from './mlflow-client.js';
import { createMlflowGateway, type MlflowGateway } from './mlflow-gateway.js';
import { createMlflowProber, type MlflowProber } from './mlflow-prober.js';
import { healthRoutes } from './plugins/health-routes.js';
import { metricsPlugin } from './plugins/metrics.js';
import { mlflowProxyRoutes } from './plugins/mlflow-proxy.js';
import { openapiPlugin } from './plugins/openapi.js';
import { registryRoutes } from './plugins/registry-routes.js';
import { versionRoutes } from './plugins/version-routes.js';
import { createRefusalLog, type RefusalLog } from './refusal-log.js';
import { type BodySlots, createBodySlots } from './request-bodies.js';
import { parseJsonBody } from './validation.js';

/** What `buildApp` needs; everything with a side effect or a clock can be swapped in tests. */
export interface AppDeps {
  readonly config: Config;
  /** Defaults to a pino logger at `config.logLevel`; pass one to capture logs. */
  readonly logger?: FastifyBaseLogger;
  /** The fetch the default MLflow client uses (defaults to the global one). */
  readonly fetch?: typeof fetch;
  /** Replaces the MLflow client entirely. */
  readonly mlflowClient?: MlflowClient;
  /** PostgreSQL / Redis checks; build them with `createDependencyChecks(config)`. */
  readonly dependencies?: readonly DependencyCheck[];
  readonly now?: () => number;
  readonly random?: () => number;
}

/** Shared state of one app instance, reachable from every plugin as `app.registry`. */
export interface RegistryContext {
  readonly config: Config;
  readonly breaker: CircuitBreaker;
  readonly gateway: MlflowGateway;
  readonly prober: MlflowProber;
  readonly dependencies: readonly DependencyCheck[];
  readonly metrics: Registry;
  readonly now: () => number;
  readonly startedAt: number;
  readonly lifecycle: { isShuttingDown: boolean };
  /** The bound on request bodies in progress (onRequest hook of the routes that read one, after the API key hook). */
  readonly bodySlots: BodySlots;
  /** The service's own refusals (503 MLFLOW_CIRCUIT_OPEN, MLFLOW_SATURATED): counted, and logged one line per code per interval. */
  readonly refusals: RefusalLog;
  /** Runs every component check (dependency checks with HEALTH_CHECK_TIMEOUT; MLflow from the breaker). */
  collectChecks(): Promise<Check[]>;
}

declare module 'fastify' {
  interface FastifyInstance {
    registry: RegistryContext;
  }
}

/** Log paths that may hold a secret a client or the service sent; pino writes them as [redacted]. */
export const LOG_REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
];

const REQUEST_ID_PATTERN = /^[\w.:-]{1,128}$/;
/** Longest path parameter the router accepts: 256 characters, each up to 4 UTF-8 bytes percent-encoded. */
const MAX_PARAM_LENGTH = 256 * 12;

/**
 * Builds the Fastify app: the plugins in one visible list, the breaker around MLflow and the background
 * probe (started on ready, stopped on close). It never listens and never reads the environment.
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const { config } = deps;
  const now = deps.now ?? (() => Date.now());
  const app = Fastify({
    ...(deps.logger
      ? { loggerInstance: deps.logger }
      : { logger: { level: config.logLevel, redact: LOG_REDACT_PATHS } }),
    bodyLimit: config.bodyLimitBytes,
    // The client's address behind the TRUST_PROXY proxies (Fastify's option takes a mutable array).
    trustProxy: config.trustProxy && [...config.trustProxy],
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers[REQUEST_ID_HEADER];
      return typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A client gets REQUEST_TIMEOUT to send a whole request and HEADERS_TIMEOUT for its headers; the
    // server checks for expired ones every second (Node's default is 30 s, too slow against slowloris).
    requestTimeout: config.requestTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      connectionsCheckingInterval: Math.min(1_000, config.headersTimeoutMs),
    },
    // Model names of up to 256 characters, percent-encoded (up to 12 characters each), fit in a parameter.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
  });

  // JSON bodies: UTF-8 only, and errors that say what is wrong (Fastify's parser has one message for all).
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, parseJsonBody);

  const breaker = createCircuitBreaker({
    ...config.breaker,
    classify: classifyMlflowOutcome,
    now,
    random: deps.random,
  });
  const client =
    deps.mlflowClient ??
    createMlflowClient({
      baseUrl: config.mlflow.trackingUri,
      timeoutMs: config.mlflow.requestTimeoutMs,
      fetch: deps.fetch,
      authorization: config.mlflow.authorization,
      maxResponseBytes: config.mlflow.maxResponseBytes,
      maxApiResponseBytes: config.mlflow.maxApiResponseBytes,
    });
  const gateway = createMlflowGateway({
    client,
    breaker,
    cache: config.cache,
    bulkhead: {
      maxConcurrency: config.mlflow.maxConcurrency,
      queueSize: config.mlflow.queueSize,
      clientMaxConcurrency: config.mlflow.clientMaxConcurrency,
    },
    now,
    trialsByProbe: config.mlflow.healthProbeIntervalMs > 0,
  });
  const prober = createMlflowProber({ gateway, intervalMs: config.mlflow.healthProbeIntervalMs, now, logger: app.log });
  const dependencies = deps.dependencies ?? [];

  const context: RegistryContext = {
    config,
    breaker,
    gateway,
    prober,
    dependencies,
    metrics: new Registry(),
    now,
    startedAt: now(),
    lifecycle: { isShuttingDown: false },
    // A body is held from its headers to its answer: as many at once as the MLflow calls they become.
    bodySlots: createBodySlots({
      perClient: config.mlflow.clientMaxConcurrency,
      total: config.mlflow.maxConcurrency + config.mlflow.queueSize,
    }),
    refusals: createRefusalLog(now),
    async collectChecks() {
      const results = await Promise.all(
        dependencies.map(async (dependency): Promise<Check> => {
          try {
            await withTimeout(dependency.check(), config.healthCheckTimeoutMs, `${dependency.name} check`);
            return { name: dependency.name, passed: true, critical: dependency.critical, status: 'healthy' };
          } catch (error) {
            const message = error instanceof Error ? error.message || error.name : String(error);
            return {
              name: dependency.name,
              passed: false,
              critical: dependency.critical,
              status: 'unhealthy',
              error: message,
            };
          }
        }),
      );
      return [mlflowCheck(breaker.snapshot()), ...results];
    },
  };
  app.decorate('registry', context);
  // Set by the API key hook on the routes that reach MLflow (see auth.ts); until then, the least access.
  app.decorateRequest('registryClient', '');
  app.decorateRequest('registryAccess', 'read');

  breaker.onTransition((transition) => {
    app.log.warn(
      { breaker: transition },
      `mlflow circuit breaker ${transition.from} -> ${transition.to} (${transition.reason})`,
    );
  });

  // A synchronous onRequest hook: it runs for every route, 404s included, and costs no promise per request.
  // An unknown route is answered here, before its body is read: nobody can make the service hold bodies
  // (BODY_LIMIT each) on a route that takes none.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header(REQUEST_ID_HEADER, request.id);
    if (request.is404) {
      sendNotFound(request, reply);
      return;
    }
    done();
  });
  app.addHook('onReady', async () => prober.start());
  app.addHook('onClose', async () => {
    prober.stop();
    await Promise.allSettled(dependencies.map((dependency) => dependency.close()));
  });

  registerErrorHandling(app);
  // Every route declares its input and answers with zod schemas (src/contract): Fastify validates the
  // input with them and checks each answer against them before sending it.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // The features, in one visible list (the OpenAPI document first: it collects the routes after it).
  app.register(openapiPlugin);
  app.register(metricsPlugin);
  app.register(healthRoutes);
  app.register(versionRoutes);
  app.register(registryRoutes, { prefix: REGISTRY_PREFIX });
  app.register(mlflowProxyRoutes, { prefix: '/mlflow' });

  return app;
}
