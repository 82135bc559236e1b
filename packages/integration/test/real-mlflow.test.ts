import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import {
  localProviders,
  type MlflowHandle,
  mlflowExecutable,
  providerSuiteTitle,
  startMlflowWith,
} from '@registry/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startService } from './support/service.js';

const run = promisify(execFile);
for (const local of localProviders()) {
  const { provider, networking } = local;
  describe.skipIf(!local.available)(providerSuiteTitle('Registry routes against the real MLflow', local), () => {
    let mlflow: MlflowHandle;
    /** The real server answers in tens to hundreds of milliseconds: use a realistic request timeout. */
    const realMlflowEnv = () => ({ MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_REQUEST_TIMEOUT: '10' });

    beforeAll(async () => {
      mlflow = await startMlflowWith(provider, { networking });
    });
    afterAll(async () => mlflow?.stop());

    it('registers a version, reads it back and transitions it', async () => {
      await using service = await startService(realMlflowEnv());
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
      await using service = await startService(realMlflowEnv());
      await service.request.post('/api/v1/models/e2e-two/versions').send({ source: 's3://e2e/two/1' }).expect(201);
      const second = await service.request
        .post('/api/v1/models/e2e-two/versions')
        .send({ source: 's3://e2e/two/2' })
        .expect(201);
      expect(second.body.model_version.version).toBe('2');
    });

    it('answers 404 MODEL_NOT_FOUND for a model MLflow does not have', async () => {
      await using service = await startService(realMlflowEnv());
      const response = await service.request.get('/api/v1/models/no-such-model').expect(404);
      expect(response.body.code).toBe('MODEL_NOT_FOUND');
    });

    it('serves the official MLflow Python client through the /mlflow pass-through', async (context) => {
      const python = join(dirname(mlflowExecutable()), 'python');
      if (!existsSync(python)) {
        const reason = 'the MLflow Python client comes from the process provider’s venv, not provisioned here';
        process.stdout.write(`not run: serves the official MLflow Python client (${reason})\n`);
        context.skip(reason);
      }
      await using service = await startService(realMlflowEnv());
      await new Promise<void>((resolve) => service.app.server.listen(0, '127.0.0.1', resolve));
      const address = service.app.server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      const script = [
        'from mlflow import MlflowClient',
        'client = MlflowClient()',
        'client.create_registered_model("python-client-model")',
        'client.create_model_version("python-client-model", "s3://py/model")',
        'print(",".join(m.name for m in client.search_registered_models()))',
      ].join('\n');
      const { stdout } = await run(python, ['-c', script], {
        env: { ...process.env, MLFLOW_TRACKING_URI: `http://127.0.0.1:${port}/mlflow` },
        timeout: 60_000,
      });
      expect(stdout.trim().split(',')).toContain('python-client-model');
      const direct = await fetch(`${mlflow.url}/api/2.0/mlflow/model-versions/get?name=python-client-model&version=1`);
      expect(direct.status).toBe(200);
    });
  });
}
