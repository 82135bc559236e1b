import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CONTAINER_LABEL,
  containerNetworkingFromEnv,
  docker,
  fetchJson,
  localProviders,
  type MlflowHandle,
  providerFromEnv,
  requiredProviders,
  StopWaiting,
  startMlflowWith,
  startStack,
  waitFor,
} from '@registry/testkit';
import { describeOnProvider, providerSummaryLine } from '@registry/testkit/suites';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HOLD_CONTAINERS = fileURLToPath(new URL('./support/hold-containers.ts', import.meta.url));
const VITEST = join(dirname(fileURLToPath(import.meta.resolve('vitest/package.json'))), 'vitest.mjs');
const PROVIDER_SUITES = fileURLToPath(new URL('./support/provider-suites/', import.meta.url));

/** Runs a fixture suite on the process provider in a child vitest, with no tools provisioned. */
function runFixtureWithoutTools(
  required: string,
  fixture = 'process-suite.fixture.ts',
): { status: number | null; output: string } {
  const tools = mkdtempSync(join(tmpdir(), 'registry-no-tools-'));
  try {
    const child = spawnSync(process.execPath, [VITEST, 'run'], {
      cwd: PROVIDER_SUITES,
      encoding: 'utf8',
      timeout: 60_000,
      env: {
        ...process.env,
        REGISTRY_TOOLS_DIR: tools,
        REGISTRY_REQUIRED_PROVIDERS: required,
        REGISTRY_FIXTURE: fixture,
        NO_COLOR: '1',
      },
    });
    return { status: child.status, output: `${child.stdout}${child.stderr}` };
  } finally {
    rmSync(tools, { recursive: true, force: true });
  }
}

/** Every process descended from `pid` (from /proc: each process's parent). */
function descendantsOf(pid: number): Set<number> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    // The field after the command name, which may hold spaces and parentheses, is the state, then the parent.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const found = new Set<number>();
  const visit = (of: number) => {
    for (const child of children.get(of) ?? []) {
      found.add(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

/** A process's command line ('' once it has ended). */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

/** A health check HAProxy refuses to start with (`rise 0`): the last part of a stack fails to start. */
const REJECTED_CHECK = { path: '/health/live', intervalMs: 1_000, timeoutMs: 500, rise: 0, fall: 3 };

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

  it('reads REGISTRY_REQUIRED_PROVIDERS as names, containers as both networkings and all as every provider', () => {
    expect([...requiredProviders({})]).toEqual([]);
    expect([...requiredProviders({ REGISTRY_REQUIRED_PROVIDERS: ' process , containers-host' })]).toEqual([
      'process',
      'containers-host',
    ]);
    expect([...requiredProviders({ REGISTRY_REQUIRED_PROVIDERS: 'containers' })]).toEqual([
      'containers-host',
      'containers-network',
    ]);
    expect(requiredProviders({ REGISTRY_REQUIRED_PROVIDERS: 'all' }).size).toBe(3);
  });

  it('rejects an unknown name in REGISTRY_REQUIRED_PROVIDERS and names the accepted ones', () => {
    expect(() => requiredProviders({ REGISTRY_REQUIRED_PROVIDERS: 'process,docker' })).toThrow(
      "REGISTRY_REQUIRED_PROVIDERS: unknown provider 'docker' (use process, containers-host, containers-network, containers or all)",
    );
  });

  it('marks a provider that cannot run here as required when REGISTRY_REQUIRED_PROVIDERS names it', () => {
    const env = {
      REGISTRY_TOOLS_DIR: join(tmpdir(), 'registry-no-such-tools'),
      REGISTRY_REQUIRED_PROVIDERS: 'process',
    };
    const processProvider = localProviders(env).find(({ name }) => name === 'process');
    expect(processProvider).toMatchObject({ available: false, required: true });
    expect(processProvider?.reason).toMatch(/not provisioned/);
  });

  it('fails the suite of a required provider that cannot run, naming the reason', () => {
    const { status, output } = runFixtureWithoutTools('process');
    expect(output).toContain('process is required by REGISTRY_REQUIRED_PROVIDERS but cannot run here');
    expect(status).toBe(1);
  });

  it('skips the suite of a provider that cannot run and is not required, printing why', () => {
    const { status, output } = runFixtureWithoutTools('');
    expect(output).toContain('Fixture suite (process, not run: MLflow and Toxiproxy are not provisioned');
    expect(status).toBe(0);
  });

  it('fails a suite that must run somewhere when no provider can run, naming why each cannot', () => {
    const { status, output } = runFixtureWithoutTools('', 'any-provider.fixture.ts');
    expect(output).toContain('no provider can run here (process: MLflow and Toxiproxy are not provisioned');
    expect(status).toBe(1);
  });

  it('sums up a suite in one line: the providers that ran, those that did not and why', () => {
    const env = {
      REGISTRY_TOOLS_DIR: join(tmpdir(), 'registry-no-such-tools'),
      REGISTRY_REQUIRED_PROVIDERS: 'process',
    };
    const line = providerSummaryLine('chaos', localProviders(env));
    expect(line).toMatch(
      /^\[providers\] chaos: ran on .*; not run: process \(MLflow and Toxiproxy are not provisioned/,
    );
    expect(line).toContain('; REQUIRED)');
  });
});

for (const local of localProviders()) {
  const { provider, networking, name } = local;
  describeOnProvider('MLflow faults the chaos suite injects', local, () => {
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

  // The unwinding under test (the fleet's: replicas, proxy, HAProxy) is the same on every provider; the
  // containers providers add only their dependencies' ordinary stop, which every other suite exercises.
  if (provider === 'process')
    describeOnProvider('Stack start-up', local, () => {
      it('stops everything it started when its last part, HAProxy, fails to start', async () => {
        const before = descendantsOf(process.pid);

        await expect(startStack({ provider, replicas: 2, loadBalancer: REJECTED_CHECK })).rejects.toThrow(
          /HAProxy rejected its configuration/,
        );

        // PostgreSQL, Toxiproxy, MLflow and both replicas (each under its watchdog) are gone again.
        const left = [...descendantsOf(process.pid)]
          .filter((pid) => !before.has(pid))
          .map((pid) => ({ pid, command: commandOf(pid) }))
          .filter(({ command }) => command !== '');
        expect(left).toEqual([]);
      });
    });

  if (provider !== 'containers') continue;
  describeOnProvider('Container cleanup', local, () => {
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
        // MLflow, its PostgreSQL and Toxiproxy.
        const owned = containersOwnedBy(child.pid ?? -1);
        expect(owned).toHaveLength(3);
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
