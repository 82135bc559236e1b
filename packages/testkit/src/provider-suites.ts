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

/**
 * The line a provider-dependent suite ends with: which providers ran, which did not and why.
 * `suite` names the test package (`integration`, `chaos`).
 */
export function providerSummaryLine(suite: string, locals: readonly LocalProvider[]): string {
  const ran = locals.filter((local) => local.available).map((local) => local.name);
  const notRun = locals
    .filter((local) => !local.available)
    .map((local) => `${local.name} (${local.reason}${local.required ? '; REQUIRED' : ''})`);
  return `[providers] ${suite}: ran on ${ran.join(', ') || 'no provider'}; not run: ${notRun.join(', ') || 'none'}`;
}

/**
 * Declares, where no provider can run and none is named required, one test that fails naming every
 * reason: locally a suite such as chaos must run on at least one provider rather than pass empty.
 */
export function requireSomeProvider(subject: string, locals: readonly LocalProvider[]): void {
  if (locals.some((local) => local.available || local.required)) return;
  describe(`${subject} (any provider)`, () => {
    it('runs on at least one provider', () => {
      const reasons = locals.map((local) => `${local.name}: ${local.reason}`).join('; ');
      throw new Error(`no provider can run here (${reasons}); npm run setup provisions the process provider`);
    });
  });
}
