import { defineConfig } from 'vitest/config';

// Run by providers.test.ts in a child vitest: the fixture REGISTRY_FIXTURE names, with the environment
// that test gives it.
export default defineConfig({
  test: { include: [process.env.REGISTRY_FIXTURE ?? 'process-suite.fixture.ts'], reporters: ['default'] },
});
