import { type ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Proxy as ToxiproxyProxy } from 'toxiproxy-node-client';
import { haproxyExecutable, installedHaproxyVersion } from './haproxy.js';
import type { MlflowHandle } from './mlflow.js';
import { MLFLOW_SERVER_ENV, waitForMlflow } from './mlflow.js';
import { freePort } from './process.js';
import { MLFLOW_VERSION, provisionToxiproxy, TOXIPROXY_VERSION } from './provision.js';
import { connectToxiproxy, type ToxiproxyHandle } from './toxiproxy.js';

/** The official images the containers provider runs (built here under the same names when none can be pulled). */
export const MLFLOW_IMAGE = `ghcr.io/mlflow/mlflow:v${MLFLOW_VERSION}`;
export const TOXIPROXY_IMAGE = `ghcr.io/shopify/toxiproxy:${TOXIPROXY_VERSION}`;
/**
 * The HAProxy image: Debian's HAProxy, the one `npm run setup` installs, with the libraries it links,
 * built here (no registry image carries Debian's build). Local only, never pulled.
 */
const HAPROXY_VERSION = installedHaproxyVersion() ?? 'missing';
// An image tag allows letters, digits, `_`, `.` and `-`: Debian's `2.6.12-1+deb12u4` becomes `2.6.12-1-deb12u4`.
export const HAPROXY_IMAGE = `registry-testkit/haproxy:${HAPROXY_VERSION.replace(/[^\w.-]/g, '-')}`;
/** Label on every container testkit starts, so that leftovers of a killed run can be removed. */
export const CONTAINER_LABEL = 'registry-testkit';

// testcontainers reads these when it is first loaded. Ryuk (its reaper) is an image that must be pulled,
// so testkit cleans up after itself instead; the host override skips a gateway check that fails without
// a bridge network.
process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1';

const execFileAsync = promisify(execFile);
const REAPER = fileURLToPath(new URL('../bin/container-reaper.sh', import.meta.url));

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

/** Label on the images built here: a digest of their recipe, so that a changed recipe rebuilds them. */
const RECIPE_LABEL = `${CONTAINER_LABEL}.recipe`;

/** Everything the Toxiproxy image is built from (the binary is `go install`ed at TOXIPROXY_VERSION). */
const TOXIPROXY_RECIPE = {
  version: TOXIPROXY_VERSION,
  dockerfile: ['FROM scratch', 'COPY toxiproxy /toxiproxy', 'ENTRYPOINT ["/toxiproxy"]', 'CMD ["-host=0.0.0.0"]'],
};

/** Everything the MLflow image is built from: a Debian root filesystem, a venv, the pinned MLflow. */
const MLFLOW_RECIPE = {
  version: MLFLOW_VERSION,
  debootstrap: ['--variant=minbase', '--include=python3,python3-venv,ca-certificates', 'bookworm'],
  pip: ['install', '--quiet', '--no-cache-dir', '--disable-pip-version-check', `mlflow==${MLFLOW_VERSION}`],
  changes: ['ENV PATH=/opt/mlflow/bin:/usr/local/bin:/usr/bin:/bin'],
};

/** Everything the HAProxy image is built from: the installed binary and what `ldd` says it loads. */
const HAPROXY_RECIPE = {
  version: HAPROXY_VERSION,
  dockerfile: ['FROM scratch', 'COPY rootfs/ /', 'ENTRYPOINT ["/usr/sbin/haproxy"]'],
};

function digest(recipe: object): string {
  return createHash('sha256').update(JSON.stringify(recipe)).digest('hex').slice(0, 16);
}

/**
 * What the engine has under an image name: nothing, an image to use (pulled, with no recipe label, or
 * built here from the current recipe), or one built here from an older recipe.
 */
function imageState(image: string, recipe: string): 'missing' | 'usable' | 'outdated' {
  const format = `{{index .Config.Labels "${RECIPE_LABEL}"}}`;
  const inspected = spawnSync('docker', ['image', 'inspect', '--format', format, image], { encoding: 'utf8' });
  if (inspected.status !== 0) return 'missing';
  const label = inspected.stdout.trim();
  return label === '' || label === '<no value>' || label === recipe ? 'usable' : 'outdated';
}

function tryPull(image: string): boolean {
  return spawnSync('docker', ['pull', '--quiet', image], { stdio: 'ignore', timeout: 600_000 }).status === 0;
}

/** Builds the Toxiproxy image from the statically linked binary `go install` produced. */
function buildToxiproxyImage(recipe: string): void {
  const context = mkdtempSync(join(tmpdir(), 'registry-toxiproxy-image-'));
  try {
    copyFileSync(provisionToxiproxy(), join(context, 'toxiproxy'));
    const dockerfile = [...TOXIPROXY_RECIPE.dockerfile, `LABEL ${RECIPE_LABEL}=${recipe}`];
    writeFileSync(join(context, 'Dockerfile'), `${dockerfile.join('\n')}\n`);
    docker(['build', '--quiet', '--tag', TOXIPROXY_IMAGE, context]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

/** Builds the HAProxy image from the installed binary and the shared libraries `ldd` lists for it. */
function buildHaproxyImage(recipe: string): void {
  const executable = haproxyExecutable();
  if (!executable) throw new Error("the HAProxy image needs Debian's haproxy: run npm run setup");
  const context = mkdtempSync(join(tmpdir(), 'registry-haproxy-image-'));
  try {
    const libraries = [...execFileSync('ldd', [executable], { encoding: 'utf8' }).matchAll(/(\/\S+) \(0x/g)]
      .map((match) => match[1] as string)
      .filter((path) => existsSync(path));
    for (const file of [executable, ...libraries]) {
      const target = join(context, 'rootfs', executable === file ? '/usr/sbin/haproxy' : file);
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(file, target);
    }
    const dockerfile = [...HAPROXY_RECIPE.dockerfile, `LABEL ${RECIPE_LABEL}=${recipe}`];
    writeFileSync(join(context, 'Dockerfile'), `${dockerfile.join('\n')}\n`);
    docker(['build', '--quiet', '--tag', HAPROXY_IMAGE, context]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

/**
 * Builds the MLflow image from a Debian root filesystem (debootstrap, as root) with the pinned MLflow
 * installed by pip into /opt/mlflow, imported as MLFLOW_IMAGE.
 */
function buildMlflowImage(recipe: string): void {
  if (process.getuid?.() !== 0) throw new Error('building the MLflow image needs root (debootstrap and chroot)');
  const rootfs = mkdtempSync(join(tmpdir(), 'registry-mlflow-rootfs-'));
  try {
    log(`building ${MLFLOW_IMAGE} from a Debian root filesystem (a few minutes, once per machine)`);
    execFileSync('debootstrap', [...MLFLOW_RECIPE.debootstrap, rootfs, 'http://deb.debian.org/debian'], {
      stdio: 'ignore',
    });
    // The build runs pip inside the root filesystem: give it this machine's DNS, CA bundle (a TLS proxy's
    // CA, where there is one) and pip settings.
    copyFileSync('/etc/resolv.conf', join(rootfs, 'etc', 'resolv.conf'));
    copyFileSync('/etc/ssl/certs/ca-certificates.crt', join(rootfs, 'etc', 'ssl', 'certs', 'ca-certificates.crt'));
    if (existsSync('/etc/pip.conf')) copyFileSync('/etc/pip.conf', join(rootfs, 'etc', 'pip.conf'));
    execFileSync('chroot', [rootfs, 'python3', '-m', 'venv', '/opt/mlflow'], { stdio: 'inherit' });
    execFileSync('chroot', [rootfs, '/opt/mlflow/bin/pip', ...MLFLOW_RECIPE.pip], { stdio: 'inherit' });
    rmSync(join(rootfs, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
    const changes = [...MLFLOW_RECIPE.changes, `LABEL ${RECIPE_LABEL}=${recipe}`].flatMap((change) => [
      '--change',
      change,
    ]);
    // Streamed: the root filesystem is about a gigabyte.
    const importRootfs = 'rootfs=$1; shift; tar -C "$rootfs" -c . | docker import "$@"';
    execFileSync('bash', ['-o', 'pipefail', '-c', importRootfs, 'bash', rootfs, ...changes, '-', MLFLOW_IMAGE], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  } finally {
    rmSync(rootfs, { recursive: true, force: true });
  }
}

/**
 * Makes sure both images exist locally: already there (cached by the engine; one built here is rebuilt
 * when its recipe changed), pulled from their registries, or, where no registry is reachable, built from
 * what the project already builds.
 */
export function ensureImages(): void {
  for (const [image, build, recipe] of [
    [TOXIPROXY_IMAGE, buildToxiproxyImage, digest(TOXIPROXY_RECIPE)],
    [MLFLOW_IMAGE, buildMlflowImage, digest(MLFLOW_RECIPE)],
    [HAPROXY_IMAGE, buildHaproxyImage, digest(HAPROXY_RECIPE)],
  ] as const) {
    const state = imageState(image, recipe);
    if (state === 'usable') continue;
    if (image !== HAPROXY_IMAGE && tryPull(image)) continue;
    log(
      image === HAPROXY_IMAGE
        ? `building ${image} from the installed haproxy`
        : state === 'outdated'
          ? `${image} was built here from an older recipe and cannot be pulled: rebuilding it`
          : `${image} cannot be pulled here: building it locally`,
    );
    build(recipe);
  }
}

/**
 * How the containers reach each other: `host`, every server on a free loopback port of the host's
 * network (engines without a bridge, as dockerd --bridge=none here); `network`, a network created for
 * the run, Toxiproxy reaching MLflow by its alias and the host reaching both through mapped ports
 * (laptops, hosted CI).
 */
export type ContainerNetworking = 'host' | 'network';

/** The values `REGISTRY_CONTAINERS_NETWORK` accepts. */
export const CONTAINER_NETWORKINGS: readonly ContainerNetworking[] = ['host', 'network'];

/** True when the engine has no default bridge network, as on machines where dockerd runs with --bridge=none. */
export function isHostNetworkOnly(): boolean {
  return !docker(['network', 'ls', '--format', '{{.Name}}']).split('\n').includes('bridge');
}

/**
 * The networking chosen by `REGISTRY_CONTAINERS_NETWORK`; unset, `host` when the engine has no default
 * bridge network and `network` otherwise. Throws on an unknown value.
 */
export function containerNetworkingFromEnv(env: NodeJS.ProcessEnv = process.env): ContainerNetworking {
  const value = env.REGISTRY_CONTAINERS_NETWORK;
  if (!value) return isHostNetworkOnly() ? 'host' : 'network';
  return parseContainerNetworking(value, 'REGISTRY_CONTAINERS_NETWORK');
}

/** `value` as a networking; throws naming `source` (the variable or option it came from) and the accepted values. */
export function parseContainerNetworking(value: string, source: string): ContainerNetworking {
  if (!(CONTAINER_NETWORKINGS as readonly string[]).includes(value)) {
    throw new Error(`${source}: expected one of ${CONTAINER_NETWORKINGS.join(', ')} (got "${value}")`);
  }
  return value as ContainerNetworking;
}

/**
 * Why `network` networking cannot run on this engine ('' when it can). testcontainers creates a container
 * that has network aliases on the engine's default bridge and then connects it to the created network,
 * and publishes its ports through that bridge: without one (dockerd --bridge=none), the mapped ports
 * never answer.
 */
export function networkUnavailableReason(): string {
  return isHostNetworkOnly()
    ? 'the engine has no default bridge network (dockerd --bridge=none), which testcontainers needs to publish the ports of aliased containers'
    : '';
}

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
function removeAtExit(kind: 'container' | 'network', name: string): void {
  if (!reaper) {
    reaper = spawn(REAPER, [], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    reaper.stdin?.on('error', () => {});
    reaper.unref();
    (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  }
  reaper.stdin?.write(`${kind} ${name}\n`);
}

/** Registers a started container for removal: by the run's cleanups, and by the reaper if the run dies. */
function own<T extends RunningContainer>(cleanups: (() => Promise<unknown>)[], container: T): T {
  removeAtExit('container', container.getId());
  cleanups.push(() => container.stop({ timeout: 5_000 }));
  return container;
}

interface RunningContainer {
  getId(): string;
  getHost(): string;
  stop(options?: { timeout?: number }): Promise<unknown>;
}

/** MLflow and Toxiproxy as containers; every container and network is removed on stop or at exit. */
export interface ContainerDependencies {
  readonly mlflow: MlflowHandle;
  readonly toxiproxy: ToxiproxyHandle;
  /**
   * Creates a Toxiproxy proxy in front of MLflow; `address` is where the host reaches it. `port` is a wish
   * for its loopback port that host networking honours (a created network publishes the ports it has).
   */
  proxyMlflow(name: string, port?: number): Promise<{ proxy: ToxiproxyProxy; address: string }>;
  stop(): Promise<void>;
}

const MLFLOW_PORT = 5000;
// Under /tmp, which every image has (the official image, python:3.11-slim plus pip install mlflow, has no
// data folder). The store path is a link to the database, swapped atomically to break the store, as the
// process provider does (see MlflowHandle.breakStore).
const STORE = '/tmp/mlflow.db';
const DATABASE = '/tmp/mlflow-data.db';
const BROKEN = '/tmp/mlflow-broken';
const pointStoreAt = (target: string) => `ln -sfn ${target} ${STORE}.next && mv -T ${STORE}.next ${STORE}`;
const ARTIFACTS = '/tmp/mlflow-artifacts';
const labels = (role: string) => ({ [CONTAINER_LABEL]: role, [`${CONTAINER_LABEL}.pid`]: String(process.pid) });

type Testcontainers = typeof import('testcontainers');

/** The MLflow container, listening on host:port, before its networking is chosen. */
function mlflowContainer({ GenericContainer, Wait }: Testcontainers, host: string, port: number) {
  return (
    new GenericContainer(MLFLOW_IMAGE)
      .withLabels(labels('mlflow'))
      .withEnvironment({ ...MLFLOW_SERVER_ENV })
      // The link is made (again after `docker start`) before MLflow starts; SQLite creates the file through it.
      .withCommand([
        'sh',
        '-c',
        `mkdir -p ${BROKEN} && ${pointStoreAt(DATABASE)} && exec mlflow server "$@"`,
        'mlflow',
        '--backend-store-uri',
        `sqlite:///${STORE}`,
        '--artifacts-destination',
        ARTIFACTS,
        '--host',
        host,
        '--port',
        String(port),
        '--workers',
        '1',
      ])
      .withWaitStrategy(Wait.forLogMessage(/Application startup complete/))
      .withStartupTimeout(180_000)
  );
}

/**
 * MLflow in a running container, reached at `url`; crash and store faults act on the container. The
 * docker commands run asynchronously: `docker start` can take seconds, and a blocked event loop would
 * stall the traffic and probes a chaos run measures with.
 */
function containerMlflowHandle(container: RunningContainer, url: string): MlflowHandle {
  const run = async (args: string[]) => {
    try {
      await execFileAsync('docker', args, { encoding: 'utf8' });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr?.trim();
      throw new Error(`docker ${args.join(' ')}: ${stderr || (error as Error).message}`);
    }
  };
  const stop = async () => void (await container.stop({ timeout: 5_000 }));
  const { hostname, port } = new URL(url);
  return {
    url,
    address: { host: hostname, port: Number(port) },
    stop,
    // SIGKILL to the container's main process, as a crash; the container and its store stay.
    kill: () => run(['kill', '--signal', 'KILL', container.getId()]),
    // Same container, same store, same host port (host networking, or a fixed port binding).
    restart: async () => {
      await run(['start', container.getId()]);
      await waitForMlflow(url, 120_000);
    },
    breakStore: () => run(['exec', container.getId(), 'sh', '-c', pointStoreAt(BROKEN)]),
    restoreStore: () => run(['exec', container.getId(), 'sh', '-c', pointStoreAt(DATABASE)]),
    [Symbol.asyncDispose]: stop,
  };
}

/** Every server on the host's network, each on a free loopback port: for engines without a bridge. */
async function startOnHostNetwork(
  testcontainers: Testcontainers,
  cleanups: (() => Promise<unknown>)[],
): Promise<Omit<ContainerDependencies, 'stop'>> {
  const [mlflowPort, apiPort] = [await freePort(), await freePort()];
  const mlflowServer = own(
    cleanups,
    await mlflowContainer(testcontainers, '127.0.0.1', mlflowPort).withNetworkMode('host').start(),
  );

  const { GenericContainer, Wait } = testcontainers;
  own(
    cleanups,
    await new GenericContainer(TOXIPROXY_IMAGE)
      .withNetworkMode('host')
      .withLabels(labels('toxiproxy'))
      .withCommand(['-host', '127.0.0.1', '-port', String(apiPort)])
      .withWaitStrategy(Wait.forLogMessage(/Starting Toxiproxy HTTP server/))
      .withStartupTimeout(60_000)
      .start(),
  );

  const mlflow = containerMlflowHandle(mlflowServer, `http://127.0.0.1:${mlflowPort}`);
  await waitForMlflow(mlflow.url, 120_000);
  const toxiproxy = await connectToxiproxy(`http://127.0.0.1:${apiPort}`);
  return {
    mlflow,
    toxiproxy,
    proxyMlflow: async (name, port) => {
      const listen = `127.0.0.1:${port ?? (await freePort())}`;
      const proxy = await toxiproxy.client.createProxy({ name, listen, upstream: `127.0.0.1:${mlflowPort}` });
      return { proxy, address: listen };
    },
  };
}

/**
 * A network created for the run: MLflow and Toxiproxy (`@testcontainers/toxiproxy`) join it under the
 * aliases `mlflow` and `toxiproxy`; the host reaches them through mapped ports.
 */
async function startOnCreatedNetwork(
  testcontainers: Testcontainers,
  cleanups: (() => Promise<unknown>)[],
): Promise<Omit<ContainerDependencies, 'stop'>> {
  const { ToxiProxyContainer } = await import('@testcontainers/toxiproxy');
  const network = await new testcontainers.Network().start();
  removeAtExit('network', network.getName());
  cleanups.push(() => network.stop());

  // A fixed host port rather than a random one: `docker start` after a crash would publish a random
  // port anew, and the restarted MLflow must be where the run expects it.
  const mlflowHostPort = await freePort();
  const mlflowServer = own(
    cleanups,
    await mlflowContainer(testcontainers, '0.0.0.0', MLFLOW_PORT)
      .withNetwork(network)
      .withNetworkAliases('mlflow')
      .withExposedPorts({ container: MLFLOW_PORT, host: mlflowHostPort })
      .start(),
  );

  const toxiproxyContainer = own(
    cleanups,
    await new ToxiProxyContainer(TOXIPROXY_IMAGE)
      .withNetwork(network)
      .withNetworkAliases('toxiproxy')
      .withLabels(labels('toxiproxy'))
      .withStartupTimeout(60_000)
      .start(),
  );

  const mlflow = containerMlflowHandle(mlflowServer, `http://${mlflowServer.getHost()}:${mlflowHostPort}`);
  await waitForMlflow(mlflow.url, 120_000);
  const toxiproxy = await connectToxiproxy(
    `http://${toxiproxyContainer.getHost()}:${toxiproxyContainer.getMappedPort(8474)}`,
  );
  let creating: Promise<unknown> = Promise.resolve();
  return {
    mlflow,
    toxiproxy,
    // One at a time: the module picks the first port no proxy listens on, so two at once would pick the same.
    proxyMlflow: (name) => {
      const next = creating.then(async () => {
        const created = await toxiproxyContainer.createProxy({ name, upstream: `mlflow:${MLFLOW_PORT}` });
        return { proxy: created.instance, address: `${created.host}:${created.port}` };
      });
      creating = next.catch(() => {});
      return next;
    },
  };
}

/**
 * Starts MLflow and Toxiproxy containers (testcontainers) with the given networking (default: from
 * `REGISTRY_CONTAINERS_NETWORK`); the images are found locally, pulled or built first.
 */
export async function startContainerDependencies(
  options: { networking?: ContainerNetworking } = {},
): Promise<ContainerDependencies> {
  const networking = options.networking ?? containerNetworkingFromEnv();
  const unavailable = networking === 'network' ? networkUnavailableReason() : '';
  if (unavailable) throw new Error(`containers with network networking cannot run here: ${unavailable}`);
  const testcontainers = await import('testcontainers');
  ensureImages();
  removeStaleContainers();
  const cleanups: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
    cleanups.length = 0;
  };
  try {
    const start = networking === 'host' ? startOnHostNetwork : startOnCreatedNetwork;
    const dependencies = await start(testcontainers, cleanups);
    return { ...dependencies, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

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
  const { GenericContainer } = await import('testcontainers');
  ensureImages();
  const container = await new GenericContainer(HAPROXY_IMAGE)
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
