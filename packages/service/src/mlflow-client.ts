import { z } from 'zod';

/** How an MLflow call failed: the first four mean MLflow is unwell, `api` is a proper MLflow error answer. */
export type MlflowErrorKind = 'unreachable' | 'timeout' | 'upstream' | 'malformed' | 'api';

/** A failed MLflow call, with the low-level error as `cause`. */
export class MlflowError extends Error {
  override readonly name = 'MlflowError';
  readonly kind: MlflowErrorKind;
  /** HTTP status MLflow answered with, when it answered. */
  readonly status: number | undefined;
  /** MLflow's `error_code` (e.g. RESOURCE_DOES_NOT_EXIST), when it sent one. */
  readonly errorCode: string | undefined;
  /** The raw answer, kept for the pass-through proxy so that it can relay MLflow's own error. */
  readonly response: ForwardedResponse | undefined;

  constructor(
    kind: MlflowErrorKind,
    message: string,
    extra: { status?: number; errorCode?: string; response?: ForwardedResponse; cause?: unknown } = {},
  ) {
    super(message, { cause: extra.cause });
    this.kind = kind;
    this.status = extra.status;
    this.errorCode = extra.errorCode;
    this.response = extra.response;
  }
}

/** Type guard for MLflow call failures. */
export function isMlflowError(error: unknown): error is MlflowError {
  return error instanceof MlflowError;
}

/** True for failures that say MLflow is unwell (they count against the breaker); false for MLflow's own 4xx answers. */
export function isMlflowOutage(error: unknown): boolean {
  return isMlflowError(error) && error.kind !== 'api';
}

const tagSchema = z.looseObject({ key: z.string(), value: z.string().optional() });

const modelVersionSchema = z.looseObject({
  name: z.string(),
  version: z.string(),
  creation_timestamp: z.coerce.number().optional(),
  last_updated_timestamp: z.coerce.number().optional(),
  current_stage: z.string().optional(),
  description: z.string().optional(),
  source: z.string().optional(),
  run_id: z.string().optional(),
  status: z.string().optional(),
  tags: z.array(tagSchema).optional(),
});

const registeredModelSchema = z.looseObject({
  name: z.string(),
  creation_timestamp: z.coerce.number().optional(),
  last_updated_timestamp: z.coerce.number().optional(),
  description: z.string().optional(),
  latest_versions: z.array(modelVersionSchema).optional(),
  tags: z.array(tagSchema).optional(),
});

const searchSchema = z.looseObject({
  registered_models: z.array(registeredModelSchema).optional().default([]),
  next_page_token: z.string().optional(),
});

const errorBodySchema = z.looseObject({ error_code: z.string(), message: z.string().optional() });

/** A model version as MLflow describes it. */
export type ModelVersion = z.infer<typeof modelVersionSchema>;
/** A registered model as MLflow describes it. */
export type RegisteredModel = z.infer<typeof registeredModelSchema>;
/** One page of a registered-model search. */
export type ModelSearchPage = z.infer<typeof searchSchema>;

/** A request relayed unchanged to MLflow by the pass-through proxy. */
export interface ForwardedRequest {
  readonly method: string;
  /** Path and query below the tracking URI, starting with `/`. */
  readonly pathAndQuery: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array<ArrayBuffer> | undefined;
}

/** MLflow's answer to a forwarded request. */
export interface ForwardedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array;
}

/** The MLflow REST calls the service makes. */
export interface MlflowClient {
  searchRegisteredModels(query: { filter?: string; maxResults?: number; pageToken?: string }): Promise<ModelSearchPage>;
  getRegisteredModel(name: string): Promise<RegisteredModel>;
  getModelVersion(name: string, version: string): Promise<ModelVersion>;
  createRegisteredModel(name: string): Promise<RegisteredModel>;
  createModelVersion(input: {
    name: string;
    source: string;
    runId?: string;
    description?: string;
  }): Promise<ModelVersion>;
  transitionModelVersionStage(input: {
    name: string;
    version: string;
    stage: string;
    archiveExistingVersions: boolean;
  }): Promise<ModelVersion>;
  /** A cheap call that touches MLflow's store (a one-item model search): MLflow's /health does not. */
  ping(): Promise<void>;
  forward(request: ForwardedRequest): Promise<ForwardedResponse>;
}

/** Options of `createMlflowClient`. */
export interface MlflowClientOptions {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  /** Defaults to the global fetch (which msw intercepts in tests). */
  readonly fetch?: typeof fetch;
}

const FORWARDED_REQUEST_HEADERS = ['content-type', 'accept', 'authorization', 'user-agent'];
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'content-disposition', 'cache-control', 'etag', 'last-modified'];

/** Creates the MLflow REST client: every call has the timeout and maps failures to `MlflowError`. */
export function createMlflowClient(options: MlflowClientOptions): MlflowClient {
  // Looked up per call, so a fetch patched later (msw in tests) is the one used.
  const fetchImpl = options.fetch ?? ((input: string, init?: RequestInit) => globalThis.fetch(input, init));
  const base = options.baseUrl.replace(/\/+$/, '');

  async function send(
    method: string,
    pathAndQuery: string,
    headers: Record<string, string>,
    body?: Uint8Array<ArrayBuffer>,
  ) {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, options.timeoutMs);
    const what = `${method} ${pathAndQuery.split('?')[0]}`;
    try {
      const response = await fetchImpl(`${base}${pathAndQuery}`, {
        method,
        headers,
        body: body && body.byteLength > 0 ? body : undefined,
        signal: controller.signal,
        redirect: 'manual',
      });
      const bytes = new Uint8Array(await response.arrayBuffer());
      return { response, bytes };
    } catch (error) {
      if (timedOut) {
        throw new MlflowError('timeout', `MLflow did not answer ${what} within ${options.timeoutMs} ms`, {
          cause: error,
        });
      }
      throw new MlflowError('unreachable', `MLflow could not be reached for ${what}: ${describeCause(error)}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  async function callJson<T>(method: 'GET' | 'POST', path: string, payload: unknown, schema: z.ZodType<T>) {
    const isGet = method === 'GET';
    const query = isGet ? toQuery(payload as Record<string, unknown>) : '';
    const body = isGet ? undefined : new TextEncoder().encode(JSON.stringify(payload));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (!isGet) headers['content-type'] = 'application/json';
    const { response, bytes } = await send(method, `/api/2.0/mlflow/${path}${query}`, headers, body);
    const text = new TextDecoder().decode(bytes);
    const parsed = parseJson(text);
    if (response.status >= 500) {
      throw new MlflowError('upstream', `MLflow answered ${response.status} to ${path}`, { status: response.status });
    }
    if (response.status >= 400) {
      const error = errorBodySchema.safeParse(parsed);
      if (!error.success) {
        throw new MlflowError('malformed', `MLflow answered ${response.status} to ${path} without an error body`, {
          status: response.status,
        });
      }
      throw new MlflowError('api', error.data.message ?? error.data.error_code, {
        status: response.status,
        errorCode: error.data.error_code,
      });
    }
    const result = schema.safeParse(parsed);
    if (!result.success) {
      throw new MlflowError('malformed', `MLflow answered ${path} with an unexpected body`, {
        status: response.status,
        cause: result.error,
      });
    }
    return result.data;
  }

  const modelEnvelope = z.looseObject({ registered_model: registeredModelSchema });
  const versionEnvelope = z.looseObject({ model_version: modelVersionSchema });

  return {
    searchRegisteredModels: (query) =>
      callJson(
        'GET',
        'registered-models/search',
        { filter: query.filter, max_results: query.maxResults, page_token: query.pageToken },
        searchSchema,
      ),
    getRegisteredModel: async (name) =>
      (await callJson('GET', 'registered-models/get', { name }, modelEnvelope)).registered_model,
    getModelVersion: async (name, version) =>
      (await callJson('GET', 'model-versions/get', { name, version }, versionEnvelope)).model_version,
    createRegisteredModel: async (name) =>
      (await callJson('POST', 'registered-models/create', { name }, modelEnvelope)).registered_model,
    createModelVersion: async (input) =>
      (
        await callJson(
          'POST',
          'model-versions/create',
          { name: input.name, source: input.source, run_id: input.runId, description: input.description },
          versionEnvelope,
        )
      ).model_version,
    transitionModelVersionStage: async (input) =>
      (
        await callJson(
          'POST',
          'model-versions/transition-stage',
          {
            name: input.name,
            version: input.version,
            stage: input.stage,
            archive_existing_versions: input.archiveExistingVersions,
          },
          versionEnvelope,
        )
      ).model_version,
    ping: async () => {
      await callJson('GET', 'registered-models/search', { max_results: 1 }, searchSchema);
    },
    forward: async (request) => {
      const headers: Record<string, string> = {};
      for (const name of FORWARDED_REQUEST_HEADERS) {
        const value = request.headers[name];
        if (value !== undefined) headers[name] = value;
      }
      const { response, bytes } = await send(request.method, request.pathAndQuery, headers, request.body);
      const relayed: Record<string, string> = {};
      for (const name of FORWARDED_RESPONSE_HEADERS) {
        const value = response.headers.get(name);
        if (value !== null) relayed[name] = value;
      }
      const forwarded = { status: response.status, headers: relayed, body: bytes };
      if (response.status >= 500) {
        throw new MlflowError(
          'upstream',
          `MLflow answered ${response.status} to ${request.method} ${request.pathAndQuery}`,
          {
            status: response.status,
            response: forwarded,
          },
        );
      }
      return forwarded;
    },
  };
}

function toQuery(params: Record<string, unknown>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined) search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function describeCause(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause;
    if (cause instanceof Error && 'code' in cause && typeof cause.code === 'string') return cause.code;
    if (cause instanceof Error) return cause.message;
    return error.message;
  }
  return String(error);
}
