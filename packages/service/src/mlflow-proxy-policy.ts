import type { ClientAccess } from './auth.js';
import type { ProxyMode } from './config.js';
import { MAX_FILTER_LENGTH, MLFLOW_COLUMN_LENGTHS } from './contract/registry.js';
import type { ErrorCode } from './errors.js';
import { type EntryStore, type EntryWrite, measureEntryWrite } from './mlflow-entry-write.js';
import { checkModelSource } from './model-sources.js';
import { MAX_JSON_DEPTH, nestsDeeperThan, STRICT_UTF8, TOO_DEEP_MESSAGE } from './validation.js';

/** The only methods the pass-through relays. */
export const PROXY_METHODS = ['GET', 'POST', 'PATCH', 'DELETE'] as const;

/** What an endpoint does: `read` changes nothing; `write` creates or updates registry entries (never deletes). */
export type EndpointAccess = 'read' | 'write';

/** One MLflow endpoint the pass-through knows: what the restricted modes allow, and the searches `full` relays. */
export interface ProxyEndpoint {
  readonly method: (typeof PROXY_METHODS)[number];
  /**
   * The path below the tracking URI; a `*` segment stands for exactly one non-empty segment. With `prefix`,
   * any path below it (one or more segments).
   */
  readonly path: string;
  readonly access: EndpointAccess;
  /** Relayed in `full` mode only (MLflow's other searches, listed for the filters they take). */
  readonly fullOnly?: boolean;
  readonly prefix?: boolean;
  /** An artifact download: its body may stream for longer than MLFLOW_REQUEST_TIMEOUT (the size cap holds). */
  readonly artifact?: boolean;
  /**
   * A search: its filters (FILTER_FIELDS, in the query of a GET, in the JSON body of a POST) are held to
   * MAX_FILTER_LENGTH, and a POST body that cannot be read as UTF-8 JSON is refused.
   */
  readonly search?: boolean;
  /**
   * A write that stores tags or an alias on a registry entry: its JSON body is read for what it stores,
   * which MLFLOW_PROXY_MAX_ENTRY_BYTES bounds, and a body that cannot be read is refused.
   */
  readonly stores?: EntryStore;
  /** A write that registers a model version: its `source` is held to MLFLOW_ALLOWED_SOURCES. */
  readonly registersSource?: boolean;
}

/**
 * The request fields MLflow 3.17 reads as a search expression (from its protos: `filters` is a list), held
 * to MAX_FILTER_LENGTH at the top level of every relayed request's query and JSON body. MLflow's protobuf
 * parser takes each field by its JSON name too (`filterString`, `baseFilter`), so both are listed.
 */
export const FILTER_FIELDS = [
  'filter',
  'filter_string',
  'filterString',
  'filter_string1',
  'filterString1',
  'filter_string2',
  'filterString2',
  'base_filter',
  'baseFilter',
  'filters',
];

/**
 * The request fields MLflow 3.17 reads as sort clauses, by their JSON name too: a list of strings, or of
 * objects (`{field_name, ascending, ...}` in `logged-models/search`).
 */
export const ORDER_FIELDS = ['order_by', 'orderBy'];

/**
 * The sort clauses one relayed request may carry: MLflow builds a join for each clause on a metric, param
 * or tag (70 on metrics made SQLite give up on the statement). MLflow's own UI sends one.
 */
export const MAX_ORDER_BY_CLAUSES = 10;

/** The longest sort clause relayed, in characters (an object clause: its JSON text). */
export const MAX_ORDER_BY_LENGTH = 1024;

const API = '/api/2.0/mlflow';
const API_3 = '/api/3.0/mlflow';
const ARTIFACTS = '/api/2.0/mlflow-artifacts/artifacts';

const read = (method: ProxyEndpoint['method'], path: string, extra: Partial<ProxyEndpoint> = {}): ProxyEndpoint => ({
  method,
  path,
  access: 'read',
  ...extra,
});
const write = (method: ProxyEndpoint['method'], path: string, extra: Partial<ProxyEndpoint> = {}): ProxyEndpoint => ({
  method,
  path,
  access: 'write',
  ...extra,
});
const fullSearch = (method: ProxyEndpoint['method'], path: string): ProxyEndpoint => ({
  method,
  path,
  access: 'read',
  search: true,
  fullOnly: true,
});

/**
 * The endpoints `read-only` and `registry` allow: what the official MLflow client needs to register and
 * read models (registry create/get/search/update, tags, stage transitions, aliases) and the tracking and
 * artifact reads around them. Nothing here deletes or renames; `full` allows every path.
 */
export const PROXY_ENDPOINTS: readonly ProxyEndpoint[] = [
  write('POST', `${API}/registered-models/create`, { stores: 'new-entry' }),
  read('GET', `${API}/registered-models/get`),
  read('GET', `${API}/registered-models/search`, { search: true }),
  read('GET', `${API}/registered-models/get-latest-versions`),
  read('POST', `${API}/registered-models/get-latest-versions`),
  write('PATCH', `${API}/registered-models/update`),
  write('POST', `${API}/registered-models/set-tag`, { stores: 'model-tag' }),
  write('POST', `${API}/registered-models/alias`, { stores: 'model-alias' }),
  read('GET', `${API}/registered-models/alias`),
  write('POST', `${API}/model-versions/create`, { stores: 'new-entry', registersSource: true }),
  read('GET', `${API}/model-versions/get`),
  read('GET', `${API}/model-versions/search`, { search: true }),
  write('PATCH', `${API}/model-versions/update`),
  write('POST', `${API}/model-versions/transition-stage`),
  write('POST', `${API}/model-versions/set-tag`, { stores: 'version-tag' }),
  read('GET', `${API}/model-versions/get-download-uri`),
  read('GET', `${API}/experiments/get`),
  read('GET', `${API}/experiments/get-by-name`),
  read('GET', `${API}/experiments/search`, { search: true }),
  read('POST', `${API}/experiments/search`, { search: true }),
  read('GET', `${API}/runs/get`),
  read('POST', `${API}/runs/search`, { search: true }),
  read('GET', `${API}/metrics/get-history`),
  read('GET', `${API}/artifacts/list`),
  read('GET', `${API}/logged-models`, { prefix: true }),
  read('POST', `${API}/logged-models/search`, { search: true }),
  // register_model records the new version on the logged model: PATCH logged-models/<id>/tags, and only
  // that (PATCH logged-models/<id> finalizes a logged model, which is not the registry's to change).
  write('PATCH', `${API}/logged-models/*/tags`, { stores: 'logged-model-tags' }),
  read('GET', '/api/3.0/mlflow/server-info'),
  read('GET', ARTIFACTS),
  read('GET', ARTIFACTS, { prefix: true, artifact: true }),
  read('GET', '/get-artifact', { artifact: true }),
  read('GET', '/model-versions/get-artifact', { artifact: true }),
  // The other searches of MLflow 3.17 that take a body (every endpoint whose request has a FILTER_FIELDS
  // field; `GET traces` and `GET datasets/search` have no body to be strict about): `full` relays them,
  // with the same limits. A 5.6 KB trace filter cost MLflow on PostgreSQL 68 s.
  fullSearch('POST', `${API_3}/traces/search`),
  fullSearch('POST', `${API_3}/traces/metrics`),
  fullSearch('POST', `${API_3}/traces/calculate-filter-correlation`),
  fullSearch('POST', `${API_3}/datasets/search`),
  fullSearch('POST', `${API_3}/issues/search`),
];

/** Where the pass-through sends a request it allows. */
export interface ProxyTarget {
  readonly ok: true;
  /** Path and query below the tracking URI, exactly as the client encoded them. */
  readonly pathAndQuery: string;
  readonly artifact: boolean;
  /** What a write stores on a registry entry, for MLFLOW_PROXY_MAX_ENTRY_BYTES. */
  readonly entryWrite?: EntryWrite;
}

/** Why the pass-through refuses a request: a catalogue code and a message naming the rule. */
export interface ProxyRefusal {
  readonly ok: false;
  readonly code: Extract<
    ErrorCode,
    'BAD_REQUEST' | 'METHOD_NOT_ALLOWED' | 'MLFLOW_PROXY_FORBIDDEN' | 'API_KEY_READ_ONLY' | 'MODEL_SOURCE_NOT_ALLOWED'
  >;
  readonly message: string;
}

/** What the pass-through does with a request. */
export type ProxyDecision = ProxyTarget | ProxyRefusal;

const refuse = (code: ProxyRefusal['code'], message: string): ProxyRefusal => ({ ok: false, code, message });

function matches(endpoint: ProxyEndpoint, method: string, path: string): boolean {
  if (endpoint.method !== method) return false;
  if (endpoint.prefix) return path.startsWith(`${endpoint.path}/`) && path.length > endpoint.path.length + 1;
  if (!endpoint.path.includes('*')) return path === endpoint.path;
  const wanted = endpoint.path.split('/');
  const given = path.split('/');
  return (
    wanted.length === given.length && wanted.every((part, i) => (part === '*' ? given[i] !== '' : part === given[i]))
  );
}

/** The strings in a request's fields `names`: strings, or lists of strings (`filters`). */
function stringsIn(names: readonly string[], fields: (name: string) => unknown[]): string[] {
  return names.flatMap((name) =>
    fields(name)
      .flat()
      .filter((value) => typeof value === 'string'),
  );
}

/** The sort clauses in a request's ORDER_FIELDS, whatever their type, each as text (an object as its JSON). */
function ordersIn(fields: (name: string) => unknown[]): string[] {
  return ORDER_FIELDS.flatMap((name) =>
    fields(name)
      .flat()
      .filter((value) => value !== undefined && value !== null)
      .map((value) => (typeof value === 'string' ? value : JSON.stringify(value))),
  );
}

/**
 * The values of a query's parameters by name, as MLflow's query-string parser reads them: `order_by[0]`
 * (also percent-encoded, `order_by%5B0%5D`) is a value of `order_by`, as a plain `order_by` is.
 */
function queryFields(query: string): (name: string) => string[] {
  const byName = new Map<string, string[]>();
  for (const [given, value] of new URLSearchParams(query)) {
    const name = given.replace(/\[.*$/s, '');
    byName.set(name, [...(byName.get(name) ?? []), value]);
  }
  return (name) => byName.get(name) ?? [];
}

/** What the pass-through reads of a request: its filters and sort clauses, and its JSON body when it read one. */
interface ReadRequest {
  readonly filters: string[];
  readonly orders: string[];
  readonly body?: Record<string, unknown>;
}

/**
 * The filters of a request: from its query, and from the JSON body of any method but GET (MLflow reads the
 * body of a PATCH or DELETE as JSON whatever its content type, and of a POST declared JSON). MLflow reads
 * more bodies than `JSON.parse` does (UTF-16 or UTF-32, NaN, a JSON string holding the object as older
 * clients send it), so such a body, and any body of a search or of a write that stores tags (`strict`),
 * must be UTF-8 JSON holding an object or a JSON string holding one: any other is refused rather than
 * passed on unread. Only a POST of another content type (an artifact upload in `full` mode) is relayed
 * without its body being read: MLflow refuses such a POST to its JSON endpoints.
 */
function readRequest(
  request: { method: string; path: string; query: string; body: Uint8Array | undefined; contentType: string },
  strict: boolean,
): ReadRequest | ProxyRefusal {
  const { method, path, body } = request;
  const params = queryFields(request.query);
  const inQuery = { filters: stringsIn(FILTER_FIELDS, params), orders: ordersIn(params) };
  if (method === 'GET' || !body || body.byteLength === 0) return inQuery;
  const declaredJson = request.contentType.split(';')[0]?.trim().toLowerCase() === 'application/json';
  if (method === 'POST' && !strict && !declaredJson) return inQuery;
  const unreadable = refuse('BAD_REQUEST', `The body of ${method} ${path} must be a JSON object in UTF-8.`);
  let parsed: unknown;
  try {
    const text = STRICT_UTF8.decode(body);
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) return refuse('BAD_REQUEST', TOO_DEEP_MESSAGE);
    parsed = JSON.parse(text);
    if (typeof parsed === 'string') {
      if (nestsDeeperThan(parsed, MAX_JSON_DEPTH)) return refuse('BAD_REQUEST', TOO_DEEP_MESSAGE);
      parsed = JSON.parse(parsed);
    }
  } catch {
    return unreadable;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return unreadable;
  const object = parsed as Record<string, unknown>;
  return {
    filters: [...inQuery.filters, ...stringsIn(FILTER_FIELDS, (name) => [object[name]])],
    orders: [...inQuery.orders, ...ordersIn((name) => [object[name]])],
    body: object,
  };
}

/** The registry's own endpoints, whose text fields go into MLflow's registry columns. */
const REGISTRY_WRITE_PATH = /^\/api\/2\.0\/mlflow\/(registered-models|model-versions)\//;

/** The top-level text fields of a registry write, by every name MLflow's JSON parser takes, and their columns. */
const REGISTRY_TEXT_FIELDS: readonly (readonly [string, number])[] = [
  ['name', MLFLOW_COLUMN_LENGTHS.name],
  ['new_name', MLFLOW_COLUMN_LENGTHS.name],
  ['newName', MLFLOW_COLUMN_LENGTHS.name],
  ['source', MLFLOW_COLUMN_LENGTHS.source],
  ['run_id', MLFLOW_COLUMN_LENGTHS.run_id],
  ['runId', MLFLOW_COLUMN_LENGTHS.run_id],
  ['run_link', MLFLOW_COLUMN_LENGTHS.run_link],
  ['runLink', MLFLOW_COLUMN_LENGTHS.run_link],
  ['description', MLFLOW_COLUMN_LENGTHS.description],
];

/** The tag MLflow marks a prompt's model and versions with (any value: MLflow checks the key only). */
const PROMPT_TAG_KEY = 'mlflow.prompt.is_prompt';

/** Whether a request's `tags` (`[{key, value}]`) mark a prompt, as MLflow's `has_prompt_tag` reads them. */
function tagsMarkAPrompt(tags: unknown): boolean {
  return (
    Array.isArray(tags) &&
    tags.some((tag) => typeof tag === 'object' && tag !== null && (tag as { key?: unknown }).key === PROMPT_TAG_KEY)
  );
}

/** MLflow serves every REST endpoint under `/ajax-api/` as well as `/api/`: the same endpoint either way. */
function canonicalPath(path: string): string {
  return path.replace(/^\/ajax-api\//, '/api/');
}

/** The decoded path below the route prefix, or a refusal for anything that could leave it. */
function checkPath(rawPath: string): { path: string } | ProxyRefusal {
  const segments = rawPath.split('/').slice(1);
  const decoded: string[] = [];
  for (const [index, segment] of segments.entries()) {
    if (segment === '' && index < segments.length - 1) {
      return refuse('BAD_REQUEST', 'The MLflow path must not contain empty segments (//).');
    }
    let text: string;
    try {
      text = decodeURIComponent(segment);
    } catch {
      return refuse('BAD_REQUEST', `The MLflow path segment "${segment}" is not valid percent-encoding.`);
    }
    if (text === '.' || text === '..') {
      return refuse('BAD_REQUEST', 'The MLflow path must not contain dot segments (. or .., raw or encoded).');
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
    if (/[/\\\u0000-\u001f\u007f]/.test(text)) {
      return refuse(
        'BAD_REQUEST',
        'The MLflow path must not contain encoded slashes, backslashes or control characters.',
      );
    }
    decoded.push(text);
  }
  return { path: `/${decoded.join('/')}` };
}

/** What `routeProxyRequest` reads: a request's method and target, the mode and the client's access. */
export interface ProxyRouteInput {
  readonly mode: ProxyMode;
  readonly method: string;
  /** The request target exactly as the client sent it. */
  readonly rawUrl: string;
  /** Where the pass-through is mounted, e.g. `/mlflow`. */
  readonly routePrefix: string;
  /** What the client's key lets it do: a read-only key gets the listed reads (and searches) only. */
  readonly access: ClientAccess;
}

/** Where a request goes, decided from its method and target alone. */
export interface ProxyRoute {
  readonly ok: true;
  /** The decoded path below the route prefix. */
  readonly path: string;
  /** Path and query below the route prefix, exactly as the client encoded them. */
  readonly below: string;
  readonly query: string;
  /** The endpoint the pass-through knows it as (undefined: one `full` mode relays unlisted). */
  readonly endpoint: ProxyEndpoint | undefined;
}

/**
 * The part of `decideProxyRequest` that needs no body: the target's confinement, the method, the mode and a
 * read-only key's access. The pass-through answers its refusals before the body arrives.
 */
export function routeProxyRequest(input: ProxyRouteInput): ProxyRoute | ProxyRefusal {
  const { mode, method, rawUrl, routePrefix } = input;
  if (!rawUrl.startsWith(`${routePrefix}/`)) {
    return refuse('BAD_REQUEST', 'The request target must be a path starting with /mlflow/ (no absolute-form URLs).');
  }
  if (rawUrl.includes('#')) return refuse('BAD_REQUEST', 'The request target must not contain a fragment.');
  if (!(PROXY_METHODS as readonly string[]).includes(method)) {
    return refuse(
      'METHOD_NOT_ALLOWED',
      `The MLflow pass-through accepts ${PROXY_METHODS.join(', ')} only, not ${method}.`,
    );
  }
  const below = rawUrl.slice(routePrefix.length);
  const queryAt = below.indexOf('?');
  const rawPath = queryAt === -1 ? below : below.slice(0, queryAt);
  const checked = checkPath(rawPath);
  if ('ok' in checked) return checked;
  const query = queryAt === -1 ? '' : below.slice(queryAt + 1);
  try {
    decodeURIComponent(query);
  } catch {
    return refuse('BAD_REQUEST', 'The query string is not valid percent-encoding.');
  }

  if (mode === 'off') return refuse('MLFLOW_PROXY_FORBIDDEN', 'The MLflow pass-through is off (MLFLOW_PROXY=off).');
  // The restricted modes allow the `/api/` paths only; `full` relays `/ajax-api/` too, with the same limits.
  const lookupPath = mode === 'full' ? canonicalPath(checked.path) : checked.path;
  const endpoint = PROXY_ENDPOINTS.find((candidate) => matches(candidate, method, lookupPath));
  if (mode !== 'full') {
    const allowed =
      endpoint !== undefined &&
      !endpoint.fullOnly &&
      (endpoint.access === 'read' || (endpoint.access === 'write' && mode === 'registry'));
    if (!allowed) {
      return refuse(
        'MLFLOW_PROXY_FORBIDDEN',
        `MLFLOW_PROXY=${mode} does not allow ${method} ${checked.path} through the MLflow pass-through.`,
      );
    }
  }

  // A read-only key gets the listed reads (searches that are POSTs among them), in every mode.
  if (input.access === 'read' && endpoint?.access !== 'read') {
    return refuse(
      'API_KEY_READ_ONLY',
      `This API key may only read (API_READ_ONLY_KEYS); ${method} ${checked.path} is not one of the pass-through's listed reads.`,
    );
  }

  return { ok: true, path: checked.path, below, query, endpoint };
}

/**
 * Decides what the pass-through does with a request: the upstream path comes from the part of the raw
 * request target below `routePrefix` and the query only, must stay below the tracking URI (no absolute-form
 * targets, no dot segments raw or encoded, no encoded separators), and must be allowed by `mode`.
 */
export function decideProxyRequest(
  input: ProxyRouteInput & {
    readonly trackingUri: string;
    /** The request body, for the filters it may carry. */
    readonly body?: Uint8Array;
    /** The request's Content-Type, which decides whether MLflow reads a POST body as JSON. */
    readonly contentType?: string;
    /** MLFLOW_ALLOWED_SOURCES: prefixes a registered version's source must start with (undefined: any). */
    readonly allowedSources?: readonly string[];
  },
): ProxyDecision {
  const route = routeProxyRequest(input);
  if (!route.ok) return route;
  const { method, trackingUri } = input;
  const { path, below, query, endpoint } = route;

  const read = readRequest(
    { method, path, query, body: input.body, contentType: input.contentType ?? '' },
    endpoint?.search === true || endpoint?.stores !== undefined,
  );
  if ('ok' in read) return read;
  const tooLong = read.filters.find((filter) => filter.length > MAX_FILTER_LENGTH);
  if (tooLong !== undefined) {
    return refuse(
      'BAD_REQUEST',
      `The filter of ${method} ${path} has ${tooLong.length} characters; the pass-through accepts at most ${MAX_FILTER_LENGTH} (a longer one can cost MLflow seconds of CPU and a gigabyte of memory).`,
    );
  }
  if (read.orders.length > MAX_ORDER_BY_CLAUSES) {
    return refuse(
      'BAD_REQUEST',
      `The order_by of ${method} ${path} has ${read.orders.length} clauses; the pass-through accepts at most ${MAX_ORDER_BY_CLAUSES} (each clause can be a join for MLflow).`,
    );
  }
  const longOrder = read.orders.find((order) => order.length > MAX_ORDER_BY_LENGTH);
  if (longOrder !== undefined) {
    return refuse(
      'BAD_REQUEST',
      `A sort clause (order_by) of ${method} ${path} has ${longOrder.length} characters; the pass-through accepts at most ${MAX_ORDER_BY_LENGTH}.`,
    );
  }

  // Belt and braces: the URL the client would reach must keep the tracking URI's origin and path prefix.
  const base = new URL(trackingUri);
  const basePath = base.pathname.replace(/\/+$/, '');
  const target = new URL(`${trackingUri.replace(/\/+$/, '')}${below}`);
  if (target.origin !== base.origin || !target.pathname.startsWith(`${basePath}/`)) {
    return refuse('BAD_REQUEST', 'The MLflow path must stay below the tracking URI.');
  }
  if (read.body !== undefined && REGISTRY_WRITE_PATH.test(canonicalPath(path))) {
    // SQLite does not hold MLflow's column lengths: a megabyte description would ride along in every listing.
    for (const [field, max] of REGISTRY_TEXT_FIELDS) {
      const value = read.body[field];
      if (typeof value === 'string' && value.length > max) {
        return refuse(
          'BAD_REQUEST',
          `The ${field} of ${method} ${path} has ${value.length} characters; MLflow's column holds at most ${max}.`,
        );
      }
    }
  }
  let entryWrite: EntryWrite | undefined;
  if (endpoint?.stores !== undefined) {
    if (read.body === undefined) return refuse('BAD_REQUEST', `${method} ${path} needs a JSON body.`);
    const measured = measureEntryWrite(endpoint.stores, read.body, path);
    if ('refused' in measured) return refuse('BAD_REQUEST', `The body of ${method} ${path}: ${measured.refused}.`);
    entryWrite = measured;
  }
  if (endpoint?.registersSource && read.body !== undefined) {
    // A source that is not a string is MLflow's to refuse; one it would take must be allowed.
    const source = read.body.source;
    const refused =
      typeof source === 'string'
        ? checkModelSource(source, input.allowedSources, { prompt: tagsMarkAPrompt(read.body.tags) })
        : undefined;
    if (refused) return refuse('MODEL_SOURCE_NOT_ALLOWED', refused.message);
  }
  return {
    ok: true,
    pathAndQuery: below,
    artifact: endpoint?.artifact === true,
    ...(entryWrite ? { entryWrite } : {}),
  };
}
