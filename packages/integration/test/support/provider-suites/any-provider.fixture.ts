import { localProviders } from '@registry/testkit';
import { describeOnProvider, requireSomeProvider } from '@registry/testkit/suites';
import { expect, it } from 'vitest';

// A suite that must run somewhere, declared the way the chaos suite is, offered the process provider only.
const locals = localProviders().filter(({ name }) => name === 'process');
requireSomeProvider('Fixture suite', locals);
for (const local of locals) {
  describeOnProvider('Fixture suite', local, () => {
    it('runs on the process provider', () => {
      expect(local.available).toBe(true);
    });
  });
}
