import { PassThrough } from 'node:stream';
import { METRICS, SATURATED_RETRY_AFTER_SECONDS } from '@registry/service';
import { describe, expect, it } from 'vitest';
import { buildTestApp, metric } from './support/fakes.js';

const KEY_A = 'key-a-0123456789';
const KEY_B = 'key-b-0123456789';
/** Two keys, a share of 2 calls each, and room in the bulkhead for more than one client's share. */
const SHARED = {
  API_KEYS: `${KEY_A},${KEY_B}`,
  MLFLOW_CLIENT_MAX_CONCURRENCY: '2',
  MLFLOW_MAX_CONCURRENCY: '4',
  MLFLOW_QUEUE_SIZE: '4',
};

type App = ReturnType<typeof buildTestApp>['app'];

const readAs = (app: App, key: string, url = '/api/v1/models/fraud') =>
  app.inject({ url, headers: { 'x-api-key': key } });

/** Starts `count` reads as `key` that hang in the fake MLflow until `release` is called. */
async function holdShare(count: number, key = KEY_A, env: Record<string, string> = SHARED) {
  const { app, mlflow } = buildTestApp({ env });
  const release = mlflow.hold();
  const hanging = Array.from({ length: count }, () => readAs(app, key));
  await mlflow.whenCalled(count);
  return { app, mlflow, release, hanging };
}

/** Starts an artifact download as KEY_A whose body streams until the test ends (or fails) it. */
async function streamingDownload(env: Record<string, string>) {
  const { app, mlflow } = buildTestApp({ env });
  const body = new PassThrough();
  mlflow.forward = async () => ({ status: 200, headers: {}, body });
  body.write('first;');
  const download = app.inject({
    url: '/mlflow/get-artifact?path=model.pkl&run_uuid=abc',
    headers: { 'x-api-key': KEY_A },
  });
  await expect.poll(() => metric(app, METRICS.streamsInFlight), { interval: 5, timeout: 5_000 }).toBe(1);
  return { app, mlflow, body, download };
}

describe('Per-client share of the MLflow bulkhead (MLFLOW_CLIENT_MAX_CONCURRENCY)', () => {
  it('refuses a client its next call at once with 429 CLIENT_CONCURRENCY_LIMIT and Retry-After while it holds its share', async () => {
    const { app, mlflow, release, hanging } = await holdShare(2);
    const refused = await readAs(app, KEY_A);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe(String(SATURATED_RETRY_AFTER_SECONDS));
    expect(refused.json()).toMatchObject({
      code: 'CLIENT_CONCURRENCY_LIMIT',
      details: { client_max_concurrency: 2, retry_after_seconds: SATURATED_RETRY_AFTER_SECONDS },
    });
    // The refused call never reached MLflow.
    expect(mlflow.calls()).toBe(2);
    release();
    expect((await Promise.all(hanging)).map((r) => r.statusCode)).toEqual([200, 200]);
  });

  it("admits another key's calls while one key holds its whole share", async () => {
    const { app, mlflow, release, hanging } = await holdShare(2);
    const other = [readAs(app, KEY_B), readAs(app, KEY_B)];
    await mlflow.whenCalled(4);
    release();
    expect((await Promise.all(other)).map((r) => r.statusCode)).toEqual([200, 200]);
    await Promise.all(hanging);
  });

  it('gives the first read-only key a share of its own, apart from the first key of API_KEYS', async () => {
    const reader = 'reader-0123456789';
    const { app, mlflow, release, hanging } = await holdShare(2, KEY_A, { ...SHARED, API_READ_ONLY_KEYS: reader });
    const other = [readAs(app, reader), readAs(app, reader)];
    await mlflow.whenCalled(4);
    expect((await readAs(app, reader)).json().code).toBe('CLIENT_CONCURRENCY_LIMIT');
    release();
    expect((await Promise.all(other)).map((r) => r.statusCode)).toEqual([200, 200]);
    await Promise.all(hanging);
  });

  it('charges a key to the same client whether it comes as X-API-Key or as a bearer token', async () => {
    const { app, release, hanging } = await holdShare(2);
    const bearer = await app.inject({ url: '/api/v1/models/fraud', headers: { authorization: `Bearer ${KEY_A}` } });
    expect(bearer.json().code).toBe('CLIENT_CONCURRENCY_LIMIT');
    release();
    await Promise.all(hanging);
  });

  it('never counts a refused call against the breaker, and counts it in registry_mlflow_client_limited_total', async () => {
    const { app, release, hanging } = await holdShare(2);
    for (let i = 0; i < 5; i += 1) expect((await readAs(app, KEY_A)).statusCode).toBe(429);
    release();
    await Promise.all(hanging);
    expect(await metric(app, METRICS.clientLimited)).toBe(5);
    expect(await metric(app, METRICS.saturated)).toBe(0);
    const breaker = (await app.inject('/health?detailed=true')).json().details.circuit_breaker;
    expect(breaker).toMatchObject({ state: 'closed', failure_count: 0, rejections_total: 0 });
  });

  it('reports the clients holding calls in registry_mlflow_clients_holding_calls', async () => {
    const { app, mlflow, release, hanging } = await holdShare(2);
    const other = readAs(app, KEY_B);
    await mlflow.whenCalled(3);
    expect(await metric(app, METRICS.clientsHoldingCalls)).toBe(2);
    release();
    await Promise.all([...hanging, other]);
    expect(await metric(app, METRICS.clientsHoldingCalls)).toBe(0);
  });

  it('gives a client its whole share back as its calls end', async () => {
    const { app, mlflow, release, hanging } = await holdShare(2);
    release();
    await Promise.all(hanging);
    const again = mlflow.hold();
    const both = [readAs(app, KEY_A), readAs(app, KEY_A)];
    await mlflow.whenCalled(4);
    again();
    expect((await Promise.all(both)).map((r) => r.statusCode)).toEqual([200, 200]);
  });

  it('gives a client its share back when MLflow fails its calls', async () => {
    const { app, mlflow } = buildTestApp({ env: { ...SHARED, MLFLOW_CB_FAILURE_THRESHOLD: '100' } });
    mlflow.failWith('unreachable');
    const codes = [];
    for (let i = 0; i < 3; i += 1) codes.push((await readAs(app, KEY_A)).json().code);
    expect(codes).toEqual(['MLFLOW_UNREACHABLE', 'MLFLOW_UNREACHABLE', 'MLFLOW_UNREACHABLE']);
    expect(await metric(app, METRICS.clientsHoldingCalls)).toBe(0);
  });

  it.each([
    { what: 'two IPv6 addresses of one /64', first: '2001:db8:1:2::10', second: '2001:db8:1:2:ffff::1' },
    { what: 'an IPv4 address and the same address mapped into IPv6', first: '10.0.0.1', second: '::ffff:10.0.0.1' },
  ])('counts $what as one client without API_KEYS', async ({ first, second }) => {
    const env = { MLFLOW_CLIENT_MAX_CONCURRENCY: '1', MLFLOW_MAX_CONCURRENCY: '4' };
    const { app, mlflow } = buildTestApp({ env });
    const release = mlflow.hold();
    const from = (remoteAddress: string) => app.inject({ url: '/api/v1/models/fraud', remoteAddress });
    const hanging = from(first);
    await mlflow.whenCalled(1);
    expect((await from(second)).json().code).toBe('CLIENT_CONCURRENCY_LIMIT');
    const elsewhere = from('2001:db8:1:3::10');
    await mlflow.whenCalled(2);
    release();
    expect([(await hanging).statusCode, (await elsewhere).statusCode]).toEqual([200, 200]);
  });

  it('counts a client by its address alone, whatever X-Forwarded-For says, when TRUST_PROXY is unset', async () => {
    const env = { MLFLOW_CLIENT_MAX_CONCURRENCY: '1', MLFLOW_MAX_CONCURRENCY: '4' };
    const { app, mlflow } = buildTestApp({ env });
    const release = mlflow.hold();
    const as = (forwardedFor: string) =>
      app.inject({
        url: '/api/v1/models/fraud',
        remoteAddress: '10.0.0.1',
        headers: { 'x-forwarded-for': forwardedFor },
      });
    const hanging = as('203.0.113.1');
    await mlflow.whenCalled(1);
    expect((await as('203.0.113.2')).json().code).toBe('CLIENT_CONCURRENCY_LIMIT');
    release();
    expect((await hanging).statusCode).toBe(200);
  });

  it('counts writes and pass-through calls in the same share as reads', async () => {
    const { app, release, hanging } = await holdShare(2);
    const write = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions',
      headers: { 'x-api-key': KEY_A },
      payload: { source: 's3://m/2' },
    });
    expect(write.json().code).toBe('CLIENT_CONCURRENCY_LIMIT');
    const relayed = await app.inject({
      url: '/mlflow/api/2.0/mlflow/registered-models/search',
      headers: { 'x-api-key': KEY_A },
    });
    expect(relayed.statusCode).toBe(429);
    // The official MLflow client reads `error_code` (and retries REQUEST_LIMIT_EXCEEDED).
    expect(relayed.json()).toMatchObject({ code: 'CLIENT_CONCURRENCY_LIMIT', error_code: 'REQUEST_LIMIT_EXCEEDED' });
    release();
    await Promise.all(hanging);
  });

  it('charges an artifact body to its client until the body ends', async () => {
    const { app, body, download } = await streamingDownload({ ...SHARED, MLFLOW_CLIENT_MAX_CONCURRENCY: '1' });
    expect((await readAs(app, KEY_A)).json().code).toBe('CLIENT_CONCURRENCY_LIMIT');
    expect((await readAs(app, KEY_B)).statusCode).toBe(200);
    body.end('second');
    expect((await download).body).toBe('first;second');
    expect((await readAs(app, KEY_A)).statusCode).toBe(200);
  });

  it('gives back only the call that ended while the client holds others', async () => {
    const { app, mlflow, body, download } = await streamingDownload(SHARED);
    // A call that begins and ends while the download holds one of the two places.
    expect((await readAs(app, KEY_A)).statusCode).toBe(200);
    const release = mlflow.hold();
    const hanging = readAs(app, KEY_A);
    // The replaced `forward` is not counted: these are the two reads.
    await mlflow.whenCalled(2);
    expect((await readAs(app, KEY_A)).json().code).toBe('CLIENT_CONCURRENCY_LIMIT');
    release();
    body.end('second');
    expect([(await hanging).statusCode, (await download).statusCode]).toEqual([200, 200]);
  });

  it('gives a client its share back when its artifact body fails', async () => {
    const { app, body, download: started } = await streamingDownload({ ...SHARED, MLFLOW_CLIENT_MAX_CONCURRENCY: '1' });
    const download = started.then(
      () => 'completed',
      () => 'cut',
    );
    body.destroy(new Error('MLflow went away'));
    expect(await download).toBe('cut');
    await expect.poll(() => metric(app, METRICS.clientsHoldingCalls), { interval: 5, timeout: 5_000 }).toBe(0);
    expect((await readAs(app, KEY_A)).statusCode).toBe(200);
  });

  it('takes a client to be its address when the service runs without API_KEYS', async () => {
    const env = { MLFLOW_CLIENT_MAX_CONCURRENCY: '1', MLFLOW_MAX_CONCURRENCY: '4' };
    const { app, mlflow } = buildTestApp({ env });
    const release = mlflow.hold();
    const from = (remoteAddress: string) => app.inject({ url: '/api/v1/models/fraud', remoteAddress });
    const hanging = from('10.0.0.1');
    await mlflow.whenCalled(1);
    expect((await from('10.0.0.1')).json().code).toBe('CLIENT_CONCURRENCY_LIMIT');
    const other = from('10.0.0.2');
    await mlflow.whenCalled(2);
    release();
    expect([(await hanging).statusCode, (await other).statusCode]).toEqual([200, 200]);
  });

  it('refuses to charge a call to no client, as from a route without the API key hook', () => {
    const { app } = buildTestApp();
    expect(() => app.registry.gateway.forClient('')).toThrow('the route lacks the API key hook');
  });

  it.each([
    { share: '2', what: 'exactly the bulkhead and its queue' },
    { share: '3', what: 'more than the bulkhead and its queue' },
  ])('leaves refusals to the bulkhead (503 MLFLOW_SATURATED) when the share is $what', async ({ share }) => {
    const env = { MLFLOW_CLIENT_MAX_CONCURRENCY: share, MLFLOW_MAX_CONCURRENCY: '1', MLFLOW_QUEUE_SIZE: '1' };
    const { app, release, hanging } = await holdShare(1, KEY_A, { ...env, API_KEYS: KEY_A });
    hanging.push(readAs(app, KEY_A));
    await expect.poll(() => metric(app, METRICS.callsQueued), { interval: 5, timeout: 5_000 }).toBe(1);
    expect((await readAs(app, KEY_A)).json().code).toBe('MLFLOW_SATURATED');
    release();
    await Promise.all(hanging);
  });
});

/** A request body that arrives no further than its first bytes until the test ends it. */
const REST_OF_BODY = '"s3://bucket/model"}';

const bodiesInProgress = (app: App) => metric(app, METRICS.bodiesInProgress);

function trickledBody() {
  const body = new PassThrough();
  body.write('{"source":');
  return body;
}

describe('Request bodies the service holds (a share per client, MLFLOW_MAX_CONCURRENCY + MLFLOW_QUEUE_SIZE in all)', () => {
  const register = (app: App, key: string, payload: PassThrough | string) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions',
      // A trickled body comes in chunks, as a client streaming a large one sends it.
      headers: {
        'x-api-key': key,
        'content-type': 'application/json',
        ...(typeof payload === 'string' ? {} : { 'transfer-encoding': 'chunked' }),
      },
      payload,
    });

  it('refuses a client a request with a body at once, unread, while its share of bodies is still arriving', async () => {
    const { app, mlflow } = buildTestApp({ env: SHARED });
    const bodies = [trickledBody(), trickledBody()];
    const arriving = bodies.map((body) => register(app, KEY_A, body));
    await expect.poll(() => bodiesInProgress(app), { interval: 5, timeout: 5_000 }).toBe(2);
    const third = trickledBody();
    const refused = await register(app, KEY_A, third);
    expect(refused.statusCode).toBe(429);
    expect(refused.headers['retry-after']).toBe(String(SATURATED_RETRY_AFTER_SECONDS));
    expect(refused.json()).toMatchObject({ code: 'CLIENT_CONCURRENCY_LIMIT', details: { client_max_concurrency: 2 } });
    expect(refused.json().message).toContain('already has 2 requests with a body in progress');
    // Another key still gets a slot; the refused body never reached MLflow.
    expect((await register(app, KEY_B, '{"source":"s3://bucket/model"}')).statusCode).toBe(201);
    for (const body of [...bodies, third]) body.end(REST_OF_BODY);
    expect((await Promise.all(arriving)).map((r) => r.statusCode)).toEqual([201, 201]);
    // Each registration is two calls (the model, then the version): three registrations, six calls.
    expect(mlflow.calls()).toBe(6);
  });

  it('refuses every client 503 MLFLOW_SATURATED while all the slots hold bodies, and frees a slot when its request ends', async () => {
    const env = {
      ...SHARED,
      API_KEYS: `${KEY_A},${KEY_B},key-c-0123456789`,
      MLFLOW_MAX_CONCURRENCY: '2',
      MLFLOW_QUEUE_SIZE: '2',
    };
    const { app } = buildTestApp({ env });
    const bodies = [trickledBody(), trickledBody(), trickledBody(), trickledBody()];
    const arriving = bodies.map((body, index) => register(app, index < 2 ? KEY_A : KEY_B, body));
    await expect.poll(() => bodiesInProgress(app), { interval: 5, timeout: 5_000 }).toBe(4);
    const refused = await register(app, 'key-c-0123456789', trickledBody());
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ code: 'MLFLOW_SATURATED', details: { retry_after_seconds: 1 } });
    expect(refused.json().message).toContain('already holds 4 requests with a body');
    bodies[0]?.end(REST_OF_BODY);
    await arriving[0];
    await expect.poll(() => bodiesInProgress(app), { interval: 5, timeout: 5_000 }).toBe(3);
    expect((await register(app, 'key-c-0123456789', '{"source":"s3://bucket/model"}')).statusCode).toBe(201);
    for (const body of bodies) body.end(REST_OF_BODY);
    await Promise.all(arriving);
    await expect.poll(() => bodiesInProgress(app), { interval: 5, timeout: 5_000 }).toBe(0);
  });

  it('gives a client back its own slot when one of its requests ends, and no more than that', async () => {
    const { app } = buildTestApp({ env: SHARED });
    const bodies = [trickledBody(), trickledBody()];
    const arriving = bodies.map((body) => register(app, KEY_A, body));
    await expect.poll(() => bodiesInProgress(app), { interval: 5, timeout: 5_000 }).toBe(2);
    bodies[0]?.end(REST_OF_BODY);
    await arriving[0];
    const next = trickledBody();
    const admitted = register(app, KEY_A, next);
    await expect.poll(() => bodiesInProgress(app), { interval: 5, timeout: 5_000 }).toBe(2);
    expect((await register(app, KEY_A, trickledBody())).statusCode).toBe(429);
    for (const body of [...bodies, next]) body.end(REST_OF_BODY);
    expect((await Promise.all([...arriving, admitted])).map((r) => r.statusCode)).toEqual([201, 201, 201]);
  });

  it('holds a slot for a body declared by its length until the answer, none for a GET or an empty body', async () => {
    const { app, mlflow } = buildTestApp({ env: SHARED });
    const release = mlflow.hold();
    const withLength = app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions',
      headers: { 'x-api-key': KEY_A, 'content-type': 'application/json' },
      payload: '{"source":"s3://bucket/model"}',
    });
    const read = app.inject({
      method: 'GET',
      url: '/api/v1/models/fraud',
      headers: { 'x-api-key': KEY_B, 'content-type': 'application/json', 'content-length': '2' },
      payload: '{}',
    });
    const empty = app.inject({
      method: 'POST',
      url: '/mlflow/api/2.0/mlflow/registered-models/get-latest-versions',
      headers: { 'x-api-key': KEY_B, 'content-length': '0' },
    });
    await mlflow.whenCalled(3);
    expect(await bodiesInProgress(app)).toBe(1);
    release();
    await Promise.all([withLength, read, empty]);
    expect(await bodiesInProgress(app)).toBe(0);
  });

  it('answers an unknown route 404 before its body arrives, and a bad admin token 401 likewise', async () => {
    const { app } = buildTestApp({ env: { ADMIN_TOKEN: 'admin-token-0123456789abcdef' } });
    const bodies = [trickledBody(), trickledBody()];
    const unknown = await app.inject({
      method: 'POST',
      url: '/nowhere',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      payload: bodies[0],
    });
    expect(unknown.statusCode).toBe(404);
    const admin = await app.inject({
      method: 'POST',
      url: '/health/mlflow/reset',
      headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', authorization: 'Bearer wrong' },
      payload: bodies[1],
    });
    expect(admin.statusCode).toBe(401);
    for (const body of bodies) body.end(REST_OF_BODY);
  });
});
