import { localProviders } from '@registry/testkit';
import { describeOnProvider } from '@registry/testkit/suites';
import { expect, it } from 'vitest';

// One suite on the process provider, declared the way the real-MLflow suites are.
const local = localProviders().find(({ name }) => name === 'process');
if (!local) throw new Error('no process provider');
describeOnProvider('Fixture suite', local, () => {
  it('runs on the process provider', () => {
    expect(local.available).toBe(true);
  });
});
