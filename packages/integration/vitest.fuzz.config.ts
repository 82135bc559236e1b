import { registryVitestConfig } from '@registry/testkit/vitest';
import { defineConfig } from 'vitest/config';

/**
 * The fuzzing run of `npm test` (the package's `fuzz` script): only `test/fuzz.test.ts`, which starts its own
 * MLflow and service, so without the PostgreSQL and Redis the other files' global setup starts; its
 * coverage goes to `coverage-fuzz/`, which the coverage gate merges with the rest.
 */
export default defineConfig(
  registryVitestConfig({
    realProcesses: true,
    testTimeoutMs: 60_000,
    serviceCoverage: true,
    globalSetup: ['test/support/fuzz-global-setup.ts'],
    include: ['test/fuzz.test.ts'],
    coverageDirectory: 'coverage-fuzz',
    // The typed clients, which the fuzzed service never loads; the other runs measure them.
    coverageExclude: ['client.ts', 'registry-client.ts'],
  }),
);
