#!/usr/bin/env node
// Entry point of every root script. It runs on whatever Node the machine has (20 here), obtains the
// project's own toolchain when it is missing (Node from the npm registry, the pinned pnpm), installs
// dependencies when the lockfile or a manifest changed, and then runs the given command with that
// toolchain first on PATH. `setup` also builds every package and provisions the real test
// dependencies (PostgreSQL, Redis, MLflow, Toxiproxy). Each step is skipped when its result is already there.
//
// Usage: node scripts/toolchain.mjs setup
//        node scripts/toolchain.mjs <command> [args...]   e.g. turbo run test
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const TOOLS = join(ROOT, '.tools');
const MIN_NODE_MAJOR = 24;
const rootManifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const NODE_VERSION = rootManifest.config.nodeVersion;
const PNPM_VERSION = rootManifest.packageManager.replace(/^pnpm@/, '');

function log(message) {
  process.stderr.write(`[toolchain] ${message}\n`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: 'inherit', cwd: ROOT, ...options });
  if (result.error) throw new Error(`could not run ${command}: ${result.error.message}`, { cause: result.error });
  if (result.status !== 0) {
    const how = result.signal ? `signal ${result.signal}` : `exit code ${result.status}`;
    const error = new Error(`${command} ${args.join(' ')} failed with ${how}`);
    error.exitCode = result.status ?? 1;
    throw error;
  }
}

function npmInstallInto(prefix, spec) {
  mkdirSync(prefix, { recursive: true });
  if (!existsSync(join(prefix, 'package.json'))) writeFileSync(join(prefix, 'package.json'), '{"private":true}\n');
  run('npm', ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts', spec]);
}

/** Directory holding a `node` binary of at least MIN_NODE_MAJOR: the running one when it is new enough. */
function ensureNode() {
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= MIN_NODE_MAJOR) return dirname(process.execPath);
  const pkgName = `node-${platform()}-${arch()}`;
  const prefix = join(TOOLS, `node-${NODE_VERSION}`);
  const binDir = join(prefix, 'node_modules', pkgName, 'bin');
  if (!existsSync(join(binDir, 'node'))) {
    log(
      `system Node ${process.versions.node} is older than ${MIN_NODE_MAJOR}: installing ${pkgName}@${NODE_VERSION} from the npm registry`,
    );
    npmInstallInto(prefix, `${pkgName}@${NODE_VERSION}`);
  }
  return binDir;
}

/** Directory with a `pnpm` shim that runs the pinned pnpm on the project's Node. */
function ensurePnpm(nodeDir) {
  const prefix = join(TOOLS, `pnpm-${PNPM_VERSION}`);
  const entry = join(prefix, 'node_modules', 'pnpm', 'bin', 'pnpm.cjs');
  if (!existsSync(entry)) {
    log(`installing pnpm@${PNPM_VERSION}`);
    npmInstallInto(prefix, `pnpm@${PNPM_VERSION}`);
  }
  const shimDir = join(TOOLS, 'bin');
  const shim = join(shimDir, 'pnpm');
  const body = `#!/bin/sh\nexec "${join(nodeDir, 'node')}" "${entry}" "$@"\n`;
  if (!existsSync(shim) || readFileSync(shim, 'utf8') !== body) {
    mkdirSync(shimDir, { recursive: true });
    writeFileSync(shim, body);
    chmodSync(shim, 0o755);
  }
  return shimDir;
}

function manifestsDigest() {
  const hash = createHash('sha256');
  const files = ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml'];
  for (const name of readdirSync(join(ROOT, 'packages')).sort()) files.push(join('packages', name, 'package.json'));
  for (const file of files) {
    const path = join(ROOT, file);
    hash.update(`${file}\0${existsSync(path) ? readFileSync(path) : ''}\0`);
  }
  return hash.digest('hex');
}

function ensureDependencies(env) {
  const stamp = join(TOOLS, 'install.stamp');
  const digest = manifestsDigest();
  const installed = existsSync(join(ROOT, 'node_modules', '.modules.yaml'));
  if (installed && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return;
  const frozen = existsSync(join(ROOT, 'pnpm-lock.yaml')) ? ['--frozen-lockfile'] : [];
  log('installing dependencies with pnpm');
  run('pnpm', ['install', ...frozen], { env });
  writeFileSync(stamp, manifestsDigest());
}

function main() {
  const [command, ...args] = process.argv.slice(2);
  if (!command) {
    log('usage: node scripts/toolchain.mjs setup | <command> [args...]');
    process.exit(2);
  }
  mkdirSync(TOOLS, { recursive: true });
  const nodeDir = ensureNode();
  const shimDir = ensurePnpm(nodeDir);
  const env = {
    ...process.env,
    PATH: [shimDir, nodeDir, join(ROOT, 'node_modules', '.bin'), process.env.PATH ?? ''].join(delimiter),
    TURBO_TELEMETRY_DISABLED: '1',
    DO_NOT_TRACK: '1',
  };
  ensureDependencies(env);
  if (command === 'setup') {
    run('turbo', ['run', 'build', 'provision', '--ui=stream'], { env });
    log('setup complete');
    return;
  }
  run(command, args, { env });
}

try {
  main();
} catch (error) {
  log(error.message);
  process.exit(error.exitCode ?? 1);
}
