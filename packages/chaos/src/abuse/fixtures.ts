import { fetchJson } from '@registry/testkit';

/**
 * The model the destructive attacks aim at. It is the abuse class's own (seeded like `SEEDED_MODEL`, but
 * apart from it), so that a service that lets a delete through cannot take the fault experiments' model
 * with it; its name matches none of the traffic's searches.
 */
export const VICTIM_MODEL = 'abuse-victim-model';
export const VICTIM_ALIAS = 'champion';
export const VICTIM_TAG = 'owner';
/** The experiment the attacks try to delete: MLflow's default one. */
export const VICTIM_EXPERIMENT_ID = '0';

/**
 * Models whose descriptions add up to 0.8 MB, so that every search answer returning all of them is that
 * large. Many models rather than one: MLflow's schema limits a description to 5,000 characters, which
 * PostgreSQL enforces (SQLite does not).
 */
export const LARGE_MODEL = 'zz-abuse-large-model';
export const LARGE_MODEL_COUNT = 160;
const LARGE_DESCRIPTION_CHARS = 5_000;
/** The description bytes of one answer that returns every large model. */
export const LARGE_DESCRIPTION_BYTES = LARGE_MODEL_COUNT * LARGE_DESCRIPTION_CHARS;
const LARGE_DESCRIPTION_LINE = 'Abuse-class model with a large description. ';

/** The name of large model `index` (all share the prefix `LARGE_MODEL`, which no other model has). */
export function largeModelName(index: number): string {
  return `${LARGE_MODEL}-${String(index).padStart(3, '0')}`;
}

/** Artifacts uploaded straight to MLflow's own artifact endpoint (never through the service). */
export const ARTIFACT_PATH = 'abuse';

const API = '/api/2.0/mlflow';
const ARTIFACTS = '/api/2.0/mlflow-artifacts/artifacts';

async function mlflowCall(mlflowUrl: string, method: string, path: string, body?: unknown) {
  return fetchJson<{ error_code?: string } & Record<string, unknown>>(`${mlflowUrl}${path}`, {
    method,
    headers: body === undefined ? undefined : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    timeoutMs: 30_000,
  });
}

async function ensure(what: string, response: Promise<{ status: number; body: { error_code?: string } }>) {
  const { status, body } = await response;
  if (status !== 200 && body?.error_code !== 'RESOURCE_ALREADY_EXISTS') {
    throw new Error(`could not seed MLflow: ${what} answered ${status} ${body?.error_code ?? ''}`);
  }
}

/** Creates (or keeps) the victim model with a version, an alias and tags, directly in MLflow. */
export async function seedVictim(mlflowUrl: string): Promise<void> {
  await ensure(
    'registered-models/create',
    mlflowCall(mlflowUrl, 'POST', `${API}/registered-models/create`, { name: VICTIM_MODEL }),
  );
  const version = await mlflowCall(mlflowUrl, 'GET', `${API}/model-versions/get?name=${VICTIM_MODEL}&version=1`);
  if (version.status === 404) {
    await ensure(
      'model-versions/create',
      mlflowCall(mlflowUrl, 'POST', `${API}/model-versions/create`, {
        name: VICTIM_MODEL,
        source: 's3://registry-chaos/models/abuse-victim-model/1',
      }),
    );
  }
  await ensure(
    'registered-models/alias',
    mlflowCall(mlflowUrl, 'POST', `${API}/registered-models/alias`, {
      name: VICTIM_MODEL,
      alias: VICTIM_ALIAS,
      version: '1',
    }),
  );
  await ensure(
    'registered-models/set-tag',
    mlflowCall(mlflowUrl, 'POST', `${API}/registered-models/set-tag`, {
      name: VICTIM_MODEL,
      key: VICTIM_TAG,
      value: 'chaos',
    }),
  );
}

/** What the destructive attacks could have changed, read directly from MLflow. */
export interface VictimState {
  readonly modelExists: boolean;
  readonly versionExists: boolean;
  readonly aliasExists: boolean;
  readonly tagExists: boolean;
  /** `lifecycle_stage` of the victim experiment (`active`, or `deleted` after an experiment deletion). */
  readonly experimentStage: string;
  /** Where a renamed victim went (a name the attack used), if it exists. */
  readonly renamedTo?: string;
}

/** Reads the victim's state straight from MLflow (not through the service). */
export async function readVictim(mlflowUrl: string, renameTargets: readonly string[]): Promise<VictimState> {
  const model = await mlflowCall(mlflowUrl, 'GET', `${API}/registered-models/get?name=${VICTIM_MODEL}`);
  const registered = model.body?.registered_model as
    | { aliases?: { alias: string }[]; tags?: { key: string }[] }
    | undefined;
  const version = await mlflowCall(mlflowUrl, 'GET', `${API}/model-versions/get?name=${VICTIM_MODEL}&version=1`);
  const experiment = await mlflowCall(mlflowUrl, 'GET', `${API}/experiments/get?experiment_id=${VICTIM_EXPERIMENT_ID}`);
  let renamedTo: string | undefined;
  for (const name of renameTargets) {
    const renamed = await mlflowCall(mlflowUrl, 'GET', `${API}/registered-models/get?name=${encodeURIComponent(name)}`);
    if (renamed.status === 200) renamedTo = name;
  }
  return {
    modelExists: model.status === 200,
    versionExists: version.status === 200,
    aliasExists: registered?.aliases?.some((a) => a.alias === VICTIM_ALIAS) ?? false,
    tagExists: registered?.tags?.some((t) => t.key === VICTIM_TAG) ?? false,
    experimentStage: String((experiment.body?.experiment as { lifecycle_stage?: string } | undefined)?.lifecycle_stage),
    renamedTo,
  };
}

/** Puts the victim back after a service let an attack through: renamed back, experiment restored, re-seeded. */
export async function restoreVictim(mlflowUrl: string, renameTargets: readonly string[]): Promise<void> {
  const state = await readVictim(mlflowUrl, renameTargets);
  if (state.renamedTo !== undefined && !state.modelExists) {
    await mlflowCall(mlflowUrl, 'POST', `${API}/registered-models/rename`, {
      name: state.renamedTo,
      new_name: VICTIM_MODEL,
    });
  }
  if (state.experimentStage === 'deleted') {
    await mlflowCall(mlflowUrl, 'POST', `${API}/experiments/restore`, { experiment_id: VICTIM_EXPERIMENT_ID });
  }
  await seedVictim(mlflowUrl);
}

/** Creates (or keeps) the large models, directly in MLflow (the last one created marks them all done). */
export async function seedLargeModel(mlflowUrl: string): Promise<void> {
  const last = largeModelName(LARGE_MODEL_COUNT - 1);
  const existing = await mlflowCall(mlflowUrl, 'GET', `${API}/registered-models/get?name=${last}`);
  if (existing.status === 200) return;
  const description = LARGE_DESCRIPTION_LINE.repeat(
    Math.ceil(LARGE_DESCRIPTION_CHARS / LARGE_DESCRIPTION_LINE.length),
  ).slice(0, LARGE_DESCRIPTION_CHARS);
  for (let index = 0; index < LARGE_MODEL_COUNT; index += 1) {
    await ensure(
      `registered-models/create (large description ${index + 1} of ${LARGE_MODEL_COUNT})`,
      mlflowCall(mlflowUrl, 'POST', `${API}/registered-models/create`, { name: largeModelName(index), description }),
    );
  }
}

/** Uploads `bytes` zero bytes as `abuse/<name>` through MLflow's own artifact endpoint (PUT, not the service). */
export async function uploadArtifact(mlflowUrl: string, name: string, bytes: number): Promise<string> {
  const path = `${ARTIFACT_PATH}/${name}`;
  const response = await fetch(`${mlflowUrl}${ARTIFACTS}/${path}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(bytes),
    signal: AbortSignal.timeout(120_000),
  });
  await response.body?.cancel();
  if (response.status !== 200) throw new Error(`could not upload the artifact ${path} to MLflow: ${response.status}`);
  return path;
}

/** The pass-through path of an artifact uploaded by `uploadArtifact`. */
export function artifactPassThroughPath(path: string): string {
  return `/mlflow${ARTIFACTS}/${path}`;
}
