import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MlflowHandle } from './mlflow.js';
import { waitForMlflow } from './mlflow.js';
import { freePort } from './process.js';
import { MLFLOW_VERSION, provisionToxiproxy, TOXIPROXY_VERSION } from './provision.js';
import { connectToxiproxy, type ToxiproxyHandle } from './toxiproxy.js';

/** The official images the containers provider runs (built here under the same names when none can be pulled). */
export const MLFLOW_IMAGE = `ghcr.io/mlflow/mlflow:v${MLFLOW_VERSION}`;
export const TOXIPROXY_IMAGE = `ghcr.io/shopify/toxiproxy:${TOXIPROXY_VERSION}`;
/** Label on every container testkit starts, so that leftovers of a killed run can be removed. */
export const CONTAINER_LABEL = 'registry-testkit';

// testcontainers reads these when it is first loaded. Ryuk (its reaper) is an image that must be pulled,
// so testkit cleans up after itself instead; the host override skips a gateway check that fails without
// a bridge network.
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';

function log(message: string): void {
  process.stderr.write(`[testkit] ${message}\n`);
}

function docker(args: string[], options: { input?: string } = {}): string {
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

/** True when the engine has no bridge network, as on machines where dockerd runs with --bridge=none. */
export function isHostNetworkOnly(): boolean {
  return !docker(['network', 'ls', '--format', '{{.Name}}']).split('\n').includes('bridge');
}

function hasImage(image: string): boolean {
  return spawnSync('docker', ['image', 'inspect', image], { stdio: 'ignore' }).status === 0;
}

function tryPull(image: string): boolean {
  return spawnSync('docker', ['pull', '--quiet', image], { stdio: 'ignore', timeout: 600_000 }).status === 0;
}

/** Builds the Toxiproxy image from the statically linked binary `go install` produced. */
function buildToxiproxyImage(): void {
  const context = mkdtempSync(join(tmpdir(), 'registry-toxiproxy-image-'));
  try {
    copyFileSync(provisionToxiproxy(), join(context, 'toxiproxy'));
    writeFileSync(
      join(context, 'Dockerfile'),
      'FROM scratch\nCOPY toxiproxy /toxiproxy\nENTRYPOINT ["/toxiproxy"]\nCMD ["-host=0.0.0.0"]\n',
    );
    docker(['build', '--quiet', '--tag', TOXIPROXY_IMAGE, context]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

/**
 * Builds the MLflow image from a Debian root filesystem (debootstrap, as root) with the pinned MLflow
 * installed by pip into /opt/mlflow, imported as MLFLOW_IMAGE.
 */
function buildMlflowImage(): void {
  if (process.getuid?.() !== 0) throw new Error('building the MLflow image needs root (debootstrap and chroot)');
  const rootfs = mkdtempSync(join(tmpdir(), 'registry-mlflow-rootfs-'));
  try {
    log(`building ${MLFLOW_IMAGE} from a Debian root filesystem (a few minutes, once per machine)`);
    execFileSync(
      'debootstrap',
      [
        '--variant=minbase',
        '--include=python3,python3-venv,ca-certificates',
        'bookworm',
        rootfs,
        'http://deb.debian.org/debian',
      ],
      { stdio: 'ignore' },
    );
    // The build runs pip inside the root filesystem: give it this machine's DNS, CA bundle (a TLS proxy's
    // CA, where there is one) and pip settings.
    copyFileSync('/etc/resolv.conf', join(rootfs, 'etc', 'resolv.conf'));
    copyFileSync('/etc/ssl/certs/ca-certificates.crt', join(rootfs, 'etc', 'ssl', 'certs', 'ca-certificates.crt'));
    if (existsSync('/etc/pip.conf')) copyFileSync('/etc/pip.conf', join(rootfs, 'etc', 'pip.conf'));
    execFileSync('chroot', [rootfs, 'python3', '-m', 'venv', '/opt/mlflow'], { stdio: 'inherit' });
    execFileSync(
      'chroot',
      [
        rootfs,
        '/opt/mlflow/bin/pip',
        'install',
        '--quiet',
        '--no-cache-dir',
        '--disable-pip-version-check',
        `mlflow==${MLFLOW_VERSION}`,
      ],
      {
        stdio: 'inherit',
      },
    );
    rmSync(join(rootfs, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
    mkdirSync(join(rootfs, 'data'), { recursive: true });
    execFileSync(
      'sh',
      [
        '-c',
        `tar -C "${rootfs}" -c . | docker import --change 'ENV PATH=/opt/mlflow/bin:/usr/bin:/bin' --change 'WORKDIR /data' - "${MLFLOW_IMAGE}"`,
      ],
      { stdio: 'ignore', maxBuffer: 1024 * 1024 },
    );
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

/**
 * Makes sure both images exist locally: already there (cached by the engine), pulled from their
 * registries, or, where no registry is reachable, built from what the project already builds.
 */
export function ensureImages(): void {
  for (const [image, build] of [
    [TOXIPROXY_IMAGE, buildToxiproxyImage],
    [MLFLOW_IMAGE, buildMlflowImage],
  ] as const) {
    if (hasImage(image)) continue;
    if (tryPull(image)) continue;
    log(`${image} cannot be pulled here: building it locally`);
    build();
  }
}

/** Removes containers a killed earlier run left behind (Ryuk is not available to do it). */
export function removeStaleContainers(): void {
  const ids = docker(['ps', '-aq', '--filter', `label=${CONTAINER_LABEL}`])
    .split('\n')
    .filter(Boolean);
  if (ids.length > 0) docker(['rm', '-f', ...ids]);
}

const started = new Set<string>();
let exitHook = false;

function track(id: string): void {
  started.add(id);
  if (exitHook) return;
  exitHook = true;
  process.once('exit', () => {
    if (started.size > 0) spawnSync('docker', ['rm', '-f', ...started], { stdio: 'ignore' });
  });
}

interface RunningContainer {
  getId(): string;
  stop(options?: { timeout?: number }): Promise<unknown>;
  getMappedPort(port: number): number;
}

/** MLflow and Toxiproxy as containers, on the host network (no bridge) or a created network with aliases. */
export interface ContainerDependencies {
  readonly mlflow: MlflowHandle;
  readonly toxiproxy: ToxiproxyHandle;
  /** Address the Toxiproxy proxy should forward to (as Toxiproxy sees MLflow). */
  readonly upstream: string;
  /** Host address where the service reaches a proxy listening on `proxyPort` inside Toxiproxy. */
  proxyAddress(proxyPort: number): string;
  readonly proxyPort: number;
  stop(): Promise<void>;
}

/** Starts MLflow and Toxiproxy containers (testcontainers); every container is removed on stop or exit. */
export async function startContainerDependencies(): Promise<ContainerDependencies> {
  const { GenericContainer, Network, Wait } = await import('testcontainers');
  ensureImages();
  removeStaleContainers();
  const hostOnly = isHostNetworkOnly();
  const cleanups: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
  };
  try {
    const mlflowPort = hostOnly ? await freePort() : 5000;
    const apiPort = hostOnly ? await freePort() : 8474;
    const proxyPort = hostOnly ? await freePort() : 8666;
    const network = hostOnly ? undefined : await new Network().start();
    if (network) cleanups.push(() => network.stop());
    const place = <T extends InstanceType<typeof GenericContainer>>(container: T, alias: string, ports: number[]): T =>
      (network
        ? container
            .withNetwork(network)
            .withNetworkAliases(alias)
            .withExposedPorts(...ports)
        : container.withNetworkMode('host')) as T;

    const mlflowContainer = (await place(
      new GenericContainer(MLFLOW_IMAGE)
        .withLabels({ [CONTAINER_LABEL]: 'mlflow', [`${CONTAINER_LABEL}.pid`]: String(process.pid) })
        .withEnvironment({ MLFLOW_SQLALCHEMYSTORE_POOLCLASS: 'NullPool' })
        .withCommand([
          'mlflow',
          'server',
          '--backend-store-uri',
          'sqlite:////data/mlflow.db',
          '--artifacts-destination',
          '/data/artifacts',
          '--host',
          hostOnly ? '127.0.0.1' : '0.0.0.0',
          '--port',
          String(mlflowPort),
          '--workers',
          '1',
        ])
        .withWaitStrategy(Wait.forLogMessage(/Application startup complete/))
        .withStartupTimeout(180_000),
      'mlflow',
      [mlflowPort],
    ).start()) as unknown as RunningContainer;
    track(mlflowContainer.getId());
    cleanups.push(() => mlflowContainer.stop({ timeout: 5_000 }));

    const toxiproxyContainer = (await place(
      new GenericContainer(TOXIPROXY_IMAGE)
        .withLabels({ [CONTAINER_LABEL]: 'toxiproxy', [`${CONTAINER_LABEL}.pid`]: String(process.pid) })
        .withCommand(['-host', hostOnly ? '127.0.0.1' : '0.0.0.0', '-port', String(apiPort)])
        .withWaitStrategy(Wait.forLogMessage(/Starting Toxiproxy HTTP server/))
        .withStartupTimeout(60_000),
      'toxiproxy',
      [apiPort, proxyPort],
    ).start()) as unknown as RunningContainer;
    track(toxiproxyContainer.getId());
    cleanups.push(() => toxiproxyContainer.stop({ timeout: 5_000 }));

    const hostPort = (container: RunningContainer, port: number) => (hostOnly ? port : container.getMappedPort(port));
    const mlflowUrl = `http://127.0.0.1:${hostPort(mlflowContainer, mlflowPort)}`;
    await waitForMlflow(mlflowUrl, 120_000);
    const toxiproxy = await connectToxiproxy(`http://127.0.0.1:${hostPort(toxiproxyContainer, apiPort)}`);

    const mlflow: MlflowHandle = {
      url: mlflowUrl,
      address: { host: '127.0.0.1', port: hostPort(mlflowContainer, mlflowPort) },
      stop: async () => void (await mlflowContainer.stop({ timeout: 5_000 })),
      // SIGKILL to the container's main process, as a crash; the container and its store stay.
      kill: async () => void docker(['kill', '--signal', 'KILL', mlflowContainer.getId()]),
      restart: async () => {
        docker(['start', mlflowContainer.getId()]);
        await waitForMlflow(mlflowUrl, 120_000);
      },
      breakStore() {
        spawnSync('docker', [
          'exec',
          mlflowContainer.getId(),
          'sh',
          '-c',
          'mv /data/mlflow.db /data/mlflow.db.saved && mkdir /data/mlflow.db',
        ]);
      },
      restoreStore() {
        spawnSync('docker', [
          'exec',
          mlflowContainer.getId(),
          'sh',
          '-c',
          'rmdir /data/mlflow.db && mv /data/mlflow.db.saved /data/mlflow.db',
        ]);
      },
      [Symbol.asyncDispose]: async () => void (await mlflowContainer.stop({ timeout: 5_000 })),
    };
    return {
      mlflow,
      toxiproxy,
      upstream: hostOnly ? `127.0.0.1:${mlflowPort}` : `mlflow:${mlflowPort}`,
      proxyPort,
      proxyAddress: (port) => `127.0.0.1:${hostPort(toxiproxyContainer, port)}`,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
