import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { SERVICE_VERSION } from '../version.js';

/** Where the OpenAPI document and the interactive docs are served. */
export const OPENAPI_PATH = '/openapi.json';
export const DOCS_PATH = '/docs';

type Transform = typeof jsonSchemaTransform;

/**
 * The zod transform, plus one rename: the pass-through's wildcard (`/mlflow/*`, a parameter named `*`)
 * is written `/mlflow/{path}`, a name OpenAPI tools and generated clients can use.
 */
const transform: Transform = (input) => {
  const output = jsonSchemaTransform(input);
  if (!output.url.endsWith('/*')) return output;
  const schema = output.schema as { params?: { properties?: Record<string, unknown>; required?: string[] } };
  const properties = schema.params?.properties;
  if (properties && '*' in properties) {
    const { '*': path, ...rest } = properties;
    schema.params = { ...schema.params, properties: { ...rest, path }, required: ['path'] };
  }
  return { ...output, url: `${output.url.slice(0, -1)}{path}` };
};

/**
 * The zod components, without the input twins of output schemas that no operation uses (the type provider
 * writes an `...Input` variant of every named schema).
 */
const transformObject: typeof jsonSchemaTransformObject = (input) => {
  const document = jsonSchemaTransformObject(input) as { components?: { schemas?: Record<string, unknown> } };
  const schemas = document.components?.schemas ?? {};
  let used = JSON.stringify({ ...document, components: { ...document.components, schemas: {} } });
  const kept: Record<string, unknown> = {};
  // Keep what operations reference, then what kept schemas reference, until nothing new is reached.
  for (let added = true; added; ) {
    added = false;
    for (const [name, schema] of Object.entries(schemas)) {
      if (name in kept || !used.includes(`"#/components/schemas/${name}"`)) continue;
      kept[name] = schema;
      used += JSON.stringify(schema);
      added = true;
    }
  }
  return { ...document, components: { ...document.components, schemas: kept } } as ReturnType<
    typeof jsonSchemaTransformObject
  >;
};

/**
 * The OpenAPI 3.1 document generated from the route schemas (`GET /openapi.json`) and the interactive
 * docs (`/docs`, Swagger UI served from the package's own files, no CDN). Registered before the routes.
 */
async function openapi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Model registry service',
        description:
          'A model registry in front of MLflow that stays available when MLflow fails: readiness degrades instead of failing, MLflow-bound calls fail fast with Retry-After, and recovery is automatic.',
        version: SERVICE_VERSION.version,
      },
      tags: [
        { name: 'health', description: 'Liveness, readiness, status and MLflow connectivity' },
        { name: 'admin', description: 'Manual circuit-breaker control (ADMIN_TOKEN)' },
        {
          name: 'registry',
          description: 'The registry API over the MLflow Model Registry (API_KEYS; GET with API_READ_ONLY_KEYS too)',
        },
        {
          name: 'mlflow',
          description:
            'The MLflow REST API, relayed within MLFLOW_PROXY (API_KEYS; its listed reads with API_READ_ONLY_KEYS too)',
        },
        { name: 'metrics', description: 'Prometheus metrics' },
      ],
      components: {
        securitySchemes: {
          apiKey: {
            type: 'apiKey',
            in: 'header',
            name: 'X-API-Key',
            description: 'One of API_KEYS or API_READ_ONLY_KEYS',
          },
          apiKeyBearer: {
            type: 'http',
            scheme: 'bearer',
            description: 'One of API_KEYS or API_READ_ONLY_KEYS, as a bearer token',
          },
          adminToken: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' },
        },
      },
    },
    transform,
    transformObject,
  });
  await app.register(swaggerUi, { routePrefix: DOCS_PATH, staticCSP: true });
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());
}

/** OpenAPI document and docs page; see `openapi` above. */
export const openapiPlugin = fp(openapi, { name: 'registry-openapi' });
