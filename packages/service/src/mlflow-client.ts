import { randomUUID } from 'node:crypto';
import { pipeline, Readable, Transform, type TransformCallback } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { z } from 'zod';
import type { CallOutcome } from './circuit-breaker.js';
import { loggedModelInfoSchema, modelVersionSchema, registeredModelSchema } from './contract/registry.js';

/**
 * How an MLflow call failed. `unreachable`, `timeout`, `upstream` and `malformed` mean MLflow is unwell;
 * `api` is a proper MLflow error answer (a 4xx); `invalid_request` is a request fetch refused to build
 * (the caller's fault, never sent); `too_large` is an answer over MLFLOW_PROXY_MAX_BYTES (relayed) or
 * MLFLOW_API_MAX_BYTES (read for the service's own calls).
 */
export type MlflowErrorKind =
  | 'unreachable'
  | 'timeout'
  | 'upstream'
  | 'malformed'
  | 'api'
  | 'invalid_request'
  | 'too_large';

/** A failed MLflow call, with the low-level error as `cause`. */
export class MlflowError extends Error {
  override readonly name = 'MlflowError';
  readonly kind: MlflowErrorKind;
  /** HTTP status MLflow answered with, when it answered. */
  readonly status: number | undefined;
  /** MLflow's `error_code` (e.g. RESOURCE_DOES_NOT_EXIST), when it sent one. */
  readonly errorCode: string | undefined;
  /** `too_large` with a declared length: the bytes MLflow's answer had, and the most the service reads. */
  readonly size: { readonly declared: number; readonly max: number } | undefined;

  constructor(
    kind: MlflowErrorKind,
    message: string,
    extra: {
      status?: number;
      errorCode?: string;
      cause?: unknown;
      size?: { readonly declared: number; readonly max: number };
    } = {},
  ) {
    super(message, { cause: extra.cause });
    this.kind = kind;
    this.status = extra.status;
    this.errorCode = extra.errorCode;
    this.size = extra.size;
  }
}

/** Type guard for MLflow call failures. */
export function isMlflowError(error: unknown): error is MlflowError {
  return error instanceof MlflowError;
}

/** MLflow's JSON answers, decoded as `fetch`'s `text()` would (one decoder: it keeps no state between calls). */
const UTF8 = new TextDecoder();

const OUTAGE_KINDS: ReadonlySet<MlflowErrorKind> = new Set(['unreachable', 'timeout', 'upstream', 'malformed']);

/** True for failures that say MLflow is unwell; false for MLflow's own 4xx answers and the caller's mistakes. */
export function isMlflowOutage(error: unknown): boolean {
  return isMlflowError(error) && OUTAGE_KINDS.has(error.kind);
}

/**
 * What an MLflow call's error says about MLflow, for the breaker: outages are failures, a proper error
 * answer or an answer too large to relay proves MLflow is up, and anything else (a request that was never
 * sent, an error of the service itself) says nothing.
 */
export function classifyMlflowOutcome(error: unknown): CallOutcome {
  if (!isMlflowError(error)) return 'ignored';
  if (OUTAGE_KINDS.has(error.kind)) return 'failure';
  return error.kind === 'invalid_request' ? 'ignored' : 'success';
}

const searchSchema = z.looseObject({
  registered_models: z.array(registeredModelSchema).optional().default([]),
  next_page_token: z.string().optional(),
});

const errorBodySchema = z.looseObject({ error_code: z.string(), message: z.string().optional() });

/** A model version as MLflow describes it. */
export type ModelVersion = z.infer<typeof modelVersionSchema>;
/** A registered model as MLflow describes it. */
export type RegisteredModel = z.infer<typeof registeredModelSchema>;
/** A logged model's `info` as MLflow describes it (fields MLflow adds are kept). */
export type LoggedModelInfo = z.infer<typeof loggedModelInfoSchema>;
/** One page of a registered-model search. */
export type ModelSearchPage = z.infer<typeof searchSchema>;

/** A request relayed to MLflow by the pass-through proxy. */
export interface ForwardedRequest {
  readonly method: string;
  /** Path and query below the tracking URI, starting with `/` (already checked by the proxy policy). */
  readonly pathAndQuery: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Uint8Array<ArrayBuffer> | undefined;
  /**
   * Artifact downloads: the body may stream for longer than the request timeout as a whole, but the
   * timeout still ends it after that long without a chunk passing (the size cap holds too).
   */
  readonly untimedBody?: boolean;
}

/** MLflow's answer to a forwarded request: the body streams as it arrives, cut at the size cap. */
export interface ForwardedResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Readable | null;
}

/** The MLflow REST calls the service makes. */
export interface MlflowClient {
  searchRegisteredModels(query: { filter?: string; maxResults?: number; pageToken?: string }): Promise<ModelSearchPage>;
  getRegisteredModel(name: string): Promise<RegisteredModel>;
  getModelVersion(name: string, version: string): Promise<ModelVersion>;
  getLoggedModel(modelId: string): Promise<LoggedModelInfo>;
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
  /**
   * A cheap call that touches MLflow's store (MLflow's /health does not): a model search for a name no
   * client knows, so that its answer is empty whatever clients stored (a padded model sorting first would
   * otherwise make every probe download it).
   */
  ping(): Promise<void>;
  forward(request: ForwardedRequest): Promise<ForwardedResponse>;
}

/** Options of `createMlflowClient`. */
export interface MlflowClientOptions {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  /** Defaults to the global fetch (which msw intercepts in tests). */
  readonly fetch?: typeof fetch;
  /** The service's own credentials for MLflow (`Authorization` header value), sent on every call. */
  readonly authorization?: string;
  /** Largest answer relayed, in bytes (default: no cap). */
  readonly maxResponseBytes?: number;
  /** Largest answer read whole for the service's own calls, in bytes (default: no cap). */
  readonly maxApiResponseBytes?: number;
}

/** Request headers a client may pass through. Never `authorization` or cookies: MLflow gets the service's own. */
export const FORWARDED_REQUEST_HEADERS = ['content-type', 'accept', 'user-agent'] as const;
/** Response headers relayed to the client, MLflow's security headers included. */
export const FORWARDED_RESPONSE_HEADERS = [
  'content-type',
  'content-disposition',
  'cache-control',
  'etag',
  'last-modified',
  'retry-after',
  'x-content-type-options',
  'x-frame-options',
  'content-security-policy',
  'referrer-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'permissions-policy',
  'strict-transport-security',
] as const;

/** Passes at most `max` bytes through and fails once more come; `onChunk` hears of every chunk (progress). */
function byteCap(max: number, what: string, onChunk: () => void = () => {}): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      onChunk();
      seen += chunk.byteLength;
      if (seen > max) {
        callback(new MlflowError('too_large', `MLflow's answer to ${what} passed ${max} bytes`));
        return;
      }
      callback(null, chunk);
    },
  });
}

function declaredLength(response: Response): number | undefined {
  const header = response.headers.get('content-length');
  return header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
}

/** Creates the MLflow REST client: every call has the timeout and maps failures to `MlflowError`. */
export function createMlflowClient(options: MlflowClientOptions): MlflowClient {
  // Looked up per call, so a fetch patched later (msw in tests) is the one used.
  const fetchImpl = options.fetch ?? ((input: string, init?: RequestInit) => globalThis.fetch(input, init));
  const base = options.baseUrl.replace(/\/+$/, '');

  const maxBytes = options.maxResponseBytes ?? Number.POSITIVE_INFINITY;
  const maxApiBytes = options.maxApiResponseBytes ?? Number.POSITIVE_INFINITY;
  /** The probe's search: a name drawn at random for this client, which no client can guess and register. */
  const probeFilter = `name = 'registry-probe-${randomUUID()}'`;

  /** Starts a call; the timer keeps running until `done` is called (after the body is read or relayed). */
  async function start(
    method: string,
    pathAndQuery: string,
    clientHeaders: Record<string, string>,
    body: Uint8Array<ArrayBuffer> | undefined,
    cap: number,
  ) {
    const url = `${base}${pathAndQuery}`;
    const what = `${method} ${pathAndQuery.split('?')[0]}`;
    const headers = { ...clientHeaders };
    if (options.authorization !== undefined) headers.authorization = options.authorization;
    const init: RequestInit = { method, headers, body: body && body.byteLength > 0 ? body : undefined };
    try {
      // Build it first: a request fetch refuses to make (a method or header it rejects) was never sent.
      new Request(url, { method, headers: clientHeaders, body: init.body });
    } catch (error) {
      throw new MlflowError('invalid_request', `the request ${what} cannot be sent: ${describeCause(error)}`, {
        cause: error,
      });
    }
    const controller = new AbortController();
    let timedOut = false;
    /** What else the timeout ends: the relayed body, once there is one (it may hold MLflow's last bytes). */
    const alsoEnd: (() => void)[] = [];
    const expire = () => {
      timedOut = true;
      controller.abort();
      for (const end of alsoEnd) end();
    };
    let timer = setTimeout(expire, options.timeoutMs);
    const done = () => clearTimeout(timer);
    /** From now on the timeout measures time without progress: each call starts it again. */
    const progressed = () => {
      clearTimeout(timer);
      timer = setTimeout(expire, options.timeoutMs);
    };
    const failure = (error: unknown) => {
      if (isMlflowError(error)) return error;
      if (timedOut) {
        return new MlflowError('timeout', `MLflow did not answer ${what} within ${options.timeoutMs} ms`, {
          cause: error,
        });
      }
      return new MlflowError('unreachable', `MLflow could not be reached for ${what}: ${describeCause(error)}`, {
        cause: error,
      });
    };
    try {
      const response = await fetchImpl(url, { ...init, signal: controller.signal, redirect: 'manual' });
      const length = declaredLength(response);
      if (length !== undefined && length > cap) {
        await response.body?.cancel().catch(() => {});
        done();
        throw new MlflowError('too_large', `MLflow's answer to ${what} has ${length} bytes, over ${cap}`, {
          status: response.status,
          size: { declared: length, max: cap },
        });
      }
      return { response, what, done, failure, progressed, alsoEnd };
    } catch (error) {
      done();
      throw failure(error);
    }
  }

  async function send(
    method: string,
    pathAndQuery: string,
    headers: Record<string, string>,
    body?: Uint8Array<ArrayBuffer>,
  ) {
    const { response, what, done, failure } = await start(method, pathAndQuery, headers, body, maxApiBytes);
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      if (response.body) {
        for await (const chunk of Readable.fromWeb(response.body as WebReadableStream)) {
          size += (chunk as Buffer).byteLength;
          if (size > maxApiBytes)
            throw new MlflowError('too_large', `MLflow's answer to ${what} passed ${maxApiBytes} bytes`);
          chunks.push(chunk as Buffer);
        }
      }
      return { response, bytes: new Uint8Array(Buffer.concat(chunks)) };
    } catch (error) {
      throw failure(error);
    } finally {
      done();
    }
  }

  async function callJson<T>(method: 'GET' | 'POST', path: string, payload: unknown, schema: z.ZodType<T>) {
    const isGet = method === 'GET';
    const query = isGet ? toQuery(payload as Record<string, unknown>) : '';
    const body = isGet ? undefined : new TextEncoder().encode(JSON.stringify(payload));
    const headers: Record<string, string> = { accept: 'application/json' };
    if (!isGet) headers['content-type'] = 'application/json';
    const { response, bytes } = await send(method, `/api/2.0/mlflow/${path}${query}`, headers, body);
    const text = UTF8.decode(bytes);
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
  const loggedModelEnvelope = z.looseObject({ model: z.looseObject({ info: loggedModelInfoSchema }) });

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
    getLoggedModel: async (modelId) =>
      (await callJson('GET', `logged-models/${encodeURIComponent(modelId)}`, {}, loggedModelEnvelope)).model.info,
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
      await callJson('GET', 'registered-models/search', { filter: probeFilter, max_results: 1 }, searchSchema);
    },
    forward: async (request) => {
      const headers: Record<string, string> = {};
      for (const name of FORWARDED_REQUEST_HEADERS) {
        const value = request.headers[name];
        if (value !== undefined) headers[name] = value;
      }
      const { response, what, done, progressed, alsoEnd } = await start(
        request.method,
        request.pathAndQuery,
        headers,
        request.body,
        maxBytes,
      );
      // An artifact body may take longer than the timeout as a whole, but never that long without a chunk
      // passing: an MLflow that stops sending, or a client that stops reading (the chunks back up), ends
      // it. (A client that stops once MLflow has sent everything is the pass-through's socket timeout's.)
      if (request.untimedBody) progressed();
      const relayed: Record<string, string> = {};
      for (const name of FORWARDED_RESPONSE_HEADERS) {
        const value = response.headers.get(name);
        if (value !== null) relayed[name] = value;
      }
      // fetch has already decoded any content-encoding, so MLflow's length only holds for an unencoded body.
      const length = declaredLength(response);
      if (length !== undefined && !response.headers.has('content-encoding')) relayed['content-length'] = String(length);
      if (!response.body) {
        done();
        return { status: response.status, headers: relayed, body: null };
      }
      // The cap (or the timeout, or the client going away) ends the relay and the upstream body with it.
      const cap = byteCap(maxBytes, what, request.untimedBody ? progressed : undefined);
      const body = pipeline(Readable.fromWeb(response.body as WebReadableStream), cap, done);
      alsoEnd.push(() =>
        body.destroy(
          new MlflowError('timeout', `MLflow's answer to ${what} made no progress for ${options.timeoutMs} ms`),
        ),
      );
      return { status: response.status, headers: relayed, body };
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
