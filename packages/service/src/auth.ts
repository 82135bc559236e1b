import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ServiceError } from './errors.js';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** Compares two secrets in constant time (hashing first, so the length does not leak either). */
export function secretsEqual(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/** True when `given` equals one of `keys`; every key is compared, so timing does not tell which matched. */
export function matchesAnyKey(given: string | undefined, keys: readonly string[]): boolean {
  if (given === undefined) return false;
  let matched = false;
  for (const key of keys) matched = secretsEqual(given, key) || matched;
  return matched;
}

/**
 * onRequest hook for routes behind API_KEYS: with keys configured, a request needs one, in `X-API-Key` or
 * as `Authorization: Bearer <key>` (what the official MLflow client sends when MLFLOW_TRACKING_TOKEN is set).
 */
export function createApiKeyHook(keys: readonly string[]) {
  return async (request: FastifyRequest) => {
    if (keys.length === 0) return;
    const header = request.headers['x-api-key'];
    const given = typeof header === 'string' ? header : bearerToken(request.headers.authorization);
    if (!matchesAnyKey(given, keys))
      throw new ServiceError('UNAUTHORIZED', { headers: { 'www-authenticate': 'Bearer' } });
  };
}
