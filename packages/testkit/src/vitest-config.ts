import { join } from 'node:path';
import type { ViteUserConfig } from 'vitest/config';
import { workspaceRoot } from './paths.js';

/** Options of `registryVitestConfig`. */
export interface RegistryVitestOptions {
  /** Suites that drive real processes: generous hook timeouts, one file at a time, tests in order. */
  readonly realProcesses?: boolean;
  /** Per-test timeout for real-process suites (every wait inside still has its own bound). */
  readonly testTimeoutMs?: number;
  /** Measure v8 coverage of the service's sources (unit and integration feed the coverage gate). */
  readonly serviceCoverage?: boolean;
  readonly globalSetup?: readonly string[];
  /** Test files to run, when not every `test/**\/*.test.ts`. */
  readonly include?: readonly string[];
  /** Where service coverage goes (default `coverage`). */
  readonly coverageDirectory?: string;
  /**
   * Service sources (relative to `packages/service/src`) left out of this run's coverage. For files a run
   * never loads: vitest transforms an unloaded file only inside the package's own root, so it parses a
   * service source as plain JavaScript, fails on its TypeScript and prints the error with a stack trace.
   */
  readonly coverageExclude?: readonly string[];
}

/**
 * The vitest configuration every test package shares: `@registry/*` packages resolve to their TypeScript
 * sources (the `source` export condition), tests live in `test/**\/*.test.ts`.
 */
export function registryVitestConfig(options: RegistryVitestOptions = {}): ViteUserConfig {
  const serviceSrc = join(workspaceRoot(), 'packages', 'service', 'src');
  return {
    resolve: { conditions: ['source'] },
    ssr: { resolve: { conditions: ['source'] } },
    test: {
      include: options.include ? [...options.include] : ['test/**/*.test.ts'],
      environment: 'node',
      restoreMocks: true,
      ...(options.globalSetup ? { globalSetup: [...options.globalSetup] } : {}),
      ...(options.realProcesses
        ? {
            testTimeout: options.testTimeoutMs ?? 120_000,
            hookTimeout: 600_000,
            fileParallelism: false,
            sequence: { concurrent: false },
          }
        : {}),
      ...(options.serviceCoverage
        ? {
            coverage: {
              provider: 'v8' as const,
              allowExternal: true,
              include: [`${serviceSrc}/**/*.ts`],
              // The entry point runs only as a child process (server-process tests, chaos), where this
              // run's v8 coverage cannot see it.
              exclude: [
                `${serviceSrc}/server.ts`,
                ...(options.coverageExclude ?? []).map((file) => `${serviceSrc}/${file}`),
              ],
              reporter: ['text-summary', 'json'],
              reportsDirectory: options.coverageDirectory ?? 'coverage',
            },
          }
        : {}),
    },
  };
}
