import { bearerToken, clientAddress, matchesAnyKey } from '@registry/service';
import { describe, expect, it } from 'vitest';
import { buildTestApp } from './support/fakes.js';

const KEYS = { API_KEYS: 'key-alpha-1, key-beta-22' };
const PROTECTED = [
  ['the registry API', 'GET', '/api/v1/models/fraud'],
  ['the MLflow pass-through', 'GET', '/mlflow/api/2.0/mlflow/registered-models/search'],
] as const;

describe('API keys', () => {
  describe.each(PROTECTED)('on %s', (_surface, method, url) => {
    it('accepts a key in X-API-Key', async () => {
      const { app } = buildTestApp({ env: KEYS });
      expect((await app.inject({ method, url, headers: { 'x-api-key': 'key-beta-22' } })).statusCode).toBe(200);
    });

    it('accepts a key as Authorization: Bearer, as the MLflow client sends it', async () => {
      const { app } = buildTestApp({ env: KEYS });
      const response = await app.inject({ method, url, headers: { authorization: 'Bearer key-alpha-1' } });
      expect(response.statusCode).toBe(200);
    });

    it.each([
      ['no key', {}],
      ['a wrong X-API-Key', { 'x-api-key': 'key-gamma-333' }],
      ['a wrong bearer token', { authorization: 'Bearer key-gamma-333' }],
      ['a key as basic credentials', { authorization: `Basic ${Buffer.from('u:key-alpha-1').toString('base64')}` }],
      ['a prefix of a key', { 'x-api-key': 'key-alpha' }],
    ])('refuses %s with 401 UNAUTHORIZED and WWW-Authenticate, without calling MLflow', async (_what, headers) => {
      const { app, mlflow } = buildTestApp({ env: KEYS });
      const response = await app.inject({ method, url, headers });
      expect(response.statusCode).toBe(401);
      expect(response.headers['www-authenticate']).toBe('Bearer');
      expect(response.json()).toMatchObject({ code: 'UNAUTHORIZED', requestId: response.headers['x-request-id'] });
      expect(mlflow.calls()).toBe(0);
    });
  });

  it('lets every request through when API_KEYS is unset', async () => {
    const { app } = buildTestApp();
    expect((await app.inject('/api/v1/models/fraud')).statusCode).toBe(200);
    expect((await app.inject('/mlflow/api/2.0/mlflow/registered-models/search')).statusCode).toBe(200);
  });

  it('checks the key before the pass-through policy, so refusals reveal nothing to strangers', async () => {
    const { app } = buildTestApp({ env: { ...KEYS, MLFLOW_PROXY: 'off' } });
    expect((await app.inject('/mlflow/api/2.0/mlflow/registered-models/search')).statusCode).toBe(401);
  });

  it('keeps health and metrics open without a key', async () => {
    const { app } = buildTestApp({ env: KEYS });
    expect((await app.inject('/health/ready')).statusCode).toBe(200);
    expect((await app.inject('/metrics')).statusCode).toBe(200);
  });
});

describe('Read-only keys (API_READ_ONLY_KEYS)', () => {
  const ENV = { API_KEYS: 'writer-key-1', API_READ_ONLY_KEYS: 'reader-key-1,reader-key-2' };
  const READER = { 'x-api-key': 'reader-key-2' };
  const API = '/mlflow/api/2.0/mlflow';

  it("reads the registry API and the pass-through's reads and searches", async () => {
    const { app, mlflow } = buildTestApp({ env: ENV });
    expect((await app.inject({ url: '/api/v1/models', headers: READER })).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/v1/models/fraud/versions/1', headers: READER })).statusCode).toBe(200);
    expect((await app.inject({ url: `${API}/registered-models/get?name=fraud`, headers: READER })).statusCode).toBe(
      200,
    );
    const search = await app.inject({ method: 'POST', url: `${API}/runs/search`, headers: READER, payload: {} });
    expect(search.statusCode).toBe(200);
    expect(mlflow.forwarded().map((request) => request.pathAndQuery)).toEqual([
      '/api/2.0/mlflow/registered-models/get?name=fraud',
      '/api/2.0/mlflow/runs/search',
    ]);
  });

  it('refuses a registration through the registry API with 403 API_KEY_READ_ONLY, before its body and MLflow', async () => {
    const { app, mlflow } = buildTestApp({ env: ENV });
    // A body the schema would refuse (400) shows the key is judged first.
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions',
      headers: { ...READER, 'content-type': 'application/json' },
      payload: '{"source":',
    });
    expect(response.statusCode).toBe(403);
    expect(response.json()).toMatchObject({ code: 'API_KEY_READ_ONLY', requestId: response.headers['x-request-id'] });
    expect(mlflow.calls()).toBe(0);
  });

  it('refuses a stage transition through the registry API with 403 API_KEY_READ_ONLY, without calling MLflow', async () => {
    const { app, mlflow } = buildTestApp({ env: ENV });
    const transition = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions/1/stage',
      headers: READER,
      payload: { stage: 'Archived' },
    });
    expect(transition.statusCode).toBe(403);
    expect(transition.json()).toMatchObject({ code: 'API_KEY_READ_ONLY' });
    expect(mlflow.calls()).toBe(0);
  });

  it.each([
    ['a new model', 'POST', `${API}/registered-models/create`, { name: 'other' }],
    [
      'a tag',
      'POST',
      `${API}/registered-models/set-tag`,
      { name: 'fraud', key: 'mlflow.prompt.is_prompt', value: 'true' },
    ],
    ['an alias', 'POST', `${API}/registered-models/alias`, { name: 'fraud', alias: 'champion', version: '1' }],
    ['a stage', 'POST', `${API}/model-versions/transition-stage`, { name: 'fraud', version: '1', stage: 'Archived' }],
    ['a description', 'PATCH', `${API}/registered-models/update`, { name: 'fraud', description: 'x' }],
  ] as const)(
    'refuses %s through the pass-through with 403 and PERMISSION_DENIED, without calling MLflow',
    async (_what, method, url, payload) => {
      const { app, mlflow } = buildTestApp({ env: ENV });
      const response = await app.inject({ method, url, headers: READER, payload });
      expect(response.statusCode).toBe(403);
      expect(response.json()).toMatchObject({ code: 'API_KEY_READ_ONLY', error_code: 'PERMISSION_DENIED' });
      expect(mlflow.forwarded()).toEqual([]);
    },
  );

  it("in full mode, relays a read-only key's searches and refuses what is not a listed read", async () => {
    const { app, mlflow } = buildTestApp({ env: { ...ENV, MLFLOW_PROXY: 'full' } });
    const traces = await app.inject({
      method: 'POST',
      url: '/mlflow/api/3.0/mlflow/traces/search',
      headers: READER,
      payload: {},
    });
    expect(traces.statusCode).toBe(200);
    const deleted = await app.inject({
      method: 'DELETE',
      url: `${API}/registered-models/delete`,
      headers: READER,
      payload: { name: 'fraud' },
    });
    expect(deleted.json()).toMatchObject({ code: 'API_KEY_READ_ONLY' });
    const unlisted = await app.inject({ url: `${API}/experiments/get-something-new`, headers: READER });
    expect(unlisted.json()).toMatchObject({ code: 'API_KEY_READ_ONLY' });
    expect(mlflow.forwarded().map((request) => request.pathAndQuery)).toEqual(['/api/3.0/mlflow/traces/search']);
  });

  it('lets a key of API_KEYS write beside read-only keys', async () => {
    const { app } = buildTestApp({ env: ENV });
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/fraud/versions',
      headers: { 'x-api-key': 'writer-key-1' },
      payload: { source: 's3://m/2' },
    });
    expect(response.statusCode).toBe(201);
  });

  it('needs a key when only API_READ_ONLY_KEYS is set', async () => {
    const { app } = buildTestApp({ env: { API_READ_ONLY_KEYS: 'reader-key-1' } });
    expect((await app.inject('/api/v1/models/fraud')).statusCode).toBe(401);
    expect(
      (await app.inject({ url: '/api/v1/models/fraud', headers: { authorization: 'Bearer reader-key-1' } })).statusCode,
    ).toBe(200);
  });
});

describe('bearerToken', () => {
  it('reads the token of a bearer header, whatever the scheme case', () => {
    expect(bearerToken('bearer abc.def')).toBe('abc.def');
  });

  it('reads nothing from other schemes or a token with spaces', () => {
    expect([bearerToken('Basic abc'), bearerToken('Bearer a b'), bearerToken(undefined)]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });
});

describe('matchesAnyKey', () => {
  it('matches any one of the keys and nothing else', () => {
    expect([
      matchesAnyKey('k2', ['k1', 'k2']),
      matchesAnyKey('k3', ['k1', 'k2']),
      matchesAnyKey(undefined, ['k1']),
    ]).toEqual([true, false, false]);
  });
});

describe('clientAddress', () => {
  it('keeps an IPv4 address, unmaps one mapped into IPv6, and gives an IPv6 address its /64 network', () => {
    expect(clientAddress('10.0.0.1')).toBe('10.0.0.1');
    expect(clientAddress('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(clientAddress('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(clientAddress('::1')).toBe('0:0:0:0::/64');
  });

  it('keeps what is not an address as it is', () => {
    expect(clientAddress('not an address')).toBe('not an address');
  });
});
