import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { log } from './log.js';
import { toolsDir } from './paths.js';
import { provisionSystemPackages } from './system-packages.js';

/** The MLflow release testkit installs and starts (pip, project-local virtual environment). */
export const MLFLOW_VERSION = '3.17.2';
/**
 * The PostgreSQL driver of MLflow's store in the chaos stack (MLflow on PostgreSQL, as deployed on RDS):
 * psycopg 3, which SQLAlchemy 2.1 (MLflow 3.17's) uses for a plain `postgresql://` URI.
 */
export const PSYCOPG_VERSION = '3.3.9';
/** What the MLflow virtual environment (and the MLflow image) holds; a change reinstalls it. */
export const MLFLOW_PACKAGES = [`mlflow==${MLFLOW_VERSION}`, `psycopg[binary]==${PSYCOPG_VERSION}`];
/** The Schemathesis release that fuzzes the service against its OpenAPI document (pip, its own venv). */
export const SCHEMATHESIS_VERSION = '4.32.5';
/** The Toxiproxy release testkit builds and starts (`go install`, no CGO). */
export const TOXIPROXY_VERSION = '2.12.0';

function isProvisioned(dir: string, stamp: string): boolean {
  const file = join(dir, '.provisioned');
  return existsSync(file) && readFileSync(file, 'utf8') === stamp;
}

function markProvisioned(dir: string, stamp: string): void {
  writeFileSync(join(dir, '.provisioned'), stamp);
}

/** Path of the `mlflow` executable inside the project-local virtual environment. */
export function mlflowExecutable(env: NodeJS.ProcessEnv = process.env): string {
  return join(toolsDir(env), `mlflow-${MLFLOW_VERSION}`, 'venv', 'bin', 'mlflow');
}

/** Path of the Toxiproxy server binary built by `provisionToxiproxy`. */
export function toxiproxyExecutable(env: NodeJS.ProcessEnv = process.env): string {
  return join(toolsDir(env), `toxiproxy-${TOXIPROXY_VERSION}`, 'toxiproxy-server');
}

/** Installs the pinned MLflow and its PostgreSQL driver into `.tools/mlflow-<version>/venv` unless there. */
export function provisionMlflow(env: NodeJS.ProcessEnv = process.env): string {
  const dir = join(toolsDir(env), `mlflow-${MLFLOW_VERSION}`);
  const executable = mlflowExecutable(env);
  const stamp = MLFLOW_PACKAGES.join(' ');
  if (isProvisioned(dir, stamp) && existsSync(executable)) return executable;
  log(`installing MLflow ${MLFLOW_VERSION} into ${dir} (pip; a few minutes the first time)`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const python = env.PYTHON ?? 'python3';
  execFileSync(python, ['-m', 'venv', join(dir, 'venv')], { stdio: 'inherit' });
  const pip = join(dir, 'venv', 'bin', 'pip');
  execFileSync(pip, ['install', '--quiet', '--disable-pip-version-check', ...MLFLOW_PACKAGES], { stdio: 'inherit' });
  markProvisioned(dir, stamp);
  return executable;
}

/** Path of the `st` (Schemathesis) executable inside its project-local virtual environment. */
export function schemathesisExecutable(env: NodeJS.ProcessEnv = process.env): string {
  return join(toolsDir(env), `schemathesis-${SCHEMATHESIS_VERSION}`, 'venv', 'bin', 'st');
}

/** Installs the pinned Schemathesis into `.tools/schemathesis-<version>/venv` unless it is already there. */
export function provisionSchemathesis(env: NodeJS.ProcessEnv = process.env): string {
  const dir = join(toolsDir(env), `schemathesis-${SCHEMATHESIS_VERSION}`);
  const executable = schemathesisExecutable(env);
  if (isProvisioned(dir, SCHEMATHESIS_VERSION) && existsSync(executable)) return executable;
  log(`installing Schemathesis ${SCHEMATHESIS_VERSION} into ${dir} (pip)`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  execFileSync(env.PYTHON ?? 'python3', ['-m', 'venv', join(dir, 'venv')], { stdio: 'inherit' });
  execFileSync(
    join(dir, 'venv', 'bin', 'pip'),
    ['install', '--quiet', '--disable-pip-version-check', `schemathesis==${SCHEMATHESIS_VERSION}`],
    { stdio: 'inherit' },
  );
  markProvisioned(dir, SCHEMATHESIS_VERSION);
  return executable;
}

/** Builds the pinned Toxiproxy server with `go install` into `.tools/toxiproxy-<version>` unless it is there. */
export function provisionToxiproxy(env: NodeJS.ProcessEnv = process.env): string {
  const dir = join(toolsDir(env), `toxiproxy-${TOXIPROXY_VERSION}`);
  const executable = toxiproxyExecutable(env);
  if (isProvisioned(dir, TOXIPROXY_VERSION) && existsSync(executable)) return executable;
  log(`building Toxiproxy ${TOXIPROXY_VERSION} into ${dir} (go install)`);
  mkdirSync(dir, { recursive: true });
  execFileSync(
    'go',
    [
      'install',
      '-ldflags',
      `-X github.com/Shopify/toxiproxy/v2.Version=${TOXIPROXY_VERSION}`,
      `github.com/Shopify/toxiproxy/v2/cmd/server@v${TOXIPROXY_VERSION}`,
    ],
    { stdio: 'inherit', env: { ...env, CGO_ENABLED: '0', GOBIN: dir, GOFLAGS: '-mod=mod' } },
  );
  renameSync(join(dir, 'server'), executable);
  markProvisioned(dir, TOXIPROXY_VERSION);
  return executable;
}

/**
 * Provisions what the suites need: the Debian packages PostgreSQL, Redis, HAProxy and Python's venv (when
 * missing), the MLflow venv and Toxiproxy binary for `process`, and, when a Docker engine answers, the
 * two images for `containers` (pulled, or built from those where no registry is reachable). No MLflow
 * or Toxiproxy for `external`, which uses servers that already run.
 */
export async function provisionAll(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  provisionSystemPackages();
  const provider = env.REGISTRY_PROVIDER;
  if (provider === 'external') {
    log('provider external: nothing to provision');
    return;
  }
  const { ensureImages, isDockerAvailable } = await import('./containers/index.js');
  const docker = isDockerAvailable();
  if (provider === 'containers' && !docker)
    throw new Error('REGISTRY_PROVIDER=containers, but no Docker engine answers');
  // The process provider needs Python and Go; a machine with only Docker uses the containers provider.
  const hasToolchains = ['python3', 'go'].every(
    (tool) =>
      spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0 ||
      spawnSync(tool, ['version'], { stdio: 'ignore' }).status === 0,
  );
  if (provider === 'process' || (provider !== 'containers' && hasToolchains)) {
    provisionToxiproxy(env);
    provisionMlflow(env);
    provisionSchemathesis(env);
  } else if (provider !== 'containers') {
    log('python3 or go is missing: the process provider is not provisioned (the containers provider is used)');
  }
  if (docker) ensureImages();
}
