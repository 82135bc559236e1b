import { localProviders } from '@registry/testkit';
import { providerSummaryLine } from '@registry/testkit/suites';

/** Ends the chaos run with its providers line: which providers ran, which did not and why. */
export function setup() {
  return () => {
    process.stdout.write(`${providerSummaryLine('chaos', localProviders())}\n`);
  };
}
