import type { z } from 'zod';
import { errorResponses } from './common.js';
import {
  healthQuerySchema,
  healthSchema,
  livenessSchema,
  manualActionSchema,
  mlflowHealthSchema,
  readinessSchema,
  statusSchema,
} from './health.js';
import {
  modelAnswerSchema,
  modelPageSchema,
  modelParamsSchema,
  modelVersionAnswerSchema,
  registerBodySchema,
  searchQuerySchema,
  stageBodySchema,
  versionParamsSchema,
} from './registry.js';
import { versionSchema } from './version.js';

/** Where the registry API is mounted. */
export const REGISTRY_PREFIX = '/api/v1';

/** Where the MLflow pass-through is mounted (every MLflow path below it). */
export const MLFLOW_PROXY_PREFIX = '/mlflow';

/** The API key, as the registry routes and the pass-through accept it (OpenAPI security). */
export const API_KEY_SECURITY: { [scheme: string]: string[] }[] = [{ apiKey: [] }, { apiKeyBearer: [] }];
/** The admin token of the manual breaker control (OpenAPI security). */
export const ADMIN_SECURITY: { [scheme: string]: string[] }[] = [{ adminToken: [] }];

/** One JSON route of the contract: where it is, what it takes and what it answers, by status. */
export interface RouteContract {
  readonly method: 'GET' | 'POST';
  /** Full path, with `:param` placeholders. */
  readonly url: string;
  readonly schema: {
    readonly summary: string;
    readonly tags: readonly string[];
    readonly security?: { [scheme: string]: string[] }[];
    readonly querystring?: z.ZodType;
    readonly params?: z.ZodType;
    readonly body?: z.ZodType;
    readonly response: Readonly<Record<number, z.ZodType>>;
  };
}

/** Reads answer from MLflow or the last-known-good cache; these are every way they can fail. */
const READ_ERRORS = errorResponses(
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'MODEL_NOT_FOUND',
  'CLIENT_CONCURRENCY_LIMIT',
  'MLFLOW_UNREACHABLE',
  'MLFLOW_CIRCUIT_OPEN',
  'MLFLOW_TIMEOUT',
);
/** Writes need MLflow; these are every way they can fail. */
const WRITE_ERRORS = errorResponses(
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'API_KEY_READ_ONLY',
  'MODEL_NOT_FOUND',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'CLIENT_CONCURRENCY_LIMIT',
  'MLFLOW_UNREACHABLE',
  'MLFLOW_CIRCUIT_OPEN',
  'MLFLOW_TIMEOUT',
);
const ADMIN_ERRORS = errorResponses('ADMIN_UNAUTHORIZED', 'TOO_MANY_REQUESTS');

const health = ['health'];
const registry = ['registry'];

/**
 * Every JSON route of the service, once: the plugins register these schemas (Fastify validates input
 * and answers with them, the OpenAPI document is generated from them) and the typed client
 * (`@registry/service/client`) calls and parses with them. `/metrics` (text) and the pass-through
 * (`/mlflow/*`, MLflow's own answers) are declared in their plugins.
 */
export const ROUTES = {
  live: {
    method: 'GET',
    url: '/health/live',
    schema: {
      summary: 'Liveness: the process answers (touches no dependency)',
      tags: health,
      response: { 200: livenessSchema, ...errorResponses() },
    },
  },
  ready: {
    method: 'GET',
    url: '/health/ready',
    schema: {
      summary:
        'Readiness: 200 unless a critical dependency is down or the service is stopping (MLflow is not critical)',
      tags: health,
      response: { 200: readinessSchema, 503: readinessSchema, ...errorResponses() },
    },
  },
  health: {
    method: 'GET',
    url: '/health',
    schema: {
      summary: 'Overall health and each component',
      tags: health,
      querystring: healthQuerySchema,
      response: { 200: healthSchema, ...errorResponses() },
    },
  },
  status: {
    method: 'GET',
    url: '/health/status',
    schema: { summary: 'Full status', tags: health, response: { 200: statusSchema, ...errorResponses() } },
  },
  mlflowHealth: {
    method: 'GET',
    url: '/health/mlflow',
    schema: {
      summary: 'MLflow connectivity (503 with Retry-After while the breaker is open)',
      tags: health,
      response: { 200: mlflowHealthSchema, 503: mlflowHealthSchema, ...errorResponses() },
    },
  },
  resetBreaker: {
    method: 'POST',
    url: '/health/mlflow/reset',
    schema: {
      summary: 'Close the breaker and probe MLflow at once (ADMIN_TOKEN)',
      tags: ['admin'],
      security: ADMIN_SECURITY,
      response: { 200: manualActionSchema, ...ADMIN_ERRORS },
    },
  },
  openBreaker: {
    method: 'POST',
    url: '/health/mlflow/open',
    schema: {
      summary: 'Open the breaker by hand (ADMIN_TOKEN)',
      tags: ['admin'],
      security: ADMIN_SECURITY,
      response: { 200: manualActionSchema, ...ADMIN_ERRORS },
    },
  },
  version: {
    method: 'GET',
    url: '/version',
    schema: { summary: 'What is serving', tags: health, response: { 200: versionSchema, ...errorResponses() } },
  },
  searchModels: {
    method: 'GET',
    url: `${REGISTRY_PREFIX}/models`,
    schema: {
      summary: 'Search registered models',
      tags: registry,
      security: API_KEY_SECURITY,
      querystring: searchQuerySchema,
      response: { 200: modelPageSchema, ...READ_ERRORS },
    },
  },
  getModel: {
    method: 'GET',
    url: `${REGISTRY_PREFIX}/models/:name`,
    schema: {
      summary: 'Read a registered model',
      tags: registry,
      security: API_KEY_SECURITY,
      params: modelParamsSchema,
      response: { 200: modelAnswerSchema, ...READ_ERRORS },
    },
  },
  getModelVersion: {
    method: 'GET',
    url: `${REGISTRY_PREFIX}/models/:name/versions/:version`,
    schema: {
      summary: 'Read a model version',
      tags: registry,
      security: API_KEY_SECURITY,
      params: versionParamsSchema,
      response: { 200: modelVersionAnswerSchema, ...READ_ERRORS },
    },
  },
  registerModelVersion: {
    method: 'POST',
    url: `${REGISTRY_PREFIX}/models/:name/versions`,
    schema: {
      summary: 'Register a model version (creating the model when it is new)',
      tags: registry,
      security: API_KEY_SECURITY,
      params: modelParamsSchema,
      body: registerBodySchema,
      response: { 201: modelVersionAnswerSchema, ...WRITE_ERRORS },
    },
  },
  transitionModelVersion: {
    method: 'POST',
    url: `${REGISTRY_PREFIX}/models/:name/versions/:version/stage`,
    schema: {
      summary: 'Move a model version to a stage',
      tags: registry,
      security: API_KEY_SECURITY,
      params: versionParamsSchema,
      body: stageBodySchema,
      response: { 200: modelVersionAnswerSchema, ...WRITE_ERRORS },
    },
  },
} as const satisfies Record<string, RouteContract>;

/** A route's path below the prefix its plugin is mounted at. */
export function pathBelow(prefix: string, route: RouteContract): string {
  if (!route.url.startsWith(prefix)) throw new Error(`${route.url} is not below ${prefix}`);
  return route.url.slice(prefix.length);
}
