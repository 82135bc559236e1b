import { type ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Proxy as ToxiproxyProxy } from 'toxiproxy-node-client';
import { haproxyExecutable, installedHaproxyVersion } from './haproxy.js';
import type { MlflowHandle } from './mlflow.js';
import { MLFLOW_SERVER_ENV, waitForMlflow } from './mlflow.js';
import { freePort } from './process.js';
import {
  MLFLOW_PACKAGES,
  MLFLOW_VERSION,
  PSYCOPG_VERSION,
  provisionToxiproxy,
  TOXIPROXY_VERSION,
} from './provision.js';
import { installedPostgresVersion, postgresBinDir } from './system-packages.js';
import { connectToxiproxy, type ToxiproxyHandle } from './toxiproxy.js';

/** The official Toxiproxy image (built here under the same name from the pinned binary when it cannot be pulled). */
export const TOXIPROXY_IMAGE = `ghcr.io/shopify/toxiproxy:${TOXIPROXY_VERSION}`;
/**
 * MLflow as deployed: the pinned MLflow with the PostgreSQL driver its store needs (the official image has
 * none). Built here, never pulled: from the official image where it can be pulled, else from a Debian root
 * filesystem.
 */
export const MLFLOW_IMAGE = `registry-testkit/mlflow:${MLFLOW_VERSION}-psycopg-${PSYCOPG_VERSION}`;
/** The official MLflow image, the base of MLFLOW_IMAGE on machines that cannot build a Debian root filesystem. */
const OFFICIAL_MLFLOW_IMAGE = `ghcr.io/mlflow/mlflow:v${MLFLOW_VERSION}`;
// An image tag allows letters, digits, `_`, `.` and `-`: Debian's `2.6.12-1+deb12u4` becomes `2.6.12-1-deb12u4`.
const tag = (version: string) => version.replace(/[^\w.-]/g, '-');
/**
 * The HAProxy image: Debian's HAProxy, the one `npm run setup` installs, with the libraries it links,
 * built here (no registry image carries Debian's build). Local only, never pulled.
 */
const HAPROXY_VERSION = installedHaproxyVersion() ?? 'missing';
export const HAPROXY_IMAGE = `registry-testkit/haproxy:${tag(HAPROXY_VERSION)}`;
/**
 * The PostgreSQL image of MLflow's store: Debian's server, the one `npm run setup` installs for the
 * process provider, with the libraries, data files and shell it needs. Local only, never pulled.
 */
const POSTGRES_VERSION = installedPostgresVersion() ?? 'missing';
export const POSTGRES_IMAGE = `registry-testkit/postgres:${tag(POSTGRES_VERSION)}`;
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

/**
 * Everything the MLflow image is built from: a Debian root filesystem and a venv with the same packages
 * the process provider installs, or (no debootstrap) the official image with the driver added.
 */
const MLFLOW_RECIPE = {
  packages: MLFLOW_PACKAGES,
  debootstrap: ['--variant=minbase', '--include=python3,python3-venv,ca-certificates', 'bookworm'],
  pip: ['install', '--quiet', '--no-cache-dir', '--disable-pip-version-check'],
  changes: ['ENV PATH=/opt/mlflow/bin:/usr/local/bin:/usr/bin:/bin'],
  dockerfile: [`FROM ${OFFICIAL_MLFLOW_IMAGE}`, `RUN pip install --no-cache-dir psycopg[binary]==${PSYCOPG_VERSION}`],
};

/** Everything the HAProxy image is built from: the installed binary and what `ldd` says it loads. */
const HAPROXY_RECIPE = {
  version: HAPROXY_VERSION,
  dockerfile: ['FROM scratch', 'COPY rootfs/ /', 'ENTRYPOINT ["/usr/sbin/haproxy"]'],
};

/** Where Debian's PostgreSQL keeps its server files (its compiled-in paths), under the major version. */
const postgresPaths = (major: string) => ({
  bin: `/usr/lib/postgresql/${major}/bin`,
  lib: `/usr/lib/postgresql/${major}/lib`,
  share: `/usr/share/postgresql/${major}`,
});

/**
 * Everything the PostgreSQL image is built from: the installed server, its extension libraries (not the
 * LLVM JIT, which would bring a 100 MB library), what `ldd` says they load, its data files and time zones,
 * a shell (initdb runs the server through one) and the `postgres` user it runs as (it refuses root).
 */
const POSTGRES_RECIPE = {
  version: POSTGRES_VERSION,
  uid: 999,
  dockerfile: ['FROM scratch', 'COPY rootfs/ /', 'USER 999:999', 'ENV TZ=UTC'],
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

/**
 * Copies each file (a path, or a source and the path it gets in the image), and every shared library
 * `ldd` says it loads, to its path under `rootfs`.
 */
function copyWithLibraries(rootfs: string, files: readonly (string | readonly [string, string])[]): void {
  const copies = new Map(files.map((file) => (typeof file === 'string' ? [file, file] : file)));
  for (const source of [...copies.keys()]) {
    const listed = spawnSync('ldd', [source], { encoding: 'utf8' }).stdout ?? '';
    for (const [, library] of listed.matchAll(/(\/\S+) \(0x/g)) {
      if (library && existsSync(library)) copies.set(library, library);
    }
  }
  for (const [source, path] of copies) {
    const target = join(rootfs, path);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(source, target);
  }
}

/** Builds `image` from a scratch Dockerfile and the root filesystem `fill` writes, labelled with its recipe. */
function buildFromRootfs(image: string, dockerfile: readonly string[], recipe: string, fill: (rootfs: string) => void) {
  const context = mkdtempSync(join(tmpdir(), 'registry-image-'));
  try {
    fill(join(context, 'rootfs'));
    writeFileSync(join(context, 'Dockerfile'), `${[...dockerfile, `LABEL ${RECIPE_LABEL}=${recipe}`].join('\n')}\n`);
    docker(['build', '--quiet', '--tag', image, context]);
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}

/** Builds the HAProxy image from the installed binary and the shared libraries `ldd` lists for it. */
function buildHaproxyImage(recipe: string): void {
  const executable = haproxyExecutable();
  if (!executable) throw new Error("the HAProxy image needs Debian's haproxy: run npm run setup");
  log(`building ${HAPROXY_IMAGE} from the installed haproxy`);
  buildFromRootfs(HAPROXY_IMAGE, HAPROXY_RECIPE.dockerfile, recipe, (rootfs) => {
    copyWithLibraries(rootfs, [[executable, '/usr/sbin/haproxy']]);
  });
}

/** Builds the PostgreSQL image from the installed server (Debian's `postgresql`, as `npm run setup` installs it). */
function buildPostgresImage(recipe: string): void {
  const bin = postgresBinDir();
  if (!bin) throw new Error("the PostgreSQL image needs Debian's postgresql: run npm run setup");
  const paths = postgresPaths(basename(dirname(bin)));
  log(`building ${POSTGRES_IMAGE} from the installed PostgreSQL server`);
  buildFromRootfs(POSTGRES_IMAGE, POSTGRES_RECIPE.dockerfile, recipe, (rootfs) => {
    const extensions = readdirSync(paths.lib)
      .filter((name) => name.endsWith('.so') && !name.startsWith('llvmjit'))
      .map((name) => join(paths.lib, name));
    copyWithLibraries(rootfs, [join(paths.bin, 'postgres'), join(paths.bin, 'initdb'), '/bin/dash', ...extensions]);
    symlinkSync('dash', join(rootfs, 'bin', 'sh'));
    for (const tree of [paths.share, '/usr/share/zoneinfo']) cpSync(tree, join(rootfs, tree), { recursive: true });
    const { uid } = POSTGRES_RECIPE;
    mkdirSync(join(rootfs, 'etc'));
    writeFileSync(join(rootfs, 'etc', 'passwd'), `postgres:x:${uid}:${uid}:PostgreSQL:/tmp:/bin/sh\n`);
    writeFileSync(join(rootfs, 'etc', 'group'), `postgres:x:${uid}:\n`);
    mkdirSync(join(rootfs, 'tmp'));
    chmodSync(join(rootfs, 'tmp'), 0o1777);
  });
}

/**
 * Builds the MLflow image: from a Debian root filesystem (debootstrap, as root; no registry needed) with
 * MLflow and its driver installed by pip into /opt/mlflow; where that cannot run, from the official image
 * with the driver added.
 */
function buildMlflowImage(recipe: string): void {
  const canDebootstrap = process.getuid?.() === 0 && spawnSync('debootstrap', ['--version']).status === 0;
  if (!canDebootstrap) {
    log(`building ${MLFLOW_IMAGE} from ${OFFICIAL_MLFLOW_IMAGE} (no debootstrap as root here)`);
    const context = mkdtempSync(join(tmpdir(), 'registry-mlflow-image-'));
    try {
      const dockerfile = [...MLFLOW_RECIPE.dockerfile, `LABEL ${RECIPE_LABEL}=${recipe}`];
      writeFileSync(join(context, 'Dockerfile'), `${dockerfile.join('\n')}\n`);
      docker(['build', '--quiet', '--tag', MLFLOW_IMAGE, context]);
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
    return;
  }
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
    execFileSync('chroot', [rootfs, '/opt/mlflow/bin/pip', ...MLFLOW_RECIPE.pip, ...MLFLOW_RECIPE.packages], {
      stdio: 'inherit',
    });
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
 * Makes sure every image exists locally: already there (cached by the engine; one built here is rebuilt
 * when its recipe changed), or built here: Toxiproxy pulled from its registry where one is reachable,
 * the others (and Toxiproxy where no registry is reachable) from what this machine has.
 */
export function ensureImages(): void {
  for (const [image, build, recipe] of [
    [TOXIPROXY_IMAGE, buildToxiproxyImage, digest(TOXIPROXY_RECIPE)],
    [MLFLOW_IMAGE, buildMlflowImage, digest(MLFLOW_RECIPE)],
    [HAPROXY_IMAGE, buildHaproxyImage, digest(HAPROXY_RECIPE)],
    [POSTGRES_IMAGE, buildPostgresImage, digest(POSTGRES_RECIPE)],
  ] as const) {
    const state = imageState(image, recipe);
    if (state === 'usable') continue;
    if (image === TOXIPROXY_IMAGE && tryPull(image)) continue;
    if (state === 'outdated') log(`${image} was built here from an older recipe: rebuilding it`);
    else if (image === TOXIPROXY_IMAGE) log(`${image} cannot be pulled here: building it locally`);
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

/**
 * MLflow on a PostgreSQL store, and Toxiproxy, as containers; every container and network is removed on
 * stop or at exit.
 */
export interface ContainerDependencies {
  readonly mlflow: MlflowHandle;
  readonly toxiproxy: ToxiproxyHandle;
  /** The proxy between MLflow and its PostgreSQL store: database faults go here (`mlflow.breakStore` disables it). */
  readonly databaseProxy: ToxiproxyProxy;
  /**
   * Creates a Toxiproxy proxy in front of MLflow; `address` is where the host reaches it. `port` is a wish
   * for its loopback port that host networking honours (a created network publishes the ports it has).
   */
  proxyMlflow(name: string, port?: number): Promise<{ proxy: ToxiproxyProxy; address: string }>;
  stop(): Promise<void>;
}

/** The Toxiproxy proxy between MLflow and its PostgreSQL store. */
export const DATABASE_PROXY_NAME = 'mlflow-db';
const MLFLOW_PORT = 5000;
const POSTGRES_PORT = 5432;
// Under /tmp, which every image has (the official image, python:3.11-slim plus pip install mlflow, has no
// data folder).
const ARTIFACTS = '/tmp/mlflow-artifacts';
const labels = (role: string) => ({ [CONTAINER_LABEL]: role, [`${CONTAINER_LABEL}.pid`]: String(process.pid) });

type Testcontainers = typeof import('testcontainers');

/**
 * The PostgreSQL container of MLflow's store, listening on host:port: a throwaway cluster made at start
 * (trust authentication, no fsync), as the process provider's.
 */
function postgresContainer({ GenericContainer, Wait }: Testcontainers, host: string, port: number) {
  const { bin } = postgresPaths(POSTGRES_VERSION.split('.')[0] as string);
  const data = '/tmp/data';
  const start = [
    `${bin}/initdb -D ${data} -U postgres -A trust --no-sync --locale=C -E UTF8 >/dev/null`,
    // initdb trusts loopback only; on a created network MLflow's connections come from other containers.
    `echo 'host all all all trust' >> ${data}/pg_hba.conf`,
    `exec ${bin}/postgres -D ${data} -p ${port} -k /tmp -c listen_addresses=${host} -c fsync=off`,
  ].join(' && ');
  return new GenericContainer(POSTGRES_IMAGE)
    .withLabels(labels('postgres'))
    .withCommand(['/bin/sh', '-c', start])
    .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/))
    .withStartupTimeout(60_000);
}

/** The MLflow container on the PostgreSQL store at `database` (host:port), listening on host:port. */
function mlflowContainer({ GenericContainer, Wait }: Testcontainers, database: string, host: string, port: number) {
  return new GenericContainer(MLFLOW_IMAGE)
    .withLabels(labels('mlflow'))
    .withEnvironment({ ...MLFLOW_SERVER_ENV })
    .withCommand([
      'mlflow',
      'server',
      '--backend-store-uri',
      `postgresql://postgres@${database}/postgres`,
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
    .withStartupTimeout(180_000);
}

/**
 * MLflow in a running container, reached at `url`; a crash acts on the container, a store fault on the
 * proxy to its database (MLflow then answers 5xx, as the process provider's). The docker commands run
 * asynchronously: `docker start` can take seconds, and a blocked event loop would stall the traffic and
 * probes a chaos run measures with.
 */
function containerMlflowHandle(container: RunningContainer, url: string, databaseProxy: ToxiproxyProxy): MlflowHandle {
  const run = async (args: string[]) => {
    try {
      await execFileAsync('docker', args, { encoding: 'utf8' });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr?.trim();
      throw new Error(`docker ${args.join(' ')}: ${stderr || (error as Error).message}`);
    }
  };
  const setDatabaseReachable = async (enabled: boolean) =>
    void (await databaseProxy.update({ enabled, listen: databaseProxy.listen, upstream: databaseProxy.upstream }));
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
    breakStore: () => setDatabaseReachable(false),
    restoreStore: () => setDatabaseReachable(true),
    [Symbol.asyncDispose]: stop,
  };
}

/** Every server on the host's network, each on a free loopback port: for engines without a bridge. */
async function startOnHostNetwork(
  testcontainers: Testcontainers,
  cleanups: (() => Promise<unknown>)[],
): Promise<Omit<ContainerDependencies, 'stop'>> {
  const [mlflowPort, apiPort, postgresPort, databaseProxyPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const { GenericContainer, Wait } = testcontainers;
  // PostgreSQL and Toxiproxy first: MLflow reaches its store through Toxiproxy.
  await Promise.all([
    postgresContainer(testcontainers, '127.0.0.1', postgresPort)
      .withNetworkMode('host')
      .start()
      .then((container) => own(cleanups, container)),
    new GenericContainer(TOXIPROXY_IMAGE)
      .withNetworkMode('host')
      .withLabels(labels('toxiproxy'))
      .withCommand(['-host', '127.0.0.1', '-port', String(apiPort)])
      .withWaitStrategy(Wait.forLogMessage(/Starting Toxiproxy HTTP server/))
      .withStartupTimeout(60_000)
      .start()
      .then((container) => own(cleanups, container)),
  ]);
  const toxiproxy = await connectToxiproxy(`http://127.0.0.1:${apiPort}`);
  const databaseListen = `127.0.0.1:${databaseProxyPort}`;
  const databaseProxy = await toxiproxy.client.createProxy({
    name: DATABASE_PROXY_NAME,
    listen: databaseListen,
    upstream: `127.0.0.1:${postgresPort}`,
  });
  const mlflowServer = own(
    cleanups,
    await mlflowContainer(testcontainers, databaseListen, '127.0.0.1', mlflowPort).withNetworkMode('host').start(),
  );
  const mlflow = containerMlflowHandle(mlflowServer, `http://127.0.0.1:${mlflowPort}`, databaseProxy);
  await waitForMlflow(mlflow.url, 120_000);
  return {
    mlflow,
    toxiproxy,
    databaseProxy,
    proxyMlflow: async (name, port) => {
      const listen = `127.0.0.1:${port ?? (await freePort())}`;
      const proxy = await toxiproxy.client.createProxy({ name, listen, upstream: `127.0.0.1:${mlflowPort}` });
      return { proxy, address: listen };
    },
  };
}

/**
 * A network created for the run: PostgreSQL, Toxiproxy (`@testcontainers/toxiproxy`) and MLflow join it
 * under the aliases `postgres`, `toxiproxy` and `mlflow`; MLflow reaches its store through Toxiproxy, and
 * the host reaches MLflow and Toxiproxy through mapped ports.
 */
async function startOnCreatedNetwork(
  testcontainers: Testcontainers,
  cleanups: (() => Promise<unknown>)[],
): Promise<Omit<ContainerDependencies, 'stop'>> {
  const { ToxiProxyContainer } = await import('@testcontainers/toxiproxy');
  const network = await new testcontainers.Network().start();
  removeAtExit('network', network.getName());
  cleanups.push(() => network.stop());

  const [, toxiproxyContainer] = await Promise.all([
    postgresContainer(testcontainers, '0.0.0.0', POSTGRES_PORT)
      .withNetwork(network)
      .withNetworkAliases('postgres')
      .start()
      .then((container) => own(cleanups, container)),
    new ToxiProxyContainer(TOXIPROXY_IMAGE)
      .withNetwork(network)
      .withNetworkAliases('toxiproxy')
      .withLabels(labels('toxiproxy'))
      .withStartupTimeout(60_000)
      .start()
      .then((container) => own(cleanups, container)),
  ]);
  const toxiproxy = await connectToxiproxy(
    `http://${toxiproxyContainer.getHost()}:${toxiproxyContainer.getMappedPort(8474)}`,
  );
  // One at a time: the module picks the first port no proxy listens on, so two at once would pick the same.
  let creating: Promise<unknown> = Promise.resolve();
  const createProxy = (name: string, upstream: string) => {
    const next = creating.then(() => toxiproxyContainer.createProxy({ name, upstream }));
    creating = next.catch(() => {});
    return next;
  };
  const database = await createProxy(DATABASE_PROXY_NAME, `postgres:${POSTGRES_PORT}`);
  // Inside the network MLflow reaches the proxy on the port it listens on, not on the host's mapped port.
  const databaseListen = `toxiproxy:${database.instance.listen.slice(database.instance.listen.lastIndexOf(':') + 1)}`;

  // A fixed host port rather than a random one: `docker start` after a crash would publish a random
  // port anew, and the restarted MLflow must be where the run expects it.
  const mlflowHostPort = await freePort();
  const mlflowServer = own(
    cleanups,
    await mlflowContainer(testcontainers, databaseListen, '0.0.0.0', MLFLOW_PORT)
      .withNetwork(network)
      .withNetworkAliases('mlflow')
      .withExposedPorts({ container: MLFLOW_PORT, host: mlflowHostPort })
      .start(),
  );
  const mlflow = containerMlflowHandle(
    mlflowServer,
    `http://${mlflowServer.getHost()}:${mlflowHostPort}`,
    database.instance,
  );
  await waitForMlflow(mlflow.url, 120_000);
  return {
    mlflow,
    toxiproxy,
    databaseProxy: database.instance,
    proxyMlflow: async (name) => {
      const created = await createProxy(name, `mlflow:${MLFLOW_PORT}`);
      return { proxy: created.instance, address: `${created.host}:${created.port}` };
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
