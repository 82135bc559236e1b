import { registryVitestConfig } from '@registry/testkit/vitest';
import { defineConfig } from 'vitest/config';

export default defineConfig(
  registryVitestConfig({
    realProcesses: true,
    testTimeoutMs: 60_000,
    serviceCoverage: true,
    globalSetup: ['test/support/global-setup.ts'],
  }),
);
