import { z } from 'zod';

/** Stages MLflow accepts in a stage transition. */
export const MODEL_STAGES = ['None', 'Staging', 'Production', 'Archived'] as const;
/** The stages MLflow can archive the other versions for. */
const ACTIVE_STAGES: readonly string[] = ['Staging', 'Production'];

/** A tag as MLflow describes it, on a model, a version or a logged model. */
export const tagSchema = z.looseObject({ key: z.string(), value: z.string().optional() });

/** A model version as MLflow describes it (fields MLflow adds are kept). */
export const modelVersionSchema = z
  .looseObject({
    name: z.string(),
    version: z.string(),
    creation_timestamp: z.coerce.number().optional(),
    last_updated_timestamp: z.coerce.number().optional(),
    current_stage: z.string().optional(),
    description: z.string().optional(),
    source: z.string().optional(),
    run_id: z.string().optional(),
    status: z.string().optional(),
    tags: z.array(tagSchema).optional(),
  })
  .meta({ id: 'ModelVersion' });

/** A logged model's `info` as MLflow describes it: what the service reads of it is its tags. */
export const loggedModelInfoSchema = z.looseObject({ model_id: z.string(), tags: z.array(tagSchema).optional() });

/** A registered model as MLflow describes it (fields MLflow adds are kept). */
export const registeredModelSchema = z
  .looseObject({
    name: z.string(),
    creation_timestamp: z.coerce.number().optional(),
    last_updated_timestamp: z.coerce.number().optional(),
    description: z.string().optional(),
    latest_versions: z.array(modelVersionSchema).optional(),
    tags: z.array(tagSchema).optional(),
  })
  .meta({ id: 'RegisteredModel' });

/**
 * Text that is valid Unicode. A lone surrogate (half of a UTF-16 pair) cannot be stored: MLflow's database
 * kept an empty string instead of the whole field and answered 201, so the field is refused here instead.
 */
function validUnicode(schema: z.ZodString): z.ZodString {
  return schema.refine((text) => !/\p{Cs}/u.test(text), {
    error: 'must be valid Unicode text (it has a lone surrogate code unit)',
  });
}
/** Refuses control characters (C0 and DEL): never part of a name, a URI or an id. */
function withoutControlCharacters(schema: z.ZodString): z.ZodString {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
  return schema.regex(/^[^\u0000-\u001f\u007f]*$/, { error: 'must not contain control characters' });
}

/**
 * Refuses NUL, which free text may otherwise hold (newlines, tabs): PostgreSQL, MLflow's deployed store,
 * cannot store it (MLflow answers 400 after creating the model), and SQLite stores it.
 */
function withoutNul(schema: z.ZodString): z.ZodString {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting NUL is the point.
  return schema.regex(/^[^\u0000]*$/, { error: 'must not contain NUL characters' });
}

/** Longest MLflow filter expression accepted, on the typed routes and on the pass-through's searches. */
export const MAX_FILTER_LENGTH = 1024;
/**
 * The lengths, in characters, of MLflow's own columns for the text fields a registry write carries: a
 * longer value fails in PostgreSQL, and SQLite stores it whole (every listing then carries it).
 */
export const MLFLOW_COLUMN_LENGTHS = {
  name: 256,
  source: 500,
  run_id: 32,
  run_link: 500,
  description: 5000,
} as const;

/** Largest model version: MLflow stores versions in a 32-bit integer column. */
export const MAX_MODEL_VERSION = 2_147_483_647;

const modelName = validUnicode(
  withoutControlCharacters(
    z
      .string()
      .min(1, { error: 'expected a model name' })
      .max(MLFLOW_COLUMN_LENGTHS.name, { error: `expected at most ${MLFLOW_COLUMN_LENGTHS.name} characters` }),
  ),
).meta({ examples: ['churn-classifier'] });
const versionNumber = z
  .string()
  .regex(/^[1-9]\d{0,9}$/, { error: `expected a positive whole number up to ${MAX_MODEL_VERSION}` })
  .refine((version) => Number(version) <= MAX_MODEL_VERSION, {
    error: `expected a positive whole number up to ${MAX_MODEL_VERSION}`,
  })
  .meta({ examples: ['1'] });

/** `GET /api/v1/models` query. */
export const searchQuerySchema = z.strictObject({
  search: validUnicode(withoutControlCharacters(z.string().max(256)))
    .optional()
    .describe('text the model name contains, matched literally, any case')
    .meta({ examples: ['churn'] }),
  filter: validUnicode(withoutNul(z.string().max(MAX_FILTER_LENGTH)))
    .optional()
    .describe('an MLflow filter expression; overrides `search`'),
  max_results: z
    .string()
    .regex(/^\d+$/, { error: 'expected a whole number from 1 to 1000' })
    .transform(Number)
    .refine((n) => n >= 1 && n <= 1000, { error: 'expected a whole number from 1 to 1000' })
    .optional()
    .describe(
      "1 to 1000, default 100: at most that many models. A page holds fewer when MLflow's answer for that many would pass MLFLOW_API_MAX_BYTES; next_page_token continues after the last model returned.",
    )
    .meta({ examples: ['10'] }),
  page_token: validUnicode(withoutControlCharacters(z.string().max(4096))).optional(),
});

/** Path of the model routes. */
export const modelParamsSchema = z.strictObject({ name: modelName });
/** Path of the model-version routes. */
export const versionParamsSchema = z.strictObject({ name: modelName, version: versionNumber });

/** `POST /api/v1/models/{name}/versions` body. */
export const registerBodySchema = z.strictObject({
  // The lengths of MLflow's own columns: a longer value fails in its database.
  source: validUnicode(
    withoutControlCharacters(
      z
        .string()
        .min(1, { error: 'expected the artifact URI of the model' })
        .max(MLFLOW_COLUMN_LENGTHS.source, { error: `expected at most ${MLFLOW_COLUMN_LENGTHS.source} characters` }),
    ),
  ).meta({ examples: ['s3://models/churn-classifier/1'] }),
  run_id: validUnicode(
    withoutControlCharacters(
      z
        .string()
        .min(1)
        .max(MLFLOW_COLUMN_LENGTHS.run_id, { error: `expected at most ${MLFLOW_COLUMN_LENGTHS.run_id} characters` }),
    ),
  ).optional(),
  description: validUnicode(withoutNul(z.string().max(MLFLOW_COLUMN_LENGTHS.description)))
    .optional()
    .meta({ examples: ['gradient-boosted trees, trained on the November data'] }),
});

/** `POST /api/v1/models/{name}/versions/{version}/stage` body. */
export const stageBodySchema = z
  .strictObject({
    stage: z
      .enum(MODEL_STAGES, { error: `expected one of ${MODEL_STAGES.join(', ')}` })
      .meta({ examples: ['Staging'] }),
    archive_existing_versions: z
      .boolean()
      .optional()
      .default(false)
      .describe(
        'only with stage Staging or Production (MLflow answers 500 otherwise); MLflow 3.17.2 on PostgreSQL refuses it (its bug: 400 MLFLOW_REJECTED, stage unchanged)',
      ),
  })
  .refine((body) => !body.archive_existing_versions || ACTIVE_STAGES.includes(body.stage), {
    error: 'archiving existing versions needs the stage Staging or Production',
    path: ['archive_existing_versions'],
  });

/** One page of models. */
export const modelPageSchema = z
  .strictObject({ models: z.array(registeredModelSchema), next_page_token: z.string().nullable() })
  .meta({ id: 'ModelPage' });
/** One model. */
export const modelAnswerSchema = z.strictObject({ model: registeredModelSchema });
/** One model version. */
export const modelVersionAnswerSchema = z.strictObject({ model_version: modelVersionSchema });
