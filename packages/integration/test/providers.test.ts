import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  CONTAINER_LABEL,
  containerNetworkingFromEnv,
  fetchJson,
  localProviders,
  type MlflowHandle,
  providerFromEnv,
  providerSuiteTitle,
  StopWaiting,
  startMlflowWith,
  waitFor,
} from '@registry/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HOLD_CONTAINERS = fileURLToPath(new URL('./support/hold-containers.ts', import.meta.url));

function docker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8' }).trim();
}

/** Containers (id and networks) that carry the given owner process id. */
function containersOwnedBy(pid: number): { id: string; networks: string[] }[] {
  return docker(['ps', '--all', '--filter', `label=${CONTAINER_LABEL}.pid=${pid}`, '--format', '{{.ID}} {{.Networks}}'])
    .split('\n')
    .filter(Boolean)
    .map((row) => {
      const [id = '', networks = ''] = row.split(' ');
      return { id, networks: networks.split(',').filter((name) => !['host', 'bridge', 'none'].includes(name)) };
    });
}

function networkExists(name: string): boolean {
  return docker(['network', 'ls', '--format', '{{.Name}}']).split('\n').includes(name);
}

describe('Provider settings', () => {
  it('rejects an unknown REGISTRY_PROVIDER and names the accepted ones', () => {
    expect(() => providerFromEnv({ REGISTRY_PROVIDER: 'docker' })).toThrow(
      'REGISTRY_PROVIDER: expected one of process, containers, external (got "docker")',
    );
  });

  it('rejects an unknown REGISTRY_CONTAINERS_NETWORK and names the accepted ones', () => {
    expect(() => containerNetworkingFromEnv({ REGISTRY_CONTAINERS_NETWORK: 'bridge' })).toThrow(
      'REGISTRY_CONTAINERS_NETWORK: expected one of host, network (got "bridge")',
    );
  });

  it('takes the networking REGISTRY_CONTAINERS_NETWORK names', () => {
    expect(containerNetworkingFromEnv({ REGISTRY_CONTAINERS_NETWORK: 'host' })).toBe('host');
    expect(containerNetworkingFromEnv({ REGISTRY_CONTAINERS_NETWORK: 'network' })).toBe('network');
  });
});

for (const local of localProviders()) {
  const { provider, networking, name } = local;
  describe.skipIf(!local.available)(providerSuiteTitle('MLflow faults the chaos suite injects', local), () => {
    let mlflow: MlflowHandle;
    const search = () =>
      fetchJson(`${mlflow.url}/api/2.0/mlflow/registered-models/search?max_results=1`, { timeoutMs: 10_000 });
    const read = (model: string) =>
      fetchJson(`${mlflow.url}/api/2.0/mlflow/registered-models/get?name=${model}`, { timeoutMs: 10_000 });
    const create = (model: string) =>
      fetchJson(`${mlflow.url}/api/2.0/mlflow/registered-models/create`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: model }),
        timeoutMs: 10_000,
      });

    beforeAll(async () => {
      mlflow = await startMlflowWith(provider, { networking });
    });
    afterAll(async () => mlflow?.stop());

    it('brings a crashed MLflow back at the same address with its store', async () => {
      expect((await create(`survives-restart-${name}`)).status).toBe(200);

      await mlflow.kill?.();
      await waitFor(async () => (await search().catch(() => null)) === null, {
        timeoutMs: 15_000,
        what: 'the killed MLflow to stop answering',
      });
      await mlflow.restart?.();

      expect((await read(`survives-restart-${name}`)).status).toBe(200);
    });

    it('breaks the store so that MLflow answers 5xx, and restores it with its data', async () => {
      expect((await create(`survives-broken-store-${name}`)).status).toBe(200);

      await mlflow.breakStore?.();
      try {
        expect((await create(`written-while-broken-${name}`)).status).toBeGreaterThanOrEqual(500);
        // It must stay broken as long as the fault lasts (MLflow recreates missing stores by itself,
        // which a single look right after the break would not notice).
        const brokenAt = Date.now();
        await waitFor(
          async () => {
            const { status } = await search();
            if (status < 500)
              throw new StopWaiting(`MLflow answered ${status} ${Date.now() - brokenAt} ms after the break`);
            return Date.now() - brokenAt >= 5_000;
          },
          { timeoutMs: 20_000, intervalMs: 250, what: '5 s of 5xx answers from the broken store' },
        );
      } finally {
        await mlflow.restoreStore?.();
      }

      expect((await read(`survives-broken-store-${name}`)).status).toBe(200);
      expect((await read(`written-while-broken-${name}`)).status).toBe(404);
    });
  });

  if (provider !== 'containers') continue;
  describe.skipIf(!local.available)(providerSuiteTitle('Container cleanup', local), () => {
    it('removes the containers and network of a run killed with SIGKILL', async () => {
      const child = spawn(process.execPath, [HOLD_CONTAINERS, networking ?? ''], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
      });
      child.stderr.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
      });
      try {
        await waitFor(async () => output.includes('"ready":true'), {
          timeoutMs: 120_000,
          what: `the child run to start its containers (output so far: ${output.slice(-500)})`,
        });
        const owned = containersOwnedBy(child.pid ?? -1);
        expect(owned).toHaveLength(2);
        const networks = [...new Set(owned.flatMap((container) => container.networks))];
        expect(networks).toHaveLength(networking === 'network' ? 1 : 0);

        child.kill('SIGKILL');
        await waitFor(
          async () =>
            containersOwnedBy(child.pid ?? -1).length === 0 && networks.every((network) => !networkExists(network)),
          { timeoutMs: 30_000, what: 'the killed run’s containers and network to be removed' },
        );
      } finally {
        child.kill('SIGKILL');
      }
    });
  });
}
