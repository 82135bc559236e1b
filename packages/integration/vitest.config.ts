import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Coverage is measured on the service's TypeScript sources, which the `source` export condition loads.
const serviceSrc = fileURLToPath(new URL('../service/src/', import.meta.url));

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    globalSetup: ['test/support/global-setup.ts'],
    // Real servers: give process start-up room; every wait inside a test still polls with its own deadline.
    testTimeout: 60_000,
    hookTimeout: 180_000,
    fileParallelism: false,
    coverage: {
      provider: 'v8',
      allowExternal: true,
      include: [`${serviceSrc}**/*.ts`],
      // The entry point runs only as a child process (integration's server-process tests, chaos),
      // where v8 coverage of this run cannot see it.
      exclude: [`${serviceSrc}server.ts`],
      reporter: ['text-summary', 'json'],
      reportsDirectory: 'coverage',
    },
  },
});
