import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { log } from './log.js';

const WATCHDOG = fileURLToPath(new URL('../bin/watchdog.sh', import.meta.url));

/** Thrown inside a `waitFor` condition to stop waiting at once (the awaited thing can no longer happen). */
export class StopWaiting extends Error {
  override readonly name = 'StopWaiting';
}

/** Polls `condition` until it returns a truthy value or the deadline passes (then throws, naming `what`). */
export async function waitFor<T>(
  condition: () => Promise<T | undefined | false> | T | undefined | false,
  options: { timeoutMs: number; intervalMs?: number; what: string },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 100;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value;
    } catch (error) {
      if (error instanceof StopWaiting) throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}${why}`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** Resolves when something accepts TCP connections on 127.0.0.1:port. */
export function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A free TCP port on 127.0.0.1 (the kernel picks it). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('could not determine a free port');
  return address.port;
}

/**
 * Whether `pid` or a process it started listens on TCP `port`: a start must not take whoever else
 * listens there for the server it started (another run's server, Docker's proxy for a container). Read from
 * Linux's /proc; where that cannot tell (no /proc), true.
 */
export async function listensOn(pid: number, port: number): Promise<boolean> {
  const sockets = await listeningSockets(port);
  if (!sockets) return true;
  if (sockets.size === 0) return false;
  for (const member of await processTree(pid)) {
    const fds = await readdir(`/proc/${member}/fd`).catch(() => []);
    for (const fd of fds) {
      const target = await readlink(`/proc/${member}/fd/${fd}`).catch(() => '');
      if (sockets.has(target)) return true;
    }
  }
  return false;
}

/** The `socket:[inode]` names of the sockets listening on `port`; undefined without /proc/net/tcp. */
async function listeningSockets(port: number): Promise<Set<string> | undefined> {
  const tables = await Promise.all(
    ['/proc/net/tcp', '/proc/net/tcp6'].map((file) => readFile(file, 'utf8').catch(() => '')),
  );
  if (!tables[0]) return undefined;
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const sockets = new Set<string>();
  for (const line of tables.join('\n').split('\n')) {
    // sl local_address rem_address st ... inode: the local port after the colon, state 0A is LISTEN.
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A') sockets.add(`socket:[${fields[9]}]`);
  }
  return sockets;
}

/** `root` and every process descended from it. */
async function processTree(root: number): Promise<number[]> {
  const children = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // The parent's pid is the second field after the command name, which is in parentheses.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!Number.isNaN(parent)) children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
  }
  const tree = [root];
  for (let at = 0; at < tree.length; at++) tree.push(...(children.get(tree[at] as number) ?? []));
  return tree;
}

/**
 * Whether the server `pid` started listens on 127.0.0.1:port yet: false while nothing does, and a
 * StopWaiting naming the taken address when another process does (see `onFreePort`).
 */
export async function listensYet(pid: number, port: number): Promise<boolean> {
  if (!(await isPortOpen(port))) return false;
  if (await listensOn(pid, port)) return true;
  throw new StopWaiting(`127.0.0.1:${port}: address already in use by a process this start did not begin`);
}

/** How often a server is started on a free port before giving up (see `onFreePort`). */
const PORT_ATTEMPTS = 3;
/** How Node, Go (Toxiproxy), Python (MLflow), HAProxy, Redis, PostgreSQL and Docker say a port is taken. */
const PORT_TAKEN = /EADDRINUSE|address already in use|connection in use|port is already allocated/i;

/**
 * Starts a server with `start(port)` on a free loopback port, and on another (up to PORT_ATTEMPTS tries)
 * when the port was taken between choosing it and the server's listen: the failure names a taken address,
 * or something other than the stopped server listens there. Seen in CI: Docker publishing a starting
 * container's ports while a replica started. `start` must stop what it started before it throws.
 */
export async function onFreePort<T>(
  start: (port: number) => Promise<T>,
  options: { choosePort?: () => Promise<number> } = {},
): Promise<T> {
  const choosePort = options.choosePort ?? freePort;
  for (let attempt = 1; ; attempt++) {
    const port = await choosePort();
    try {
      return await start(port);
    } catch (error) {
      if (attempt >= PORT_ATTEMPTS || !(await portWasTaken(error, port))) throw error;
    }
  }
}

async function portWasTaken(error: unknown, port: number): Promise<boolean> {
  const messages: string[] = [];
  for (let cause = error; cause instanceof Error && messages.length < 5; cause = cause.cause) {
    messages.push(cause.message);
  }
  return PORT_TAKEN.test(messages.join('\n') || String(error)) || (await isPortOpen(port));
}

/**
 * Adds `stop` (of `what`) to `stack`. A part that will not stop is reported on stderr rather than thrown:
 * it must neither hide the error that is unwinding a start nor keep the parts started before it running.
 */
export function deferStop(stack: AsyncDisposableStack, what: string, stop: () => Promise<unknown>): void {
  stack.defer(() =>
    stop().then(
      () => undefined,
      (error: unknown) => log(`could not stop ${what}: ${error instanceof Error ? error.message : String(error)}`),
    ),
  );
}

/** A real process started by testkit; stopping it is idempotent, and `await using` stops it too. */
export interface ManagedProcess extends AsyncDisposable {
  readonly name: string;
  readonly pid: number;
  /** Output so far (stdout and stderr interleaved, bounded), for error messages. */
  output(): string;
  isRunning(): boolean;
  /** Stops the process group (its stop signal, then KILL after `graceMs`) and waits for it to exit. */
  stop(graceMs?: number): Promise<void>;
  /** Kills the whole process group with SIGKILL, as a crash would, and waits for it to exit. */
  kill(): Promise<void>;
  /** Resolves with the exit code when the process exits. */
  readonly exited: Promise<number | null>;
}

const OUTPUT_LIMIT = 64 * 1024;
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort on a normal exit; the watchdog covers crashes and kills (its stdin closes).
  process.once('exit', () => {
    for (const child of live) child.kill('SIGTERM');
  });
}

/**
 * Starts `command` under the watchdog (own process group, stopped when this process dies) and keeps
 * a bounded copy of its output.
 */
export function spawnManaged(
  name: string,
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; echo?: boolean; stopSignal?: 'TERM' | 'INT' } = {},
): ManagedProcess {
  installExitHook();
  const child = spawn(WATCHDOG, [command, ...args], {
    env: { ...(options.env ?? process.env), WATCHDOG_STOP_SIGNAL: options.stopSignal ?? 'TERM' },
    cwd: options.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  // Writing to the watchdog after it exited must not crash the test process.
  child.stdin?.on('error', () => {});
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    if (options.echo) process.stderr.write(`[${name}] ${chunk.toString('utf8')}`);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      live.delete(child);
      resolve(code);
    });
    child.once('error', (error) => {
      append(Buffer.from(`spawn error: ${error.message}\n`));
      live.delete(child);
      resolve(null);
    });
  });
  let running = true;
  void exited.then(() => {
    running = false;
  });

  async function stop(graceMs = 10_000): Promise<void> {
    if (!running) return;
    // The watchdog's trap sends the stop signal to the whole process group.
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (running) child.stdin?.write('KILL\n');
    }, graceMs);
    await exited;
    clearTimeout(timer);
  }

  async function kill(): Promise<void> {
    if (!running) return;
    child.stdin?.write('KILL\n');
    await exited;
  }

  return {
    name,
    pid: child.pid ?? -1,
    kill,
    output: () => output,
    isRunning: () => running,
    stop,
    exited,
    [Symbol.asyncDispose]: () => stop(),
  };
}

/** A JSON answer: status, headers and the parsed body (undefined when the body is not JSON). */
export interface JsonResponse<T> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
  readonly elapsedMs: number;
}

/** Fetches `url` and parses the JSON body, with a timeout so no probe can hang a test. */
export async function fetchJson<T = Record<string, unknown>>(
  url: string,
  init: RequestInit & { timeoutMs?: number } = {},
): Promise<JsonResponse<T>> {
  const started = performance.now();
  const response = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(init.timeoutMs ?? 30_000) });
  const text = await response.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return {
    status: response.status,
    headers: response.headers,
    body: body as T,
    elapsedMs: performance.now() - started,
  };
}
