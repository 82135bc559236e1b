import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { removeAtExit } from './cleanup.js';
import { labels, loadTestcontainers } from './docker.js';
import { ensureImages, haproxyImage } from './images.js';

const execFileAsync = promisify(execFile);

/** HAProxy running in a container: its output, whether it runs, and how to stop it. */
export interface HaproxyContainer {
  isRunning(): Promise<boolean>;
  output(): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts HAProxy as a container on the host's network (the replicas it balances over are processes on
 * loopback), with `dir` (its configuration and runtime API socket) mounted at the same path.
 */
export async function startHaproxyContainer(dir: string, config: string): Promise<HaproxyContainer> {
  const { GenericContainer } = await loadTestcontainers();
  ensureImages();
  const container = await new GenericContainer(haproxyImage())
    .withNetworkMode('host')
    .withLabels(labels('haproxy'))
    .withBindMounts([{ source: dir, target: dir }])
    .withCommand(['-db', '-f', config])
    .start();
  removeAtExit('container', container.getId());
  const inspect = async (format: string) =>
    (await execFileAsync('docker', ['inspect', '--format', format, container.getId()], { encoding: 'utf8' })).stdout;
  return {
    isRunning: async () => (await inspect('{{.State.Running}}').catch(() => 'false')).trim() === 'true',
    output: async () => {
      const logs = await execFileAsync('docker', ['logs', container.getId()], { encoding: 'utf8' }).catch(() => null);
      return logs ? `${logs.stdout}${logs.stderr}` : '';
    },
    stop: async () => void (await container.stop({ timeout: 5_000 })),
  };
}
