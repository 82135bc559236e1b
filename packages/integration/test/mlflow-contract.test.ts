import { randomUUID } from 'node:crypto';
import { createMlflowClient, isMlflowError, type MlflowClient } from '@registry/service';
import { createMlflowMock, type MlflowHandle, startMlflow } from '@registry/testkit';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MOCK_MLFLOW_URL } from './support/service.js';

async function apiError(promise: Promise<unknown>) {
  const error = await promise.catch((e: unknown) => e);
  if (!isMlflowError(error)) throw new Error(`expected an MLflow error, got ${String(error)}`);
  return { kind: error.kind, status: error.status, errorCode: error.errorCode };
}

/**
 * The same contract, run against the msw mock and against the real MLflow server, so the mock used by the
 * HTTP-boundary tests cannot drift from what MLflow really answers.
 */
function registryContract(name: string, setup: () => Promise<{ client: MlflowClient; teardown: () => Promise<void> }>) {
  describe(`MLflow registry contract (${name})`, () => {
    let client: MlflowClient;
    let teardown: () => Promise<void>;
    /** A model name of this test alone: every test sets up its own preconditions, in any order. */
    const freshName = (label: string) => `contract-${label}-${randomUUID().slice(0, 8)}`;
    /** Creates a model of this test alone and returns its name. */
    const freshModel = async (label: string) => {
      const model = freshName(label);
      await client.createRegisteredModel(model);
      return model;
    };

    beforeAll(async () => {
      ({ client, teardown } = await setup());
    });
    afterAll(async () => teardown());

    it('creates a registered model and reads it back', async () => {
      const model = freshName('create');
      await client.createRegisteredModel(model);
      expect((await client.getRegisteredModel(model)).name).toBe(model);
    });

    it('answers 400 RESOURCE_ALREADY_EXISTS for a duplicate model', async () => {
      const model = await freshModel('duplicate');
      expect(await apiError(client.createRegisteredModel(model))).toEqual({
        kind: 'api',
        status: 400,
        errorCode: 'RESOURCE_ALREADY_EXISTS',
      });
    });

    it('answers 404 RESOURCE_DOES_NOT_EXIST for a missing model', async () => {
      expect(await apiError(client.getRegisteredModel(freshName('missing')))).toEqual({
        kind: 'api',
        status: 404,
        errorCode: 'RESOURCE_DOES_NOT_EXIST',
      });
    });

    it('creates version 1 with stage None and transitions it', async () => {
      const model = await freshModel('version');
      const version = await client.createModelVersion({ name: model, source: 's3://contract/model' });
      expect(version).toMatchObject({ name: model, version: '1', current_stage: 'None' });
      const moved = await client.transitionModelVersionStage({
        name: model,
        version: '1',
        stage: 'Production',
        archiveExistingVersions: false,
      });
      expect(moved.current_stage).toBe('Production');
      expect((await client.getModelVersion(model, '1')).current_stage).toBe('Production');
    });

    it('finds the model with a case-insensitive name filter', async () => {
      const model = await freshModel('search');
      const page = await client.searchRegisteredModels({ filter: `name ILIKE '%${model.toUpperCase()}%'` });
      expect(page.registered_models.map((m) => m.name)).toEqual([model]);
    });
  });
}

registryContract('msw mock', async () => {
  const mock = createMlflowMock(MOCK_MLFLOW_URL);
  const server = setupServer(...mock.handlers);
  server.listen({ onUnhandledRequest: 'error' });
  return {
    client: createMlflowClient({ baseUrl: MOCK_MLFLOW_URL, timeoutMs: 5_000 }),
    teardown: async () => server.close(),
  };
});

registryContract('real MLflow', async () => {
  const mlflow: MlflowHandle = await startMlflow();
  return { client: createMlflowClient({ baseUrl: mlflow.url, timeoutMs: 10_000 }), teardown: () => mlflow.stop() };
});
