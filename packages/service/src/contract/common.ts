import { z } from 'zod';
import { ERRORS, type ErrorCode } from '../errors.js';

const ERROR_CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];

/** The body of every error answer: a catalogue code, its message and the request id. */
export const errorBodySchema = z
  .strictObject({
    code: z.enum(ERROR_CODES),
    message: z.string(),
    requestId: z.string(),
    details: z.unknown().optional(),
    error_code: z.string().optional().describe("On /mlflow/* only: MLflow's error code for the status"),
  })
  .meta({ id: 'Error' });

/** An ISO 8601 instant (UTC), as every timestamp in the answers is written. */
export const isoInstant = z.iso.datetime();

/**
 * The error answers of a route, keyed by status: one entry for every status the named catalogue codes
 * use, plus what every route can answer: 431 (request headers or line over 16 KiB, refused by Node
 * before routing) and 500 (INTERNAL_ERROR).
 */
export function errorResponses(...codes: ErrorCode[]): Record<number, typeof errorBodySchema> {
  const statuses = new Set([431, 500, ...codes.map((code) => ERRORS[code].status)]);
  return Object.fromEntries([...statuses].sort().map((status) => [status, errorBodySchema]));
}

/** An error MLflow answered with (`{error_code, message}`), relayed as it is by the pass-through. */
export const mlflowErrorSchema = z
  .looseObject({ error_code: z.string(), message: z.string().optional() })
  .meta({ id: 'MlflowError' });

/**
 * The error answers of the pass-through: the service's own refusals (catalogue body plus `error_code`)
 * or MLflow's errors relayed as they are.
 */
export function relayedErrorResponses(...codes: ErrorCode[]) {
  const either = z.union([errorBodySchema, mlflowErrorSchema]);
  return Object.fromEntries(Object.keys(errorResponses(...codes)).map((status) => [status, either]));
}
