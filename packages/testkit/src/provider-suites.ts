import { describe, it } from 'vitest';
import type { LocalProvider } from './stack.js';

/**
 * Declares the suite `subject` for one local provider. Where the provider cannot run, the suite is
 * skipped and the reason printed to stdout (vitest's reporters name skipped suites only when verbose),
 * unless `REGISTRY_REQUIRED_PROVIDERS` names it: then the suite holds one test that fails with the reason.
 */
export function describeOnProvider(subject: string, local: LocalProvider, body: () => void): void {
  if (local.available) {
    describe(`${subject} (${local.name})`, body);
    return;
  }
  const title = `${subject} (${local.name}, not run: ${local.reason})`;
  if (!local.required) {
    process.stdout.write(`${title}\n`);
    describe.skip(title, body);
    return;
  }
  describe(`${subject} (${local.name})`, () => {
    it('runs, because REGISTRY_REQUIRED_PROVIDERS requires this provider', () => {
      throw new Error(`${local.name} is required by REGISTRY_REQUIRED_PROVIDERS but cannot run here: ${local.reason}`);
    });
  });
}
