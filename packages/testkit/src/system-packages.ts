import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { haproxyExecutable } from './haproxy.js';
import { log } from './log.js';

const PG_ROOT = '/usr/lib/postgresql';

function succeeds(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

/** The newest PostgreSQL server's bin folder from Debian's `postgresql` package, if installed. */
export function postgresBinDir(): string | undefined {
  const versions = existsSync(PG_ROOT) ? readdirSync(PG_ROOT) : [];
  return versions
    .sort((a, b) => Number(b) - Number(a))
    .map((version) => join(PG_ROOT, version, 'bin'))
    .find((dir) => existsSync(join(dir, 'postgres')));
}

/**
 * The installed PostgreSQL server's version as its package names it (`postgres -V`: Debian's
 * `15.18-0+deb12u1`, or the upstream `15.18`), or undefined when none is installed.
 */
export function installedPostgresVersion(): string | undefined {
  const bin = postgresBinDir();
  if (!bin) return undefined;
  const printed = spawnSync(join(bin, 'postgres'), ['-V'], { encoding: 'utf8' }).stdout ?? '';
  return /\(Debian ([^)\s]+)\)/.exec(printed)?.[1] ?? /PostgreSQL\) (\S+)/.exec(printed)?.[1];
}

/** A Debian package the suites need, and how to tell it is there. */
export interface SystemPackage {
  readonly name: string;
  readonly usedBy: string;
  readonly installed: () => boolean;
}

const SYSTEM_PACKAGES: readonly SystemPackage[] = [
  { name: 'postgresql', usedBy: 'the integration tests', installed: () => postgresBinDir() !== undefined },
  { name: 'redis-server', usedBy: 'the integration tests', installed: () => succeeds('redis-server', ['--version']) },
  {
    name: 'haproxy',
    usedBy: 'the chaos suite (the load balancer in front of the replicas)',
    installed: () => haproxyExecutable() !== undefined,
  },
  {
    name: 'util-linux',
    usedBy: "npm test's fuzzing task (chrt runs it at the lowest CPU priority)",
    installed: () => succeeds('chrt', ['--version']),
  },
  {
    // Not in a minimal Debian: StrykerJS ends its test runners' process trees with `ps`, and without it the
    // mutation task crashed after its report (`spawn ps ENOENT`, a debootstrap minbase root, 2026-12-01).
    name: 'procps',
    usedBy: "npm test's mutation task (StrykerJS ends its test runners with ps)",
    installed: () => succeeds('ps', ['--version']),
  },
  {
    name: 'python3-venv',
    usedBy: 'the MLflow virtual environment of the process provider',
    installed: () => succeeds('python3', ['-c', 'import venv, ensurepip']),
  },
];

/** How to run apt-get here: directly as root, through passwordless sudo, or not at all. */
function aptRunner(): string[] | undefined {
  if (!succeeds('apt-get', ['--version'])) return undefined;
  if (process.getuid?.() === 0) return [];
  return succeeds('sudo', ['-n', 'true']) ? ['sudo', '-n'] : undefined;
}

function apt(prefix: string[], args: string[]): void {
  const [command = 'apt-get', ...rest] = [...prefix, 'apt-get', ...args];
  const result = spawnSync(command, rest, {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.status !== 0) {
    process.stderr.write(`${result.stdout ?? ''}${result.stderr ?? ''}`);
    throw new Error(`${[command, ...rest].join(' ')} failed (exit ${result.status})`);
  }
}

/**
 * Installs the Debian packages the suites need (PostgreSQL, Redis, HAProxy, chrt, ps, Python's venv) when any is missing,
 * with apt-get as root or through passwordless sudo. Where neither is possible it throws one line naming
 * the missing packages, what needs them and the command that installs them: the run stops before any
 * suite starts, instead of a suite crashing on a missing executable.
 */
export function provisionSystemPackages(): void {
  const missing = SYSTEM_PACKAGES.filter((pkg) => !pkg.installed());
  if (missing.length === 0) return;
  const names = missing.map((pkg) => pkg.name);
  const runner = aptRunner();
  if (!runner) throw new Error(missingPackagesMessage(missing));
  log(`installing ${names.join(' ')} (apt-get)`);
  apt(runner, ['update', '-qq']);
  apt(runner, ['install', '-y', '-qq', ...names]);
  const still = missing.filter((pkg) => !pkg.installed()).map((pkg) => pkg.name);
  if (still.length > 0) throw new Error(`apt-get installed ${names.join(' ')}, yet ${still.join(', ')} still missing`);
}

/** The one line a run stops with when Debian packages are missing and apt-get cannot run here. */
export function missingPackagesMessage(missing: readonly Pick<SystemPackage, 'name' | 'usedBy'>[]): string {
  const what = missing.map((pkg) => `${pkg.name} (${pkg.usedBy})`).join(', ');
  const names = missing.map((pkg) => pkg.name).join(' ');
  return `missing ${what}; apt-get cannot run here (not root, no passwordless sudo): install with \`sudo apt-get install -y ${names}\`, then run npm test again`;
}
