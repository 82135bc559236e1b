import { searchFilter } from '@registry/service';
import { describe, expect, it } from 'vitest';
import { buildTestApp } from './support/fakes.js';

describe('searchFilter', () => {
  it('matches plain text exactly with a single-quoted ILIKE', () => {
    expect(searchFilter('fraud')).toEqual({ filter: "name ILIKE '%fraud%'", exact: true });
  });

  it("quotes text holding a ' with double quotes and keeps it exact", () => {
    expect(searchFilter("o'brien")).toEqual({ filter: `name ILIKE "%o'brien%"`, exact: true });
  });

  it.each(['%', '_', '"', '\\'])('turns %s into the one-character wildcard and marks the match inexact', (char) => {
    expect(searchFilter(`a${char}b`)).toEqual({ filter: "name ILIKE '%a_b%'", exact: false });
  });

  it('never lets a double quote close the quoting of text that holds both quotes', () => {
    expect(searchFilter(`o'b"x`)).toEqual({ filter: `name ILIKE "%o'b_x%"`, exact: false });
  });
});

describe('Model search', () => {
  it('sends the literal filter of a search text to MLflow', async () => {
    const { app, mlflow } = buildTestApp();
    await app.inject(`/api/v1/models?search=${encodeURIComponent("o'brien")}`);
    expect(mlflow.searches()).toEqual([expect.objectContaining({ filter: `name ILIKE "%o'brien%"` })]);
  });

  it('returns only names that contain a wildcard character literally', async () => {
    const { app, mlflow } = buildTestApp();
    for (const name of ['a%b', 'axb', '100% fraud']) mlflow.addModel({ name });
    const response = await app.inject('/api/v1/models?search=%25');
    expect(response.statusCode).toBe(200);
    expect(response.json().models.map((model: { name: string }) => model.name)).toEqual(['a%b', '100% fraud']);
    expect(mlflow.searches()[0]?.filter).toBe("name ILIKE '%_%'");
  });

  it('matches the literal text case-insensitively', async () => {
    const { app, mlflow } = buildTestApp();
    for (const name of ['Credit_Score', 'creditxscore']) mlflow.addModel({ name });
    const response = await app.inject('/api/v1/models?search=CREDIT_score');
    expect(response.json().models.map((model: { name: string }) => model.name)).toEqual(['Credit_Score']);
  });

  it("passes a client's filter to MLflow unchanged, ignoring the search text", async () => {
    const { app, mlflow } = buildTestApp();
    await app.inject(`/api/v1/models?filter=${encodeURIComponent("name = 'fraud'")}&search=x`);
    expect(mlflow.searches()[0]?.filter).toBe("name = 'fraud'");
  });

  it("answers an MLflow server error on a client's filter with 400 and never counts it against the breaker", async () => {
    const { app, mlflow } = buildTestApp();
    mlflow.failWith('upstream');
    for (let i = 0; i < 5; i += 1) {
      const response = await app.inject(`/api/v1/models?filter=${encodeURIComponent('name LIKE bad(')}`);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'MLFLOW_REJECTED', details: { mlflow_status: 500 } });
    }
    const breaker = (await app.inject('/health?detailed=true')).json().details.circuit_breaker;
    expect(breaker).toMatchObject({ state: 'closed', failure_count: 0 });
  });

  // Found by Schemathesis: MLflow 3.17.2 answers `page_token=W10=` (base64 of `[]`) with a 500, so five
  // such requests opened the breaker for everyone.
  it("answers an MLflow server error on a client's page token with 400 and never counts it against the breaker", async () => {
    const { app, mlflow } = buildTestApp();
    mlflow.failWith('upstream');
    for (let i = 0; i < 5; i += 1) {
      const response = await app.inject('/api/v1/models?page_token=W10%3D');
      expect(response.statusCode).toBe(400);
      expect(response.json().code).toBe('MLFLOW_REJECTED');
    }
    const breaker = (await app.inject('/health?detailed=true')).json().details.circuit_breaker;
    expect(breaker).toMatchObject({ state: 'closed', failure_count: 0 });
  });

  it.each([502, 503, 504])(
    "answers a %d from in front of MLflow on a client's filter as the outage it is, without counting it",
    async (status) => {
      const { app, mlflow } = buildTestApp();
      mlflow.failWith('upstream', undefined, status);
      const response = await app.inject(`/api/v1/models?filter=${encodeURIComponent("name = 'fraud'")}`);
      expect(response.statusCode).toBe(502);
      expect(response.json()).toMatchObject({ code: 'MLFLOW_UPSTREAM_ERROR', details: { mlflow_status: status } });
      const breaker = (await app.inject('/health?detailed=true')).json().details.circuit_breaker;
      expect(breaker).toMatchObject({ state: 'closed', failure_count: 0 });
    },
  );

  it("serves the last answer to a client's filter as stale while MLflow answers 503 for it", async () => {
    const { app, mlflow } = buildTestApp();
    const url = `/api/v1/models?filter=${encodeURIComponent("name = 'fraud'")}`;
    expect((await app.inject(url)).statusCode).toBe(200);
    mlflow.failWith('upstream', undefined, 503);
    const response = await app.inject(url);
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-registry-cache']).toBe('stale');
    expect(response.json().models.map((model: { name: string }) => model.name)).toEqual(['fraud']);
  });

  it('counts an MLflow failure on a search the service wrote against the breaker', async () => {
    const { app, mlflow } = buildTestApp();
    mlflow.failWith('upstream');
    const response = await app.inject('/api/v1/models?search=fraud');
    expect(response.json()).toMatchObject({ code: 'MLFLOW_UPSTREAM_ERROR', details: { mlflow_status: 500 } });
    const breaker = (await app.inject('/health?detailed=true')).json().details.circuit_breaker;
    expect(breaker.failure_count).toBe(1);
  });
});
