import { registryVitestConfig } from '@registry/testkit/vitest';
import { defineConfig } from 'vitest/config';

const base = registryVitestConfig({ realProcesses: true, globalSetup: ['test/support/global-setup.ts'] });

export default defineConfig({
  ...base,
  // The negative controls run side by side (`it.concurrent` in test/chaos.test.ts): room for all six.
  test: { ...base.test, maxConcurrency: 8 },
});
