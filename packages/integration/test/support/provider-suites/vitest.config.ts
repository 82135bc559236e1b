import { defineConfig } from 'vitest/config';

// Run by providers.test.ts in a child vitest: the suite below, with the environment that test gives it.
export default defineConfig({ test: { include: ['*.fixture.ts'], reporters: ['default'] } });
