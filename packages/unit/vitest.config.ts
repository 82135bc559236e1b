import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    restoreMocks: true,
    coverage: {
      provider: 'v8',
      allowExternal: true,
      include: ['../service/src/**/*.ts'],
      reporter: ['text-summary', 'json'],
      reportsDirectory: 'coverage',
    },
  },
});
