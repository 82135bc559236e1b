import { execFileSync, spawnSync } from 'node:child_process';

/** Label on every container testkit starts, so that leftovers of a killed run can be removed. */
export const CONTAINER_LABEL = 'registry-testkit';

/** Runs the `docker` CLI and returns its output; for set-up paths, never while a run is timing something. */
export function docker(args: string[], options: { input?: string } = {}): string {
  return execFileSync('docker', args, {
    encoding: 'utf8',
    input: options.input,
    stdio: ['pipe', 'pipe', 'pipe'],
  }).trim();
}

/** True when a Docker engine answers (through the `docker` CLI). */
export function isDockerAvailable(): boolean {
  const result = spawnSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 10_000 });
  return result.status === 0;
}

/** The labels of a container testkit starts: its role, and the process that owns it. */
export const labels = (role: string) => ({
  [CONTAINER_LABEL]: role,
  [`${CONTAINER_LABEL}.pid`]: String(process.pid),
});

export type Testcontainers = typeof import('testcontainers');

/**
 * Loads testcontainers, which reads these variables when it is first loaded: Ryuk (its reaper) is an image
 * that must be pulled, so testkit cleans up after itself instead; the host override skips a gateway check
 * that fails without a bridge network. Set here, on first use, rather than when testkit is imported.
 */
export async function loadTestcontainers(): Promise<Testcontainers> {
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';
  return import('testcontainers');
}

/** What testkit needs of a started container. */
export interface RunningContainer {
  getId(): string;
  getHost(): string;
  stop(options?: { timeout?: number }): Promise<unknown>;
}
