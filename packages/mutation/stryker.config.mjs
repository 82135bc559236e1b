// StrykerJS over packages/service/src with the unit suite as the test runner (decision 0012). Run from
// the repository root (the package scripts `cd` there): the sources are mutated in place, because the
// unit tests import the service through the workspace, which a sandbox copy of one package would break.
// Incremental: the previous result (`stryker-incremental.json` beside this file) is reused for every
// mutant whose code and covering tests did not change, so a second run retests only what a change touches.
import { fileURLToPath } from 'node:url';

/** Plugins resolve from this package (the run's working directory is the repository root). */
const plugin = (name) => fileURLToPath(import.meta.resolve(name));

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'pnpm',
  plugins: [plugin('@stryker-mutator/vitest-runner')],
  testRunner: 'vitest',
  vitest: { configFile: 'packages/unit/vitest.config.ts', dir: 'packages/unit' },
  coverageAnalysis: 'perTest',
  inPlace: true,
  mutate: [
    'packages/service/src/**/*.ts',
    // The entry point runs only as a child process (see the coverage gate); the unit suite cannot see it.
    '!packages/service/src/server.ts',
  ],
  // Only the packages the unit suite loads; the rest (tools, venvs, reports, builds) is not scanned.
  ignorePatterns: [
    '/*',
    '!/packages',
    '/packages/*',
    '!/packages/service',
    '!/packages/unit',
    '!/packages/testkit',
    '**/dist',
    '**/coverage',
  ],
  incremental: true,
  incrementalFile: 'packages/mutation/stryker-incremental.json',
  reporters: ['html', 'json', 'clear-text', 'progress'],
  // The score table only: the HTML report lists every survivor with its diff, which would flood CI's log.
  clearTextReporter: { reportTests: false, reportMutants: false, reportScoreTable: true },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 85, low: 75, break: 75 },
  concurrency: 2,
  timeoutMS: 10_000,
  tempDirName: 'reports/mutation/.stryker-tmp',
  cleanTempDir: 'always',
};
