import {
  BREAKER_STATE_VALUE,
  ContractError,
  createRegistryClient,
  METRICS,
  readMetrics,
} from '@registry/service/client';
import { describe, expect, it } from 'vitest';
import { ADMIN_AUTH, buildTestApp, injectFetch } from './support/fakes.js';

const API_KEY = 'client-test-key-0123456789';
const ADMIN_TOKEN = ADMIN_AUTH.authorization.replace('Bearer ', '');

function clientOf(env: Record<string, string> = {}) {
  const { app, mlflow } = buildTestApp({ env: { API_KEYS: API_KEY, ...env } });
  const client = createRegistryClient({
    baseUrl: 'http://registry.test',
    apiKey: API_KEY,
    adminToken: ADMIN_TOKEN,
    fetch: injectFetch(app),
  });
  return { client, app, mlflow };
}

/** A fetch that always answers `status` with `body`. */
const answering =
  (status: number, body: string): typeof fetch =>
  async () =>
    new Response(body, { status, headers: { 'content-type': 'application/json' } });

describe('Registry client', () => {
  it('reads liveness with the body its schema gives', async () => {
    const { client } = clientOf();
    const answer = await client.live();
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ alive: true });
  });

  it('sends the API key to the registry routes and parses the model', async () => {
    const { client } = clientOf();
    const answer = await client.models.get('fraud');
    expect(answer.status).toBe(200);
    if (answer.status === 200) expect(answer.body.model.name).toBe('fraud');
  });

  it('gives a refusal as the catalogue error body with its status', async () => {
    const { client } = clientOf();
    const answer = await client.models.get('unknown');
    expect(answer.status).toBe(404);
    expect(answer.body).toMatchObject({ code: 'MODEL_NOT_FOUND' });
  });

  it('opens the breaker with the admin token, and the metrics reading shows it open', async () => {
    const { client } = clientOf();
    const opened = await client.breaker.open();
    expect(opened.status).toBe(200);
    const metrics = await client.metrics();
    expect(metrics.value(METRICS.breakerState)).toBe(BREAKER_STATE_VALUE.open);
  });

  it('throws ContractError for a body its schema rejects, naming the field', async () => {
    const client = createRegistryClient({ baseUrl: 'http://x', fetch: answering(200, '{"alive":"yes"}') });
    await expect(client.live()).rejects.toThrow(ContractError);
    await expect(client.live()).rejects.toThrow(/alive/);
  });

  it('throws ContractError for a status the contract does not list', async () => {
    const client = createRegistryClient({ baseUrl: 'http://x', fetch: answering(418, '{}') });
    await expect(client.version()).rejects.toThrow('GET /version answered 418, a status the contract does not list');
  });
});

describe('Metrics reading', () => {
  it('reads a sample by name and labels, and NaN for one that is not there', () => {
    const reading = readMetrics('# TYPE registry_x gauge\nregistry_x{route="/a"} 1\nregistry_x{route="/b"} 2\n');
    expect(reading.value('registry_x', { route: '/b' })).toBe(2);
    expect(reading.value('registry_x')).toBe(1);
    expect(reading.value('registry_missing')).toBeNaN();
  });
});
