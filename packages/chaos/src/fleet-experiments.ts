import { HAPROXY_BACKEND, type HaproxyHandle, type Stack, waitFor } from '@registry/testkit';
import { DEREGISTRATION_DELAY_SECONDS } from './health-checks.js';
import type { Bounds } from './settings.js';

/** Something that happened to the fleet during an experiment, for the timeline and the checks. */
export interface FleetEvent {
  readonly at: number;
  readonly replica: string;
  readonly what:
    | 'killed'
    | 'drained'
    | 'terminated'
    | 'marked down'
    | 'replaced'
    | 'marked up'
    | 'mlflow down'
    | 'mlflow up';
  readonly detail?: string;
}

/** What an experiment's actions can use: the stack, its HAProxy, the bounds, and the event log. */
export interface FleetContext {
  readonly stack: Stack;
  readonly haproxy: HaproxyHandle;
  readonly bounds: Bounds;
  readonly timeScale: number;
  record(replica: string, what: FleetEvent['what'], detail?: string): void;
  readonly log: (line: string) => void;
}

/** How one replica was taken out and replaced, as measured. */
export interface Replacement {
  readonly replica: string;
  readonly how: 'kill' | 'rolling';
  /** Exit code of a SIGTERMed replica (0: it drained and closed cleanly). */
  readonly exitCode?: number | null;
  /** From the kill until HAProxy marked it DOWN (kill only), ms; null when it never did within the bound. */
  readonly markedDownAfterMs?: number | null;
  /** From the replacement's registration until HAProxy marked it UP, ms; null when it did not within the bound. */
  readonly upAfterMs: number | null;
  /** The bounds those were held to, ms. */
  readonly downBoundMs?: number;
  readonly upBoundMs: number;
}

/** A fleet experiment: something happens to the replicas (and maybe MLflow) while traffic goes through HAProxy. */
export interface FleetExperiment {
  readonly id: string;
  readonly title: string;
  readonly fault: string;
  /**
   * MLflow is down (its proxy disabled, every breaker open) before the actions start, and back only after
   * they end; then every breaker must close by itself.
   */
  readonly mlflowDown?: boolean;
  act(context: FleetContext): Promise<Replacement[]>;
}

/** How long HAProxy may take to mark a dead server DOWN: `fall` failed checks, each up to interval + timeout. */
export function downBoundMs(haproxy: HaproxyHandle): number {
  const { fall, intervalMs, timeoutMs } = haproxy.check;
  return fall * intervalMs + timeoutMs + 1_000;
}

/** How long a replacement may take to be marked UP: `rise` passing checks, plus one interval of phase. */
export function upBoundMs(haproxy: HaproxyHandle): number {
  const { rise, intervalMs } = haproxy.check;
  return (rise + 1) * intervalMs + 1_000;
}

async function serverStatus(haproxy: HaproxyHandle, name: string): Promise<string | undefined> {
  return (await haproxy.servers()).find((server) => server.name === name)?.status;
}

/** Polls until HAProxy reports `name` in a status that `matches`; the elapsed ms, or null past the bound. */
async function timeUntil(
  haproxy: HaproxyHandle,
  name: string,
  matches: (status: string) => boolean,
  boundMs: number,
  what: string,
): Promise<number | null> {
  const started = Date.now();
  try {
    await waitFor(async () => matches((await serverStatus(haproxy, name)) ?? ''), {
      timeoutMs: boundMs,
      intervalMs: 25,
      what,
    });
    return Date.now() - started;
  } catch {
    return null;
  }
}

/** Starts a replacement for `name`, points HAProxy's server at it and puts it back in service. */
async function registerReplacement(
  context: FleetContext,
  name: string,
): Promise<{ upAfterMs: number | null; upBound: number }> {
  const { stack, haproxy } = context;
  if (!stack.replaceReplica) throw new Error(`the ${stack.provider} provider cannot replace replicas`);
  const replacement = await stack.replaceReplica(name);
  // Registered as a target group registers a new task: unhealthy until `rise` checks pass, so HAProxy
  // sends it nothing before its own checks have seen it answer.
  // (Leaving maintenance resets a server to UP, so both commands go on one line, run back to back.)
  await haproxy.setServerState(name, 'maint');
  await haproxy.setServerAddress(name, '127.0.0.1', replacement.port);
  const server = `${HAPROXY_BACKEND}/${name}`;
  await haproxy.command(`set server ${server} state ready; set server ${server} health down`);
  context.record(name, 'replaced', replacement.url);
  const upBound = upBoundMs(haproxy);
  const upAfterMs = await timeUntil(haproxy, name, (status) => status === 'UP', upBound, `${name} UP`);
  context.record(name, 'marked up', upAfterMs === null ? `not within ${upBound} ms` : `${upAfterMs} ms`);
  return { upAfterMs, upBound };
}

/**
 * A crash: SIGKILL `name` under traffic, wait for HAProxy to mark it DOWN by its checks (no runtime
 * command), then replace it as ECS would replace the stopped task.
 */
export async function killAndReplace(context: FleetContext, name: string): Promise<Replacement> {
  const replica = context.stack.replicas.find((r) => r.name === name);
  if (!replica?.kill) throw new Error(`replica ${name} cannot be killed here`);
  await replica.kill();
  context.record(name, 'killed');
  const bound = downBoundMs(context.haproxy);
  const markedDownAfterMs = await timeUntil(
    context.haproxy,
    name,
    (status) => status.startsWith('DOWN'),
    bound,
    `${name} DOWN`,
  );
  context.record(
    name,
    'marked down',
    markedDownAfterMs === null ? `not within ${bound} ms` : `${markedDownAfterMs} ms`,
  );
  const { upAfterMs, upBound } = await registerReplacement(context, name);
  return { replica: name, how: 'kill', markedDownAfterMs, upAfterMs, downBoundMs: bound, upBoundMs: upBound };
}

/**
 * One step of a rolling deployment, as ECS performs it: deregister (HAProxy `drain`: no new requests),
 * wait until the replica has nothing in flight (at most the scaled deregistration delay), SIGTERM it (the
 * service drains for SHUTDOWN_DRAIN_DELAY, then closes), and register a new process in its place.
 */
export async function rollReplica(context: FleetContext, name: string): Promise<Replacement> {
  const { haproxy } = context;
  const replica = context.stack.replicas.find((r) => r.name === name);
  if (!replica?.terminate) throw new Error(`replica ${name} cannot be stopped here`);
  await haproxy.setServerState(name, 'drain');
  const delayMs = (DEREGISTRATION_DELAY_SECONDS * 1000) / context.timeScale;
  await waitFor(async () => (await haproxy.servers()).find((server) => server.name === name)?.sessions === 0, {
    timeoutMs: delayMs,
    intervalMs: 25,
    what: `${name} to finish its requests`,
  }).catch(() => context.log(`${name} still had requests in flight after the deregistration delay`));
  context.record(name, 'drained');
  const exitCode = await replica.terminate();
  context.record(name, 'terminated', `exit ${exitCode}`);
  // Deregistered: out of the pool until its replacement is registered.
  await haproxy.setServerState(name, 'maint');
  const { upAfterMs, upBound } = await registerReplacement(context, name);
  return { replica: name, how: 'rolling', exitCode, upAfterMs, upBoundMs: upBound };
}

/** Replaces every replica in turn, one at a time (ECS with minimum healthy 100 %, here one by one). */
async function rollingDeployment(context: FleetContext): Promise<Replacement[]> {
  const replacements: Replacement[] = [];
  for (const name of context.stack.replicas.map((replica) => replica.name)) {
    context.log(`rolling ${name}`);
    replacements.push(await rollReplica(context, name));
  }
  return replacements;
}

/** The fleet experiments, in run order. */
export const FLEET_EXPERIMENTS: readonly FleetExperiment[] = [
  {
    id: 'replica-loss',
    title: 'Replica loss: one replica killed (SIGKILL) under traffic, HAProxy takes it out, a replacement joins',
    fault: 'replica killed',
    act: async (context) => {
      const last = context.stack.replicas.at(-1)?.name;
      if (!last) throw new Error('no replica to kill');
      return [await killAndReplace(context, last)];
    },
  },
  {
    id: 'rolling-deployment',
    title: 'Rolling deployment: each replica drained through the runtime API, SIGTERMed and replaced, under traffic',
    fault: 'rolling deploy',
    act: rollingDeployment,
  },
  {
    id: 'rolling-deployment-mlflow-down',
    title: 'Rolling deployment while MLflow is down: new replicas start and are marked healthy without MLflow',
    fault: 'deploy, MLflow down',
    mlflowDown: true,
    act: rollingDeployment,
  },
];
