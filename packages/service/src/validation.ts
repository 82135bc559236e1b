import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ServiceError } from './errors.js';

/** Parses client input with `schema`, or throws BAD_REQUEST listing every problem by field. */
export function parseInput<T>(schema: z.ZodType<T>, input: unknown, where: string): T {
  const result = schema.safeParse(input ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => ({
    field: issue.path.join('.') || where,
    problem: issue.message,
  }));
  const summary = problems.map((p) => `${p.field}: ${p.problem}`).join('; ');
  throw new ServiceError('BAD_REQUEST', { message: `Invalid ${where}: ${summary}`, details: problems });
}

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
