import { registryVitestConfig } from '@registry/testkit/vitest';
import { defineConfig } from 'vitest/config';

export default defineConfig(
  registryVitestConfig({ realProcesses: true, globalSetup: ['test/support/global-setup.ts'] }),
);
