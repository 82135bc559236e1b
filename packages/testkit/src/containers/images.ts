import { execFileSync, spawnSync } from 'node:child_process';
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
import { haproxyExecutable, installedHaproxyVersion } from '../haproxy.js';
import { log } from '../log.js';
import {
  MLFLOW_PACKAGES,
  MLFLOW_VERSION,
  PSYCOPG_VERSION,
  provisionToxiproxy,
  TOXIPROXY_VERSION,
} from '../provision.js';
import { installedPostgresVersion, postgresBinDir } from '../system-packages.js';
import { CONTAINER_LABEL, docker } from './docker.js';

/** The official Toxiproxy image (built here under the same name from the pinned binary when it cannot be pulled). */
export const TOXIPROXY_IMAGE = `ghcr.io/shopify/toxiproxy:${TOXIPROXY_VERSION}`;
/**
 * MLflow as deployed: the pinned MLflow with the PostgreSQL driver its store needs (the official image has
 * none). Built here, never pulled: from a Debian root filesystem where debootstrap runs as root (no
 * registry needed), else from the official image with the driver added.
 */
export const MLFLOW_IMAGE = `registry-testkit/mlflow:${MLFLOW_VERSION}-psycopg-${PSYCOPG_VERSION}`;
/** The official MLflow image, the base of MLFLOW_IMAGE on machines that cannot build a Debian root filesystem. */
const OFFICIAL_MLFLOW_IMAGE = `ghcr.io/mlflow/mlflow:v${MLFLOW_VERSION}`;
// An image tag allows letters, digits, `_`, `.` and `-`: Debian's `2.6.12-1+deb12u4` becomes `2.6.12-1-deb12u4`.
const tag = (version: string) => version.replace(/[^\w.-]/g, '-');

/** Runs `read` on first use only: the installed versions are read by running the programs, never at import. */
function once<T>(read: () => T): () => T {
  let value: { readonly is: T } | undefined;
  return () => {
    value ??= { is: read() };
    return value.is;
  };
}

const haproxyVersion = once(() => installedHaproxyVersion() ?? 'missing');
/**
 * The HAProxy image: Debian's HAProxy, the one `npm run setup` installs, with the libraries it links,
 * built here (no registry image carries Debian's build). Local only, never pulled.
 */
export const haproxyImage = once(() => `registry-testkit/haproxy:${tag(haproxyVersion())}`);

const postgresVersion = once(() => installedPostgresVersion() ?? 'missing');
/**
 * The PostgreSQL image of MLflow's store: Debian's server, the one `npm run setup` installs for the
 * process provider, with the libraries, data files and shell it needs. Local only, never pulled.
 */
export const postgresImage = once(() => `registry-testkit/postgres:${tag(postgresVersion())}`);

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
const haproxyRecipe = () => ({
  version: haproxyVersion(),
  dockerfile: ['FROM scratch', 'COPY rootfs/ /', 'ENTRYPOINT ["/usr/sbin/haproxy"]'],
});

/** Where Debian's PostgreSQL keeps its server files (its compiled-in paths), under the major version. */
export const postgresPaths = (major: string) => ({
  bin: `/usr/lib/postgresql/${major}/bin`,
  lib: `/usr/lib/postgresql/${major}/lib`,
  share: `/usr/share/postgresql/${major}`,
});

/**
 * Everything the PostgreSQL image is built from: the installed server, its extension libraries (not the
 * LLVM JIT, which would bring a 100 MB library), what `ldd` says they load, its data files and time zones,
 * a shell (initdb runs the server through one) and the `postgres` user it runs as (it refuses root).
 */
const postgresRecipe = () => ({
  version: postgresVersion(),
  uid: 999,
  dockerfile: ['FROM scratch', 'COPY rootfs/ /', 'USER 999:999', 'ENV TZ=UTC'],
});

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
  log(`building ${haproxyImage()} from the installed haproxy`);
  buildFromRootfs(haproxyImage(), haproxyRecipe().dockerfile, recipe, (rootfs) => {
    copyWithLibraries(rootfs, [[executable, '/usr/sbin/haproxy']]);
  });
}

/** Builds the PostgreSQL image from the installed server (Debian's `postgresql`, as `npm run setup` installs it). */
function buildPostgresImage(recipe: string): void {
  const bin = postgresBinDir();
  if (!bin) throw new Error("the PostgreSQL image needs Debian's postgresql: run npm run setup");
  const paths = postgresPaths(basename(dirname(bin)));
  log(`building ${postgresImage()} from the installed PostgreSQL server`);
  buildFromRootfs(postgresImage(), postgresRecipe().dockerfile, recipe, (rootfs) => {
    const extensions = readdirSync(paths.lib)
      .filter((name) => name.endsWith('.so') && !name.startsWith('llvmjit'))
      .map((name) => join(paths.lib, name));
    copyWithLibraries(rootfs, [join(paths.bin, 'postgres'), join(paths.bin, 'initdb'), '/bin/dash', ...extensions]);
    symlinkSync('dash', join(rootfs, 'bin', 'sh'));
    for (const tree of [paths.share, '/usr/share/zoneinfo']) cpSync(tree, join(rootfs, tree), { recursive: true });
    const { uid } = postgresRecipe();
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
let imagesReady = false;

export function ensureImages(): void {
  // Once per process: a stack started later in the same run (a lane with an MLflow of its own) makes no
  // docker call here while other experiments are timing something.
  if (imagesReady) return;
  for (const [image, build, recipe] of [
    [TOXIPROXY_IMAGE, buildToxiproxyImage, digest(TOXIPROXY_RECIPE)],
    [MLFLOW_IMAGE, buildMlflowImage, digest(MLFLOW_RECIPE)],
    [haproxyImage(), buildHaproxyImage, digest(haproxyRecipe())],
    [postgresImage(), buildPostgresImage, digest(postgresRecipe())],
  ] as const) {
    const state = imageState(image, recipe);
    if (state === 'usable') continue;
    if (image === TOXIPROXY_IMAGE && tryPull(image)) continue;
    if (state === 'outdated') log(`${image} was built here from an older recipe: rebuilding it`);
    else if (image === TOXIPROXY_IMAGE) log(`${image} cannot be pulled here: building it locally`);
    build(recipe);
  }
  imagesReady = true;
}

/** Where the PostgreSQL image keeps the server (the installed server's paths, under its major version). */
export const postgresImagePaths = () => postgresPaths(postgresVersion().split('.')[0] as string);
