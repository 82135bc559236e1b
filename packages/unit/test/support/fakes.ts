import { Readable } from 'node:stream';
import {
  type AppDeps,
  buildApp,
  type Config,
  type DependencyCheck,
  type LoggedModelInfo,
  loadConfig,
  type MlflowClient,
  MlflowError,
  type MlflowErrorKind,
  type ModelVersion,
  type RegisteredModel,
} from '@registry/service';
import { readMetrics } from '@registry/service/client';

/** Settings for unit tests: quiet, no background probe, small breaker numbers. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    LOG_LEVEL: 'silent',
    MLFLOW_TRACKING_URI: 'http://mlflow.test:5000',
    MLFLOW_HEALTH_PROBE_INTERVAL: '0',
    MLFLOW_CB_FAILURE_THRESHOLD: '3',
    MLFLOW_CB_RECOVERY_TIMEOUT: '30',
    MLFLOW_CB_HALF_OPEN_SUCCESSES: '2',
    ADMIN_TOKEN: 'admin-token-0123456789',
    ...env,
  });
}

/** A request the pass-through handed to the MLflow client. */
export type ForwardedRequest = Parameters<MlflowClient['forward']>[0];
/** A registered-model search the routes asked the MLflow client for. */
export type SearchQuery = Parameters<MlflowClient['searchRegisteredModels']>[0];

/** An in-memory MLflow client whose calls can be made to fail with any failure kind, or to hang. */
export interface FakeMlflow extends MlflowClient {
  /** Makes every call from now on fail (status: 400 for `api`, else 500 unless given). */
  failWith(kind: MlflowErrorKind | null, errorCode?: string, status?: number): void;
  calls(): number;
  /** Resolves once `count` calls have reached the fake (without waiting on any timer, fake or real). */
  whenCalled(count: number): Promise<void>;
  /** Adds a registered model that reads and searches return. */
  addModel(model: RegisteredModel): void;
  /** Adds a model version that reads return (no model lists it among its latest versions). */
  addVersion(version: ModelVersion): void;
  /** Adds a logged model that reads return. */
  addLoggedModel(model: LoggedModelInfo): void;
  /** Makes every call from now on wait until the returned function is called. */
  hold(): () => void;
  /** The searches asked for, oldest first. */
  searches(): readonly SearchQuery[];
  /** The requests the pass-through forwarded, oldest first. */
  forwarded(): readonly ForwardedRequest[];
}

/** Creates the fake MLflow client with one model `fraud` (version 1). */
export function createFakeMlflow(): FakeMlflow {
  let failure: { kind: MlflowErrorKind; errorCode?: string; status?: number } | null = null;
  let calls = 0;
  const callWaiters = new Set<{ readonly count: number; readonly resolve: () => void }>();
  let held: Promise<void> | undefined;
  const searches: SearchQuery[] = [];
  const forwarded: ForwardedRequest[] = [];
  const versions: ModelVersion[] = [{ name: 'fraud', version: '1', current_stage: 'None', source: 's3://m/1' }];
  const models: RegisteredModel[] = [{ name: 'fraud', latest_versions: versions }];
  /** Versions that reads return and that no model lists among its latest. */
  const otherVersions: ModelVersion[] = [];
  const loggedModels: LoggedModelInfo[] = [];

  async function guard(): Promise<void> {
    calls += 1;
    for (const waiter of [...callWaiters]) {
      if (calls >= waiter.count) {
        callWaiters.delete(waiter);
        waiter.resolve();
      }
    }
    if (held) await held;
    if (failure) {
      throw new MlflowError(failure.kind, `fake ${failure.kind}`, {
        status: failure.status ?? (failure.kind === 'api' ? 400 : 500),
        errorCode: failure.errorCode,
      });
    }
  }
  const notFound = () => new MlflowError('api', 'not found', { status: 404, errorCode: 'RESOURCE_DOES_NOT_EXIST' });

  return {
    failWith(kind, errorCode, status) {
      failure = kind ? { kind, errorCode, status } : null;
    },
    calls: () => calls,
    whenCalled(count) {
      if (calls >= count) return Promise.resolve();
      const { promise, resolve } = Promise.withResolvers<void>();
      callWaiters.add({ count, resolve });
      return promise;
    },
    addModel(model) {
      models.push(model);
    },
    addVersion(version) {
      otherVersions.push(version);
    },
    addLoggedModel(model) {
      loggedModels.push(model);
    },
    hold() {
      const { promise, resolve } = Promise.withResolvers<void>();
      held = promise;
      return () => {
        held = undefined;
        resolve();
      };
    },
    searches: () => searches,
    forwarded: () => forwarded,
    async searchRegisteredModels(query) {
      searches.push(query);
      await guard();
      return { registered_models: models };
    },
    async getRegisteredModel(name) {
      await guard();
      const model = models.find((m) => m.name === name);
      if (!model) throw notFound();
      return model;
    },
    async getModelVersion(name, version) {
      await guard();
      const found = [...versions, ...otherVersions].find((v) => v.name === name && v.version === version);
      if (!found) throw notFound();
      return found;
    },
    async getLoggedModel(modelId) {
      await guard();
      const found = loggedModels.find((model) => model.model_id === modelId);
      if (!found) throw notFound();
      return found;
    },
    async createRegisteredModel(name) {
      await guard();
      if (models.some((m) => m.name === name)) {
        throw new MlflowError('api', 'exists', { status: 400, errorCode: 'RESOURCE_ALREADY_EXISTS' });
      }
      const model = { name };
      models.push(model);
      return model;
    },
    async createModelVersion(input) {
      await guard();
      const version = {
        name: input.name,
        version: String(versions.filter((v) => v.name === input.name).length + 1),
        source: input.source,
        current_stage: 'None',
        ...(input.description === undefined ? {} : { description: input.description }),
      };
      versions.push(version);
      return version;
    },
    async transitionModelVersionStage(input) {
      await guard();
      const found = versions.find((v) => v.name === input.name && v.version === input.version);
      if (!found) throw notFound();
      found.current_stage = input.stage;
      return found;
    },
    async ping() {
      await guard();
    },
    async forward(request) {
      forwarded.push(request);
      await guard();
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: Readable.from([Buffer.from(JSON.stringify({ forwarded: request.pathAndQuery }))]),
      };
    },
  };
}

/** A dependency check whose health the test switches. */
export function createSwitchableCheck(
  name: string,
  critical: boolean,
): DependencyCheck & { setDown(down: boolean): void } {
  let down = false;
  return {
    name,
    critical,
    setDown(value) {
      down = value;
    },
    async check() {
      if (down) throw new Error(`${name} is down`);
    },
    async close() {},
  };
}

/** buildApp with the fake MLflow client and test settings. */
export function buildTestApp(options: { env?: Record<string, string>; mlflow?: FakeMlflow } & Partial<AppDeps> = {}) {
  const mlflow = options.mlflow ?? createFakeMlflow();
  const app = buildApp({ config: testConfig(options.env), mlflowClient: mlflow, ...options });
  return { app, mlflow };
}

/** The admin Authorization header matching `testConfig`. */
export const ADMIN_AUTH = { authorization: 'Bearer admin-token-0123456789' };

/** A `fetch` that answers from `app.inject`, so the typed client can be tested without a socket. */
export function injectFetch(app: ReturnType<typeof buildApp>): typeof fetch {
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const answer = await app.inject({
      method: (init?.method ?? 'GET') as 'GET',
      url: `${url.pathname}${url.search}`,
      headers: init?.headers as Record<string, string> | undefined,
      payload: typeof init?.body === 'string' ? init.body : undefined,
    });
    return new Response(answer.rawPayload, {
      status: answer.statusCode,
      headers: Object.entries(answer.headers).map(([name, value]) => [name, String(value)] as [string, string]),
    });
  };
}

type TestApp = ReturnType<typeof buildTestApp>['app'];

/**
 * Opens the breaker as users would: MLflow unreachable for three registry reads (the default
 * MLFLOW_CB_FAILURE_THRESHOLD). MLflow keeps failing unless `recover` is set.
 */
export async function tripBreaker(app: TestApp, mlflow: FakeMlflow, options: { recover?: boolean } = {}) {
  mlflow.failWith('unreachable');
  for (let i = 0; i < 3; i += 1) await app.inject('/api/v1/models/trip-the-breaker');
  if (options.recover) mlflow.failWith(null);
}

/** One sample of `GET /metrics` by name, read as a Prometheus client would. */
export async function metric(app: TestApp, name: string): Promise<number> {
  return readMetrics((await app.inject('/metrics')).body).value(name);
}
