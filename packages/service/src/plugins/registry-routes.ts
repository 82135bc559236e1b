import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { createApiKeyHook } from '../auth.js';
import { isMlflowError } from '../mlflow-client.js';
import type { ReadResult } from '../mlflow-gateway.js';
import { parseInput, requireValidQueryEncoding } from '../validation.js';

/** Stages MLflow accepts in a stage transition. */
export const MODEL_STAGES = ['None', 'Staging', 'Production', 'Archived'] as const;

const modelName = z
  .string()
  .min(1, { error: 'expected a model name' })
  .max(256, { error: 'expected at most 256 characters' })
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
  .refine((name) => !/[\u0000-\u001f\u007f]/.test(name), { error: 'must not contain control characters' });
const versionNumber = z.string().regex(/^[1-9]\d{0,9}$/, { error: 'expected a positive whole number' });

const searchQuery = z.strictObject({
  search: z.string().max(256).optional(),
  filter: z.string().max(1024).optional(),
  max_results: z
    .string()
    .regex(/^\d+$/, { error: 'expected a whole number from 1 to 1000' })
    .transform(Number)
    .refine((n) => n >= 1 && n <= 1000, { error: 'expected a whole number from 1 to 1000' })
    .optional(),
  page_token: z.string().max(4096).optional(),
});
const modelParams = z.strictObject({ name: modelName });
const versionParams = z.strictObject({ name: modelName, version: versionNumber });
const registerBody = z.strictObject({
  source: z.string().min(1, { error: 'expected the artifact URI of the model' }).max(4096),
  run_id: z.string().min(1).max(256).optional(),
  description: z.string().max(5000).optional(),
});
const stageBody = z.strictObject({
  stage: z.enum(MODEL_STAGES, { error: `expected one of ${MODEL_STAGES.join(', ')}` }),
  archive_existing_versions: z.boolean().optional().default(false),
});

/** Header telling a client whether a registry read is fresh (`live`) or last-known-good (`stale`). */
export const CACHE_STATUS_HEADER = 'x-registry-cache';

function sendRead<T>(reply: FastifyReply, result: ReadResult<T>, wrap: (value: T) => unknown) {
  reply.header(CACHE_STATUS_HEADER, result.stale ? 'stale' : 'live');
  if (result.stale) reply.header('age', String(result.ageSeconds));
  return wrap(result.value);
}

/** Characters MLflow's filter language cannot take literally inside a LIKE pattern. */
const UNLITERAL = /[%_"\\]/;

/**
 * The MLflow filter for a `search` text, matched literally and case-insensitively. MLflow's filter
 * language has no escapes, so a `'` is kept by quoting with `"`, and wildcards, `"` and `\` become `_`
 * (any one character); `exact` then says whether the answers must be checked for the literal text.
 */
export function searchFilter(text: string): { filter: string; exact: boolean } {
  const pattern = `%${text.replaceAll(new RegExp(UNLITERAL, 'g'), '_')}%`;
  const quote = text.includes("'") ? '"' : "'";
  return { filter: `name ILIKE ${quote}${pattern}${quote}`, exact: !UNLITERAL.test(text) };
}

/** Registry API over the MLflow Model Registry: search, read, register, transition (behind API_KEYS). */
export async function registryRoutes(app: FastifyInstance): Promise<void> {
  const { gateway, config } = app.registry;
  app.addHook('onRequest', createApiKeyHook(config.auth.apiKeys));
  app.addHook('onRequest', requireValidQueryEncoding);
  // Bodies here are JSON only: any other content type is 415, not a string handed to the schema.
  app.removeContentTypeParser('text/plain');

  app.get('/models', async (request, reply) => {
    const query = parseInput(searchQuery, request.query, 'query');
    const search = query.filter === undefined && query.search ? searchFilter(query.search) : undefined;
    const filter = query.filter ?? search?.filter;
    const page = { filter, maxResults: query.max_results ?? 100, pageToken: query.page_token };
    // A filter the client wrote may make MLflow answer 500 (it does for some it cannot parse): that
    // outcome is the client's, so it is not counted by the breaker (see decision 0009).
    const result = await gateway.read(
      `search:${JSON.stringify(page)}`,
      (mlflow) => mlflow.searchRegisteredModels(page),
      { clientShaped: query.filter !== undefined },
    );
    const literal = search && !search.exact ? query.search?.toLowerCase() : undefined;
    return sendRead(reply, result, (value) => ({
      models: literal
        ? value.registered_models.filter((model) => model.name.toLowerCase().includes(literal))
        : value.registered_models,
      next_page_token: value.next_page_token ?? null,
    }));
  });

  app.get('/models/:name', async (request, reply) => {
    const { name } = parseInput(modelParams, request.params, 'path');
    const result = await gateway.read(`model:${name}`, (mlflow) => mlflow.getRegisteredModel(name));
    return sendRead(reply, result, (model) => ({ model }));
  });

  app.get('/models/:name/versions/:version', async (request, reply) => {
    const { name, version } = parseInput(versionParams, request.params, 'path');
    const result = await gateway.read(`version:${name}:${version}`, (mlflow) => mlflow.getModelVersion(name, version));
    return sendRead(reply, result, (model_version) => ({ model_version }));
  });

  app.post('/models/:name/versions', async (request, reply) => {
    const { name } = parseInput(modelParams, request.params, 'path');
    const body = parseInput(registerBody, request.body, 'body');
    // Registering under a new name creates the model first; an existing one is fine (MLflow: 400 RESOURCE_ALREADY_EXISTS).
    await gateway
      .call((mlflow) => mlflow.createRegisteredModel(name))
      .catch((error: unknown) => {
        const cause = error instanceof Error ? error.cause : undefined;
        if (isMlflowError(cause) && cause.errorCode === 'RESOURCE_ALREADY_EXISTS') return;
        throw error;
      });
    const model_version = await gateway.call((mlflow) =>
      mlflow.createModelVersion({ name, source: body.source, runId: body.run_id, description: body.description }),
    );
    return reply.status(201).send({ model_version });
  });

  app.post('/models/:name/versions/:version/stage', async (request) => {
    const { name, version } = parseInput(versionParams, request.params, 'path');
    const body = parseInput(stageBody, request.body, 'body');
    const model_version = await gateway.call((mlflow) =>
      mlflow.transitionModelVersionStage({
        name,
        version,
        stage: body.stage,
        archiveExistingVersions: body.archive_existing_versions,
      }),
    );
    return { model_version };
  });
}
