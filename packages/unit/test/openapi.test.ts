import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOpenApiDocument, DOCS_PATH, formatOpenApiDocument, OPENAPI_PATH } from '@registry/service';
import { workspaceRoot } from '@registry/testkit';
import { Validator } from '@seriousme/openapi-schema-validator';
import { describe, expect, it } from 'vitest';
import { ADMIN_AUTH, buildTestApp, createFakeMlflow } from './support/fakes.js';

type Document = {
  openapi: string;
  paths: Record<string, Record<string, { security?: Record<string, string[]>[]; responses: Record<string, unknown> }>>;
  components: { securitySchemes: Record<string, unknown> };
};

async function servedDocument(): Promise<Document> {
  const { app } = buildTestApp();
  const response = await app.inject(OPENAPI_PATH);
  expect(response.statusCode).toBe(200);
  return response.json();
}

/** Every route the app declares that the document should describe, as `METHOD /openapi/{path}`. */
async function declaredOperations(): Promise<string[]> {
  const { app } = buildTestApp();
  const routes: { url: string; method: string | string[]; schema?: unknown }[] = [];
  app.addHook('onRoute', (route) => {
    routes.push(route);
  });
  await app.ready();
  return routes
    .filter((route) => !(route.schema as { hide?: boolean } | undefined)?.hide)
    .flatMap((route) =>
      (Array.isArray(route.method) ? route.method : [route.method]).map((method) => ({ route, method })),
    )
    .filter(({ method }) => method !== 'HEAD')
    .map(({ route, method }) => `${method} ${route.url.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{path}')}`)
    .sort();
}

function documentedOperations(document: Document): string[] {
  return Object.entries(document.paths)
    .flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
}

describe('OpenAPI document', () => {
  it('validates as OpenAPI 3.1', async () => {
    const document = await servedDocument();
    const result = await new Validator().validate(document);
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(document.openapi).toBe('3.1.0');
  });

  it('is rejected by the validator once a required part is removed (the validator can fail)', async () => {
    const { info: _info, ...broken } = (await servedDocument()) as Document & { info: unknown };
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('describes every route the service declares, /mlflow/{path} included', async () => {
    const documented = documentedOperations(await servedDocument());
    expect(documented).toEqual(await declaredOperations());
    expect(documented).toEqual(expect.arrayContaining(['GET /mlflow/{path}', 'POST /health/mlflow/reset']));
  });

  it('puts the admin routes behind the admin bearer token and the registry behind the API key', async () => {
    const document = await servedDocument();
    expect(document.components.securitySchemes).toHaveProperty('adminToken');
    for (const path of ['/health/mlflow/reset', '/health/mlflow/open']) {
      expect(document.paths[path]?.post?.security).toEqual([{ adminToken: [] }]);
    }
    for (const path of ['/api/v1/models', '/mlflow/{path}']) {
      expect(document.paths[path]?.get?.security).toEqual([{ apiKey: [] }, { apiKeyBearer: [] }]);
    }
  });

  it('lists the catalogue error answer on every operation, and 400 wherever the client sends input', async () => {
    const document = await servedDocument();
    const error = { $ref: '#/components/schemas/Error' };
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const operation of Object.values(operations)) {
        expect(JSON.stringify(operation.responses['500'])).toContain(error.$ref);
        if (path.startsWith('/api/v1') || path.startsWith('/mlflow')) expect(operation.responses).toHaveProperty('400');
      }
    }
  });

  it('documents examples that the service accepts as they stand: no validation error for any of them', async () => {
    type Parameter = { in: string; name: string; example?: unknown };
    type Operation = {
      parameters?: Parameter[];
      requestBody?: { content: Record<string, { schema: { properties?: Record<string, { examples?: unknown[] }> } }> };
    };
    const document = (await servedDocument()) as unknown as { paths: Record<string, Record<string, Operation>> };
    const { app } = buildTestApp();
    const answered: string[] = [];
    for (const [path, operations] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const parameters = operation.parameters ?? [];
        const properties = operation.requestBody?.content['application/json']?.schema.properties ?? {};
        const bodyExamples = Object.entries(properties).flatMap(([name, schema]) =>
          schema.examples?.length ? [[name, schema.examples[0]] as const] : [],
        );
        const exemplified = parameters.some((p) => p.example !== undefined) || bodyExamples.length > 0;
        if (!exemplified || parameters.some((p) => p.in === 'path' && p.example === undefined)) continue;
        const url = path.replace(/\{(\w+)\}/g, (_, name: string) =>
          encodeURIComponent(String(parameters.find((p) => p.name === name)?.example)),
        );
        const query = Object.fromEntries(
          parameters.filter((p) => p.in === 'query' && p.example !== undefined).map((p) => [p.name, String(p.example)]),
        );
        const response = await app.inject({
          method: method.toUpperCase() as 'GET' | 'POST',
          url,
          query,
          ...(bodyExamples.length > 0 ? { payload: Object.fromEntries(bodyExamples) } : {}),
        });
        answered.push(`${method.toUpperCase()} ${path}`);
        expect(response.statusCode, `${method.toUpperCase()} ${url}: ${response.body}`).not.toBe(400);
      }
    }
    expect(answered).toEqual(
      expect.arrayContaining([
        'GET /api/v1/models',
        'GET /api/v1/models/{name}/versions/{version}',
        'POST /api/v1/models/{name}/versions',
        'POST /api/v1/models/{name}/versions/{version}/stage',
      ]),
    );
  });

  it('is the document committed as docs/openapi.json (npm run build rewrites it)', async () => {
    const committed = readFileSync(join(workspaceRoot(), 'docs', 'openapi.json'), 'utf8');
    expect(committed).toBe(formatOpenApiDocument(await buildOpenApiDocument()));
  });

  it('serves the interactive docs page from the service itself', async () => {
    const { app } = buildTestApp();
    const page = await app.inject(`${DOCS_PATH}/`);
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/text\/html/);
    expect(page.body).not.toMatch(/https?:\/\/(?!127\.0\.0\.1)[^"']*\.js/);
    const bundle = await app.inject(`${DOCS_PATH}/static/swagger-ui-bundle.js`);
    expect(bundle.statusCode).toBe(200);
  });
});

describe('Route schemas', () => {
  it('answers 500 INTERNAL_ERROR, not a half-right body, when an answer does not match its schema', async () => {
    const mlflow = createFakeMlflow();
    mlflow.addModel({ name: 'broken', creation_timestamp: 'not a number' as unknown as number });
    const { app } = buildTestApp({ mlflow });
    const response = await app.inject('/api/v1/models/broken');
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({ code: 'INTERNAL_ERROR' });
  });

  it('answers an admin action with the audit record its schema describes', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({ method: 'POST', url: '/health/mlflow/open', headers: ADMIN_AUTH });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ action: 'open', state: 'open', circuit_breaker: { state: 'open' } });
  });
});
