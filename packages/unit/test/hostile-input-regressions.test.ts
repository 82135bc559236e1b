import { describe, expect, it } from 'vitest';
import { buildTestApp } from './support/fakes.js';

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
});

describe('Framework errors', () => {
  it('answers a text/plain body on a JSON route with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/x/versions',
      headers: { 'content-type': 'text/plain' },
      payload: 'source=s3://m/1',
    });
    expect(response.statusCode).toBe(415);
    expect(response.json().code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('sends the x-request-id header on a path that is not valid percent-encoding', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({ url: '/api/v1/models/%ZZ', headers: { 'x-request-id': 'trace-1' } });
    expect(response.headers['x-request-id']).toBe('trace-1');
    expect(response.json().requestId).toBe('trace-1');
  });
});
