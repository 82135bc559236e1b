import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isPortOpen, listensYet, onFreePort, StopWaiting, spawnManaged, waitFor } from './process.js';

const execFileAsync = promisify(execFile);

/** The response header HAProxy adds naming the backend server (replica) that answered. */
export const SERVED_BY_HEADER = 'x-served-by';

/** HAProxy's name for the backend that holds the replicas (runtime API commands name `replicas/<server>`). */
export const HAPROXY_BACKEND = 'replicas';

/** An active HTTP health check, in HAProxy's units (already time-scaled by the caller). */
export interface HaproxyCheck {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive passes that bring a DOWN server UP (the target group's healthy threshold). */
  readonly rise: number;
  /** Consecutive failures that take an UP server DOWN (the target group's unhealthy threshold). */
  readonly fall: number;
}

/** One replica HAProxy balances over. */
export interface HaproxyServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

/** A server's state as HAProxy's `show stat` reports it. */
export interface ServerState {
  readonly name: string;
  /** `UP`, `DOWN`, `MAINT`, `DRAIN`, `NOLB`, or a transition such as `UP 1/3` (going down) or `DOWN 1/2`. */
  readonly status: string;
  /** HAProxy's last health-check result, e.g. `L7OK`, `L7STS`, `L4CON`, `L7TOUT`. */
  readonly checkStatus: string;
  /** Requests (sessions) the server has in flight now (`scur`). */
  readonly sessions: number;
}

/** A running HAProxy in front of replicas, with its runtime API. */
export interface HaproxyHandle extends AsyncDisposable {
  /** Where clients send traffic. */
  readonly url: string;
  readonly check: HaproxyCheck;
  /** HAProxy's version, as it reports itself (`show info`). */
  version(): Promise<string>;
  /** Every server's state (`show stat`), read from HAProxy itself. */
  servers(): Promise<ServerState[]>;
  /** Sends one runtime API command (e.g. `set server replicas/replica-1 state drain`) and returns the answer. */
  command(line: string): Promise<string>;
  /** Sets a server's administrative state through the runtime API. */
  setServerState(server: string, state: 'ready' | 'drain' | 'maint'): Promise<void>;
  /** Points a server at a new address (a replacement replica) through the runtime API. */
  setServerAddress(server: string, host: string, port: number): Promise<void>;
  /** Output so far (start-up errors, alerts such as a server going DOWN). */
  output(): Promise<string>;
  stop(): Promise<void>;
}

/** Options of `startHaproxy`. */
export interface HaproxyOptions {
  readonly servers: readonly HaproxyServer[];
  readonly check: HaproxyCheck;
  /** Name used in process output and the temporary folder. */
  readonly name?: string;
  /**
   * Retry a request that met a dead connection, on another server (default true). False is the negative
   * control's load balancer: what a crashed replica costs without them.
   */
  readonly retries?: boolean;
  /** Run it as a container (the containers provider) rather than as a process. */
  readonly container?: boolean;
  readonly echo?: boolean;
}

let onPath: boolean | undefined;

/**
 * The `haproxy` executable from Debian's package (`/usr/sbin` is not on every user's PATH). Asking PATH
 * runs `haproxy -v` once per process, so a lane starting its HAProxy later never waits on it.
 */
export function haproxyExecutable(): string | undefined {
  for (const candidate of ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy']) if (existsSync(candidate)) return candidate;
  onPath ??= spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;
  return onPath ? 'haproxy' : undefined;
}

/** The version of the installed `haproxy` (`haproxy -v`), or undefined when none is installed. */
export function installedHaproxyVersion(): string | undefined {
  const executable = haproxyExecutable();
  if (!executable) return undefined;
  const result = spawnSync(executable, ['-v'], { encoding: 'utf8' });
  return /version (\S+)/i.exec(result.stdout ?? '')?.[1];
}

/**
 * HAProxy's `timeout connect`. When a connection fails and no other server is up, HAProxy waits
 * min(`timeout connect`, 1 s) before it retries (its turn-around timer). In CI a replica killed just as the
 * check marked it DOWN held a liveness probe for 1002 ms that way, past the 1000 ms bound (2026-11-29).
 * A connect on loopback or a local bridge takes well under a millisecond, so 250 ms keeps that wait at half
 * the liveness p99 bound.
 */
export const HAPROXY_CONNECT_TIMEOUT_MS = 250;

/**
 * The configuration: one frontend on loopback, one round-robin backend whose servers carry the active
 * health check (matcher 200-299, like a target group). Idempotent requests that meet a dead connection
 * are retried on another server (`retry-on`, `option redispatch 1`); HAProxy adds `x-served-by` to every
 * server answer, so an answer without it came from HAProxy itself.
 */
export function haproxyConfig(options: {
  readonly port: number;
  readonly socket: string;
  readonly servers: readonly HaproxyServer[];
  readonly check: HaproxyCheck;
  readonly retries?: boolean;
}): string {
  const { check } = options;
  const retries =
    options.retries === false
      ? ['  retries 0']
      : ['  retries 3', '  option redispatch 1', '  retry-on conn-failure empty-response'];
  return [
    'global',
    '  maxconn 4096',
    `  stats socket ${options.socket} mode 600 level admin`,
    '',
    'defaults',
    '  mode http',
    `  timeout connect ${HAPROXY_CONNECT_TIMEOUT_MS}ms`,
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-request 10s',
    `  timeout check ${check.timeoutMs}ms`,
    ...retries,
    '',
    'frontend registry',
    `  bind 127.0.0.1:${options.port}`,
    `  default_backend ${HAPROXY_BACKEND}`,
    '',
    `backend ${HAPROXY_BACKEND}`,
    '  balance roundrobin',
    `  option httpchk GET ${check.path}`,
    '  http-check expect rstatus ^2[0-9][0-9]$',
    `  http-response set-header ${SERVED_BY_HEADER} %s`,
    `  default-server check inter ${check.intervalMs}ms rise ${check.rise} fall ${check.fall}`,
    ...options.servers.map((server) => `  server ${server.name} ${server.host}:${server.port}`),
    '',
  ].join('\n');
}

/** Parses `show stat` CSV into the servers' states (the FRONTEND and BACKEND rows left out). */
export function parseServerStates(csv: string): ServerState[] {
  const [header = '', ...rows] = csv.trim().split('\n');
  const columns = header.replace(/^# /, '').split(',');
  const at = (name: string) => columns.indexOf(name);
  return rows
    .map((row) => row.split(','))
    .filter((cells) => cells[at('svname')] !== 'FRONTEND' && cells[at('svname')] !== 'BACKEND')
    .map((cells) => ({
      name: cells[at('svname')] ?? '',
      status: cells[at('status')] ?? '',
      checkStatus: (cells[at('check_status')] ?? '').replace(/^\* ?/, ''),
      sessions: Number(cells[at('scur')] ?? 0) || 0,
    }));
}

/** Sends one command to HAProxy's runtime API socket and returns the whole answer. */
function runtimeCommand(socket: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const connection = createConnection(socket);
    let answer = '';
    connection.setTimeout(5_000, () => connection.destroy(new Error(`no answer to "${line}" within 5 s`)));
    connection.on('connect', () => connection.end(`${line}\n`));
    connection.on('data', (chunk) => {
      answer += chunk.toString('utf8');
    });
    connection.on('error', reject);
    connection.on('close', () => resolve(answer));
  });
}

/** HAProxy as this run started it: a process or a container. */
interface RunningHaproxy {
  /** The process's pid (a container's HAProxy is not this run's child). */
  readonly pid?: number;
  isRunning(): boolean | Promise<boolean>;
  output(): string | Promise<string>;
  stop(): Promise<void>;
}

function haproxyProcess(name: string, executable: string, file: string, options: HaproxyOptions): RunningHaproxy {
  const server = spawnManaged(name, executable, ['-db', '-f', file], { echo: options.echo });
  return {
    pid: server.pid,
    isRunning: () => server.isRunning(),
    output: () => server.output(),
    stop: () => server.stop(),
  };
}

async function haproxyContainer(dir: string, file: string): Promise<RunningHaproxy> {
  const { startHaproxyContainer } = await import('./containers/index.js');
  return startHaproxyContainer(dir, file);
}

/**
 * Starts Debian's HAProxy (installed by `npm run setup`) in front of `servers` on a free loopback port,
 * with the runtime API on a socket of its own, and waits until it accepts connections.
 */
export async function startHaproxy(options: HaproxyOptions): Promise<HaproxyHandle> {
  const executable = haproxyExecutable();
  if (!executable) throw new Error("haproxy is not installed: run npm run setup (it installs Debian's haproxy)");
  return onFreePort((port) => startHaproxyOn(executable, port, options));
}

async function startHaproxyOn(executable: string, port: number, options: HaproxyOptions): Promise<HaproxyHandle> {
  const name = options.name ?? 'haproxy';
  const dir = mkdtempSync(join(tmpdir(), `registry-${name}-`));
  const socket = join(dir, 'admin.sock');
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(
    file,
    haproxyConfig({ port, socket, servers: options.servers, check: options.check, retries: options.retries }),
  );
  // Checked without blocking: other lanes may be timing liveness while this one starts its HAProxy.
  const rejection = await execFileAsync(executable, ['-c', '-q', '-f', file], { encoding: 'utf8' }).then(
    () => undefined,
    (error: { stdout?: string; stderr?: string; message: string }) =>
      `${error.stdout ?? ''}${error.stderr ?? ''}` || error.message,
  );
  if (rejection !== undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`HAProxy rejected its configuration:\n${rejection}`);
  }
  const server = options.container
    ? await haproxyContainer(dir, file)
    : haproxyProcess(name, executable, file, options);
  const stop = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      async () => {
        if (!(await server.isRunning())) {
          throw new StopWaiting(`HAProxy exited during start-up:\n${await server.output()}`);
        }
        const listening = server.pid === undefined ? await isPortOpen(port) : await listensYet(server.pid, port);
        return listening && existsSync(socket);
      },
      { timeoutMs: 30_000, intervalMs: 20, what: `HAProxy on 127.0.0.1:${port}` },
    );
  } catch (error) {
    await stop();
    throw error;
  }
  const command = async (line: string) => {
    const answer = await runtimeCommand(socket, line);
    if (/^(Unknown command|No such|Require|Invalid)/m.test(answer)) {
      throw new Error(`HAProxy refused "${line}": ${answer.trim()}`);
    }
    return answer;
  };
  return {
    url: `http://127.0.0.1:${port}`,
    check: options.check,
    async version() {
      const info = await command('show info');
      return /^Version: (.+)$/m.exec(info)?.[1]?.trim() ?? 'unknown';
    },
    servers: async () => parseServerStates(await command(`show stat ${HAPROXY_BACKEND} 4 -1`)),
    command,
    async setServerState(serverName, state) {
      await command(`set server ${HAPROXY_BACKEND}/${serverName} state ${state}`);
    },
    async setServerAddress(serverName, host, serverPort) {
      await command(`set server ${HAPROXY_BACKEND}/${serverName} addr ${host} port ${serverPort}`);
    },
    output: async () => server.output(),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
