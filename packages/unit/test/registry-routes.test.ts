import { CACHE_STATUS_HEADER, MAX_MODEL_VERSION, MlflowError } from '@registry/service';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildTestApp } from './support/fakes.js';
import { createCapturingLogger } from './support/logs.js';

describe('Registry routes', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lists models live from MLflow', async () => {
    const { app } = buildTestApp();
    const response = await app.inject('/api/v1/models?search=fra&max_results=5');
    expect(response.statusCode).toBe(200);
    expect(response.headers[CACHE_STATUS_HEADER]).toBe('live');
    expect(response.json().models[0].name).toBe('fraud');
  });

  describe('a listing page larger than MLFLOW_API_MAX_BYTES', () => {
    /**
     * A fake MLflow whose answer for more than `fits` models is over the service's cap; with `declared`, it
     * gives the answer's length as `bytesPerModel` a model (the cap being `fits` such models), else none.
     */
    function appWhoseAnswersFitUpTo(fits: number, declared?: { bytesPerModel: number }) {
      const { logger, lines } = createCapturingLogger();
      const { app, mlflow } = buildTestApp({ logger });
      const search = mlflow.searchRegisteredModels.bind(mlflow);
      mlflow.searchRegisteredModels = async (query) => {
        const page = await search(query);
        const models = query.maxResults ?? 0;
        if (models > fits) {
          const size = declared && { declared: models * declared.bytesPerModel, max: fits * declared.bytesPerModel };
          throw new MlflowError('too_large', 'over MLFLOW_API_MAX_BYTES', size ? { size } : {});
        }
        return { ...page, next_page_token: `after-${query.maxResults}` };
      };
      return { app, mlflow, lines };
    }

    it('asks again for as many models as fit in proportion to the length MLflow declared, with a margin', async () => {
      const { app, mlflow } = appWhoseAnswersFitUpTo(10, { bytesPerModel: 100 });
      const response = await app.inject('/api/v1/models?max_results=100');
      expect(response.statusCode).toBe(200);
      // 10,000 bytes declared for 100 models, 1,000 read: 100 x 1,000 x 0.9 / 10,000 = 9 models.
      expect(mlflow.searches().map((query) => query.maxResults)).toEqual([100, 9]);
      expect(response.json().next_page_token).toBe('after-9');
    });

    it('asks again with half as many models until the page fits when MLflow declared no length, and answers it with its next page token', async () => {
      const { app, mlflow, lines } = appWhoseAnswersFitUpTo(10);
      const response = await app.inject('/api/v1/models?max_results=100');
      expect(response.statusCode).toBe(200);
      expect(mlflow.searches().map((query) => query.maxResults)).toEqual([100, 50, 25, 13, 7]);
      expect(response.json()).toMatchObject({ models: [{ name: 'fraud' }], next_page_token: 'after-7' });
      expect((await app.inject('/api/v1/models?max_results=10')).statusCode).toBe(200);
      expect(lines.filter((line) => line.level === 'warn')).toEqual([
        expect.objectContaining({ max_results: 100, answered_max_results: 7 }),
      ]);
    });

    it('keeps the filter and page token on every smaller ask', async () => {
      const { app, mlflow } = appWhoseAnswersFitUpTo(1);
      await app.inject('/api/v1/models?max_results=2&page_token=tok&filter=name%20%3D%20%27fraud%27');
      expect(mlflow.searches()).toEqual([
        { filter: "name = 'fraud'", maxResults: 2, pageToken: 'tok' },
        { filter: "name = 'fraud'", maxResults: 1, pageToken: 'tok' },
      ]);
    });

    it('answers 502 MLFLOW_RESPONSE_TOO_LARGE when one model alone is over the cap, and never counts it', async () => {
      const { app, mlflow } = appWhoseAnswersFitUpTo(0);
      const response = await app.inject('/api/v1/models?max_results=3');
      expect(response.statusCode).toBe(502);
      expect(response.json().code).toBe('MLFLOW_RESPONSE_TOO_LARGE');
      expect(mlflow.searches().map((query) => query.maxResults)).toEqual([3, 2, 1]);
      const status = (await app.inject('/health/status')).json();
      expect(status.circuit_breaker).toMatchObject({ state: 'closed', failure_count: 0 });
    });

    it('never counts a failure of a page larger than the default against the breaker, and counts one of the default', async () => {
      const { app, mlflow } = buildTestApp();
      mlflow.failWith('unreachable');
      for (let i = 0; i < 2; i += 1) {
        expect((await app.inject('/api/v1/models?max_results=101')).json().code).toBe('MLFLOW_UNREACHABLE');
      }
      expect((await app.inject('/health/status')).json().circuit_breaker.failure_count).toBe(0);
      expect((await app.inject('/api/v1/models?max_results=100')).json().code).toBe('MLFLOW_UNREACHABLE');
      expect((await app.inject('/health/status')).json().circuit_breaker.failure_count).toBe(1);
    });

    it('counts the timeout of a default page against the breaker, as a slow network would cause it', async () => {
      const { app, mlflow } = buildTestApp();
      mlflow.failWith('timeout');
      expect((await app.inject('/api/v1/models?search=fra')).statusCode).toBe(504);
      expect((await app.inject('/health/status')).json().circuit_breaker.failure_count).toBe(1);
    });

    it('asks MLflow for no more models than a page of entries at the budget keeps within MLFLOW_API_MAX_BYTES, on a page of up to 100', async () => {
      // 1 MiB / (5 entries x 64 KiB) = 3 models a page.
      const env = { MLFLOW_API_MAX_BYTES: String(1024 * 1024), MLFLOW_PROXY_MAX_ENTRY_BYTES: String(64 * 1024) };
      const { app, mlflow } = buildTestApp({ env });
      expect((await app.inject('/api/v1/models?max_results=50')).statusCode).toBe(200);
      expect((await app.inject('/api/v1/models?max_results=2')).statusCode).toBe(200);
      // A page over 100 is the client's choice, never counted: not capped.
      expect((await app.inject('/api/v1/models?max_results=101')).statusCode).toBe(200);
      expect(mlflow.searches().map((query) => query.maxResults)).toEqual([3, 2, 101]);
      const { mlflow: byDefault, app: defaults } = buildTestApp();
      await defaults.inject('/api/v1/models');
      expect(byDefault.searches().map((query) => query.maxResults)).toEqual([100]);
    });

    it('never asks again for a failure other than size', async () => {
      const { app, mlflow } = buildTestApp();
      mlflow.failWith('timeout');
      const response = await app.inject('/api/v1/models?max_results=100');
      expect(response.statusCode).toBe(504);
      expect(mlflow.searches()).toHaveLength(1);
    });
  });

  it('returns 400 with the bad field for invalid query parameters', async () => {
    const { app } = buildTestApp();
    const response = await app.inject('/api/v1/models?max_results=0');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'BAD_REQUEST', details: [{ field: 'max_results' }] });
  });

  // Found by Schemathesis: MLflow 3.17.2 answers this transition with a 500, so it opened the breaker.
  it('refuses to archive existing versions for a stage that is not active, without calling MLflow', async () => {
    const { app, mlflow } = buildTestApp();
    const before = mlflow.calls();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions/1/stage',
      payload: { stage: 'None', archive_existing_versions: true },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'BAD_REQUEST', details: [{ field: 'archive_existing_versions' }] });
    expect(mlflow.calls()).toBe(before);
  });

  it('returns 404 MODEL_NOT_FOUND for a model MLflow does not know', async () => {
    const { app } = buildTestApp();
    const response = await app.inject('/api/v1/models/unknown');
    expect(response.statusCode).toBe(404);
    expect(response.json().code).toBe('MODEL_NOT_FOUND');
  });

  it('serves a read seen before as stale while the breaker is open', async () => {
    const { app, mlflow } = buildTestApp();
    await app.inject('/api/v1/models/fraud/versions/1');
    mlflow.failWith('unreachable');
    for (let i = 0; i < 3; i += 1) await app.inject('/api/v1/models/other');
    vi.advanceTimersByTime(7_000);
    const response = await app.inject('/api/v1/models/fraud/versions/1');
    expect(response.statusCode).toBe(200);
    expect(response.headers[CACHE_STATUS_HEADER]).toBe('stale');
    expect(response.headers.age).toBe('7');
    expect(response.json().model_version.version).toBe('1');
  });

  it('fails fast with 503, Retry-After and a code for unseen reads while open', async () => {
    const { app, mlflow } = buildTestApp();
    mlflow.failWith('timeout');
    for (let i = 0; i < 3; i += 1) await app.inject('/api/v1/models/fraud');
    vi.advanceTimersByTime(12_500);
    const calls = mlflow.calls();
    const response = await app.inject('/api/v1/models/fraud');
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('18');
    expect(response.json()).toMatchObject({ code: 'MLFLOW_CIRCUIT_OPEN', requestId: response.headers['x-request-id'] });
    expect(mlflow.calls()).toBe(calls);
  });

  it.each([
    ['unreachable', 502, 'MLFLOW_UNREACHABLE'],
    ['timeout', 504, 'MLFLOW_TIMEOUT'],
    ['upstream', 502, 'MLFLOW_UPSTREAM_ERROR'],
    ['malformed', 502, 'MLFLOW_BAD_RESPONSE'],
  ] as const)('maps an MLflow %s failure to %i %s before the breaker opens', async (kind, status, code) => {
    const { app, mlflow } = buildTestApp();
    mlflow.failWith(kind);
    const response = await app.inject('/api/v1/models/fraud');
    expect(response.statusCode).toBe(status);
    expect(response.json().code).toBe(code);
  });

  it('registers a version under a new model name with 201', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/churn/versions',
      payload: { source: 's3://models/churn/1' },
    });
    expect(response.statusCode).toBe(201);
    expect(response.json().model_version).toMatchObject({ name: 'churn', version: '1' });
  });

  it('refuses a source outside MLFLOW_ALLOWED_SOURCES with 400 MODEL_SOURCE_NOT_ALLOWED before calling MLflow', async () => {
    const { app, mlflow } = buildTestApp({ env: { MLFLOW_ALLOWED_SOURCES: 's3://models/,runs:/' } });
    const register = (source: string) =>
      app.inject({ method: 'POST', url: '/api/v1/models/churn/versions', payload: { source } });
    for (const source of ['s3://models-other/x', 's3://elsewhere/models/x', 'S3://models/x', 'gs://models/x']) {
      const refused = await register(source);
      expect(refused.statusCode).toBe(400);
      expect(refused.json()).toMatchObject({
        code: 'MODEL_SOURCE_NOT_ALLOWED',
        details: { allowed_sources: ['s3://models/', 'runs:/'] },
      });
    }
    expect(mlflow.calls()).toBe(0);
    expect((await register('s3://models/churn/1')).statusCode).toBe(201);
    expect((await register('runs:/abc123/model')).statusCode).toBe(201);
  });

  describe('a source MLflow cannot resolve', () => {
    /** The fake MLflow, answering every registration 500 as MLflow does for `models:/<new>/latest`. */
    function failingRegistrations(deps: { now?: () => number } = {}) {
      const built = buildTestApp(deps);
      const pings = { count: 0, fail: false };
      built.mlflow.createModelVersion = async () => {
        throw new MlflowError('upstream', 'No versions of model with name found', { status: 500 });
      };
      const ping = built.mlflow.ping.bind(built.mlflow);
      built.mlflow.ping = async () => {
        pings.count += 1;
        if (pings.fail) throw new MlflowError('unreachable', 'connection refused');
        await ping();
      };
      return { ...built, pings };
    }
    type App = ReturnType<typeof buildTestApp>['app'];
    const register = (app: App) =>
      app.inject({ method: 'POST', url: '/api/v1/models/fresh/versions', payload: { source: 'models:/fresh/latest' } });
    const failures = async (app: App) => (await app.inject('/health/status')).json().circuit_breaker.failure_count;

    it("answers MLflow's 500 as the request's 400 and counts no failure, however many arrive at once", async () => {
      const { app } = failingRegistrations();
      const answers = await Promise.all(Array.from({ length: 8 }, () => register(app)));
      expect(answers.map((answer) => answer.statusCode)).toEqual(Array(8).fill(400));
      expect(answers[0]?.json()).toMatchObject({ code: 'MLFLOW_REJECTED', details: { mlflow_status: 500 } });
      expect((await app.inject('/health/status')).json().circuit_breaker).toMatchObject({
        state: 'closed',
        failure_count: 0,
      });
    });

    it('answers a 502 from what stands in front of MLflow as an outage, still uncounted', async () => {
      const { app, mlflow } = failingRegistrations();
      mlflow.createModelVersion = async () => {
        throw new MlflowError('upstream', 'bad gateway', { status: 502 });
      };
      const answer = await register(app);
      expect(answer.statusCode).toBe(502);
      expect(answer.json()).toMatchObject({ code: 'MLFLOW_UPSTREAM_ERROR' });
      expect(await failures(app)).toBe(0);
    });

    it('asks the probe to judge MLflow, which counts a failure only when MLflow fails the probe too', async () => {
      let clock = 1_000_000;
      const { app, pings } = failingRegistrations({ now: () => clock });
      await register(app);
      await expect.poll(() => pings.count, { interval: 5, timeout: 2_000 }).toBe(1);
      expect(await failures(app)).toBe(0);
      // MLflow now fails the probe as well; the last probe's result is older than a failure takes.
      pings.fail = true;
      clock += 2_000;
      await register(app);
      await expect.poll(() => failures(app), { interval: 5, timeout: 2_000 }).toBe(1);
      expect(pings.count).toBe(2);
    });
  });

  it("refuses a path on MLflow's own host as a source by default, before calling MLflow", async () => {
    const { app, mlflow } = buildTestApp();
    for (const source of ['/proc/1/cwd', 'file:///etc', 'FILE:/x', 'relative/model', 'C:\\models\\m', 'dummy-source']) {
      const refused = await app.inject({ method: 'POST', url: '/api/v1/models/churn/versions', payload: { source } });
      expect(refused.json(), source).toMatchObject({ code: 'MODEL_SOURCE_NOT_ALLOWED' });
    }
    expect(mlflow.calls()).toBe(0);
  });

  it('registers a further version of an existing model', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions',
      payload: { source: 's3://m/2' },
    });
    expect(response.json().model_version.version).toBe('2');
  });

  it('refuses writes while the breaker is open without calling MLflow', async () => {
    const { app, mlflow } = buildTestApp();
    mlflow.failWith('unreachable');
    for (let i = 0; i < 3; i += 1) await app.inject('/api/v1/models/fraud');
    mlflow.failWith(null);
    const calls = mlflow.calls();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions',
      payload: { source: 's3://m/2' },
    });
    expect(response.statusCode).toBe(503);
    expect(mlflow.calls()).toBe(calls);
  });

  it('rejects a registration body with unknown or missing fields', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions',
      payload: { sauce: 'x' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('source');
  });

  it('rejects a body that is not JSON with 400', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions',
      headers: { 'content-type': 'application/json' },
      payload: '{"source":',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().code).toBe('BAD_REQUEST');
  });

  it('rejects a body over BODY_LIMIT with 413', async () => {
    const { app } = buildTestApp({ env: { BODY_LIMIT: '100' } });
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions',
      payload: { source: 'x'.repeat(200) },
    });
    expect(response.statusCode).toBe(413);
    expect(response.json().code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('transitions a version to a stage', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions/1/stage',
      payload: { stage: 'Production', archive_existing_versions: true },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().model_version.current_stage).toBe('Production');
  });

  it('rejects an unknown stage with the allowed values', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions/1/stage',
      payload: { stage: 'Prod' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('None, Staging, Production, Archived');
  });

  it.each([
    [
      'a lone surrogate in the description',
      { source: 's3://m/1', description: 'trained on \ud83d data' },
      'description',
    ],
    ['a lone surrogate in the run id', { source: 's3://m/1', run_id: '\udc00abc' }, 'run_id'],
    ['a source longer than MLflow stores (500)', { source: `s3://${'a'.repeat(500)}` }, 'source'],
    ['a run id longer than MLflow stores (32)', { source: 's3://m/1', run_id: 'a'.repeat(33) }, 'run_id'],
    [
      'a NUL in the description (PostgreSQL cannot store it)',
      { source: 's3://m/1', description: 'a\u0000b' },
      'description',
    ],
    ['a control character in the source', { source: 's3://m/\u0000/1' }, 'source'],
    ['a line break in the run id', { source: 's3://m/1', run_id: 'abc\n' }, 'run_id'],
  ])(
    'refuses a registration with %s with 400 naming the field, without calling MLflow',
    async (_what, payload, field) => {
      const { app, mlflow } = buildTestApp();
      const before = mlflow.calls();
      const response = await app.inject({ method: 'POST', url: '/api/v1/models/fraud/versions', payload });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'BAD_REQUEST', details: [{ field }] });
      expect(mlflow.calls()).toBe(before);
    },
  );

  it('keeps line breaks and tabs in a description', async () => {
    const { app } = buildTestApp();
    const description = 'line one\nline two\twith a tab';
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions',
      payload: { source: 's3://m/2', description },
    });
    expect(response.statusCode).toBe(201);
    expect(response.json().model_version.description).toBe(description);
  });

  it('refuses a version above the largest MLflow stores, without calling MLflow', async () => {
    const { app, mlflow } = buildTestApp();
    const before = mlflow.calls();
    const response = await app.inject(`/api/v1/models/fraud/versions/${MAX_MODEL_VERSION + 1}`);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'BAD_REQUEST', details: [{ field: 'version' }] });
    expect(mlflow.calls()).toBe(before);
    expect((await app.inject(`/api/v1/models/fraud/versions/${MAX_MODEL_VERSION}`)).statusCode).not.toBe(400);
  });

  it('refuses a search text with a NUL or other control character, without calling MLflow', async () => {
    const { app, mlflow } = buildTestApp();
    const before = mlflow.calls();
    const response = await app.inject('/api/v1/models?search=a%00b');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'BAD_REQUEST', details: [{ field: 'search' }] });
    expect(mlflow.calls()).toBe(before);
  });

  it('passes MLflow 4xx answers on as MLFLOW_REJECTED', async () => {
    const { app, mlflow } = buildTestApp();
    mlflow.failWith('api', 'INVALID_PARAMETER_VALUE');
    const response = await app.inject('/api/v1/models');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'MLFLOW_REJECTED',
      details: { mlflow_error_code: 'INVALID_PARAMETER_VALUE' },
    });
  });

  it('requires one of API_KEYS when they are set', async () => {
    const { app } = buildTestApp({ env: { API_KEYS: 'key-alpha-1,key-beta-22' } });
    expect((await app.inject('/api/v1/models')).statusCode).toBe(401);
    expect((await app.inject({ url: '/api/v1/models', headers: { 'x-api-key': 'key-beta-22' } })).statusCode).toBe(200);
    expect((await app.inject('/health/live')).statusCode).toBe(200);
  });

  it('answers unknown routes with 404 JSON', async () => {
    const { app } = buildTestApp();
    const response = await app.inject('/api/v1/nothing');
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'NOT_FOUND', requestId: expect.any(String) });
  });

  it('keeps a valid incoming request id', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({ url: '/version', headers: { 'x-request-id': 'trace-123' } });
    expect(response.headers['x-request-id']).toBe('trace-123');
  });

  it('relays the MLflow REST API under /mlflow', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/mlflow/api/2.0/mlflow/experiments/search',
      payload: { max_results: 1 },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ forwarded: '/api/2.0/mlflow/experiments/search' });
  });
});
