import { Readable } from 'node:stream';
import { buildApp, PROXY_METHODS } from '@registry/service';
import { describe, expect, it, vi } from 'vitest';
import { ADMIN_AUTH, buildTestApp, testConfig } from './support/fakes.js';
import { createCapturingLogger } from './support/logs.js';

const SEARCH = '/mlflow/api/2.0/mlflow/registered-models/search';

/** The app with the real MLflow client over a stub fetch, so tests see exactly what reaches MLflow. */
function appOverFetch(env: Record<string, string>, respond: (url: string, init: RequestInit) => Promise<Response>) {
  const fetch = vi.fn(respond);
  const app = buildApp({ config: testConfig(env), fetch: fetch as typeof globalThis.fetch });
  const upstream = (index = 0) => {
    const call = fetch.mock.calls[index];
    if (!call) throw new Error(`fetch was not called ${index + 1} time(s)`);
    return { url: call[0], headers: new Headers(call[1].headers), init: call[1] };
  };
  return { app, fetch, upstream };
}

async function breakerReport(app: ReturnType<typeof buildApp>) {
  return (await app.inject('/health?detailed=true')).json().details.circuit_breaker;
}

describe('MLflow pass-through', () => {
  it("never hands the client's credentials to the MLflow client's forward", async () => {
    const { app, mlflow } = buildTestApp({ env: { API_KEYS: 'client-key-123' } });
    await app.inject({
      url: '/mlflow/api/2.0/mlflow/registered-models/search',
      headers: { authorization: 'Bearer client-key-123', cookie: 'session=abc', 'x-api-key': 'client-key-123' },
    });
    const forwarded = mlflow.forwarded()[0]?.headers;
    expect(forwarded).toBeDefined();
    expect(forwarded).not.toHaveProperty('authorization');
    expect(forwarded).not.toHaveProperty('cookie');
    expect(forwarded).not.toHaveProperty('x-api-key');
  });

  describe('refusals', () => {
    it.each([
      ['an encoded slash', '/mlflow/api/2.0/mlflow/%2fregistered-models/search'],
      ['an encoded backslash', '/mlflow/api/2.0/mlflow/%5cregistered-models/search'],
      ['an empty segment', '/mlflow/api/2.0//mlflow/registered-models/search'],
      ['bad percent-encoding', '/mlflow/api/2.0/mlflow/%zz'],
    ])('answers %s with a catalogue 400 carrying the request id, without calling MLflow', async (_what, url) => {
      const { app, mlflow } = buildTestApp();
      const response = await app.inject({ url, headers: { 'x-request-id': 'trace-proxy-1' } });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'BAD_REQUEST', requestId: 'trace-proxy-1' });
      expect(mlflow.forwarded()).toEqual([]);
    });

    it('answers 403 MLFLOW_PROXY_FORBIDDEN with the request id when MLFLOW_PROXY=off', async () => {
      const { app, mlflow } = buildTestApp({ env: { MLFLOW_PROXY: 'off' } });
      const response = await app.inject(SEARCH);
      expect(response.statusCode).toBe(403);
      expect(response.json()).toMatchObject({
        code: 'MLFLOW_PROXY_FORBIDDEN',
        message: expect.stringContaining('MLFLOW_PROXY=off'),
        requestId: response.headers['x-request-id'],
      });
      expect(mlflow.forwarded()).toEqual([]);
    });

    it('answers 403 for a delete in the default registry mode', async () => {
      const { app, mlflow } = buildTestApp();
      const response = await app.inject({ method: 'DELETE', url: '/mlflow/api/2.0/mlflow/registered-models/delete' });
      expect(response.statusCode).toBe(403);
      expect(response.json().code).toBe('MLFLOW_PROXY_FORBIDDEN');
      expect(mlflow.forwarded()).toEqual([]);
    });

    it.each(['PUT', 'OPTIONS', 'TRACE'] as const)('answers %s with 405 and an Allow header', async (method) => {
      const { app, mlflow } = buildTestApp();
      const response = await app.inject({ method, url: '/mlflow/api/2.0/mlflow-artifacts/artifacts/1/model.pkl' });
      expect(response.statusCode).toBe(405);
      expect(response.headers.allow).toBe('GET, POST, PATCH, DELETE');
      expect(response.headers.allow).toBe(PROXY_METHODS.join(', '));
      expect(response.json()).toMatchObject({ code: 'METHOD_NOT_ALLOWED', requestId: expect.any(String) });
      expect(mlflow.forwarded()).toEqual([]);
    });

    it('refuses while the breaker is open without calling MLflow', async () => {
      const { app, mlflow } = buildTestApp();
      await app.inject({ method: 'POST', url: '/health/mlflow/open', headers: ADMIN_AUTH });
      const response = await app.inject(SEARCH);
      expect(response.statusCode).toBe(503);
      expect(response.json().code).toBe('MLFLOW_CIRCUIT_OPEN');
      expect(response.headers['retry-after']).toBe('30');
      expect(mlflow.forwarded()).toEqual([]);
    });
  });

  describe('what reaches MLflow', () => {
    it('flags artifact downloads so their bodies are not cut by the request timeout', async () => {
      const { app, mlflow } = buildTestApp();
      await app.inject('/mlflow/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model.pkl');
      await app.inject(SEARCH);
      expect(mlflow.forwarded().map((request) => request.untimedBody)).toEqual([true, false]);
    });

    it("sends the service's MLFLOW_TRACKING_TOKEN upstream, never the client's credentials", async () => {
      const { app, upstream } = appOverFetch(
        { MLFLOW_TRACKING_TOKEN: 'service-token-42', API_KEYS: 'client-key-123' },
        async () => Response.json({ registered_models: [] }),
      );
      const response = await app.inject({
        url: `${SEARCH}?max_results=1`,
        headers: { authorization: 'Bearer client-key-123', cookie: 'session=abc', 'x-forwarded-for': '10.9.9.9' },
      });
      expect(response.statusCode).toBe(200);
      const { headers } = upstream();
      expect(headers.get('authorization')).toBe('Bearer service-token-42');
      expect(headers.has('cookie')).toBe(false);
      expect(headers.has('x-forwarded-for')).toBe(false);
    });

    it('sends no Authorization upstream when the service has no MLflow credentials, even if the client sent one', async () => {
      const { app, upstream } = appOverFetch({}, async () => Response.json({ registered_models: [] }));
      await app.inject({ url: SEARCH, headers: { authorization: 'Bearer client-secret', 'x-api-key': 'k-1234567' } });
      const { headers } = upstream();
      expect(headers.has('authorization')).toBe(false);
      expect(headers.has('x-api-key')).toBe(false);
    });

    it('relays the body and content type of a write as sent', async () => {
      const { app, upstream } = appOverFetch({}, async () => Response.json({ registered_model: { name: 'm' } }));
      const payload = '{"name":"m","tags":[{"key":"k","value":"ü"}]}';
      await app.inject({
        method: 'POST',
        url: '/mlflow/api/2.0/mlflow/registered-models/create',
        headers: { 'content-type': 'application/json' },
        payload,
      });
      const { init, headers } = upstream();
      expect(init.method).toBe('POST');
      expect(headers.get('content-type')).toBe('application/json');
      expect(new TextDecoder().decode(init.body as Uint8Array)).toBe(payload);
    });

    it('keeps the path prefix of the tracking URI and the query string verbatim', async () => {
      const { app, upstream } = appOverFetch({ MLFLOW_TRACKING_URI: 'http://mlflow.test:5000/prefix/' }, async () =>
        Response.json({ registered_models: [] }),
      );
      const query = '?filter=name%20LIKE%20%27a%25%27&max_results=5&page_token=a%2Fb%3D';
      await app.inject(`${SEARCH}${query}`);
      expect(upstream().url).toBe(`http://mlflow.test:5000/prefix/api/2.0/mlflow/registered-models/search${query}`);
    });

    it('answers 400 BAD_REQUEST without calling MLflow for a request fetch refuses to build', async () => {
      const { app, fetch } = appOverFetch({}, async () => Response.json({}));
      const response = await app.inject({ url: SEARCH, headers: { 'user-agent': 'snow\u2603man' } });
      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('BAD_REQUEST');
      expect(fetch).not.toHaveBeenCalled();
    });
  });

  describe("MLflow's answers", () => {
    it("relays MLflow's status, body and security headers", async () => {
      const { app } = appOverFetch({}, async () =>
        Response.json(
          { error_code: 'RESOURCE_DOES_NOT_EXIST' },
          { status: 404, headers: { 'x-frame-options': 'DENY', 'set-cookie': 'upstream=1' } },
        ),
      );
      const response = await app.inject(`/mlflow/api/2.0/mlflow/registered-models/get?name=x`);
      expect(response.statusCode).toBe(404);
      expect(response.json()).toEqual({ error_code: 'RESOURCE_DOES_NOT_EXIST' });
      expect(response.headers['x-frame-options']).toBe('DENY');
      expect(response.headers['set-cookie']).toBeUndefined();
    });

    it('relays a 5xx answer to the client and never counts it against the breaker', async () => {
      const { app } = appOverFetch({}, async () => Response.json({ error_code: 'INTERNAL_ERROR' }, { status: 500 }));
      for (let i = 0; i < 5; i += 1) {
        const response = await app.inject(SEARCH);
        expect(response.statusCode).toBe(500);
        expect(response.json()).toMatchObject({
          error_code: 'INTERNAL_ERROR',
          message: expect.stringContaining('MLflow failed on this request (HTTP 500)'),
        });
      }
      expect(await breakerReport(app)).toMatchObject({ state: 'closed', failure_count: 0 });
    });

    it("keeps MLflow's inside out of a 5xx it relays: status, error_code and Retry-After reach the client, the SQL only the log", async () => {
      const { logger, lines } = createCapturingLogger();
      const statement = 'SELECT runs.run_uuid FROM runs JOIN latest_metrics ON ... [parameters: (secret-id,)]';
      const fetch = vi.fn(async () =>
        Response.json(
          { error_code: 'TEMPORARILY_UNAVAILABLE', message: `(sqlite3.OperationalError) ${statement}` },
          { status: 503, headers: { 'retry-after': '7', 'x-mlflow-internal': 'yes' } },
        ),
      );
      const app = buildApp({ config: testConfig({}), fetch: fetch as typeof globalThis.fetch, logger });
      const response = await app.inject({ url: SEARCH, headers: { 'x-request-id': 'req-5xx-1' } });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('7');
      expect(response.headers['x-mlflow-internal']).toBeUndefined();
      expect(response.json()).toEqual({
        error_code: 'TEMPORARILY_UNAVAILABLE',
        message:
          "MLflow failed on this request (HTTP 503); its answer is in the service's log under request id req-5xx-1.",
      });
      expect(response.body).not.toContain('SELECT');
      expect(lines).toContainEqual(
        expect.objectContaining({ mlflow_status: 503, mlflow_body: expect.stringContaining(statement) }),
      );
    });

    it("keeps MLflow's error_code from a 5xx body longer than the service reads of it", async () => {
      const long = JSON.stringify({ error_code: 'TEMPORARILY_UNAVAILABLE', message: `[SQL: ${'x'.repeat(40_000)}]` });
      const { app } = appOverFetch({}, async () => new Response(long, { status: 503 }));
      const response = await app.inject(SEARCH);
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ error_code: 'TEMPORARILY_UNAVAILABLE' });
    });

    it('answers a 5xx whose body never ends once it has read what it keeps, and logs 2,048 characters of it', async () => {
      const { logger, lines } = createCapturingLogger();
      const endless = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(
            new TextEncoder().encode(`{"error_code": "INTERNAL_ERROR", "message": "${'s'.repeat(20_000)}`),
          );
        },
      });
      const fetch = vi.fn(async () => new Response(endless, { status: 500 }));
      const app = buildApp({ config: testConfig({}), fetch: fetch as typeof globalThis.fetch, logger });
      const response = await app.inject(SEARCH);
      expect(response.statusCode).toBe(500);
      const logged = lines.find((line) => line.mlflow_status === 500);
      expect(String(logged?.mlflow_body)).toHaveLength(2_048);
    });

    it.each(['<b>GONE</b>', 'lower_case', ''])(
      'answers INTERNAL_ERROR for a 5xx whose error_code is %j, not MLflow',
      async (code) => {
        const { app } = appOverFetch({}, async () => Response.json({ error_code: code }, { status: 500 }));
        expect((await app.inject(SEARCH)).json()).toMatchObject({ error_code: 'INTERNAL_ERROR' });
      },
    );

    it('answers INTERNAL_ERROR for a 5xx whose body is not MLflow JSON, reading no more of it than it logs', async () => {
      const { app } = appOverFetch(
        {},
        async () => new Response(`<html>${'x'.repeat(100_000)}</html>`, { status: 502 }),
      );
      const response = await app.inject(SEARCH);
      expect(response.statusCode).toBe(502);
      expect(response.json()).toMatchObject({ error_code: 'INTERNAL_ERROR' });
    });

    it('never counts an unreachable MLflow behind a pass-through call against the breaker', async () => {
      const { app } = appOverFetch({}, async () => {
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }) });
      });
      for (let i = 0; i < 5; i += 1) expect((await app.inject(SEARCH)).json().code).toBe('MLFLOW_UNREACHABLE');
      expect(await breakerReport(app)).toMatchObject({ state: 'closed', failure_count: 0 });
    });

    it('answers 502 MLFLOW_RESPONSE_TOO_LARGE when MLflow declares more than MLFLOW_PROXY_MAX_BYTES', async () => {
      const { app } = appOverFetch(
        { MLFLOW_PROXY_MAX_BYTES: '1024' },
        async () => new Response('x'.repeat(2048), { headers: { 'content-length': '2048' } }),
      );
      const response = await app.inject('/mlflow/api/2.0/mlflow-artifacts/artifacts/1/model.pkl');
      expect(response.statusCode).toBe(502);
      expect(response.json().code).toBe('MLFLOW_RESPONSE_TOO_LARGE');
    });

    it('streams a relayed body of MLflow to the client', async () => {
      const { app, mlflow } = buildTestApp();
      mlflow.forward = async () => ({
        status: 200,
        headers: { 'content-type': 'application/octet-stream' },
        body: Readable.from([Buffer.from('part-1;'), Buffer.from('part-2')]),
      });
      const response = await app.inject('/mlflow/get-artifact?path=model.pkl&run_uuid=abc');
      expect(response.statusCode).toBe(200);
      expect(response.body).toBe('part-1;part-2');
    });
  });

  describe('the entry budget (MLFLOW_PROXY_MAX_ENTRY_BYTES)', () => {
    const BUDGET = { MLFLOW_PROXY_MAX_ENTRY_BYTES: '1024' };
    const write = (app: ReturnType<typeof buildApp>, path: string, body: unknown, method: 'POST' | 'PATCH' = 'POST') =>
      app.inject({
        method,
        url: `/mlflow/api/2.0/mlflow/${path}`,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify(body),
      });
    const tag = (key: string, bytes: number) => ({ key, value: 'v'.repeat(bytes - key.length) });

    it('refuses a version tag that would take the version past the budget, naming the figures, without relaying it', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      mlflow.addVersion({ name: 'fraud', version: '2', tags: [tag('a', 600)] });
      const response = await write(app, 'model-versions/set-tag', { name: 'fraud', version: '2', ...tag('b', 425) });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({
        code: 'MLFLOW_ENTRY_TOO_LARGE',
        error_code: 'BAD_REQUEST',
        details: { held_bytes: 600, request_bytes: 425, max_bytes: 1024 },
      });
      expect(response.json().message).toContain('1025 bytes');
      expect(mlflow.forwarded()).toEqual([]);
    });

    it('relays a version tag that takes the version exactly to the budget', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      mlflow.addVersion({ name: 'fraud', version: '2', tags: [tag('a', 600)] });
      const response = await write(app, 'model-versions/set-tag', { name: 'fraud', version: '2', ...tag('b', 424) });
      expect(response.statusCode).toBe(200);
      expect(mlflow.forwarded()).toHaveLength(1);
    });

    it('counts a tag the write replaces once: its stored value gives way to the new one', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      mlflow.addVersion({ name: 'fraud', version: '2', tags: [tag('a', 600), tag('b', 300)] });
      expect(
        (await write(app, 'model-versions/set-tag', { name: 'fraud', version: '2', ...tag('b', 424) })).statusCode,
      ).toBe(200);
    });

    it('relays a write that does not grow an entry already over the budget, never one that grows it', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      mlflow.addVersion({ name: 'fraud', version: '2', tags: [tag('a', 2000), tag('b', 100)] });
      expect(
        (await write(app, 'model-versions/set-tag', { name: 'fraud', version: '2', ...tag('b', 50) })).statusCode,
      ).toBe(200);
      expect(
        (await write(app, 'model-versions/set-tag', { name: 'fraud', version: '2', ...tag('b', 100) })).statusCode,
      ).toBe(200);
      expect(
        (await write(app, 'model-versions/set-tag', { name: 'fraud', version: '2', ...tag('b', 101) })).statusCode,
      ).toBe(400);
    });

    it("holds a model's tags and aliases to one budget, counting an alias the write replaces once", async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      mlflow.addModel({ name: 'churn', tags: [tag('t', 1010)], aliases: [{ alias: 'champion', version: '1' }] });
      // Held: 1010 + 9. A new alias of 17 bytes passes the budget; replacing `champion` (9) with version 12 (10)
      // fits, but only because the alias it replaces gives way.
      const newAlias = await write(app, 'registered-models/alias', {
        name: 'churn',
        alias: 'challenger-alias',
        version: '1',
      });
      expect(newAlias.json()).toMatchObject({ code: 'MLFLOW_ENTRY_TOO_LARGE', details: { held_bytes: 1019 } });
      const replaced = await write(app, 'registered-models/alias', { name: 'churn', alias: 'champion', version: '12' });
      expect(replaced.statusCode).toBe(200);
      const modelTag = await write(app, 'registered-models/set-tag', {
        name: 'churn',
        key: 'x',
        value: 'y'.repeat(15),
      });
      expect(modelTag.json().code).toBe('MLFLOW_ENTRY_TOO_LARGE');
    });

    it('holds the tags of a logged model to the budget', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      mlflow.addLoggedModel({ model_id: 'm-1', tags: [tag('a', 1000)] });
      const refused = await write(app, 'logged-models/m-1/tags', { tags: [tag('b', 30)] }, 'PATCH');
      expect(refused.json().code).toBe('MLFLOW_ENTRY_TOO_LARGE');
      const relayed = await write(app, 'logged-models/m-1/tags', { tags: [tag('a', 900), tag('b', 30)] }, 'PATCH');
      expect(relayed.statusCode).toBe(200);
    });

    it('relays a tag on an entry that holds no tags or aliases yet', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      const response = await write(app, 'registered-models/set-tag', { name: 'fraud', ...tag('k', 1024) });
      expect(response.statusCode).toBe(200);
      expect(mlflow.forwarded()).toHaveLength(1);
    });

    it('refuses a create whose own tags pass the budget without calling MLflow', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      const response = await write(app, 'model-versions/create', {
        name: 'fraud',
        source: 's3://m/2',
        tags: [tag('a', 600), tag('b', 600)],
      });
      expect(response.json()).toMatchObject({ code: 'MLFLOW_ENTRY_TOO_LARGE', details: { request_bytes: 1200 } });
      expect(mlflow.calls()).toBe(0);
    });

    it("answers 404 with MLflow's RESOURCE_DOES_NOT_EXIST for an entry MLflow does not show, without relaying the write", async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      const response = await write(app, 'logged-models/m-deleted/tags', { tags: [tag('k', 10)] }, 'PATCH');
      expect(response.statusCode).toBe(404);
      expect(response.json()).toMatchObject({ code: 'MODEL_NOT_FOUND', error_code: 'RESOURCE_DOES_NOT_EXIST' });
      expect(mlflow.forwarded()).toEqual([]);
    });

    /** Turns of the event loop MLflow takes to store a tag: enough for the other writes to read the entry first. */
    const EVENT_LOOP_TURNS_BEFORE_STORING = 20;

    it('lets through only what fits of several tags written to one version at once, the others answered 400', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      const stored: { key: string; value: string }[] = [];
      mlflow.addVersion({ name: 'fraud', version: '2', tags: stored });
      // MLflow stores each relayed tag on the version, as it would, after the other requests had the turns of
      // the event loop in which, without the queue, each would read the version before any tag is stored.
      const relay = mlflow.forward;
      mlflow.forward = async (request) => {
        const answer = await relay(request);
        for (let turn = 0; turn < EVENT_LOOP_TURNS_BEFORE_STORING; turn += 1) await new Promise(setImmediate);
        const { key, value } = JSON.parse(Buffer.from(request.body ?? new Uint8Array()).toString('utf8'));
        stored.push({ key, value });
        return answer;
      };
      const keys = ['a', 'b', 'c', 'd'];
      const responses = await Promise.all(
        keys.map((key) => write(app, 'model-versions/set-tag', { name: 'fraud', version: '2', ...tag(key, 600) })),
      );
      expect(responses.map((response) => response.statusCode).sort()).toEqual([200, 400, 400, 400]);
      expect(stored).toHaveLength(1);
      expect(mlflow.forwarded()).toHaveLength(1);
    });

    it('counts the aliases a version lists, which MLflow gives as names', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      mlflow.addVersion({ name: 'fraud', version: '2', tags: [tag('a', 1000)], aliases: ['champion-of-the-month'] });
      const response = await write(app, 'model-versions/set-tag', { name: 'fraud', version: '2', ...tag('b', 10) });
      expect(response.json()).toMatchObject({ code: 'MLFLOW_ENTRY_TOO_LARGE', details: { held_bytes: 1021 } });
    });

    it('answers 502 MLFLOW_BAD_RESPONSE without relaying when MLflow describes the entry in an unknown shape', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      mlflow.addVersion({ name: 'fraud', version: '2', aliases: [{ unexpected: true }] });
      const response = await write(app, 'model-versions/set-tag', {
        name: 'fraud',
        version: '2',
        key: 'k',
        value: 'v',
      });
      expect(response.statusCode).toBe(502);
      expect(response.json()).toMatchObject({
        code: 'MLFLOW_BAD_RESPONSE',
        message: expect.stringContaining('shape the service does not read'),
      });
      expect(mlflow.forwarded()).toEqual([]);
    });

    it('refuses a tag on an entry whose answer is larger than the service reads, and never counts it', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      mlflow.failWith('too_large');
      const response = await write(app, 'registered-models/set-tag', { name: 'fraud', key: 'k', value: 'v' });
      expect(response.json()).toMatchObject({
        code: 'MLFLOW_ENTRY_TOO_LARGE',
        message: expect.stringContaining('MLFLOW_API_MAX_BYTES'),
      });
      expect(mlflow.forwarded()).toEqual([]);
      expect(await breakerReport(app)).toMatchObject({ state: 'closed', failure_count: 0 });
    });

    it('answers the outage without relaying the write when MLflow cannot be read first', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      mlflow.failWith('unreachable');
      const response = await write(app, 'registered-models/set-tag', { name: 'fraud', key: 'k', value: 'v' });
      expect(response.statusCode).toBe(502);
      expect(response.json().code).toBe('MLFLOW_UNREACHABLE');
      expect(mlflow.forwarded()).toEqual([]);
    });

    it('never counts the reading of a client-named entry against the breaker', async () => {
      const { app, mlflow } = buildTestApp({ env: BUDGET });
      mlflow.failWith('malformed');
      for (let i = 0; i < 5; i += 1) {
        expect(
          (await write(app, 'registered-models/set-tag', { name: 'fraud', key: 'k', value: 'v' })).statusCode,
        ).toBe(502);
      }
      expect(await breakerReport(app)).toMatchObject({ state: 'closed', failure_count: 0 });
    });
  });
});
