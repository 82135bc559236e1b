import { localProviders, type PostgresHandle, type RedisHandle, startPostgres, startRedis } from '@registry/testkit';
import { providerSummaryLine } from '@registry/testkit/suites';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

/**
 * Uses the PostgreSQL and Redis that CI started (TEST_DATABASE_URL, TEST_REDIS_URL) or starts throwaway
 * ones from the system packages when they are absent. Ends the run with its providers line.
 */
export async function setup(project: TestProject) {
  const started: (PostgresHandle | RedisHandle)[] = [];
  let databaseUrl = process.env.TEST_DATABASE_URL;
  let redisUrl = process.env.TEST_REDIS_URL;
  if (!databaseUrl) {
    const postgres = await startPostgres();
    started.push(postgres);
    databaseUrl = postgres.url;
  }
  if (!redisUrl) {
    const redis = await startRedis();
    started.push(redis);
    redisUrl = redis.url;
  }
  project.provide('databaseUrl', databaseUrl);
  project.provide('redisUrl', redisUrl);
  return async () => {
    await Promise.all(started.map((handle) => handle.stop()));
    process.stdout.write(`${providerSummaryLine('integration', localProviders())}\n`);
  };
}
