import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { createApiKeyHook, refuseWritesOfReadOnlyKeys } from '../auth.js';
import { CACHE_STATUS_HEADER } from '../contract/metrics.js';
import { pathBelow, REGISTRY_PREFIX, ROUTES, type RouteContract } from '../contract/routes.js';
import { isServiceError, type ServiceError } from '../errors.js';
import { isMlflowError, isMlflowOutage } from '../mlflow-client.js';
import type { ReadResult } from '../mlflow-gateway.js';
import { checkModelSource } from '../model-sources.js';
import { requireValidQueryEncoding } from '../validation.js';

function sendRead<T, A>(reply: FastifyReply, result: ReadResult<T>, wrap: (value: T) => A): A {
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

/** Models in a listing page when the client does not say: MLflow's own default. */
const DEFAULT_PAGE_SIZE = 100;

/**
 * The largest body the registry API reads (or BODY_LIMIT, if smaller): its largest valid body, a
 * registration with a 5,000-character description, is about 36 KB, and every body is parsed and scanned
 * whole on the event loop.
 */
export const REGISTRY_BODY_LIMIT_BYTES = 64 * 1024;

/** How old the probe's last result may be for a failed registration to take it instead of probing again. */
const PROBE_AFTER_FAILURE_MAX_AGE_MS = 1_000;

/** Registry entries a listed model brings: itself and its latest version in each of MLflow's four stages. */
const ENTRIES_PER_LISTED_MODEL = 5;

/**
 * The most models a listing of up to 100 asks MLflow for: as many as keep a page of models whose entries all hold the
 * pass-through's budget (MLFLOW_PROXY_MAX_ENTRY_BYTES) within MLFLOW_API_MAX_BYTES, at least one. MLflow
 * builds a whole page before the service sees its size, so this bounds what one listing costs it, whatever
 * clients stored through the service (102 models with the defaults).
 */
function listingPageCap(maxApiBytes: number, maxEntryBytes: number): number {
  return Math.max(1, Math.floor(maxApiBytes / (ENTRIES_PER_LISTED_MODEL * maxEntryBytes)));
}

/** `details` of MLFLOW_RESPONSE_TOO_LARGE when MLflow declared its answer's length. */
const tooLargeDetailsSchema = z.object({ answer_bytes: z.number().positive(), max_bytes: z.number().positive() });

/** Share of MLFLOW_API_MAX_BYTES a page asked for again aims at: models on one page differ in size. */
const REFIT_MARGIN = 0.9;

/**
 * The models to ask for after a page of `maxResults` was too large: as many as fit in proportion to the size
 * MLflow declared for it (with a margin), at most half as many, at least one.
 */
function fittingPageSize(maxResults: number, error: ServiceError): number {
  const size = tooLargeDetailsSchema.safeParse(error.details).data;
  const inProportion = size ? Math.floor((maxResults * size.max_bytes * REFIT_MARGIN) / size.answer_bytes) : maxResults;
  return Math.max(1, Math.min(Math.ceil(maxResults / 2), inProportion));
}

/**
 * Reads a page of at most `asked` models; a page larger than the service reads (MLFLOW_API_MAX_BYTES:
 * models a client stored tags on) is asked for again with fewer models (`fittingPageSize`), down to one.
 * MLflow's page token continues after the last model returned, so a client that follows next_page_token
 * still gets every model. MLflow declares each answer's length, so the second page usually fits: MLflow
 * builds the first page and about MLFLOW_API_MAX_BYTES more. Only a single model larger than the cap is a 502.
 */
async function readFittingPage<T>(
  asked: number,
  readPage: (maxResults: number) => Promise<T>,
): Promise<{ result: T; maxResults: number }> {
  let maxResults = asked;
  for (;;) {
    try {
      return { result: await readPage(maxResults), maxResults };
    } catch (error) {
      if (!isServiceError(error) || error.code !== 'MLFLOW_RESPONSE_TOO_LARGE' || maxResults === 1) throw error;
      maxResults = fittingPageSize(maxResults, error);
    }
  }
}

/** Registry API over the MLflow Model Registry: search, read, register, transition (behind API_KEYS). */
export async function registryRoutes(fastify: FastifyInstance): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  const { gateway, config, prober } = app.registry;
  const bodyLimit = Math.min(config.bodyLimitBytes, REGISTRY_BODY_LIMIT_BYTES);
  const pageCap = listingPageCap(config.mlflow.maxApiResponseBytes, config.mlflow.maxEntryBytes);
  app.addHook('onRequest', createApiKeyHook({ write: config.auth.apiKeys, readOnly: config.auth.readOnlyApiKeys }));
  app.addHook('onRequest', refuseWritesOfReadOnlyKeys);
  app.addHook('onRequest', app.registry.bodySlots.onRequest);
  app.addHook('onRequest', requireValidQueryEncoding);
  // Bodies here are JSON only: any other content type is 415, not a string handed to the schema.
  app.removeContentTypeParser('text/plain');

  const route = (contract: RouteContract) => pathBelow(REGISTRY_PREFIX, contract);
  app.get(route(ROUTES.searchModels), { schema: ROUTES.searchModels.schema }, async (request, reply) => {
    const query = request.query;
    const search = query.filter === undefined && query.search ? searchFilter(query.search) : undefined;
    const filter = query.filter ?? search?.filter;
    const asked = query.max_results ?? DEFAULT_PAGE_SIZE;
    // A page the breaker counts (100 models or fewer) is held to the cap, so that what clients stored cannot
    // make it time out; a larger page is the client's choice, never counted, and bounded by its share.
    const capped = asked > DEFAULT_PAGE_SIZE ? asked : Math.min(asked, pageCap);
    const readPage = (maxResults: number) => {
      const page = { filter, maxResults, pageToken: query.page_token };
      // What a client wrote into the search, or a page larger than the default, may make MLflow fail or
      // answer slowly: a filter or page token it cannot parse (500, e.g. page_token=W10=), a thousand large
      // models. That outcome is the client's, so it is not counted by the breaker (see decision 0009).
      return gateway
        .forClient(request.registryClient)
        .read(`search:${JSON.stringify(page)}`, (mlflow) => mlflow.searchRegisteredModels(page), {
          clientShaped: query.filter !== undefined || query.page_token !== undefined || asked > DEFAULT_PAGE_SIZE,
          search: true,
        });
    };
    const { result, maxResults } = await readFittingPage(capped, readPage);
    if (maxResults < capped) {
      request.log.warn(
        { max_results: asked, answered_max_results: maxResults },
        'a listing page was over MLFLOW_API_MAX_BYTES: answered a smaller one (models with large tags or descriptions)',
      );
    }
    const literal = search && !search.exact ? query.search?.toLowerCase() : undefined;
    return sendRead(reply, result, (value) => ({
      models: literal
        ? value.registered_models.filter((model) => model.name.toLowerCase().includes(literal))
        : value.registered_models,
      next_page_token: value.next_page_token ?? null,
    }));
  });

  app.get(route(ROUTES.getModel), { schema: ROUTES.getModel.schema }, async (request, reply) => {
    const { name } = request.params;
    const result = await gateway
      .forClient(request.registryClient)
      .read(`model:${name}`, (mlflow) => mlflow.getRegisteredModel(name));
    return sendRead(reply, result, (model) => ({ model }));
  });

  app.get(route(ROUTES.getModelVersion), { schema: ROUTES.getModelVersion.schema }, async (request, reply) => {
    const { name, version } = request.params;
    const result = await gateway
      .forClient(request.registryClient)
      .read(`version:${name}:${version}`, (mlflow) => mlflow.getModelVersion(name, version));
    return sendRead(reply, result, (model_version) => ({ model_version }));
  });

  app.post(
    route(ROUTES.registerModelVersion),
    { schema: ROUTES.registerModelVersion.schema, bodyLimit },
    async (request, reply) => {
      const { name } = request.params;
      const body = request.body;
      const refused = checkModelSource(body.source, config.mlflow.allowedSources);
      if (refused) throw refused;
      // Registering under a new name creates the model first; an existing one is fine (MLflow: 400 RESOURCE_ALREADY_EXISTS).
      await gateway
        .forClient(request.registryClient)
        .call((mlflow) => mlflow.createRegisteredModel(name))
        .catch((error: unknown) => {
          const cause = error instanceof Error ? error.cause : undefined;
          if (isMlflowError(cause) && cause.errorCode === 'RESOURCE_ALREADY_EXISTS') return;
          throw error;
        });
      // MLflow resolves the client's source (`models:/m/latest`, `runs:/...`, a path) and answers 500 for some
      // it cannot: so this call's outcome is not counted, or one client could open the breaker for everyone
      // with three registrations at once; its 500 is the client's 400. After a failure that could be
      // MLflow's, the probe judges MLflow.
      const model_version = await gateway
        .forClient(request.registryClient)
        .relay(
          (mlflow) =>
            mlflow.createModelVersion({ name, source: body.source, runId: body.run_id, description: body.description }),
          // MLflow had just created (or found) the model: its 500 here is the source's, not an outage.
          {
            rejected:
              'MLflow failed on the source of this registration (it answered 500); check that it names a model MLflow can resolve.',
          },
        )
        .catch((error: unknown) => {
          if (isServiceError(error) && isMlflowOutage(error.cause)) {
            void prober.probe({ maxAgeMs: PROBE_AFTER_FAILURE_MAX_AGE_MS });
          }
          throw error;
        });
      return reply.status(201).send({ model_version });
    },
  );

  app.post(
    route(ROUTES.transitionModelVersion),
    { schema: ROUTES.transitionModelVersion.schema, bodyLimit },
    async (request) => {
      const { name, version } = request.params;
      const body = request.body;
      const model_version = await gateway.forClient(request.registryClient).call((mlflow) =>
        mlflow.transitionModelVersionStage({
          name,
          version,
          stage: body.stage,
          archiveExistingVersions: body.archive_existing_versions,
        }),
      );
      return { model_version };
    },
  );
}
