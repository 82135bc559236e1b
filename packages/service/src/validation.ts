import type { FastifyRequest } from 'fastify';
import { ServiceError } from './errors.js';

/**
 * onRequest hook: a query string that is not valid percent-encoding (`%ZZ`, `%C3%28`) is 400, not read
 * as literal text (Fastify's parser keeps undecodable parts as they are).
 */
export async function requireValidQueryEncoding(request: FastifyRequest): Promise<void> {
  const url = request.raw.url ?? '';
  const at = url.indexOf('?');
  if (at === -1) return;
  try {
    decodeURIComponent(url.slice(at + 1).replaceAll('+', ' '));
  } catch {
    throw new ServiceError('BAD_REQUEST', {
      message: 'The query string is not valid percent-encoding.',
      details: [{ field: 'query', problem: 'not valid percent-encoding' }],
    });
  }
}
