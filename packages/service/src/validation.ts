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
