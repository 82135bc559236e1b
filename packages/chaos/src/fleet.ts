import { createRegistryClient } from '@registry/service/client';
import type { HaproxyHandle, StackReplica } from '@registry/testkit';
import type { BreakerSample } from './traffic.js';

/** A replica as the fleet watch reads it: its name behind the load balancer and its own URL. */
export interface WatchedReplica {
  readonly name: string;
  readonly url: string;
}

/** One look at a load balancer's servers: each server's state as HAProxy reported it. */
export interface BackendSample {
  readonly at: number;
  readonly servers: Readonly<Record<string, string>>;
}

/** Whether HAProxy has taken a server out of service (DOWN, or DOWN on its way back up; or MAINT). */
export function isOutOfService(status: string): boolean {
  return status.startsWith('DOWN') || status.startsWith('MAINT');
}

/** A running watch over every replica's breaker and every load balancer's view of the servers. */
export interface FleetWatch {
  /** Each replica's breaker samples, by replica name. */
  breakers(): Readonly<Record<string, readonly BreakerSample[]>>;
  /** Each load balancer's samples, by its label. */
  backends(): Readonly<Record<string, readonly BackendSample[]>>;
  /** True when the latest sample of every replica is in `state`. */
  allIn(state: BreakerSample['state']): boolean;
  stop(): Promise<void>;
}

/** The replicas of a stack as the watch reads them: name and URL, as they are now. */
export function watchedReplicas(replicas: readonly StackReplica[]): WatchedReplica[] {
  return replicas.map((replica) => ({ name: replica.name, url: replica.url }));
}

/**
 * Every `intervalMs`, reads each replica's breaker directly (`/health/status`) and each load balancer's
 * server states from HAProxy's runtime API. `replicas` is asked each time, so replacements are followed.
 * Bounded in time; stops by itself after `maxDurationMs`.
 */
export function startFleetWatch(
  replicas: () => readonly WatchedReplica[],
  loadBalancers: Readonly<Record<string, HaproxyHandle>>,
  options: { intervalMs?: number; maxDurationMs?: number } = {},
): FleetWatch {
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + (options.maxDurationMs ?? 5 * 60_000);
  const breakers: Record<string, BreakerSample[]> = {};
  const backends: Record<string, BackendSample[]> = Object.fromEntries(
    Object.keys(loadBalancers).map((label) => [label, []]),
  );
  let running = true;

  const readBreaker = async (replica: WatchedReplica) => {
    try {
      const status = await createRegistryClient({ baseUrl: replica.url, timeoutMs: 5_000 }).status();
      if (status.status !== 200) return;
      const breaker = status.body.circuit_breaker;
      breakers[replica.name] ??= [];
      breakers[replica.name]?.push({
        at: Date.now(),
        state: breaker.state,
        secondsUntilRetry: breaker.time_until_retry_seconds,
        tripsTotal: breaker.trips_total,
      });
    } catch {
      // A replica that does not answer leaves a gap in its band; its requests tell the rest.
    }
  };
  const readBackends = async (label: string, haproxy: HaproxyHandle) => {
    try {
      const servers = await haproxy.servers();
      backends[label]?.push({ at: Date.now(), servers: Object.fromEntries(servers.map((s) => [s.name, s.status])) });
    } catch {
      // HAProxy's stats socket busy or gone: a gap in its band.
    }
  };

  const loop = (async () => {
    while (running && Date.now() < deadline) {
      const started = Date.now();
      await Promise.all([
        ...replicas().map(readBreaker),
        ...Object.entries(loadBalancers).map(([label, haproxy]) => readBackends(label, haproxy)),
      ]);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, intervalMs - (Date.now() - started))));
    }
  })();

  return {
    breakers: () => breakers,
    backends: () => backends,
    allIn: (state) => {
      const current = replicas();
      return current.length > 0 && current.every((replica) => breakers[replica.name]?.at(-1)?.state === state);
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}
