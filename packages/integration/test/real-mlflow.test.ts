import { localProviders, type MlflowHandle, startMlflowWith } from '@registry/testkit';
import { describeOnProvider } from '@registry/testkit/suites';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { realMlflowEnv, startService } from './support/service.js';

// The official MLflow Python client through /mlflow is covered in hostile-clients.test.ts.
for (const local of localProviders()) {
  const { provider, networking } = local;
  describeOnProvider('Registry routes against the real MLflow', local, () => {
    let mlflow: MlflowHandle;

    beforeAll(async () => {
      mlflow = await startMlflowWith(provider, { networking });
    });
    afterAll(async () => mlflow?.stop());

    it('registers a version, reads it back and transitions it', async () => {
      await using service = await startService(realMlflowEnv(mlflow.url));
      const created = await service.request
        .post('/api/v1/models/e2e-model/versions')
        .send({ source: 's3://e2e/model/1', description: 'first' })
        .expect(201);
      expect(created.body.model_version).toMatchObject({ name: 'e2e-model', version: '1', current_stage: 'None' });

      const read = await service.request.get('/api/v1/models/e2e-model/versions/1').expect(200);
      expect(read.body.model_version).toMatchObject({ source: 's3://e2e/model/1', description: 'first' });

      await service.request.post('/api/v1/models/e2e-model/versions/1/stage').send({ stage: 'Staging' }).expect(200);
      const model = await service.request.get('/api/v1/models/e2e-model').expect(200);
      expect(model.body.model.latest_versions).toContainEqual(
        expect.objectContaining({ version: '1', current_stage: 'Staging' }),
      );
    });

    it('registers a second version under the existing model', async () => {
      await using service = await startService(realMlflowEnv(mlflow.url));
      await service.request.post('/api/v1/models/e2e-two/versions').send({ source: 's3://e2e/two/1' }).expect(201);
      const second = await service.request
        .post('/api/v1/models/e2e-two/versions')
        .send({ source: 's3://e2e/two/2' })
        .expect(201);
      expect(second.body.model_version.version).toBe('2');
    });

    it('answers 404 MODEL_NOT_FOUND for a model MLflow does not have', async () => {
      await using service = await startService(realMlflowEnv(mlflow.url));
      const response = await service.request.get('/api/v1/models/no-such-model').expect(404);
      expect(response.body.code).toBe('MODEL_NOT_FOUND');
    });
  });
}
