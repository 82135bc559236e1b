import { PassThrough } from 'node:stream';
import {
  CACHE_STATUS_HEADER,
  METRICS,
  MLFLOW_MESSAGE_MAX_LENGTH,
  MlflowError,
  SATURATED_RETRY_AFTER_SECONDS,
  toClientFacingMessage,
  toServiceError,
} from '@registry/service';
import { describe, expect, it, vi } from 'vitest';
import { buildTestApp, type FakeMlflow, metric, tripBreaker } from './support/fakes.js';

type App = ReturnType<typeof buildTestApp>['app'];

/** Fills the one slot and the one queue place with calls that hang until `release` is called. */
async function saturate(app: App, mlflow: FakeMlflow) {
  const release = mlflow.hold();
  const hanging = [app.inject('/api/v1/models/fraud/versions/1'), app.inject('/api/v1/models/fraud/versions/1')];
  await vi.waitFor(
    async () => {
      expect(await metric(app, METRICS.callsInFlight)).toBe(1);
      expect(await metric(app, METRICS.callsQueued)).toBe(1);
    },
    { interval: 5, timeout: 5_000 },
  );
  return { release, hanging };
}

const BULKHEAD = { MLFLOW_MAX_CONCURRENCY: '1', MLFLOW_QUEUE_SIZE: '1' };

describe('MLflow bulkhead', () => {
  it('turns a call away at once with 503 MLFLOW_SATURATED and Retry-After when the slots and queue are full', async () => {
    const { app, mlflow } = buildTestApp({ env: BULKHEAD });
    const { release, hanging } = await saturate(app, mlflow);
    const response = await app.inject('/api/v1/models/fraud');
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe(String(SATURATED_RETRY_AFTER_SECONDS));
    expect(response.headers['retry-after']).toBe('1');
    expect(response.json()).toMatchObject({ code: 'MLFLOW_SATURATED', requestId: response.headers['x-request-id'] });
    release();
    expect((await Promise.all(hanging)).map((r) => r.statusCode)).toEqual([200, 200]);
  });

  it('never counts a saturated call against the breaker', async () => {
    const { app, mlflow } = buildTestApp({ env: BULKHEAD });
    const { release, hanging } = await saturate(app, mlflow);
    for (let i = 0; i < 5; i += 1) expect((await app.inject('/api/v1/models/fraud')).statusCode).toBe(503);
    release();
    await Promise.all(hanging);
    const breaker = (await app.inject('/health?detailed=true')).json().details.circuit_breaker;
    expect(breaker).toMatchObject({ state: 'closed', failure_count: 0, rejections_total: 0 });
  });

  it('counts saturated calls in registry_mlflow_saturated_total', async () => {
    const { app, mlflow } = buildTestApp({ env: BULKHEAD });
    const { release, hanging } = await saturate(app, mlflow);
    await app.inject('/api/v1/models/fraud');
    await app.inject({ method: 'POST', url: '/api/v1/models/fraud/versions', payload: { source: 's3://m/2' } });
    expect(await metric(app, METRICS.saturated)).toBe(2);
    release();
    await Promise.all(hanging);
    expect(await metric(app, METRICS.callsInFlight)).toBe(0);
  });

  it('serves a cached read as stale while saturated', async () => {
    const { app, mlflow } = buildTestApp({ env: BULKHEAD });
    expect((await app.inject('/api/v1/models/fraud')).headers[CACHE_STATUS_HEADER]).toBe('live');
    const { release, hanging } = await saturate(app, mlflow);
    const response = await app.inject('/api/v1/models/fraud');
    expect(response.statusCode).toBe(200);
    expect(response.headers[CACHE_STATUS_HEADER]).toBe('stale');
    expect(response.json().model.name).toBe('fraud');
    release();
    await Promise.all(hanging);
  });

  it('turns pass-through calls away too when saturated', async () => {
    const { app, mlflow } = buildTestApp({ env: BULKHEAD });
    const { release, hanging } = await saturate(app, mlflow);
    const response = await app.inject('/mlflow/api/2.0/mlflow/registered-models/search');
    expect(response.statusCode).toBe(503);
    expect(response.json().code).toBe('MLFLOW_SATURATED');
    release();
    await Promise.all(hanging);
  });
});

describe('MLflow bulkhead and streaming', () => {
  it('frees the slot of a pass-through call once MLflow has answered, while its body still streams', async () => {
    const { app, mlflow } = buildTestApp({ env: { MLFLOW_MAX_CONCURRENCY: '1', MLFLOW_QUEUE_SIZE: '0' } });
    const body = new PassThrough();
    let answered = false;
    mlflow.forward = async () => {
      answered = true;
      return { status: 200, headers: {}, body };
    };
    body.write('first;');
    const download = app.inject('/mlflow/get-artifact?path=model.pkl&run_uuid=abc');
    await vi.waitFor(
      async () => {
        expect(answered).toBe(true);
        expect(await metric(app, METRICS.callsInFlight)).toBe(0);
      },
      { interval: 5, timeout: 5_000 },
    );
    expect((await app.inject('/api/v1/models/fraud')).statusCode).toBe(200);
    body.end('second');
    expect((await download).body).toBe('first;second');
  });

  /** An app whose MLflow answers every artifact download with a body the test ends; two stream slots. */
  async function appWithTwoStreams() {
    const { app, mlflow } = buildTestApp({ env: { MLFLOW_MAX_CONCURRENCY: '2', MLFLOW_QUEUE_SIZE: '0' } });
    const bodies: PassThrough[] = [];
    mlflow.forward = async () => {
      const body = new PassThrough();
      bodies.push(body);
      body.write('first;');
      return { status: 200, headers: {}, body };
    };
    const downloads = [
      app.inject('/mlflow/get-artifact?path=a.pkl&run_uuid=abc'),
      app.inject('/mlflow/get-artifact?path=b.pkl&run_uuid=abc'),
    ];
    await vi.waitFor(async () => expect(await metric(app, METRICS.streamsInFlight)).toBe(2), {
      interval: 5,
      timeout: 5_000,
    });
    const endAll = async () => {
      for (const body of bodies) body.end('done');
      await Promise.allSettled(downloads);
    };
    return { app, bodies, downloads, endAll };
  }

  it('refuses an artifact download beyond MLFLOW_MAX_CONCURRENCY streams at once with 503 MLFLOW_SATURATED', async () => {
    const { app, bodies, endAll } = await appWithTwoStreams();
    const third = await app.inject('/mlflow/get-artifact?path=c.pkl&run_uuid=abc');
    expect(third.statusCode).toBe(503);
    expect(third.json()).toMatchObject({ code: 'MLFLOW_SATURATED' });
    expect(third.headers['retry-after']).toBe(String(SATURATED_RETRY_AFTER_SECONDS));
    expect(bodies).toHaveLength(2);
    await endAll();
  });

  it('never holds registry calls up while artifact streams take every stream slot', async () => {
    const { app, endAll } = await appWithTwoStreams();
    expect((await app.inject('/api/v1/models/fraud')).statusCode).toBe(200);
    await endAll();
  });

  it('frees a stream slot when its body ends, and reports the streams in registry_mlflow_streams_in_flight', async () => {
    const { app, bodies, downloads, endAll } = await appWithTwoStreams();
    bodies[0]?.end('done');
    expect((await downloads[0])?.body).toBe('first;done');
    expect(await metric(app, METRICS.streamsInFlight)).toBe(1);
    const fourth = app.inject('/mlflow/get-artifact?path=d.pkl&run_uuid=abc');
    await vi.waitFor(() => expect(bodies).toHaveLength(3), { interval: 5, timeout: 5_000 });
    await endAll();
    expect((await fourth).statusCode).toBe(200);
    expect(await metric(app, METRICS.streamsInFlight)).toBe(0);
  });

  it('counts a refused artifact download in registry_mlflow_saturated_total', async () => {
    const { app, endAll } = await appWithTwoStreams();
    await app.inject('/mlflow/get-artifact?path=c.pkl&run_uuid=abc');
    expect(await metric(app, METRICS.saturated)).toBe(1);
    await endAll();
  });

  it('frees the stream slot of an artifact answer without a body, and of a download MLflow failed', async () => {
    const { app, mlflow } = buildTestApp({ env: { MLFLOW_MAX_CONCURRENCY: '1', MLFLOW_QUEUE_SIZE: '0' } });
    let unreachable = false;
    mlflow.forward = async () => {
      if (unreachable) throw new MlflowError('unreachable', 'MLflow could not be reached');
      return { status: 204, headers: {}, body: null };
    };
    expect((await app.inject('/mlflow/get-artifact?path=a.pkl&run_uuid=abc')).statusCode).toBe(204);
    unreachable = true;
    expect((await app.inject('/mlflow/get-artifact?path=b.pkl&run_uuid=abc')).statusCode).toBe(502);
    expect(await metric(app, METRICS.streamsInFlight)).toBe(0);
    unreachable = false;
    expect((await app.inject('/mlflow/get-artifact?path=c.pkl&run_uuid=abc')).statusCode).toBe(204);
  });

  it('frees a stream slot when its body fails', async () => {
    const { app, bodies, downloads, endAll } = await appWithTwoStreams();
    const cut = downloads[0]?.then(
      () => 'completed',
      () => 'cut',
    );
    bodies[0]?.destroy(new Error('MLflow went away'));
    expect(await cut).toBe('cut');
    await vi.waitFor(async () => expect(await metric(app, METRICS.streamsInFlight)).toBe(1), {
      interval: 5,
      timeout: 5_000,
    });
    await endAll();
  });

  it('lets the health probe through while the bulkhead is full', async () => {
    const { app, mlflow } = buildTestApp({ env: BULKHEAD });
    const gate = Promise.withResolvers<void>();
    const forward = mlflow.forward;
    mlflow.forward = async (request) => {
      await gate.promise;
      return forward(request);
    };
    const hanging = [0, 1].map(() => app.inject('/mlflow/api/2.0/mlflow/registered-models/search'));
    await vi.waitFor(async () => expect(await metric(app, METRICS.callsQueued)).toBe(1), {
      interval: 5,
      timeout: 5_000,
    });
    const health = await app.inject('/health/mlflow');
    expect(health.statusCode).toBe(200);
    expect(health.json().connected).toBe(true);
    gate.resolve();
    await Promise.all(hanging);
  });
});

describe('Last-known-good cache', () => {
  it('serves an answer larger than CACHE_MAX_ENTRY_BYTES live but never stale', async () => {
    const { app, mlflow } = buildTestApp({ env: { CACHE_MAX_ENTRY_BYTES: '300' } });
    mlflow.addModel({ name: 'big', description: 'x'.repeat(400) });
    expect((await app.inject('/api/v1/models/big')).headers[CACHE_STATUS_HEADER]).toBe('live');
    expect((await app.inject('/api/v1/models/fraud')).headers[CACHE_STATUS_HEADER]).toBe('live');
    await tripBreaker(app, mlflow, { recover: true });
    const big = await app.inject('/api/v1/models/big');
    expect(big.statusCode).toBe(503);
    expect(big.json().code).toBe('MLFLOW_CIRCUIT_OPEN');
    // The small answer, read under the same limits, is kept.
    expect((await app.inject('/api/v1/models/fraud')).headers[CACHE_STATUS_HEADER]).toBe('stale');
  });

  it('evicts the least recently used answers to stay within the models share of CACHE_MAX_BYTES', async () => {
    // 1050 of the 1400 bytes hold models and versions: two answers of about 390 bytes, not three.
    const { app, mlflow } = buildTestApp({ env: { CACHE_MAX_BYTES: '1400' } });
    for (const name of ['a', 'b', 'c']) {
      mlflow.addModel({ name, description: name.repeat(350) });
      expect((await app.inject(`/api/v1/models/${name}`)).statusCode).toBe(200);
    }
    await tripBreaker(app, mlflow, { recover: true });
    const answers = await Promise.all(['a', 'b', 'c'].map((name) => app.inject(`/api/v1/models/${name}`)));
    expect(answers.map((r) => [r.statusCode, r.headers[CACHE_STATUS_HEADER] ?? r.json().code])).toEqual([
      [503, 'MLFLOW_CIRCUIT_OPEN'],
      [200, 'stale'],
      [200, 'stale'],
    ]);
  });

  it('keeps a model stale-readable however many distinct searches a client sends (searches have a share of their own)', async () => {
    const { app, mlflow } = buildTestApp({ env: { CACHE_MAX_ENTRIES: '8' } });
    expect((await app.inject('/api/v1/models/fraud')).statusCode).toBe(200);
    for (let i = 0; i < 20; i += 1) expect((await app.inject(`/api/v1/models?search=zz${i}`)).statusCode).toBe(200);
    expect((await app.inject('/api/v1/models?search=fra')).statusCode).toBe(200);
    await tripBreaker(app, mlflow, { recover: true });
    const model = await app.inject('/api/v1/models/fraud');
    expect([model.statusCode, model.headers[CACHE_STATUS_HEADER]]).toEqual([200, 'stale']);
    // The searches' share, 2 of the 8 entries, holds the two most recent searches.
    expect((await app.inject('/api/v1/models?search=fra')).headers[CACHE_STATUS_HEADER]).toBe('stale');
    expect((await app.inject('/api/v1/models?search=zz19')).headers[CACHE_STATUS_HEADER]).toBe('stale');
    expect((await app.inject('/api/v1/models?search=zz18')).statusCode).toBe(503);
  });

  it('holds three quarters of CACHE_MAX_ENTRIES for models and versions: 6 of 8', async () => {
    const { app, mlflow } = buildTestApp({ env: { CACHE_MAX_ENTRIES: '8' } });
    const names = ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7'];
    for (const name of names) {
      mlflow.addModel({ name });
      expect((await app.inject(`/api/v1/models/${name}`)).statusCode).toBe(200);
    }
    await tripBreaker(app, mlflow, { recover: true });
    const answers = await Promise.all(names.map((name) => app.inject(`/api/v1/models/${name}`)));
    expect(answers.map((answer) => answer.statusCode)).toEqual([503, 200, 200, 200, 200, 200, 200]);
  });

  it('caches no search when the cache is too small to share, and still caches models', async () => {
    const { app, mlflow } = buildTestApp({ env: { CACHE_MAX_ENTRIES: '3' } });
    expect((await app.inject('/api/v1/models/fraud')).statusCode).toBe(200);
    expect((await app.inject('/api/v1/models?search=fra')).statusCode).toBe(200);
    await tripBreaker(app, mlflow, { recover: true });
    expect((await app.inject('/api/v1/models/fraud')).headers[CACHE_STATUS_HEADER]).toBe('stale');
    expect((await app.inject('/api/v1/models?search=fra')).statusCode).toBe(503);
  });

  it('serves nothing stale when CACHE_MAX_ENTRIES is 0', async () => {
    const { app, mlflow } = buildTestApp({ env: { CACHE_MAX_ENTRIES: '0' } });
    await app.inject('/api/v1/models/fraud');
    await tripBreaker(app, mlflow, { recover: true });
    expect((await app.inject('/api/v1/models/fraud')).statusCode).toBe(503);
  });
});

describe('toClientFacingMessage', () => {
  const sqlError = [
    '(psycopg.errors.NumericValueOutOfRange) integer out of range',
    '[SQL: SELECT model_versions.name FROM model_versions WHERE model_versions.version = %(version_1)s::INTEGER]',
    "[parameters: {'workspace_1': 'default', 'version_1': 2147483648}]",
    '(Background on this error at: https://sqlalche.me/e/20/9h9h)',
  ].join('\n');

  it("replaces what MLflow's database said, statement and parameters included, with a plain sentence", () => {
    const message = toClientFacingMessage(sqlError);
    expect(message).toBe('MLflow could not store or read a value of this request (its database refused it)');
  });

  it('replaces what psycopg2 said as it does for psycopg 3', () => {
    expect(toClientFacingMessage('(psycopg2.errors.NumericValueOutOfRange) integer out of range')).toBe(
      'MLflow could not store or read a value of this request (its database refused it)',
    );
  });

  it("keeps MLflow's own words before an appended statement, and keeps a plain message as it is", () => {
    expect(toClientFacingMessage('Invalid filter\n[SQL: SELECT 1]')).toBe('Invalid filter');
    expect(toClientFacingMessage('Registered Model (name=fraud) already exists.')).toBe(
      'Registered Model (name=fraud) already exists.',
    );
  });

  it('keeps a message that only mentions a database driver after its start', () => {
    expect(toClientFacingMessage('Bad value (sqlite3) in the filter')).toBe('Bad value (sqlite3) in the filter');
  });

  it('keeps a message of exactly MLFLOW_MESSAGE_MAX_LENGTH characters whole', () => {
    const message = 'x'.repeat(MLFLOW_MESSAGE_MAX_LENGTH);
    expect(toClientFacingMessage(message)).toBe(message);
  });

  it('cuts a message at MLFLOW_MESSAGE_MAX_LENGTH characters', () => {
    const message = toClientFacingMessage('x'.repeat(MLFLOW_MESSAGE_MAX_LENGTH + 100));
    expect(message).toBe(`${'x'.repeat(MLFLOW_MESSAGE_MAX_LENGTH)}...`);
  });

  it('never cuts a character outside the BMP in half', () => {
    const message = toClientFacingMessage('\u{1F600}'.repeat(MLFLOW_MESSAGE_MAX_LENGTH + 1));
    expect(message).toBe(`${'\u{1F600}'.repeat(MLFLOW_MESSAGE_MAX_LENGTH)}...`);
    expect(/\p{Cs}/u.test(message)).toBe(false);
  });

  it('gives MLFLOW_REJECTED the plain message and keeps the whole one on its cause', () => {
    const error = toServiceError(
      new MlflowError('api', sqlError, { status: 400, errorCode: 'INVALID_PARAMETER_VALUE' }),
    );
    expect(error).toMatchObject({ code: 'MLFLOW_REJECTED', details: { mlflow_error_code: 'INVALID_PARAMETER_VALUE' } });
    expect(error.message).not.toContain('SELECT');
    expect((error.cause as Error).message).toBe(sqlError);
  });
});
