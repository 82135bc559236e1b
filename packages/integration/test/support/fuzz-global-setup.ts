import { localProviders } from '@registry/testkit';
import { providerSummaryLine } from '@registry/testkit/suites';

/** Ends the fuzzing run with its providers line: it runs on the process provider only. */
export function setup() {
  return () => {
    const processOnly = localProviders().filter((local) => local.name === 'process');
    process.stdout.write(`${providerSummaryLine('fuzzing', processOnly)}\n`);
  };
}
