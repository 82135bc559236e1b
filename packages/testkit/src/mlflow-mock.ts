import { delay, HttpResponse, http } from 'msw';

/** Ways the mock MLflow can fail, each as the real failure looks on the wire. */
export type MlflowFault = 'refused' | 'timeout' | 'server_error' | 'malformed_json' | 'missing_fields';

interface StoredVersion {
  name: string;
  version: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  current_stage: string;
  description: string;
  source: string;
  run_id: string;
  status: string;
}

interface StoredModel {
  name: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  description: string;
  versions: StoredVersion[];
}

/** An in-memory MLflow Model Registry served through msw handlers, with switchable faults. */
export interface MlflowMock {
  readonly baseUrl: string;
  readonly handlers: ReturnType<typeof http.all>[];
  /** Makes every MLflow call fail this way until cleared with `null`. */
  setFault(fault: MlflowFault | null): void;
  /** Number of requests MLflow received (faulted ones included). */
  requestCount(): number;
  /** Adds a registered model with `versions` versions, as if registered earlier. */
  seedModel(name: string, versions?: number): void;
  reset(): void;
}

const STAGES = ['None', 'Staging', 'Production', 'Archived'];

function mlflowError(status: number, error_code: string, message: string) {
  return HttpResponse.json({ error_code, message }, { status });
}

function publicModel(model: StoredModel) {
  const latest = new Map<string, StoredVersion>();
  for (const version of model.versions) latest.set(version.current_stage, version);
  return {
    name: model.name,
    creation_timestamp: model.creation_timestamp,
    last_updated_timestamp: model.last_updated_timestamp,
    description: model.description,
    latest_versions: [...latest.values()],
  };
}

function matchesFilter(name: string, filter: string | null): boolean {
  if (!filter) return true;
  const like = /^name\s+(I?LIKE)\s+'(.*)'$/i.exec(filter.trim());
  if (like) {
    const [, op, pattern = ''] = like;
    const regex = new RegExp(
      `^${pattern
        .replace(/''/g, "'")
        .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
        .replace(/%/g, '.*')
        .replace(/_/g, '.')}$`,
      op?.toUpperCase() === 'ILIKE' ? 'i' : '',
    );
    return regex.test(name);
  }
  const equals = /^name\s*=\s*'(.*)'$/.exec(filter.trim());
  return equals ? equals[1] === name : true;
}

/**
 * Creates a mock of the MLflow REST API (the registry calls the service makes) at `baseUrl`. Answers and
 * error shapes follow the real server: `{error_code, message}`, RESOURCE_ALREADY_EXISTS is 400.
 */
export function createMlflowMock(baseUrl: string): MlflowMock {
  const api = `${baseUrl.replace(/\/+$/, '')}/api/2.0/mlflow`;
  const models = new Map<string, StoredModel>();
  let fault: MlflowFault | null = null;
  let requests = 0;
  let clock = 1_700_000_000_000;
  const tick = () => (clock += 1000);

  async function faulted(): Promise<Response | undefined> {
    requests += 1;
    switch (fault) {
      case 'refused':
        return HttpResponse.error();
      case 'timeout':
        await delay('infinite');
        return undefined;
      case 'server_error':
        return new HttpResponse('<html><body>502 Bad Gateway</body></html>', {
          status: 500,
          headers: { 'content-type': 'text/html' },
        });
      case 'malformed_json':
        return new HttpResponse('{"registered_models": [', {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });
      case 'missing_fields':
        return HttpResponse.json({ registered_model: { description: 'no name' }, model_version: { source: 'x' } });
      default:
        return undefined;
    }
  }

  function addVersion(model: StoredModel, source: string, runId: string, description: string): StoredVersion {
    const now = tick();
    const version: StoredVersion = {
      name: model.name,
      version: String(model.versions.length + 1),
      creation_timestamp: now,
      last_updated_timestamp: now,
      current_stage: 'None',
      description,
      source,
      run_id: runId,
      status: 'READY',
    };
    model.versions.push(version);
    model.last_updated_timestamp = now;
    return version;
  }

  function createModel(name: string): StoredModel {
    const now = tick();
    const model = { name, creation_timestamp: now, last_updated_timestamp: now, description: '', versions: [] };
    models.set(name, model);
    return model;
  }

  const notFound = (what: string) => mlflowError(404, 'RESOURCE_DOES_NOT_EXIST', `${what} not found`);

  const handlers = [
    http.get(`${api}/registered-models/search`, async ({ request }) => {
      const failure = await faulted();
      if (failure) return failure;
      const params = new URL(request.url).searchParams;
      const max = Number(params.get('max_results') ?? 100);
      const found = [...models.values()].filter((model) => matchesFilter(model.name, params.get('filter')));
      return HttpResponse.json(found.length ? { registered_models: found.slice(0, max).map(publicModel) } : {});
    }),
    http.get(`${api}/registered-models/get`, async ({ request }) => {
      const failure = await faulted();
      if (failure) return failure;
      const name = new URL(request.url).searchParams.get('name') ?? '';
      const model = models.get(name);
      return model
        ? HttpResponse.json({ registered_model: publicModel(model) })
        : notFound(`Registered Model with name=${name}`);
    }),
    http.post(`${api}/registered-models/create`, async ({ request }) => {
      const failure = await faulted();
      if (failure) return failure;
      const body = (await request.json()) as { name?: string };
      if (!body.name)
        return mlflowError(400, 'INVALID_PARAMETER_VALUE', "Missing value for required parameter 'name'.");
      if (models.has(body.name)) {
        return mlflowError(400, 'RESOURCE_ALREADY_EXISTS', `Registered Model (name=${body.name}) already exists.`);
      }
      return HttpResponse.json({ registered_model: publicModel(createModel(body.name)) });
    }),
    http.post(`${api}/model-versions/create`, async ({ request }) => {
      const failure = await faulted();
      if (failure) return failure;
      const body = (await request.json()) as { name?: string; source?: string; run_id?: string; description?: string };
      const model = models.get(body.name ?? '');
      if (!model) return notFound(`Registered Model with name=${body.name}`);
      return HttpResponse.json({
        model_version: addVersion(model, body.source ?? '', body.run_id ?? '', body.description ?? ''),
      });
    }),
    http.get(`${api}/model-versions/get`, async ({ request }) => {
      const failure = await faulted();
      if (failure) return failure;
      const params = new URL(request.url).searchParams;
      const version = models.get(params.get('name') ?? '')?.versions.find((v) => v.version === params.get('version'));
      return version
        ? HttpResponse.json({ model_version: version })
        : notFound(`Model Version (name=${params.get('name')}, version=${params.get('version')})`);
    }),
    http.post(`${api}/model-versions/transition-stage`, async ({ request }) => {
      const failure = await faulted();
      if (failure) return failure;
      const body = (await request.json()) as {
        name?: string;
        version?: string;
        stage?: string;
        archive_existing_versions?: boolean;
      };
      const model = models.get(body.name ?? '');
      const version = model?.versions.find((v) => v.version === body.version);
      if (!model || !version) return notFound(`Model Version (name=${body.name}, version=${body.version})`);
      const stage = STAGES.find((s) => s.toLowerCase() === (body.stage ?? '').toLowerCase());
      if (!stage) return mlflowError(400, 'INVALID_PARAMETER_VALUE', `Invalid Model Version stage: ${body.stage}.`);
      if (body.archive_existing_versions && (stage === 'Staging' || stage === 'Production')) {
        for (const other of model.versions)
          if (other !== version && other.current_stage === stage) other.current_stage = 'Archived';
      }
      version.current_stage = stage;
      version.last_updated_timestamp = tick();
      return HttpResponse.json({ model_version: version });
    }),
  ];

  return {
    baseUrl,
    handlers,
    setFault: (next) => {
      fault = next;
    },
    requestCount: () => requests,
    seedModel(name, versions = 1) {
      const model = createModel(name);
      for (let i = 0; i < versions; i += 1) addVersion(model, `models:/seed/${name}/${i + 1}`, `run-${i + 1}`, '');
    },
    reset() {
      models.clear();
      fault = null;
      requests = 0;
    },
  };
}
