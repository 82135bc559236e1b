import { ServiceError } from './errors.js';

/**
 * Holds a model version's `source` to MLFLOW_ALLOWED_SOURCES (undefined: any source): MLflow reads a source
 * with its own credentials, so a client could otherwise point a version at any bucket MLflow may read.
 * Each prefix ends in `/` (the config checks it), so `s3://models/` never admits `s3://models-other/`.
 */
export function checkModelSource(source: string, allowed: readonly string[] | undefined): ServiceError | undefined {
  if (allowed === undefined || allowed.some((prefix) => source.startsWith(prefix))) return undefined;
  return new ServiceError('MODEL_SOURCE_NOT_ALLOWED', {
    message: `The source ${JSON.stringify(source.slice(0, 200))} does not start with one of MLFLOW_ALLOWED_SOURCES (${allowed.join(', ')}).`,
    details: { allowed_sources: allowed },
  });
}
