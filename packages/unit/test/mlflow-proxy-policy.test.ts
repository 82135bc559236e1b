import {
  decideProxyRequest,
  MAX_FILTER_LENGTH,
  MAX_JSON_DEPTH,
  MAX_ORDER_BY_CLAUSES,
  MAX_ORDER_BY_LENGTH,
  MLFLOW_PROXY_PREFIX,
  type ProxyDecision,
  type ProxyMode,
} from '@registry/service';
import { describe, expect, it } from 'vitest';

const API = '/mlflow/api/2.0/mlflow';
const TRACKING_URI = 'http://mlflow5:5000';

function decide(method: string, rawUrl: string, mode: ProxyMode = 'registry', trackingUri = TRACKING_URI) {
  return decideProxyRequest({ mode, method, rawUrl, routePrefix: MLFLOW_PROXY_PREFIX, trackingUri, access: 'write' });
}

/** `decide` for a request with a body (JSON unless `contentType` says otherwise). */
function decideRequest(
  method: string,
  rawUrl: string,
  body: Uint8Array | undefined,
  options: {
    mode?: ProxyMode;
    contentType?: string;
    allowedSources?: readonly string[];
    access?: 'read' | 'write';
  } = {},
) {
  const { mode = 'registry', contentType = 'application/json', allowedSources, access = 'write' } = options;
  return decideProxyRequest({
    mode,
    method,
    rawUrl,
    routePrefix: MLFLOW_PROXY_PREFIX,
    trackingUri: TRACKING_URI,
    body,
    contentType,
    allowedSources,
    access,
  });
}

/** A value as the bytes of its JSON text. */
const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

function refusalMessage(decision: ProxyDecision): string {
  if (decision.ok) throw new Error(`expected a refusal, got ${JSON.stringify(decision)}`);
  return decision.message;
}

describe('decideProxyRequest', () => {
  describe('path confinement', () => {
    it('refuses an absolute-form request target', () => {
      expect(decide('GET', `http://mlflow5${API}/registered-models/search`)).toMatchObject({
        ok: false,
        code: 'BAD_REQUEST',
      });
    });

    it.each([
      ['a raw dot-dot segment', '/mlflow/../x'],
      ['a raw dot segment', `${API}/./registered-models/search`],
      ['an encoded dot-dot segment', '/mlflow/%2e%2e/x'],
      ['a mixed-case, half-encoded dot-dot segment', '/mlflow/%2E./x'],
      ['an encoded slash', '/mlflow/api/%2fx'],
      ['an encoded upper-case slash', '/mlflow/api/%2Fx'],
      ['an encoded backslash', '/mlflow/api/%5cx'],
      ['an encoded control character', '/mlflow/api/%00x'],
      ['an empty segment', '/mlflow//api/2.0/mlflow/registered-models/search'],
      ['a fragment', `${API}/registered-models/search#top`],
      ['bad percent-encoding', '/mlflow/api/%zz'],
      ['a truncated percent-escape', '/mlflow/api/x%2'],
    ])('refuses %s with BAD_REQUEST', (_what, rawUrl) => {
      expect(decide('GET', rawUrl, 'full')).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    });

    it('refuses a path outside the route prefix', () => {
      expect(decide('GET', '/mlflowx/api/2.0/mlflow/registered-models/search', 'full')).toMatchObject({
        ok: false,
        code: 'BAD_REQUEST',
      });
    });

    it('allows a trailing slash, which is not an empty segment in the middle', () => {
      expect(decide('GET', '/mlflow/api/', 'full')).toMatchObject({ ok: true, pathAndQuery: '/api/' });
    });

    it('keeps the query string verbatim in pathAndQuery', () => {
      const query = "?filter=name%20LIKE%20'a%25'&max_results=5&page_token=a%2Fb%3D%3D&x=..%2F..";
      expect(decide('GET', `${API}/registered-models/search${query}`)).toEqual({
        ok: true,
        pathAndQuery: `/api/2.0/mlflow/registered-models/search${query}`,
        artifact: false,
      });
    });

    it('relays the path below a tracking URI with a path prefix unchanged, for the client to append', () => {
      expect(decide('GET', `${API}/registered-models/search`, 'read-only', 'http://h:5000/prefix')).toEqual({
        ok: true,
        pathAndQuery: '/api/2.0/mlflow/registered-models/search',
        artifact: false,
      });
    });
  });

  describe('methods', () => {
    it.each(['TRACE', 'PUT', 'OPTIONS', 'HEAD', 'CONNECT'])('refuses %s with METHOD_NOT_ALLOWED', (method) => {
      const decision = decide(method, `${API}/registered-models/search`, 'full');
      expect(decision).toMatchObject({ ok: false, code: 'METHOD_NOT_ALLOWED' });
      expect(refusalMessage(decision)).toContain(method);
    });

    it('refuses an artifact upload (PUT) with METHOD_NOT_ALLOWED even in full mode', () => {
      expect(decide('PUT', '/mlflow/api/2.0/mlflow-artifacts/artifacts/1/model.pkl', 'full')).toMatchObject({
        ok: false,
        code: 'METHOD_NOT_ALLOWED',
      });
    });
  });

  describe('modes', () => {
    it.each([
      ['GET', `${API}/registered-models/search`],
      ['POST', `${API}/registered-models/create`],
      ['DELETE', `${API}/registered-models/delete`],
    ])('refuses %s %s when MLFLOW_PROXY=off, naming the setting', (method, rawUrl) => {
      const decision = decide(method, rawUrl, 'off');
      expect(decision).toMatchObject({ ok: false, code: 'MLFLOW_PROXY_FORBIDDEN' });
      expect(refusalMessage(decision)).toContain('MLFLOW_PROXY=off');
    });

    it('allows a registered-model search in read-only mode', () => {
      expect(decide('GET', `${API}/registered-models/search?max_results=1`, 'read-only')).toMatchObject({ ok: true });
    });

    it('refuses a registered-model create in read-only mode, naming the mode and the request', () => {
      const decision = decide('POST', `${API}/registered-models/create`, 'read-only');
      expect(decision).toMatchObject({ ok: false, code: 'MLFLOW_PROXY_FORBIDDEN' });
      expect(refusalMessage(decision)).toContain(
        'MLFLOW_PROXY=read-only does not allow POST /api/2.0/mlflow/registered-models/create',
      );
    });

    it.each([
      ['POST', `${API}/registered-models/create`],
      ['PATCH', `${API}/registered-models/update`],
      ['POST', `${API}/registered-models/set-tag`],
      ['POST', `${API}/registered-models/alias`],
      ['POST', `${API}/model-versions/create`],
      ['PATCH', `${API}/model-versions/update`],
      ['POST', `${API}/model-versions/set-tag`],
      ['POST', `${API}/model-versions/transition-stage`],
      ['PATCH', `${API}/logged-models/m-123/tags`],
      ['GET', `${API}/registered-models/get?name=fraud`],
    ])('allows %s %s in registry mode', (method, rawUrl) => {
      const body = method === 'GET' ? undefined : json({ name: 'fraud' });
      expect(decideRequest(method, rawUrl, body)).toMatchObject({ ok: true });
    });

    it.each([
      ['DELETE', `${API}/registered-models/delete`],
      ['POST', `${API}/registered-models/rename`],
      ['DELETE', `${API}/registered-models/alias`],
      ['DELETE', `${API}/model-versions/delete`],
      ['POST', `${API}/experiments/delete`],
      ['POST', `${API}/runs/create`],
      ['GET', `${API}/registered-models/search/`],
      // Finalizes a logged model (its status): only its tags are the registry's to write.
      ['PATCH', `${API}/logged-models/m-123`],
      ['PATCH', `${API}/logged-models/m-123/tags/extra`],
      // A prefix entry needs something below it.
      ['GET', `${API}/logged-models/`],
    ])('refuses %s %s in registry mode', (method, rawUrl) => {
      expect(decide(method, rawUrl, 'registry')).toMatchObject({ ok: false, code: 'MLFLOW_PROXY_FORBIDDEN' });
    });

    it('allows a delete in full mode', () => {
      expect(decide('DELETE', `${API}/registered-models/delete`, 'full')).toEqual({
        ok: true,
        pathAndQuery: '/api/2.0/mlflow/registered-models/delete',
        artifact: false,
      });
    });

    it('still confines the path in full mode', () => {
      expect(decide('DELETE', '/mlflow/api/%2e%2e/%2e%2e/admin', 'full')).toMatchObject({
        ok: false,
        code: 'BAD_REQUEST',
      });
    });
  });

  describe('query and search filters', () => {
    it('refuses a query string that is not valid percent-encoding, in every mode', () => {
      for (const mode of ['read-only', 'registry', 'full'] as const) {
        expect(decide('GET', `${API}/registered-models/get?name=%ZZ`, mode)).toMatchObject({
          ok: false,
          code: 'BAD_REQUEST',
        });
      }
    });

    function decideWithBody(rawUrl: string, body: unknown, mode: ProxyMode = 'read-only') {
      return decideProxyRequest({
        mode,
        method: 'POST',
        rawUrl,
        routePrefix: MLFLOW_PROXY_PREFIX,
        trackingUri: TRACKING_URI,
        body: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)),
        access: 'write',
      });
    }

    it('refuses a search whose filter is longer than MAX_FILTER_LENGTH, in the query or in the body', () => {
      const long = `metrics.a > 1${' AND metrics.a > 1'.repeat(60)}`;
      expect(long.length).toBeGreaterThan(MAX_FILTER_LENGTH);
      const inQuery = decide('GET', `${API}/model-versions/search?filter=${encodeURIComponent(long)}`, 'read-only');
      expect(refusalMessage(inQuery)).toContain(`at most ${MAX_FILTER_LENGTH}`);
      for (const path of ['runs/search', 'experiments/search', 'logged-models/search']) {
        expect(decideWithBody(`${API}/${path}`, { experiment_ids: ['0'], filter: long }, 'full')).toMatchObject({
          ok: false,
          code: 'BAD_REQUEST',
        });
      }
    });

    it('relays a search whose filter is at most MAX_FILTER_LENGTH, and one without a body', () => {
      const longest = 'a'.repeat(MAX_FILTER_LENGTH);
      expect(decideWithBody(`${API}/runs/search`, { experiment_ids: ['0'], filter: longest })).toMatchObject({
        ok: true,
      });
      expect(decide('POST', `${API}/runs/search`, 'read-only')).toMatchObject({ ok: true });
      expect(decide('GET', `${API}/registered-models/search?filter=${longest}`)).toMatchObject({ ok: true });
    });

    const long = 'metrics.a > 1 AND '.repeat(80);
    function decideWithBytes(bytes: Uint8Array) {
      return decideProxyRequest({
        mode: 'read-only',
        method: 'POST',
        rawUrl: `${API}/runs/search`,
        routePrefix: MLFLOW_PROXY_PREFIX,
        trackingUri: TRACKING_URI,
        body: bytes,
        access: 'write',
      });
    }

    it.each([
      ['text that is not JSON', new TextEncoder().encode('not json')],
      [
        'JSON with NaN, which MLflow reads and JSON.parse does not',
        new TextEncoder().encode(`{"filter": "${long}", "x": NaN}`),
      ],
      ['UTF-16 JSON, which MLflow reads', new Uint8Array(Buffer.from(JSON.stringify({ filter: long }), 'utf16le'))],
      ['a JSON array', new TextEncoder().encode(JSON.stringify([{ filter: long }]))],
      ['JSON null', new TextEncoder().encode('null')],
      ['a JSON number', new TextEncoder().encode('5')],
    ])('refuses a search body that is %s, instead of passing its filter on unread', (_what, bytes) => {
      expect(refusalMessage(decideWithBytes(bytes))).toContain('must be a JSON object in UTF-8');
    });

    it('reads a body sent as a JSON string holding the object, as MLflow does for older clients', () => {
      const doubleEncoded = new TextEncoder().encode(JSON.stringify(JSON.stringify({ filter: long })));
      expect(refusalMessage(decideWithBytes(doubleEncoded))).toContain(`at most ${MAX_FILTER_LENGTH}`);
    });

    it('holds the same limits on the /ajax-api/ paths MLflow also serves, in full mode', () => {
      const ajax = decideWithBody('/mlflow/ajax-api/2.0/mlflow/runs/search', { filter: long }, 'full');
      expect(refusalMessage(ajax)).toContain(`at most ${MAX_FILTER_LENGTH}`);
      expect(decide('GET', '/mlflow/ajax-api/2.0/mlflow-artifacts/artifacts/1/model.pkl', 'full')).toMatchObject({
        ok: true,
        artifact: true,
      });
      expect(decide('GET', '/mlflow/ajax-api/2.0/mlflow/registered-models/search', 'read-only')).toMatchObject({
        ok: false,
        code: 'MLFLOW_PROXY_FORBIDDEN',
      });
    });
  });

  describe('filters of every request', () => {
    const long = `tag.k = 'v'${" AND tag.k = 'v'".repeat(80)}`;
    const API_3 = '/mlflow/api/3.0/mlflow';
    function decideWith(
      method: string,
      rawUrl: string,
      body?: Uint8Array,
      contentType = 'application/json',
      mode: ProxyMode = 'full',
    ) {
      return decideRequest(method, rawUrl, body, { mode, contentType });
    }

    it.each([
      `${API_3}/traces/search`,
      '/mlflow/ajax-api/3.0/mlflow/traces/search',
      `${API_3}/traces/metrics`,
      `${API_3}/traces/calculate-filter-correlation`,
      `${API_3}/datasets/search`,
      `${API_3}/issues/search`,
    ])('refuses a body of POST %s that MLflow reads and JSON.parse does not (NaN), in full mode', (path) => {
      const bytes = new TextEncoder().encode(`{"filter": "${long}", "x": NaN}`);
      expect(refusalMessage(decideWith('POST', path, bytes, 'text/plain'))).toContain('must be a JSON object in UTF-8');
    });

    it.each(['filter', 'filter_string', 'filter_string1', 'filter_string2', 'base_filter'])(
      'refuses a JSON body whose %s is over MAX_FILTER_LENGTH, on any endpoint',
      (field) => {
        const decision = decideWith('POST', `${API_3}/some-future/search`, json({ [field]: long }));
        expect(refusalMessage(decision)).toContain(`at most ${MAX_FILTER_LENGTH}`);
      },
    );

    // MLflow's protobuf parser reads a field by its JSON name as well: an audit passed a 9.6 KB baseFilter.
    it.each(['filterString', 'filterString1', 'filterString2', 'baseFilter'])(
      'refuses a long filter given by its JSON name %s, in the body or in the query, as MLflow reads it too',
      (field) => {
        const inBody = decideWith('POST', `${API_3}/traces/calculate-filter-correlation`, json({ [field]: long }));
        expect(refusalMessage(inBody)).toContain(`at most ${MAX_FILTER_LENGTH}`);
        const inQuery = decideWith('GET', `${API_3}/datasets/search?${field}=${encodeURIComponent(long)}`);
        expect(refusalMessage(inQuery)).toContain(`at most ${MAX_FILTER_LENGTH}`);
      },
    );

    it('refuses a JSON body whose filters list holds one over MAX_FILTER_LENGTH', () => {
      const decision = decideWith('POST', `${API_3}/traces/metrics`, json({ filters: ['a = 1', long] }));
      expect(refusalMessage(decision)).toContain(`at most ${MAX_FILTER_LENGTH}`);
    });

    it.each(['PATCH', 'DELETE'])(
      'reads the body of a %s whatever its content type, as MLflow does, and refuses a long filter in it',
      (method) => {
        const decision = decideWith(method, `${API}/experiments/whatever`, json({ filter: long }), 'text/plain');
        expect(refusalMessage(decision)).toContain(`at most ${MAX_FILTER_LENGTH}`);
      },
    );

    it.each(['PATCH', 'DELETE'])(
      'refuses a %s body that is not UTF-8 JSON instead of passing it on unread',
      (method) => {
        const utf16 = new Uint8Array(Buffer.from(JSON.stringify({ filter: long }), 'utf16le'));
        expect(refusalMessage(decideWith(method, `${API}/experiments/whatever`, utf16))).toContain(
          'must be a JSON object in UTF-8',
        );
      },
    );

    it.each([
      `${API}/traces?filter=${encodeURIComponent(long)}`,
      `${API_3}/datasets/search?filter_string=${encodeURIComponent(long)}`,
      `${API}/anything?filters=a&filters=${encodeURIComponent(long)}`,
    ])('refuses GET %s, whose query holds a filter over MAX_FILTER_LENGTH', (rawUrl) => {
      expect(refusalMessage(decideWith('GET', rawUrl))).toContain(`at most ${MAX_FILTER_LENGTH}`);
    });

    it('relays a POST body of another content type unread (an artifact upload; MLflow refuses it elsewhere)', () => {
      const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0xff]);
      const upload = decideWith('POST', '/mlflow/ajax-api/2.0/mlflow/upload-artifact?path=a.png', bytes, 'image/png');
      expect(upload).toMatchObject({ ok: true });
    });

    it('refuses a POST body declared JSON that is not, on any endpoint', () => {
      const bytes = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0xff]);
      expect(refusalMessage(decideWith('POST', `${API}/anything`, bytes, 'application/json; charset=utf-8'))).toContain(
        'must be a JSON object in UTF-8',
      );
    });

    it('relays filters of at most MAX_FILTER_LENGTH and a filters field that is no list', () => {
      const longest = 'a'.repeat(MAX_FILTER_LENGTH);
      expect(decideWith('POST', `${API_3}/traces/search`, json({ filter: longest }))).toMatchObject({ ok: true });
      expect(decideWith('POST', `${API_3}/traces/metrics`, json({ filters: 'not a list' }))).toMatchObject({
        ok: true,
      });
    });

    it('never allows the other searches in the restricted modes', () => {
      for (const mode of ['read-only', 'registry'] as const) {
        expect(decideWith('POST', `${API_3}/traces/search`, json({}), 'application/json', mode)).toMatchObject({
          ok: false,
          code: 'MLFLOW_PROXY_FORBIDDEN',
        });
      }
    });

    it('refuses a long filter in the body of a registry write in registry mode too', () => {
      const decision = decideWith(
        'PATCH',
        `${API}/registered-models/update`,
        json({ name: 'm', filter: long }),
        'application/json',
        'registry',
      );
      expect(refusalMessage(decision)).toContain(`at most ${MAX_FILTER_LENGTH}`);
    });
  });

  describe('nesting of JSON bodies', () => {
    const deep = (levels: number) => `${'['.repeat(levels)}${']'.repeat(levels)}`;
    const bytes = (text: string) => new TextEncoder().encode(text);

    it('refuses a search body nested more than MAX_JSON_DEPTH levels, also inside a JSON string', () => {
      const body = `{"experiment_ids":["0"],"x":${deep(MAX_JSON_DEPTH + 1)}}`;
      const direct = decideRequest('POST', `${API}/runs/search`, bytes(body));
      expect(direct).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
      expect(refusalMessage(direct)).toContain(`more than ${MAX_JSON_DEPTH} levels deep`);
      const wrapped = decideRequest('POST', `${API}/runs/search`, bytes(JSON.stringify(body)));
      expect(refusalMessage(wrapped)).toContain(`more than ${MAX_JSON_DEPTH} levels deep`);
    });

    it('relays a search body nested MAX_JSON_DEPTH levels', () => {
      const body = `{"x":${deep(MAX_JSON_DEPTH - 1)}}`;
      expect(decideRequest('POST', `${API}/runs/search`, bytes(body))).toMatchObject({ ok: true });
    });
  });

  describe("MLflow's column lengths", () => {
    it('holds every spelling MLflow reads (runLink, new_name) and only on registry endpoints', () => {
      const long = `s3://m/${'d'.repeat(600)}`;
      const runLink = decideRequest(
        'POST',
        `${API}/model-versions/create`,
        json({ name: 'm', source: 's3://m/1', runLink: long }),
      );
      expect(runLink).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
      const rename = decideRequest(
        'POST',
        `${API}/registered-models/rename`,
        json({ name: 'm', new_name: 'n'.repeat(257) }),
        {
          mode: 'full',
        },
      );
      expect(rename).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
      // A dataset's `source` is a serialized source of another column: not held.
      const dataset = decideRequest(
        'POST',
        '/mlflow/api/3.0/mlflow/datasets/create',
        json({ name: 'd', source: long }),
        {
          mode: 'full',
        },
      );
      expect(dataset.ok).toBe(true);
    });

    it.each([
      ['description', 'registered-models/create', 5000],
      ['description', 'model-versions/update', 5000],
      ['source', 'model-versions/create', 500],
      ['run_link', 'model-versions/create', 500],
      ['run_id', 'model-versions/create', 32],
      ['runId', 'model-versions/create', 32],
      ['name', 'registered-models/create', 256],
    ] as const)('refuses a %s longer than MLflow stores on %s, which SQLite would keep whole', (field, path, max) => {
      const method = path.endsWith('update') ? 'PATCH' : 'POST';
      // A source of `length` characters that is no local path (those are refused anyway).
      const value = (length: number) => `s3://m/${'d'.repeat(length - 7)}`;
      const body = { name: 'm', version: '1', source: 's3://m/1', [field]: value(max + 1) };
      const decision = decideRequest(method, `${API}/${path}`, json(body));
      expect(decision).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
      expect(refusalMessage(decision)).toContain(`has ${max + 1} characters`);
      expect(decideRequest(method, `${API}/${path}`, json({ ...body, [field]: value(max) })).ok).toBe(true);
    });
  });

  describe('read-only keys', () => {
    const asReader = (method: string, rawUrl: string, mode: ProxyMode, body?: unknown) =>
      decideRequest(method, rawUrl, body === undefined ? undefined : json(body), { mode, access: 'read' });

    it.each([
      ['a write through /ajax-api/', 'POST', '/mlflow/ajax-api/2.0/mlflow/registered-models/set-tag'],
      ['a run it creates', 'POST', `${API}/runs/create`],
      ['a GET the pass-through does not list', 'GET', `${API}/metrics/get-history-bulk-interval`],
      ['a deletion', 'DELETE', `${API}/registered-models/delete`],
    ])('refuses %s in full mode, before reading the body', (_what, method, rawUrl) => {
      expect(asReader(method, rawUrl, 'full')).toMatchObject({ ok: false, code: 'API_KEY_READ_ONLY' });
    });

    it('relays the listed reads in every mode that has them, and the other searches in full mode', () => {
      for (const mode of ['read-only', 'registry', 'full'] as const) {
        expect(asReader('GET', `${API}/registered-models/get?name=m`, mode)).toMatchObject({ ok: true });
        expect(asReader('POST', `${API}/runs/search`, mode, {})).toMatchObject({ ok: true });
      }
      expect(asReader('POST', '/mlflow/ajax-api/3.0/mlflow/traces/search', 'full', {})).toMatchObject({ ok: true });
    });

    it("names the mode's refusal first where the mode allows nothing of the kind", () => {
      expect(asReader('POST', `${API}/registered-models/create`, 'read-only', {})).toMatchObject({
        code: 'MLFLOW_PROXY_FORBIDDEN',
      });
    });
  });

  describe('sort clauses (order_by)', () => {
    const clauses = (count: number) => Array.from({ length: count }, (_, i) => `metrics.m${i} DESC`);
    const refusal = (decision: ProxyDecision) => {
      expect(decision).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
      return refusalMessage(decision);
    };

    it('relays a run search of MAX_ORDER_BY_CLAUSES sort clauses, in the body or the query', () => {
      const inBody = decideRequest('POST', `${API}/runs/search`, json({ order_by: clauses(MAX_ORDER_BY_CLAUSES) }));
      expect(inBody).toMatchObject({ ok: true });
      const query = clauses(MAX_ORDER_BY_CLAUSES).map((clause) => `order_by=${encodeURIComponent(clause)}`);
      expect(decide('GET', `${API}/registered-models/search?${query.join('&')}`)).toMatchObject({ ok: true });
    });

    // An audit's run search with 70 clauses on metrics made MLflow give up on its SQL statement.
    it.each([
      ['order_by in the body', (n: number) => json({ order_by: clauses(n) })],
      ['orderBy, its JSON name, in the body', (n: number) => json({ orderBy: clauses(n) })],
    ])('refuses a run search with one clause more than MAX_ORDER_BY_CLAUSES: %s', (_where, body) => {
      const decision = decideRequest('POST', `${API}/runs/search`, body(MAX_ORDER_BY_CLAUSES + 1));
      expect(refusal(decision)).toContain(`at most ${MAX_ORDER_BY_CLAUSES}`);
    });

    // MLflow's query-string parser reads `order_by[0]=...` as a list too.
    it.each([
      ['order_by[i]', (i: number) => `order_by[${i}]`],
      ['order_by%5Bi%5D', (i: number) => `order_by%5B${i}%5D`],
      ['orderBy[i]', (i: number) => `orderBy[${i}]`],
    ])('counts clauses given in the query as %s', (_spelling, name) => {
      const query = clauses(MAX_ORDER_BY_CLAUSES + 1).map((clause, i) => `${name(i)}=${encodeURIComponent(clause)}`);
      expect(refusal(decide('GET', `${API}/model-versions/search?${query.join('&')}`))).toContain(
        `has ${MAX_ORDER_BY_CLAUSES + 1} clauses`,
      );
    });

    it('counts the sort objects of a logged-model search and holds each, as JSON, to MAX_ORDER_BY_LENGTH', () => {
      const objects = (count: number, name = 'metrics.m') =>
        Array.from({ length: count }, (_, i) => ({ field_name: `${name}${i}`, ascending: false }));
      const path = `${API}/logged-models/search`;
      expect(decideRequest('POST', path, json({ order_by: objects(MAX_ORDER_BY_CLAUSES) }))).toMatchObject({
        ok: true,
      });
      expect(refusal(decideRequest('POST', path, json({ order_by: objects(MAX_ORDER_BY_CLAUSES + 1) })))).toContain(
        `has ${MAX_ORDER_BY_CLAUSES + 1} clauses`,
      );
      const long = decideRequest('POST', path, json({ order_by: objects(1, 'x'.repeat(MAX_ORDER_BY_LENGTH)) }));
      expect(refusal(long)).toContain(`at most ${MAX_ORDER_BY_LENGTH}`);
    });

    it('holds a sort clause to MAX_ORDER_BY_LENGTH characters', () => {
      const long = decide('GET', `${API}/model-versions/search?order_by=${'a'.repeat(MAX_ORDER_BY_LENGTH + 1)}`);
      expect(refusal(long)).toContain(`has ${MAX_ORDER_BY_LENGTH + 1} characters`);
    });

    it('answers a list of 200,000 empty clauses with the refusal, not an error', () => {
      const decision = decideRequest('POST', `${API}/runs/search`, json({ order_by: Array(200_000).fill('') }));
      expect(refusal(decision)).toContain('has 200000 clauses');
    });
  });

  describe('sources of model versions (MLFLOW_ALLOWED_SOURCES)', () => {
    const CREATE = '/mlflow/api/2.0/mlflow/model-versions/create';
    const allowedSources = ['s3://models/', 'models:/'];

    it('refuses a version whose source starts with no allowed prefix, in every mode that relays the create', () => {
      for (const mode of ['registry', 'full'] as const) {
        for (const url of [CREATE, CREATE.replace('/api/', '/ajax-api/')].slice(0, mode === 'full' ? 2 : 1)) {
          const decision = decideRequest('POST', url, json({ name: 'm', source: 's3://models-other/x' }), {
            mode,
            allowedSources,
          });
          expect(decision).toMatchObject({ ok: false, code: 'MODEL_SOURCE_NOT_ALLOWED' });
        }
      }
    });

    it('relays a version whose source starts with an allowed prefix, and any source when none are set', () => {
      const allowed = decideRequest('POST', CREATE, json({ name: 'm', source: 'models:/m-123' }), { allowedSources });
      expect(allowed.ok).toBe(true);
      const unset = decideRequest('POST', CREATE, json({ name: 'm', source: 'gs://anywhere/x' }));
      expect(unset.ok).toBe(true);
    });

    it.each([
      ['a dot-dot segment', 's3://models/../other-bucket/x'],
      ['a dot-dot segment at the end', 's3://models/a/..'],
      ['a dot segment', 's3://models/./x'],
      ['an encoded dot-dot segment', 's3://models/%2E%2e/other/x'],
      ['a half-encoded dot-dot segment behind an encoded slash', 's3://models/a%2f.%2e%2Fx'],
      ['a backslash', 's3://models/a\\..\\x'],
      ['an encoded backslash', 's3://models/a%5Cx'],
      ['a dot-dot segment split by a tab, which URL parsers delete', 's3://models/.\t./other/x'],
      ['a line feed', 's3://models/a\nb'],
      ['a doubly encoded dot-dot segment', 's3://models/%252e%252e/other/x'],
      ['a dot-dot segment before an encoded question mark', 's3://models/..%3fx'],
      ['an encoded dot-dot segment after an escape that is none', 's3://models/100%/..%2fx'],
    ])('refuses a source within a prefix that holds %s, which could lead out of it', (_what, source) => {
      const decision = decideRequest('POST', CREATE, json({ name: 'm', source }), { allowedSources });
      expect(decision).toMatchObject({ ok: false, code: 'MODEL_SOURCE_NOT_ALLOWED' });
      expect(refusalMessage(decision)).toContain('could lead out of its prefix');
    });

    it('relays dots that are no segment of their own', () => {
      for (const source of ['s3://models/a..b/c', 's3://models/.hidden/x', 's3://models/v1.0/...x']) {
        expect(decideRequest('POST', CREATE, json({ name: 'm', source }), { allowedSources }).ok).toBe(true);
      }
    });

    const promptTags = [{ key: 'mlflow.prompt.is_prompt', value: 'true' }];

    it("takes MLflow's placeholder source for a prompt version, with or without prefixes, and only for one", () => {
      const prompt = { name: 'p', source: 'dummy-source', tags: promptTags };
      expect(decideRequest('POST', CREATE, json(prompt)).ok).toBe(true);
      expect(decideRequest('POST', CREATE, json(prompt), { allowedSources }).ok).toBe(true);
      const notAPrompt = decideRequest('POST', CREATE, json({ name: 'p', source: 'dummy-source' }));
      expect(notAPrompt).toMatchObject({ ok: false, code: 'MODEL_SOURCE_NOT_ALLOWED' });
    });

    it("refuses a path on MLflow's host without prefixes, prompts included, and one that leaves its prefix", () => {
      for (const source of ['/proc/1/cwd', 'file:///etc/', 'mlflow-artifacts:/../../../etc']) {
        const decision = decideRequest('POST', CREATE, json({ name: 'p', source, tags: promptTags }));
        expect(decision, source).toMatchObject({ ok: false, code: 'MODEL_SOURCE_NOT_ALLOWED' });
      }
      expect(decideRequest('POST', CREATE, json({ name: 'p', source: 's3://anywhere/x' })).ok).toBe(true);
    });

    it('holds a local path to an absolute path prefix', () => {
      const local = { allowedSources: ['/data/mlruns/'] };
      expect(decideRequest('POST', CREATE, json({ name: 'm', source: '/data/mlruns/1/a/model' }), local).ok).toBe(true);
      expect(decideRequest('POST', CREATE, json({ name: 'm', source: '/data/other/model' }), local).ok).toBe(false);
    });

    it("leaves a source that is not a string to MLflow, which refuses it, and checks no other write's fields", () => {
      expect(decideRequest('POST', CREATE, json({ name: 'm', source: 7 }), { allowedSources }).ok).toBe(true);
      const model = decideRequest(
        'POST',
        '/mlflow/api/2.0/mlflow/registered-models/create',
        json({ name: 'm', source: 'gs://x/' }),
        { allowedSources },
      );
      expect(model.ok).toBe(true);
    });
  });

  describe('writes that store tags or aliases', () => {
    function decideWrite(method: string, path: string, body?: Uint8Array, contentType = 'application/json') {
      return decideRequest(method, `${API}/${path}`, body, { contentType });
    }
    const stores = (decision: ProxyDecision) => {
      if (!decision.ok) throw new Error(`expected the write to be relayed, got ${decision.message}`);
      return decision.entryWrite;
    };

    it('measures a tag on a model version in UTF-8 bytes of its key and value, and names the version', () => {
      const decision = decideWrite(
        'POST',
        'model-versions/set-tag',
        json({ name: 'm', version: '3', key: 'k', value: 'ü'.repeat(10) }),
      );
      expect(stores(decision)).toEqual({
        entry: { kind: 'version', name: 'm', version: '3' },
        bytes: 21,
        tagKeys: ['k'],
      });
    });

    it('refuses a version sent as a JSON number, which MLflow does not read as text', () => {
      const decision = decideWrite(
        'POST',
        'model-versions/set-tag',
        json({ name: 'm', version: 3, key: 'k', value: '' }),
      );
      expect(refusalMessage(decision)).toContain('must be JSON strings');
    });

    it.each([
      [
        'a model name longer than 256 characters',
        'registered-models/set-tag',
        { name: 'm'.repeat(257), key: 'k', value: 'v' },
      ],
      ['a model name with a control character', 'registered-models/alias', { name: 'a\nb', alias: 'x', version: '1' }],
      [
        'a version that is not a whole number',
        'model-versions/set-tag',
        { name: 'm', version: '1.5', key: 'k', value: 'v' },
      ],
      [
        'a version above what MLflow stores',
        'model-versions/set-tag',
        { name: 'm', version: '99999999999', key: 'k', value: 'v' },
      ],
    ])('refuses a write naming %s before the service reads anything', (_what, path, body) => {
      const decision = decideWrite('POST', path, json(body));
      expect(decision).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
      expect(refusalMessage(decision)).toMatch(/is not valid|at most 256/);
    });

    it('refuses tags on a logged model id MLflow never gives', () => {
      const decision = decideWrite('PATCH', `logged-models/${'x'.repeat(65)}/tags`, json({ tags: [] }));
      expect(refusalMessage(decision)).toContain('not one MLflow gives');
    });

    it('measures a tag on a registered model and an alias, naming the alias it replaces', () => {
      expect(
        stores(decideWrite('POST', 'registered-models/set-tag', json({ name: 'm', key: 'ab', value: 'cd' }))),
      ).toEqual({ entry: { kind: 'model', name: 'm' }, bytes: 4, tagKeys: ['ab'] });
      expect(
        stores(decideWrite('POST', 'registered-models/alias', json({ name: 'm', alias: 'champion', version: '12' }))),
      ).toEqual({ entry: { kind: 'model', name: 'm' }, bytes: 10, tagKeys: [], alias: 'champion' });
    });

    it.each(['registered-models/create', 'model-versions/create'])(
      'measures the tags of POST %s with no entry to read (it is new)',
      (path) => {
        const body = json({ name: 'm', source: 's3://b/m', tags: [{ key: 'a', value: 'bb' }, { key: 'c' }] });
        expect(stores(decideWrite('POST', path, body))).toEqual({ bytes: 4, tagKeys: [] });
      },
    );

    it('measures a create without tags as storing nothing', () => {
      expect(stores(decideWrite('POST', 'registered-models/create', json({ name: 'm' })))).toEqual({
        bytes: 0,
        tagKeys: [],
      });
    });

    it('measures a tag without a value by its key alone', () => {
      expect(stores(decideWrite('POST', 'registered-models/set-tag', json({ name: 'm', key: 'abc' })))?.bytes).toBe(3);
    });

    it('measures the tags of a logged model, taking its id from the path', () => {
      const decision = decideWrite('PATCH', 'logged-models/m-123/tags', json({ tags: [{ key: 'k', value: 'v' }] }));
      expect(stores(decision)).toEqual({ entry: { kind: 'logged-model', id: 'm-123' }, bytes: 2, tagKeys: ['k'] });
    });

    it('names no entry to read when the write leaves its name empty (MLflow refuses it)', () => {
      expect(stores(decideWrite('POST', 'registered-models/set-tag', json({ key: 'k', value: 'v' })))).toEqual({
        bytes: 2,
        tagKeys: ['k'],
      });
    });

    it('reads the body of such a write whatever its declared content type', () => {
      const decision = decideWrite(
        'POST',
        'registered-models/set-tag',
        json({ name: 'm', key: 'k', value: 'v' }),
        'text/plain',
      );
      expect(stores(decision)?.bytes).toBe(2);
    });

    it.each([
      ['no body', undefined],
      ['a body that is not JSON', new TextEncoder().encode('name=m&key=k')],
      ['a tag value that is an object', json({ name: 'm', key: 'k', value: { nested: 'x'.repeat(10) } })],
      ['a tag key that is a list', json({ name: 'm', key: ['k'], value: 'v' })],
    ])('refuses a tag write with %s', (_what, body) => {
      expect(decideWrite('POST', 'registered-models/set-tag', body)).toMatchObject({ ok: false, code: 'BAD_REQUEST' });
    });

    it.each([
      ['tags that are no list', { name: 'm', tags: { key: 'k' } }],
      ['a tag that is no object', { name: 'm', tags: ['k'] }],
      ['a tag value that is a boolean', { name: 'm', tags: [{ key: 'k', value: true }] }],
    ])('refuses a create with %s', (_what, body) => {
      expect(decideWrite('POST', 'registered-models/create', json(body))).toMatchObject({
        ok: false,
        code: 'BAD_REQUEST',
      });
    });

    it('refuses an alias whose version is no text, and a version tag without a version', () => {
      expect(
        decideWrite('POST', 'registered-models/alias', json({ name: 'm', alias: 'a', version: [1] })),
      ).toMatchObject({
        ok: false,
      });
      expect(
        decideWrite('POST', 'model-versions/set-tag', json({ name: 'm', version: {}, key: 'k', value: 'v' })),
      ).toMatchObject({ ok: false });
    });

    it('marks no other write or read as storing', () => {
      expect(
        stores(decideWrite('PATCH', 'registered-models/update', json({ name: 'm', description: 'd' }))),
      ).toBeUndefined();
      expect(stores(decideWrite('GET', 'registered-models/get?name=m'))).toBeUndefined();
    });
  });

  describe('artifact endpoints', () => {
    it.each([
      '/mlflow/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model.pkl',
      '/mlflow/get-artifact?path=model.pkl&run_uuid=abc',
      '/mlflow/model-versions/get-artifact?path=MLmodel&name=fraud&version=1',
    ])('flags the artifact download %s as artifact', (rawUrl) => {
      expect(decide('GET', rawUrl, 'read-only')).toMatchObject({ ok: true, artifact: true });
    });

    it('does not flag the artifact listing or an API call as artifact', () => {
      expect(decide('GET', '/mlflow/api/2.0/mlflow-artifacts/artifacts?path=1', 'read-only')).toMatchObject({
        ok: true,
        artifact: false,
      });
      expect(decide('GET', `${API}/artifacts/list?run_id=abc`, 'read-only')).toMatchObject({
        ok: true,
        artifact: false,
      });
    });
  });
});
