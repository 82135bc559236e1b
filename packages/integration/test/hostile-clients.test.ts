import { createHash, randomBytes } from 'node:crypto';
import { type AddressInfo, connect } from 'node:net';
import { PassThrough } from 'node:stream';
import {
  buildApp,
  FORWARDED_RESPONSE_HEADERS,
  loadConfig,
  MAX_FILTER_LENGTH,
  METRICS,
  type MlflowClient,
  REGISTRY_BODY_LIMIT_BYTES,
  REGISTRY_PREFIX,
} from '@registry/service';
import { readMetrics } from '@registry/service/client';
import {
  fetchJson,
  freePort,
  localProviders,
  type ProviderMlflow,
  type RecordingListener,
  requiredProviders,
  startMlflowWith,
  startRecordingListener,
  waitFor,
} from '@registry/testkit';
import { describeOnProvider } from '@registry/testkit/suites';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mlflowPython, runPython } from './support/mlflow-python.js';
import { sendRaw } from './support/raw-request.js';
import { startRecordingProxy } from './support/recording-proxy.js';
import { realMlflowEnv, startListeningService, startService } from './support/service.js';

const API_KEY = 'hostile-clients-api-key';
/** A key of API_READ_ONLY_KEYS beside API_KEY. */
const READ_ONLY_KEY = 'hostile-clients-reader-key';
const SERVICE_TOKEN = 'service-token-for-mlflow';
/** Enough of each hostile request to open the breaker many times over, were it counted (threshold 2). */
const HOSTILE_REQUESTS = 10;
const BREAKER_ENV = { MLFLOW_CB_FAILURE_THRESHOLD: '2' };
/** An artifact bigger than one cap below and smaller than the other. */
const ARTIFACT_BYTES = 3_000_000;
const ARTIFACT_PATH = 'hostile/model.bin';
/** An artifact far bigger than the socket buffers between the service and a client that stops reading. */
const STALLED_ARTIFACT_BYTES = 48_000_000;

/** Registers, aliases, searches, transitions and tags a model, and prints what the client read back. */
const REGISTER_SCRIPT = `
import json, sys
from mlflow import MlflowClient
name = sys.argv[1]
client = MlflowClient()
client.create_registered_model(name)
version = client.create_model_version(name, "s3://x/y").version
client.set_registered_model_alias(name, "champion", version)
by_alias = client.get_model_version_by_alias(name, "champion")
names = [model.name for model in client.search_registered_models()]
stage = client.transition_model_version_stage(name, version, "Staging").current_stage
client.set_model_version_tag(name, version, "reviewed-by", "hostile-clients")
tags = client.get_model_version(name, version).tags
print(json.dumps({"version": version, "alias_version": by_alias.version, "names": names, "stage": stage, "tags": tags}))
`;

/**
 * Calls one client method (argv[1]) on the model argv[2] and prints the outcome as JSON: the exception
 * class, the `code` of the error body the client parsed, and the exception text.
 */
const ATTEMPT_SCRIPT = `
import json, sys
from mlflow import MlflowClient
method, name = sys.argv[1], sys.argv[2]
try:
    getattr(MlflowClient(), method)(**({"name": name} if method == "delete_registered_model" else {}))
except Exception as error:
    body = getattr(error, "json", None) or {}
    status = error.get_http_status_code() if hasattr(error, "get_http_status_code") else None
    print(json.dumps({"refused": type(error).__name__, "code": body.get("code"), "error_code": body.get("error_code"), "status": status, "text": str(error)}))
else:
    print(json.dumps({"refused": None}))
`;

/** Reads a model, then tries to tag it as a prompt (which would hide it from the registry API's listings). */
const READ_THEN_TAG_SCRIPT = `
import json, sys
from mlflow import MlflowClient
name = sys.argv[1]
client = MlflowClient()
read = client.get_registered_model(name).name
try:
    client.set_registered_model_tag(name, "mlflow.prompt.is_prompt", "true")
except Exception as error:
    body = getattr(error, "json", None) or {}
    print(json.dumps({"read": read, "refused": type(error).__name__, "code": body.get("code"), "error_code": body.get("error_code")}))
else:
    print(json.dumps({"read": read, "refused": None}))
`;

/** Registers a prompt (its versions carry MLflow's placeholder source) and loads it back. */
const PROMPT_SCRIPT = `
import json, sys
import mlflow
name = sys.argv[1]
prompt = mlflow.genai.register_prompt(name=name, template="Answer {{question}}")
loaded = mlflow.genai.load_prompt(f"prompts:/{name}/{prompt.version}")
print(json.dumps({"version": prompt.version, "template": loaded.template}))
`;

/** The JSON line a Python script printed last. */
function lastJsonLine(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
}

/** One call straight to MLflow (not through the service) that must answer 200; its JSON answer. */
async function mlflowJson<T = Record<string, unknown>>(
  mlflowUrl: string,
  path: string,
  options: { method?: string; body?: unknown; what?: string } = {},
): Promise<T> {
  const { method = 'GET', body } = options;
  const response = await fetchJson<T>(`${mlflowUrl}${path}`, {
    method,
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(response.status, options.what ?? `MLflow answers ${method} ${path}`).toBe(200);
  return response.body;
}

async function createModelInMlflow(mlflowUrl: string, name: string, description?: string): Promise<void> {
  await mlflowJson(mlflowUrl, '/api/2.0/mlflow/registered-models/create', {
    method: 'POST',
    body: { name, description },
    what: `MLflow creates ${name}`,
  });
}

/** Creates a logged model in MLflow's default experiment; its id and status. */
async function createLoggedModelInMlflow(mlflowUrl: string, name: string) {
  const created = await mlflowJson<{ model: { info: { model_id: string; status: string } } }>(
    mlflowUrl,
    '/api/2.0/mlflow/logged-models',
    { method: 'POST', body: { experiment_id: '0', name }, what: `MLflow creates the logged model ${name}` },
  );
  return created.model.info;
}

type Service = Awaited<ReturnType<typeof startService>>;

/** The breaker as an operator sees it: closed, with no failure counted. */
async function expectBreakerUntouched(service: Service): Promise<void> {
  const status = await service.request.get('/health/status').expect(200);
  expect(status.body.circuit_breaker).toMatchObject({ state: 'closed', failure_count: 0 });
}

/**
 * A client that asks the service on `port` for `target` (with `headers`) and never reads the answer;
 * destroyed on dispose.
 */
function stallDownload(port: number, target: string, headers: Readonly<Record<string, string>> = {}) {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  socket.pause();
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
  socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\n${lines.join('')}\r\n`);
  return {
    /** Reads on until the service closes the connection; resolves with the bytes that came. */
    async readRest(): Promise<number> {
      if (!socket.closed) {
        const closed = new Promise((resolve) => socket.once('close', resolve));
        socket.resume();
        await closed;
      }
      return socket.bytesRead;
    },
    [Symbol.asyncDispose]: async () => void socket.destroy(),
  };
}

/** Waits until the service's `registry_mlflow_streams_in_flight` (read from `metricsText`) is `count`. */
async function waitForStreams(
  metricsText: () => Promise<string>,
  count: number,
  options: { timeoutMs: number; intervalMs: number; what: string },
): Promise<void> {
  await waitFor(async () => readMetrics(await metricsText()).value(METRICS.streamsInFlight) === count, options);
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

for (const local of localProviders()) {
  const { provider, networking } = local;
  describeOnProvider('Hostile clients against the real MLflow', local, () => {
    let mlflow: ProviderMlflow;

    beforeAll(async () => {
      mlflow = await startMlflowWith(provider, { networking });
    });
    afterAll(async () => mlflow?.stop());

    describe('Official MLflow client through /mlflow', () => {
      const python = mlflowPython();
      const notProvisioned = 'the MLflow Python client comes from the process provider’s venv, not provisioned here';
      // The client comes with the process provider: where REGISTRY_REQUIRED_PROVIDERS requires that provider,
      // a missing client fails these tests instead of skipping them.
      const skipClient = !python && !requiredProviders().has('process');
      if (skipClient) process.stdout.write(`Official MLflow client through /mlflow: not run (${notProvisioned})\n`);
      const client = () => {
        if (!python)
          throw new Error(`${notProvisioned}, and REGISTRY_REQUIRED_PROVIDERS requires the process provider`);
        return python;
      };
      const serviceEnv = () => ({ ...realMlflowEnv(mlflow.url), API_KEYS: API_KEY });

      it.skipIf(skipClient)(
        'registers, aliases, searches, transitions and tags a model with an API key as its token',
        async () => {
          await using service = await startListeningService(serviceEnv());
          const run = await runPython(client(), REGISTER_SCRIPT, {
            args: ['python-client-model'],
            mlflowEnv: { MLFLOW_TRACKING_URI: `${service.url}/mlflow`, MLFLOW_TRACKING_TOKEN: API_KEY },
          });
          expect(run.exitCode, run.stderr).toBe(0);
          const outcome = lastJsonLine(run.stdout);
          expect(outcome).toMatchObject({
            version: '1',
            alias_version: '1',
            stage: 'Staging',
            tags: { 'reviewed-by': 'hostile-clients' },
          });
          expect(outcome.names).toContain('python-client-model');
          const direct = await fetch(
            `${mlflow.url}/api/2.0/mlflow/registered-models/alias?name=python-client-model&alias=champion`,
          );
          expect(direct.status).toBe(200);
        },
      );

      it.skipIf(skipClient)(
        'refuses delete_registered_model with MLFLOW_PROXY_FORBIDDEN and keeps the model',
        async () => {
          await createModelInMlflow(mlflow.url, 'undeletable-model');
          await using service = await startListeningService(serviceEnv());
          const run = await runPython(client(), ATTEMPT_SCRIPT, {
            args: ['delete_registered_model', 'undeletable-model'],
            mlflowEnv: { MLFLOW_TRACKING_URI: `${service.url}/mlflow`, MLFLOW_TRACKING_TOKEN: API_KEY },
          });
          // The client raises a RestException holding the service's catalogue body; it derives the status
          // it reports from MLflow's error_code, which the pass-through adds to its own errors.
          expect(lastJsonLine(run.stdout), run.stderr).toMatchObject({
            refused: 'RestException',
            code: 'MLFLOW_PROXY_FORBIDDEN',
            error_code: 'PERMISSION_DENIED',
            status: 403,
            text: expect.stringContaining('MLFLOW_PROXY=registry does not allow DELETE'),
          });
          const direct = await fetch(`${mlflow.url}/api/2.0/mlflow/registered-models/get?name=undeletable-model`);
          expect(direct.status).toBe(200);
        },
      );

      it.skipIf(skipClient)(
        'registers and loads a prompt, whose versions carry MLflow’s placeholder source',
        async () => {
          await using service = await startListeningService({
            ...serviceEnv(),
            MLFLOW_ALLOWED_SOURCES: 's3://registry-test/allowed/',
          });
          const run = await runPython(client(), PROMPT_SCRIPT, {
            args: ['python-client-prompt'],
            mlflowEnv: { MLFLOW_TRACKING_URI: `${service.url}/mlflow`, MLFLOW_TRACKING_TOKEN: API_KEY },
          });
          expect(run.exitCode, run.stderr).toBe(0);
          expect(lastJsonLine(run.stdout)).toEqual({ version: 1, template: 'Answer {{question}}' });
        },
      );

      it.skipIf(skipClient)(
        'reads with a read-only key as its token and is refused a tag, which MLflow never gets',
        async () => {
          const model = 'python-read-only-model';
          await createModelInMlflow(mlflow.url, model);
          await using service = await startListeningService({ ...serviceEnv(), API_READ_ONLY_KEYS: READ_ONLY_KEY });
          const run = await runPython(client(), READ_THEN_TAG_SCRIPT, {
            args: [model],
            mlflowEnv: { MLFLOW_TRACKING_URI: `${service.url}/mlflow`, MLFLOW_TRACKING_TOKEN: READ_ONLY_KEY },
          });
          expect(lastJsonLine(run.stdout), run.stderr).toMatchObject({
            read: model,
            refused: 'RestException',
            code: 'API_KEY_READ_ONLY',
            error_code: 'PERMISSION_DENIED',
          });
          const direct = await mlflowJson<{ registered_model: { tags?: unknown[] } }>(
            mlflow.url,
            `/api/2.0/mlflow/registered-models/get?name=${model}`,
          );
          expect(direct.registered_model.tags ?? []).toEqual([]);
        },
      );

      it.skipIf(skipClient).each([
        { token: undefined, why: 'without a token' },
        { token: 'not-an-api-key', why: 'with a token that is no API key' },
      ])('refuses the client with UNAUTHORIZED $why', async ({ token }) => {
        await using service = await startListeningService(serviceEnv());
        const run = await runPython(client(), ATTEMPT_SCRIPT, {
          args: ['search_registered_models', ''],
          mlflowEnv: {
            MLFLOW_TRACKING_URI: `${service.url}/mlflow`,
            ...(token === undefined ? {} : { MLFLOW_TRACKING_TOKEN: token }),
          },
        });
        expect(lastJsonLine(run.stdout), run.stderr).toMatchObject({
          refused: 'RestException',
          code: 'UNAUTHORIZED',
          error_code: 'UNAUTHENTICATED',
          status: 401,
        });
      });
    });

    describe('Literal search', () => {
      beforeAll(async () => {
        for (const name of ["o'brien-model", 'pct%model', 'under_score', 'plainmodel']) {
          await createModelInMlflow(mlflow.url, name);
        }
      });

      it.each([
        { search: "o'brien", expected: ["o'brien-model"] },
        { search: '%', expected: ['pct%model'] },
        { search: '_', expected: ['under_score'] },
        { search: 'PLAIN', expected: ['plainmodel'] },
      ])('finds exactly $expected for search=$search', async ({ search, expected }) => {
        await using service = await startService(realMlflowEnv(mlflow.url));
        const response = await service.request.get('/api/v1/models').query({ search }).expect(200);
        expect(response.body.models.map((model: { name: string }) => model.name)).toEqual(expected);
      });
    });

    describe('Sources of model versions (MLFLOW_ALLOWED_SOURCES)', () => {
      const MODEL = 'allowed-sources-model';
      const serviceEnv = () => ({
        ...realMlflowEnv(mlflow.url),
        ...BREAKER_ENV,
        MLFLOW_ALLOWED_SOURCES: 's3://registry-test/allowed/,runs:/',
      });

      it('registers a version from an allowed prefix, and no version from another bucket on either route', async () => {
        await using service = await startService(serviceEnv());
        const typed = await service.request
          .post(`/api/v1/models/${MODEL}/versions`)
          .send({ source: 's3://registry-test/allowed-not/model' });
        expect(typed.status).toBe(400);
        expect(typed.body).toMatchObject({ code: 'MODEL_SOURCE_NOT_ALLOWED' });
        await service.request
          .post(`/api/v1/models/${MODEL}/versions`)
          .send({ source: 's3://registry-test/allowed/model' })
          .expect(201);
        const relayed = await service.request
          .post('/mlflow/api/2.0/mlflow/model-versions/create')
          .send({ name: MODEL, source: 's3://any-bucket-mlflow-may-read/secret' });
        expect(relayed.status).toBe(400);
        expect(relayed.body).toMatchObject({ code: 'MODEL_SOURCE_NOT_ALLOWED', error_code: 'INVALID_PARAMETER_VALUE' });
        // MLflow holds the one allowed version only.
        const versions = await mlflowJson<{ model_versions?: { source: string }[] }>(
          mlflow.url,
          `/api/2.0/mlflow/model-versions/search?filter=${encodeURIComponent(`name = '${MODEL}'`)}`,
        );
        expect((versions.model_versions ?? []).map((version) => version.source)).toEqual([
          's3://registry-test/allowed/model',
        ]);
        await expectBreakerUntouched(service);
      });
    });

    describe('Read-only keys (API_READ_ONLY_KEYS)', () => {
      const MODEL = 'read-only-keys-model';
      const serviceEnv = () => ({
        ...realMlflowEnv(mlflow.url),
        ...BREAKER_ENV,
        API_KEYS: API_KEY,
        API_READ_ONLY_KEYS: READ_ONLY_KEY,
      });

      it('lets a read-only key read what a key of API_KEYS registered, and change none of it on either route', async () => {
        await using service = await startService(serviceEnv());
        const writer = { 'x-api-key': API_KEY };
        const reader = { 'x-api-key': READ_ONLY_KEY };
        await service.request
          .post(`/api/v1/models/${MODEL}/versions`)
          .set(writer)
          .send({ source: 's3://registry-test/read-only/model' })
          .expect(201);
        const read = await service.request.get(`/api/v1/models/${MODEL}`).set(reader).expect(200);
        expect(read.body.model).toMatchObject({ name: MODEL });
        const relayed = await service.request
          .get(`/mlflow/api/2.0/mlflow/registered-models/get?name=${MODEL}`)
          .set(reader)
          .expect(200);
        expect(relayed.body.registered_model).toMatchObject({ name: MODEL });
        const attempts = [
          service.request.post(`/api/v1/models/${MODEL}/versions`).set(reader).send({ source: 's3://registry-test/x' }),
          service.request.post(`/api/v1/models/${MODEL}/versions/1/stage`).set(reader).send({ stage: 'Archived' }),
          service.request
            .post('/mlflow/api/2.0/mlflow/registered-models/set-tag')
            .set(reader)
            .send({ name: MODEL, key: 'mlflow.prompt.is_prompt', value: 'true' }),
          service.request
            .post('/mlflow/api/2.0/mlflow/registered-models/alias')
            .set(reader)
            .send({ name: MODEL, alias: 'champion', version: '1' }),
          service.request
            .post('/mlflow/api/2.0/mlflow/model-versions/transition-stage')
            .set(reader)
            .send({ name: MODEL, version: '1', stage: 'Archived' }),
        ];
        for (const attempt of await Promise.all(attempts)) {
          expect(attempt.status).toBe(403);
          expect(attempt.body).toMatchObject({ code: 'API_KEY_READ_ONLY' });
        }
        // MLflow holds what the writer registered, and nothing the reader tried.
        const model = await mlflowJson<{
          registered_model: { tags?: unknown[]; aliases?: unknown[]; latest_versions: { current_stage: string }[] };
        }>(mlflow.url, `/api/2.0/mlflow/registered-models/get?name=${MODEL}`);
        expect(model.registered_model.tags ?? []).toEqual([]);
        expect(model.registered_model.aliases ?? []).toEqual([]);
        expect(model.registered_model.latest_versions.map((version) => version.current_stage)).toEqual(['None']);
        await expectBreakerUntouched(service);
      });
    });

    describe('Data a client stores (MLFLOW_PROXY_MAX_ENTRY_BYTES)', () => {
      const MODEL = 'entry-budget-model';
      /** A small budget, so that a few 1,000-byte tags reach it. */
      const serviceEnv = () => ({ ...realMlflowEnv(mlflow.url), ...BREAKER_ENV, MLFLOW_PROXY_MAX_ENTRY_BYTES: '4096' });
      /** A tag of exactly 1,000 bytes (key and value). */
      const tag = (key: string) => ({ key, value: 'v'.repeat(1000 - key.length) });
      const readFromMlflow = (path: string) => mlflowJson(mlflow.url, path);

      beforeAll(async () => {
        await createModelInMlflow(mlflow.url, MODEL);
        await mlflowJson(mlflow.url, '/api/2.0/mlflow/model-versions/create', {
          method: 'POST',
          body: { name: MODEL, source: 's3://registry-test/entry-budget/1' },
          what: 'MLflow creates version 1',
        });
      });

      it('stores tags on an aliased version up to the budget, then refuses the next before MLflow sees it', async () => {
        await using service = await startService(serviceEnv());
        // The official client's flow: an alias first. MLflow then lists it on the version as a name (8 bytes).
        const aliased = await service.request
          .post('/mlflow/api/2.0/mlflow/registered-models/alias')
          .send({ name: MODEL, alias: 'champion', version: '1' });
        expect(aliased.status, 'the alias').toBe(200);
        const setTag = (key: string) =>
          service.request
            .post('/mlflow/api/2.0/mlflow/model-versions/set-tag')
            .send({ name: MODEL, version: '1', ...tag(key) });
        for (const key of ['t0', 't1', 't2', 't3']) expect((await setTag(key)).status, `tag ${key}`).toBe(200);
        const refused = await setTag('t4');
        expect(refused.status).toBe(400);
        expect(refused.body).toMatchObject({
          code: 'MLFLOW_ENTRY_TOO_LARGE',
          error_code: 'BAD_REQUEST',
          details: { held_bytes: 4008, request_bytes: 1000, max_bytes: 4096 },
        });
        expect((await setTag('t0')).status, 'replacing a stored tag').toBe(200);

        const { model_version } = await readFromMlflow(`/api/2.0/mlflow/model-versions/get?name=${MODEL}&version=1`);
        const keys = (model_version as { tags: { key: string }[] }).tags.map((stored) => stored.key).sort();
        expect(keys).toEqual(['t0', 't1', 't2', 't3']);
        await expectBreakerUntouched(service);
      });

      it("holds a model's tags and aliases together, and a new model's tags, to the budget", async () => {
        await using service = await startService(serviceEnv());
        const api = '/mlflow/api/2.0/mlflow';
        for (const key of ['m0', 'm1', 'm2', 'm3']) {
          expect(
            (await service.request.post(`${api}/registered-models/set-tag`).send({ name: MODEL, ...tag(key) })).status,
          ).toBe(200);
        }
        const alias = await service.request.post(`${api}/registered-models/alias`).send({
          name: MODEL,
          alias: 'a-rather-long-alias-name-for-the-budget-of-this-model'.repeat(2),
          version: '1',
        });
        expect(alias.body).toMatchObject({ code: 'MLFLOW_ENTRY_TOO_LARGE', details: { held_bytes: 4009 } });
        const created = await service.request
          .post(`${api}/registered-models/create`)
          .send({ name: 'entry-budget-padded', tags: [tag('a'), tag('b'), tag('c'), tag('d'), tag('e')] });
        expect(created.body).toMatchObject({ code: 'MLFLOW_ENTRY_TOO_LARGE', details: { request_bytes: 5000 } });

        const { registered_model } = await readFromMlflow(`/api/2.0/mlflow/registered-models/get?name=${MODEL}`);
        expect((registered_model as { aliases?: unknown[] }).aliases).toEqual([{ alias: 'champion', version: '1' }]);
        const missing = await fetch(`${mlflow.url}/api/2.0/mlflow/registered-models/get?name=entry-budget-padded`);
        expect(missing.status, 'the padded model was never created').toBe(404);
        await expectBreakerUntouched(service);
      });

      it('stores only what fits of eight tags written to one version at once, and refuses the rest', async () => {
        const name = 'entry-budget-race';
        await createModelInMlflow(mlflow.url, name);
        await mlflowJson(mlflow.url, '/api/2.0/mlflow/model-versions/create', {
          method: 'POST',
          body: { name, source: 's3://registry-test/entry-budget-race/1' },
          what: `MLflow creates version 1 of ${name}`,
        });
        await using service = await startService(serviceEnv());
        const tagKeys = Array.from({ length: 8 }, (_, i) => `race-${i}`);
        const responses = await Promise.all(
          tagKeys.map((key) =>
            service.request
              .post('/mlflow/api/2.0/mlflow/model-versions/set-tag')
              .send({ name, version: '1', ...tag(key) }),
          ),
        );
        const statuses = responses.map((response) => response.status).sort();
        expect(statuses, 'four 1,000-byte tags fit the 4,096-byte budget').toEqual([
          200, 200, 200, 200, 400, 400, 400, 400,
        ]);
        const { model_version } = await readFromMlflow(`/api/2.0/mlflow/model-versions/get?name=${name}&version=1`);
        expect((model_version as { tags: unknown[] }).tags, 'what MLflow holds').toHaveLength(4);
        await expectBreakerUntouched(service);
      });

      it('drops a write that waits for its entry once its client goes, and runs the writes after it', async () => {
        const name = 'entry-queue-gone';
        await createModelInMlflow(mlflow.url, name);
        // MLflow answers 500 ms late through a real Toxiproxy (the provider's), so the first write holds the
        // entry for a second.
        const { proxy, address } = await mlflow.proxyMlflow('slow-mlflow');
        await proxy.addToxic({
          name: 'slow',
          type: 'latency',
          stream: 'downstream',
          toxicity: 1,
          attributes: { latency: 500, jitter: 0 },
        });
        await using service = await startListeningService({
          ...serviceEnv(),
          ...realMlflowEnv(`http://${address}`),
        });
        const setTag = '/mlflow/api/2.0/mlflow/registered-models/set-tag';
        const bodiesInProgress = async () =>
          readMetrics((await service.request.get('/metrics')).text).value(METRICS.bodiesInProgress);
        const untilBodies = (count: number, what: string) =>
          waitFor(async () => (await bodiesInProgress()) === count, { timeoutMs: 10_000, intervalMs: 20, what });

        const first = service.request.post(setTag).send({ name, ...tag('first') });
        const firstDone = first.then((response) => response.status);
        await untilBodies(1, 'the first write to hold the entry');
        // The second write, sent whole over a socket that its client then closes while it waits.
        const body = JSON.stringify({ name, ...tag('abandoned') });
        const abandoned = connect(Number(new URL(service.url).port), '127.0.0.1');
        abandoned.on('error', () => {});
        abandoned.write(
          `POST ${setTag} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
        );
        await untilBodies(2, 'the second write to wait for the entry');
        abandoned.destroy();
        const last = await service.request.post(setTag).send({ name, ...tag('last') });
        expect(last.status, 'the write after the abandoned one').toBe(200);
        expect(await firstDone, 'the first write').toBe(200);

        const { registered_model } = await readFromMlflow(`/api/2.0/mlflow/registered-models/get?name=${name}`);
        const stored = (registered_model as { tags?: { key: string }[] }).tags?.map((held) => held.key).sort();
        expect(stored, 'the abandoned write never reached MLflow').toEqual(['first', 'last']);
        await expectBreakerUntouched(service);
      });

      it("refuses a run_id longer than MLflow's column, which SQLite would store whole in every listing", async () => {
        const name = 'long-run-id';
        await using service = await startService(serviceEnv());
        const created = await service.request
          .post('/mlflow/api/2.0/mlflow/registered-models/create')
          .send({ name })
          .expect(200);
        expect(created.body.registered_model.name).toBe(name);
        for (const field of ['run_id', 'runId']) {
          const refused = await service.request
            .post('/mlflow/api/2.0/mlflow/model-versions/create')
            .send({ name, source: 's3://registry-test/long-run-id/1', [field]: 'r'.repeat(33) });
          expect(refused.status, field).toBe(400);
          expect(refused.body).toMatchObject({ code: 'BAD_REQUEST', error_code: 'BAD_REQUEST' });
        }
        const versions = await readFromMlflow(
          `/api/2.0/mlflow/model-versions/search?filter=${encodeURIComponent(`name='${name}'`)}`,
        );
        expect(versions.model_versions ?? [], 'MLflow holds no version of the model').toEqual([]);
        await expectBreakerUntouched(service);
      });

      it('answers a listing too large to read in smaller pages whose tokens still reach every model', async () => {
        const names = Array.from({ length: 10 }, (_, i) => `page-shrink-${String(i).padStart(2, '0')}`);
        for (const name of names) {
          // About 6 KB per model, written past the service (as a training job would): a description and a tag.
          await createModelInMlflow(mlflow.url, name, 'd'.repeat(4000));
          await mlflowJson(mlflow.url, '/api/2.0/mlflow/registered-models/set-tag', {
            method: 'POST',
            body: { name, key: 'notes', value: 'n'.repeat(2000) },
            what: `MLflow tags ${name}`,
          });
        }
        // A 16 KiB cap and a 1 KiB budget: the service asks for 3 models a page (16,384 / 5,120), which MLflow
        // answers in about 18 KB, so it asks again for 2, which fit.
        await using service = await startService({
          ...serviceEnv(),
          MLFLOW_API_MAX_BYTES: '16384',
          MLFLOW_PROXY_MAX_ENTRY_BYTES: '1024',
        });
        const seen: string[] = [];
        const pageSizes: number[] = [];
        let token: string | null = null;
        for (let page = 0; page < names.length + 1; page += 1) {
          const query: Record<string, string> = { filter: "name LIKE 'page-shrink-%'", max_results: '10' };
          if (token) query.page_token = token;
          const response = await service.request.get('/api/v1/models').query(query).expect(200);
          const models = response.body.models as { name: string }[];
          pageSizes.push(models.length);
          seen.push(...models.map((model) => model.name));
          token = response.body.next_page_token;
          if (!token) break;
        }
        expect(pageSizes[0]).toBeGreaterThan(0);
        expect(pageSizes[0], 'a page smaller than the cap of 3: the too-large page was asked for again').toBeLessThan(
          3,
        );
        expect(seen.sort()).toEqual(names);
        await expectBreakerUntouched(service);
      });

      it("holds a logged model's tags to the budget, and refuses tags on one MLflow does not show", async () => {
        const id = (await createLoggedModelInMlflow(mlflow.url, 'entry-budget-logged')).model_id;
        await using service = await startService(serviceEnv());
        const patch = (keys: string[]) =>
          service.request.patch(`/mlflow/api/2.0/mlflow/logged-models/${id}/tags`).send({ tags: keys.map(tag) });
        expect((await patch(['l0', 'l1', 'l2'])).status).toBe(200);
        expect((await patch(['l3', 'l4'])).body).toMatchObject({
          code: 'MLFLOW_ENTRY_TOO_LARGE',
          details: { held_bytes: 3000, request_bytes: 2000 },
        });
        const unknown = await service.request
          .patch('/mlflow/api/2.0/mlflow/logged-models/m-00000000000000000000000000000000/tags')
          .send({ tags: [tag('l5')] });
        expect(unknown.status, 'a logged model MLflow does not have').toBe(404);
        expect(unknown.body.error_code).toBe('RESOURCE_DOES_NOT_EXIST');
        // A deleted logged model: MLflow's GET hides it, but its set-tags would still write to it.
        const doomedId = (await createLoggedModelInMlflow(mlflow.url, 'entry-budget-deleted')).model_id;
        await mlflowJson(mlflow.url, `/api/2.0/mlflow/logged-models/${doomedId}`, {
          method: 'DELETE',
          what: 'MLflow deletes the logged model',
        });
        const onDeleted = await service.request
          .patch(`/mlflow/api/2.0/mlflow/logged-models/${doomedId}/tags`)
          .send({ tags: [tag('l6')] });
        expect(onDeleted.status, 'tags on a deleted logged model').toBe(404);
        const { model } = await readFromMlflow(`/api/2.0/mlflow/logged-models/${id}`);
        const keys = (model as { info: { tags: { key: string }[] } }).info.tags.map((stored) => stored.key).sort();
        expect(keys).toEqual(['l0', 'l1', 'l2']);
      });
    });

    describe('Breaker under client-chosen requests', () => {
      const serviceEnv = () => ({ ...realMlflowEnv(mlflow.url), ...BREAKER_ENV, MLFLOW_PROXY: 'full' });

      it('relays MLflow’s 500 to malformed GraphQL queries and keeps the breaker closed', async () => {
        await using service = await startService(serviceEnv());
        for (let attempt = 0; attempt < HOSTILE_REQUESTS; attempt += 1) {
          const response = await service.request.get('/mlflow/graphql');
          expect(response.status).toBe(500);
        }
        await expectBreakerUntouched(service);
        await service.request.get('/api/v1/models').expect(200);
      });

      // An audit opened the breaker for everyone with three of these at once while MLflow was up.
      it('answers registrations whose source MLflow cannot resolve (models:/<new>/latest) and keeps the breaker closed', async () => {
        await using service = await startService(serviceEnv());
        const answers = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            service.request
              .post(`/api/v1/models/unresolvable-source-${i}/versions`)
              .send({ source: `models:/unresolvable-source-${i}/latest` }),
          ),
        );
        expect(answers.map((answer) => answer.status)).toEqual(Array(8).fill(400));
        expect(answers[0]?.body).toMatchObject({ code: 'MLFLOW_REJECTED', details: { mlflow_status: 500 } });
        await expectBreakerUntouched(service);
        await service.request.get('/api/v1/models').expect(200);
      });

      it("refuses a path on MLflow's own host as a source by default, so MLflow never resolves it", async () => {
        await using service = await startService(serviceEnv());
        for (const source of ['/proc/1/cwd', 'file:///proc/self/fd']) {
          const typed = await service.request.post('/api/v1/models/local-source/versions').send({ source });
          expect(typed.body).toMatchObject({ code: 'MODEL_SOURCE_NOT_ALLOWED' });
          const relayed = await service.request
            .post('/mlflow/api/2.0/mlflow/model-versions/create')
            .send({ name: 'local-source', source, run_id: 'a'.repeat(32) });
          expect(relayed.body).toMatchObject({ code: 'MODEL_SOURCE_NOT_ALLOWED' });
        }
        const model = await fetch(`${mlflow.url}/api/2.0/mlflow/registered-models/get?name=local-source`);
        expect(model.status).toBe(404);
      });

      it.each([
        ['a filter', { filter: 'name IS NULL' }],
        // Found by Schemathesis: MLflow answers the page token W10= (base64 of `[]`) with a 500.
        ['a page token', { page_token: 'W10=' }],
      ])('answers 400 to %s MLflow fails on and keeps the breaker closed', async (_what, query) => {
        await using service = await startService(serviceEnv());
        for (let attempt = 0; attempt < HOSTILE_REQUESTS; attempt += 1) {
          const response = await service.request.get('/api/v1/models').query(query);
          expect(response.status).toBe(400);
          expect(response.body).toMatchObject({ code: 'MLFLOW_REJECTED', details: { mlflow_status: 500 } });
        }
        await expectBreakerUntouched(service);
        await service.request.get('/api/v1/models').expect(200);
      });

      it('answers 400 to a pass-through search whose filter is longer than the typed API accepts, before MLflow works on it', async () => {
        // 1,000 metric clauses took MLflow 20 s of CPU and 1.3 GB of memory (3.17.2, PostgreSQL).
        const filter = Array.from({ length: 1_000 }, () => 'metrics.a > 1').join(' AND ');
        await using service = await startService(serviceEnv());
        const response = await service.request
          .post('/mlflow/api/2.0/mlflow/runs/search')
          .send({ experiment_ids: ['0'], filter, max_results: 1 });
        expect(response.status).toBe(400);
        expect(response.body).toMatchObject({ code: 'BAD_REQUEST', error_code: 'BAD_REQUEST' });
        // The service's own refusal (MLflow would have answered 500, or the service 504 after 10 s).
        expect(response.body.message).toContain(`at most ${MAX_FILTER_LENGTH}`);
        await expectBreakerUntouched(service);
        const short = await service.request
          .post('/mlflow/api/2.0/mlflow/runs/search')
          .send({ experiment_ids: ['0'], filter: 'metrics.a > 1', max_results: 1 });
        expect(short.status).toBe(200);
      });

      it('refuses to finalize a logged model through the registry mode, and still sets its tags', async () => {
        const info = await createLoggedModelInMlflow(mlflow.url, 'hostile-finalize');
        const id = info.model_id;
        await using service = await startService({ ...realMlflowEnv(mlflow.url), MLFLOW_PROXY: 'registry' });

        const finalize = await service.request
          .patch(`/mlflow/api/2.0/mlflow/logged-models/${id}`)
          .send({ model_id: id, status: 'LOGGED_MODEL_UPLOAD_FAILED' });
        expect(finalize.status).toBe(403);
        expect(finalize.body).toMatchObject({ code: 'MLFLOW_PROXY_FORBIDDEN' });
        const tagged = await service.request
          .patch(`/mlflow/api/2.0/mlflow/logged-models/${id}/tags`)
          .send({ model_id: id, tags: [{ key: 'registered-by', value: 'hostile-clients' }] });
        expect(tagged.status).toBe(200);

        const after = await mlflowJson<{
          model: { info: { status: string; tags?: { key: string; value: string }[] } };
        }>(mlflow.url, `/api/2.0/mlflow/logged-models/${id}`);
        expect(after.model.info.status).toBe(info.status);
        expect(after.model.info.tags).toContainEqual({ key: 'registered-by', value: 'hostile-clients' });
      });

      it('answers 405 with Allow to TRACE and keeps the breaker closed', async () => {
        await using service = await startListeningService(serviceEnv());
        for (let attempt = 0; attempt < HOSTILE_REQUESTS; attempt += 1) {
          const answer = await sendRaw(service.url, {
            method: 'TRACE',
            target: '/mlflow/api/2.0/mlflow/registered-models/search',
          });
          expect(answer.status).toBe(405);
          expect(answer.json).toMatchObject({ code: 'METHOD_NOT_ALLOWED' });
          expect(answer.headers.allow).toBe('GET, POST, PATCH, DELETE');
        }
        await expectBreakerUntouched(service);
      });
    });

    describe('Path confinement', () => {
      let neighbourPort: number;
      let neighbour: RecordingListener;

      beforeAll(async () => {
        neighbourPort = await freePort();
        neighbour = await startRecordingListener({ ports: [neighbourPort] });
        expect(neighbour.unavailable).toEqual([]);
      });
      afterAll(async () => neighbour?.close());

      it.each([
        {
          what: 'an absolute-form target naming a neighbour',
          target: () => `http://127.0.0.1:${neighbourPort}/mlflow/api/2.0/mlflow/registered-models/search`,
        },
        { what: 'an encoded ../..', target: () => '/mlflow/..%2f..' },
        { what: 'encoded dot segments', target: () => '/mlflow/%2e%2e/x' },
        { what: 'raw dot segments', target: () => '/mlflow/../x' },
      ])('answers 400 BAD_REQUEST to $what and reaches no neighbour', async ({ target }) => {
        await using service = await startListeningService({ ...realMlflowEnv(mlflow.url), MLFLOW_PROXY: 'full' });
        const answer = await sendRaw(service.url, { method: 'GET', target: target() });
        expect(answer.status).toBe(400);
        expect(answer.json).toMatchObject({ code: 'BAD_REQUEST', requestId: expect.any(String) });
        expect(answer.json?.message).toEqual(expect.any(String));
        expect(neighbour.connections()).toEqual([]);
      });
    });

    describe('Artifact downloads', () => {
      const artifact = randomBytes(ARTIFACT_BYTES);
      const artifactPath = `/api/2.0/mlflow-artifacts/artifacts/${ARTIFACT_PATH}`;

      beforeAll(async () => {
        const upload = await fetch(`${mlflow.url}${artifactPath}`, { method: 'PUT', body: artifact });
        expect(upload.status, 'MLflow stores the artifact').toBe(200);
      });

      it('streams a 3 MB artifact whole, with MLflow’s headers, under a 10 MB cap', async () => {
        const direct = await fetch(`${mlflow.url}${artifactPath}`);
        await direct.arrayBuffer();
        const sent = FORWARDED_RESPONSE_HEADERS.filter((name) => direct.headers.has(name));
        expect(sent).toContain('x-content-type-options');

        await using service = await startListeningService({
          ...realMlflowEnv(mlflow.url),
          MLFLOW_PROXY_MAX_BYTES: '10000000',
        });
        const relayed = await fetch(`${service.url}/mlflow${artifactPath}`);
        expect(relayed.status).toBe(200);
        const bytes = new Uint8Array(await relayed.arrayBuffer());
        expect(bytes.byteLength).toBe(ARTIFACT_BYTES);
        expect(sha256(bytes)).toBe(sha256(artifact));
        for (const name of sent) expect(relayed.headers.get(name), name).toBe(direct.headers.get(name));
      });

      it('ends a download its client stopped reading once nothing passed for MLFLOW_REQUEST_TIMEOUT, freeing its place', async () => {
        // Bigger than the socket buffers between the service and a client that reads nothing.
        const big = randomBytes(STALLED_ARTIFACT_BYTES);
        const bigPath = '/api/2.0/mlflow-artifacts/artifacts/hostile/stalled.bin';
        const upload = await fetch(`${mlflow.url}${bigPath}`, { method: 'PUT', body: big });
        expect(upload.status, 'MLflow stores the artifact').toBe(200);
        await using service = await startListeningService({
          ...realMlflowEnv(mlflow.url),
          ...BREAKER_ENV,
          MLFLOW_REQUEST_TIMEOUT: '1',
          MLFLOW_MAX_CONCURRENCY: '1',
          MLFLOW_PROXY_MAX_BYTES: String(2 * STALLED_ARTIFACT_BYTES),
        });
        const metricsText = async () => (await service.request.get('/metrics')).text;

        await using stalled = stallDownload(Number(new URL(service.url).port), `/mlflow${bigPath}`);
        await waitForStreams(metricsText, 1, {
          timeoutMs: 10_000,
          intervalMs: 50,
          what: 'the stalled download to hold its stream slot',
        });
        // One stream at most: the next download is refused while the stalled one holds its place.
        const refused = await fetch(`${service.url}/mlflow${artifactPath}`);
        expect(refused.status).toBe(503);
        expect(await refused.json()).toMatchObject({ code: 'MLFLOW_SATURATED' });

        // Cut after 1 s without progress (plus slack for a loaded machine), never held open by the client.
        await waitForStreams(metricsText, 0, {
          timeoutMs: 15_000,
          intervalMs: 100,
          what: 'the stalled download to be cut',
        });
        const relayed = await fetch(`${service.url}/mlflow${artifactPath}`);
        expect(relayed.status).toBe(200);
        expect(sha256(new Uint8Array(await relayed.arrayBuffer()))).toBe(sha256(artifact));
        expect(await stalled.readRest()).toBeLessThan(STALLED_ARTIFACT_BYTES);
        await expectBreakerUntouched(service);
      });

      it("holds its client's share while its download streams, and leaves other keys' calls to MLflow", async () => {
        const big = randomBytes(STALLED_ARTIFACT_BYTES);
        const bigPath = '/api/2.0/mlflow-artifacts/artifacts/hostile/share.bin';
        const upload = await fetch(`${mlflow.url}${bigPath}`, { method: 'PUT', body: big });
        expect(upload.status, 'MLflow stores the artifact').toBe(200);
        const [holder, other] = [`${API_KEY}-a`, `${API_KEY}-b`];
        await using service = await startListeningService({
          ...realMlflowEnv(mlflow.url),
          API_KEYS: `${holder},${other}`,
          MLFLOW_CLIENT_MAX_CONCURRENCY: '1',
          MLFLOW_PROXY_MAX_BYTES: String(2 * STALLED_ARTIFACT_BYTES),
        });
        const metricsText = async () => (await service.request.get('/metrics')).text;
        await using stalled = stallDownload(Number(new URL(service.url).port), `/mlflow${bigPath}`, {
          'x-api-key': holder,
        });
        await waitForStreams(metricsText, 1, {
          timeoutMs: 10_000,
          intervalMs: 50,
          what: 'the stalled download to hold its stream slot',
        });
        const search = (key: string) =>
          fetch(`${service.url}/mlflow/api/2.0/mlflow/registered-models/search?max_results=1`, {
            headers: { 'x-api-key': key },
          });
        const refused = await search(holder);
        expect(refused.status).toBe(429);
        expect(await refused.json()).toMatchObject({
          code: 'CLIENT_CONCURRENCY_LIMIT',
          error_code: 'REQUEST_LIMIT_EXCEEDED',
        });
        const answered = await search(other);
        // MLflow's own answer (`{}` when it has no models yet), not one of the service's refusals.
        expect(answered.status).toBe(200);
        expect(await answered.json()).not.toHaveProperty('code');
        expect(readMetrics(await metricsText()).value(METRICS.clientLimited)).toBe(1);

        // The client goes away: its download ends, and with it the hold on its share.
        await stalled[Symbol.asyncDispose]();
        await waitForStreams(metricsText, 0, {
          timeoutMs: 10_000,
          intervalMs: 50,
          what: 'the dropped download to end',
        });
        expect((await search(holder)).status).toBe(200);
        await expectBreakerUntouched(service);
      });

      it('answers 502 MLFLOW_RESPONSE_TOO_LARGE over a 1 MB cap and keeps the breaker closed', async () => {
        await using service = await startListeningService({
          ...realMlflowEnv(mlflow.url),
          ...BREAKER_ENV,
          MLFLOW_PROXY_MAX_BYTES: '1000000',
        });
        const relayed = await fetch(`${service.url}/mlflow${artifactPath}`);
        expect(relayed.status).toBe(502);
        expect(await relayed.json()).toMatchObject({ code: 'MLFLOW_RESPONSE_TOO_LARGE' });
        await expectBreakerUntouched(service);
      });
    });

    describe('Service credentials', () => {
      it.each([
        { route: 'a pass-through read', method: 'GET', path: '/mlflow/api/2.0/mlflow/registered-models/search' },
        {
          route: 'a pass-through write',
          method: 'POST',
          path: '/mlflow/api/2.0/mlflow/registered-models/create',
          body: JSON.stringify({ name: 'credentials-check' }),
        },
        { route: 'a registry read', method: 'GET', path: '/api/v1/models?search=plain' },
      ])('sends MLflow the service’s token, never the client’s, on $route', async ({ method, path, body }) => {
        await using upstream = await startRecordingProxy(mlflow.url);
        await using service = await startListeningService({
          ...realMlflowEnv(upstream.url),
          MLFLOW_TRACKING_TOKEN: SERVICE_TOKEN,
          API_KEYS: API_KEY,
        });
        const response = await fetch(`${service.url}${path}`, {
          method,
          headers: {
            authorization: 'Bearer client-secret',
            'x-api-key': API_KEY,
            cookie: 'session=client-secret',
            'content-type': 'application/json',
          },
          body,
        });
        expect(response.status).toBe(200);
        // Read the answer whole: an unread one (a search page grows with every model the file created)
        // can stall the service's socket, and closing the service would wait for it.
        await response.arrayBuffer();
        const seen = upstream.requests();
        expect(seen.length).toBeGreaterThan(0);
        for (const request of seen) expect(request.headers.authorization).toBe(`Bearer ${SERVICE_TOKEN}`);
        const everything = JSON.stringify(seen);
        expect(everything).not.toContain('client-secret');
        expect(everything).not.toContain(API_KEY);
      });
    });

    describe('MLflow health', () => {
      const username = 'registry-service';
      const password = 'correct-horse-battery-staple';
      const secrets = [
        password,
        Buffer.from(`${username}:${password}`).toString('base64'),
        Buffer.from(password).toString('base64'),
      ];

      it.each([
        { situation: 'while MLflow answers', status: 200, url: async () => mlflow.url },
        {
          situation: 'while MLflow refuses connections',
          status: 503,
          url: async () => `http://127.0.0.1:${await freePort()}`,
        },
      ])('reports MLflow without echoing its password $situation', async ({ status, url }) => {
        await using service = await startService({
          ...realMlflowEnv(await url()),
          MLFLOW_TRACKING_USERNAME: username,
          MLFLOW_TRACKING_PASSWORD: password,
        });
        const mlflowHealth = await service.request.get('/health/mlflow');
        expect(mlflowHealth.status).toBe(status);
        const bodies = [
          mlflowHealth.text,
          (await service.request.get('/health/status').expect(200)).text,
          (await service.request.get('/health').query({ detailed: 'true' }).expect(200)).text,
        ];
        for (const text of bodies) for (const secret of secrets) expect(text).not.toContain(secret);
      });
    });
  });
}

// No MLflow here: an MLflow client whose artifact answer is already complete (all of it handed over, as
// when MLflow has sent its last byte), so only the service's socket timeout can end a stalled download.
describe('Artifact downloads after MLflow has sent everything', () => {
  it('closes the connection of a client that stopped reading once its socket sat idle for MLFLOW_REQUEST_TIMEOUT, freeing the stream slot', async () => {
    const complete = (): MlflowClient['forward'] => async () => {
      // In 64 KB chunks, as MLflow's body arrives: the relay hands them on as the client's socket takes them.
      const body = new PassThrough();
      const chunk = Buffer.alloc(64 * 1024);
      for (let sent = 0; sent < STALLED_ARTIFACT_BYTES; sent += chunk.byteLength) body.write(chunk);
      body.end();
      return { status: 200, headers: { 'content-type': 'application/octet-stream' }, body };
    };
    const config = loadConfig({
      LOG_LEVEL: 'silent',
      MLFLOW_REQUEST_TIMEOUT: '1',
      MLFLOW_HEALTH_PROBE_INTERVAL: '0',
      MLFLOW_MAX_CONCURRENCY: '1',
      MLFLOW_PROXY_MAX_BYTES: String(2 * STALLED_ARTIFACT_BYTES),
    });
    const app = buildApp({ config, mlflowClient: { forward: complete() } as unknown as MlflowClient });
    await using _app = { [Symbol.asyncDispose]: () => app.close() };
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    const metricsText = async () => (await app.inject('/metrics')).body;

    await using stalled = stallDownload(port, '/mlflow/get-artifact?path=model.bin&run_uuid=abc');
    await waitForStreams(metricsText, 1, {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: 'the stalled download to hold its stream slot',
    });
    await waitForStreams(metricsText, 0, {
      timeoutMs: 15_000,
      intervalMs: 100,
      what: 'the stalled connection to be closed',
    });
    expect(await stalled.readRest()).toBeLessThan(STALLED_ARTIFACT_BYTES);
  });
});

/** The service listening on a free port with `env` (quiet, no probe) and an MLflow client it must never use. */
async function startBodiesApp(env: Record<string, string>) {
  const config = loadConfig({ LOG_LEVEL: 'silent', MLFLOW_HEALTH_PROBE_INTERVAL: '0', ...env });
  const app = buildApp({ config, mlflowClient: {} as MlflowClient });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { app, port, baseUrl: `http://127.0.0.1:${port}`, [Symbol.asyncDispose]: () => app.close() };
}

// No MLflow here either: every request below is answered before any body is read, or holds its slot.
describe('Request bodies on a listening service', () => {
  it('answers an unknown route, a bad admin token and a client past its share of bodies before the megabyte each declares arrives', async () => {
    const key = `${API_KEY}-bodies`;
    await using listening = await startBodiesApp({
      API_KEYS: key,
      ADMIN_TOKEN: 'admin-token-for-the-body-test-0123456789',
      MLFLOW_CLIENT_MAX_CONCURRENCY: '1',
    });
    const { app, port, baseUrl } = listening;
    const declared = { 'content-type': 'application/json', 'content-length': String(1024 * 1024) };
    // The pass-through reads bodies up to BODY_LIMIT (1 MiB); the registry API up to 64 KiB.
    const create = '/mlflow/api/2.0/mlflow/registered-models/create';

    // The key's one slot: headers and the first bytes of a megabyte, the rest never sent.
    const holder = connect(port, '127.0.0.1');
    await using _holder = { [Symbol.asyncDispose]: async () => void holder.destroy() };
    holder.on('error', () => {});
    holder.write(
      `POST ${create} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ${key}\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{"name":`,
    );
    const bodiesInProgress = async () =>
      readMetrics((await app.inject('/metrics')).body).value(METRICS.bodiesInProgress);
    await waitFor(async () => (await bodiesInProgress()) === 1, {
      timeoutMs: 10_000,
      intervalMs: 20,
      what: 'the first body to hold its slot',
    });

    const unknown = await sendRaw(baseUrl, { method: 'POST', target: '/nowhere', headers: declared, timeoutMs: 5_000 });
    expect(unknown.status).toBe(404);
    const admin = await sendRaw(baseUrl, {
      method: 'POST',
      target: '/health/mlflow/reset',
      headers: { ...declared, authorization: 'Bearer wrong' },
      timeoutMs: 5_000,
    });
    expect(admin.status).toBe(401);
    const second = await sendRaw(baseUrl, {
      method: 'POST',
      target: create,
      headers: { ...declared, 'x-api-key': key },
      timeoutMs: 5_000,
    });
    expect(second.status).toBe(429);
    expect(second.json).toMatchObject({ code: 'CLIENT_CONCURRENCY_LIMIT', details: { client_max_concurrency: 1 } });
    expect(await bodiesInProgress()).toBe(1);
  });

  it('answers a registration that declares more than the registry API reads with 413 before its body arrives', async () => {
    await using listening = await startBodiesApp({});
    const tooLarge = await sendRaw(listening.baseUrl, {
      method: 'POST',
      target: `${REGISTRY_PREFIX}/models/bodies/versions`,
      headers: { 'content-type': 'application/json', 'content-length': String(REGISTRY_BODY_LIMIT_BYTES + 1) },
      timeoutMs: 5_000,
    });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.json).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
  });

  it("answers a read-only key's writes and a path the mode forbids before the megabyte each declares, holding no body slot", async () => {
    const writer = `${API_KEY}-writer`;
    await using listening = await startBodiesApp({ API_KEYS: writer, API_READ_ONLY_KEYS: READ_ONLY_KEY });
    const { app, baseUrl } = listening;
    const declared = { 'content-type': 'application/json', 'content-length': String(1024 * 1024) };
    const send = (method: string, target: string, key: string) =>
      sendRaw(baseUrl, { method, target, headers: { ...declared, 'x-api-key': key }, timeoutMs: 5_000 });

    const registered = await send('POST', `${REGISTRY_PREFIX}/models/bodies/versions`, READ_ONLY_KEY);
    expect(registered.status).toBe(403);
    expect(registered.json).toMatchObject({ code: 'API_KEY_READ_ONLY' });
    const tagged = await send('POST', '/mlflow/api/2.0/mlflow/registered-models/set-tag', READ_ONLY_KEY);
    expect(tagged.status).toBe(403);
    expect(tagged.json).toMatchObject({ code: 'API_KEY_READ_ONLY', error_code: 'PERMISSION_DENIED' });
    const deleted = await send('DELETE', '/mlflow/api/2.0/mlflow/registered-models/delete', writer);
    expect(deleted.status).toBe(403);
    expect(deleted.json).toMatchObject({ code: 'MLFLOW_PROXY_FORBIDDEN' });
    const metrics = readMetrics((await app.inject('/metrics')).body);
    expect(metrics.value(METRICS.bodiesInProgress)).toBe(0);
  });
});
