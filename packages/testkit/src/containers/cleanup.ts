import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { log } from '../log.js';
import { deferStop } from '../process.js';
import { CONTAINER_LABEL, docker, type RunningContainer } from './docker.js';

const REAPER = fileURLToPath(new URL('../../bin/container-reaper.sh', import.meta.url));

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what runs that ended without cleaning up left behind: containers labelled with an owner
 * process that no longer exists, and the networks they were on. Containers of runs still going are kept.
 */
export function removeStaleContainers(): void {
  const rows = docker([
    'ps',
    '--all',
    '--filter',
    `label=${CONTAINER_LABEL}`,
    '--format',
    `{{.ID}}\t{{.Label "${CONTAINER_LABEL}.pid"}}\t{{.Networks}}`,
  ])
    .split('\n')
    .filter(Boolean)
    .map((row) => row.split('\t'));
  const stale = rows.filter(([, pid]) => !isProcessAlive(Number(pid) || -1));
  if (stale.length === 0) return;
  // The reaper's own removal, run at once: containers first, then their networks (endpoints forced off).
  const networks = new Set(stale.flatMap(([, , names]) => (names ?? '').split(',')));
  const objects = [
    ...stale.map(([id]) => `container ${id}`),
    ...[...networks]
      .filter((name) => name && !['host', 'bridge', 'none'].includes(name))
      .map((name) => `network ${name}`),
  ];
  spawnSync(REAPER, [], { input: `${objects.join('\n')}\n`, stdio: ['pipe', 'ignore', 'ignore'] });
  log(`removed ${stale.length} container(s) left behind by runs that ended without cleaning up`);
}

let reaper: ChildProcess | undefined;

/** Hands a container or network to the reaper, which removes it when this process ends, however it ends. */
export function removeAtExit(kind: 'container' | 'network', name: string): void {
  if (!reaper) {
    reaper = spawn(REAPER, [], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    reaper.stdin?.on('error', () => {});
    reaper.unref();
    (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }
  reaper.stdin?.write(`${kind} ${name}\n`);
}

/** Registers a started container for removal: by the run's `cleanup` stack, and by the reaper if the run dies. */
export function own<T extends RunningContainer>(cleanup: AsyncDisposableStack, container: T): T {
  removeAtExit('container', container.getId());
  deferStop(cleanup, `container ${container.getId().slice(0, 12)}`, () => container.stop({ timeout: 5_000 }));
  return container;
}
