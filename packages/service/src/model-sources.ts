import { ServiceError } from './errors.js';

/**
 * A dot segment (`.` or `..`, raw or percent-encoded) or a backslash: where a source is resolved as a path
 * (a `file:` location, an SDK or a proxy that normalizes), it could lead out of the prefix it starts with.
 */
const LEAVES_ITS_PREFIX = /(^|\/|%2f)(\.|%2e){1,2}(\/|%2f|[?#]|$)|\\|%5c/i;

/**
 * Holds a model version's `source` to MLFLOW_ALLOWED_SOURCES (undefined: any source): MLflow reads a source
 * with its own credentials, so a client could otherwise point a version at any bucket MLflow may read.
 * Each prefix ends in `/` (the config checks it), so `s3://models/` never admits `s3://models-other/`, and a
 * source must not hold a dot segment or a backslash, so `s3://models/../other/` does not either.
 */
export function checkModelSource(source: string, allowed: readonly string[] | undefined): ServiceError | undefined {
  if (allowed === undefined) return undefined;
  const shown = JSON.stringify(source.slice(0, 200));
  const refused = (why: string) =>
    new ServiceError('MODEL_SOURCE_NOT_ALLOWED', {
      message: `The source ${shown} ${why} (MLFLOW_ALLOWED_SOURCES: ${allowed.join(', ')}).`,
      details: { allowed_sources: allowed },
    });
  if (!allowed.some((prefix) => source.startsWith(prefix))) return refused('does not start with an allowed prefix');
  if (LEAVES_ITS_PREFIX.test(source)) {
    return refused('holds a dot segment or a backslash, which could lead out of its prefix');
  }
  return undefined;
}
