import { requireToxiproxy, type Stack, setProxyEnabled as setEnabled } from '@registry/testkit';
import type { Bounds } from './settings.js';

/** What the experiment expects of the breaker while the fault lasts. */
export type Expectation = 'trips' | 'no-trip';

/**
 * Stack capabilities an experiment may need beyond Toxiproxy: kill, restart or break MLflow; or, for the
 * abuse class, know which MLflow address a local service uses (to watch the ports next to it).
 */
export type Capability = 'kill' | 'restart' | 'breakStore' | 'database' | 'localMlflowAddress';

/** What an experiment's fault can use. */
export interface FaultContext {
  readonly stack: Stack;
  readonly bounds: Bounds;
}

/** One chaos experiment: a fault, how to inject and remove it, and what the breaker should do. */
export interface Experiment {
  readonly id: string;
  readonly title: string;
  /** Short label of the fault for the resiliency matrix. */
  readonly fault: string;
  readonly expectation: Expectation;
  readonly requires?: readonly Capability[];
  /** Replays the incident: also puts an HAProxy configured as before the fix in front of the replicas. */
  readonly incidentReplay?: boolean;
  /**
   * For a fault that must not trip the breaker: the median latency (ms) MLflow-bound requests must show
   * while it lasts, so that a fault that never took effect cannot pass.
   */
  readonly slowsToAtLeastMs?: (bounds: Bounds) => number;
  inject(context: FaultContext): Promise<void>;
  remove(context: FaultContext): Promise<void>;
}

type ToxicType = 'latency' | 'bandwidth' | 'slow_close' | 'timeout' | 'slicer' | 'limit_data' | 'reset_peer';

/** A fault made of one toxic on the MLflow proxy, added at injection and removed after. */
export function toxicFault(
  type: ToxicType,
  attributes: (bounds: Bounds) => Record<string, number>,
  stream: 'downstream' | 'upstream' = 'downstream',
): Pick<Experiment, 'inject' | 'remove'> {
  const name = `chaos-${type}`;
  return {
    async inject({ stack, bounds }) {
      await requireToxiproxy(stack).proxy.addToxic({ name, type, stream, toxicity: 1, attributes: attributes(bounds) });
    },
    async remove({ stack }) {
      const toxic = await requireToxiproxy(stack).proxy.getToxic(name);
      await toxic.remove();
    },
  };
}

/** Latency on every answer of MLflow's database in the slow-database experiment. */
const DATABASE_LATENCY_MS = 60;

function requireDatabase(stack: Stack) {
  if (!stack.databaseProxy) throw new Error("this stack has no proxy in front of MLflow's database");
  return stack.databaseProxy;
}

/** Opens or closes the way to MLflow: the proxy in front of it enabled or disabled. */
export async function setProxyEnabled(stack: Stack, enabled: boolean): Promise<void> {
  await setEnabled(requireToxiproxy(stack).proxy, enabled);
}

/** Toggles the proxy off and on until removed: a flapping MLflow. Bounded in count. */
function flappingFault(downMs: number, upMs: number, maxToggles = 200): Pick<Experiment, 'inject' | 'remove'> {
  let running = false;
  let loop: Promise<void> = Promise.resolve();
  return {
    async inject({ stack }) {
      running = true;
      loop = (async () => {
        for (let toggle = 0; running && toggle < maxToggles; toggle += 1) {
          const down = toggle % 2 === 0;
          await setProxyEnabled(stack, !down);
          await new Promise((resolve) => setTimeout(resolve, down ? downMs : upMs));
        }
      })();
    },
    async remove({ stack }) {
      running = false;
      await loop;
      await setProxyEnabled(stack, true);
    },
  };
}

/**
 * The experiments, in run order. Toxics act on MLflow's answers (downstream). Toxiproxy decides
 * toxicity per TCP connection and the service keeps connections alive, so every toxic here has
 * toxicity 1: whichever pooled connection a request takes, it meets the fault.
 */
export const EXPERIMENTS: readonly Experiment[] = [
  {
    // The incident's own fault: a second HAProxy configured as before the fix sits beside the stack's,
    // so the replay and the plain outage are one experiment rather than the same fault injected twice.
    id: 'mlflow-down',
    title:
      'MLflow down (proxy disabled), replaying the incident: the pre-fix HAProxy takes every replica out, the fixed one keeps them',
    fault: 'down',
    expectation: 'trips',
    incidentReplay: true,
    inject: ({ stack }) => setProxyEnabled(stack, false),
    remove: ({ stack }) => setProxyEnabled(stack, true),
  },
  {
    id: 'latency-below-timeout',
    title: 'Latency below the request timeout does not trip the breaker',
    fault: 'latency < timeout',
    expectation: 'no-trip',
    slowsToAtLeastMs: (bounds) => Math.round(bounds.requestTimeoutMs * 0.2),
    ...toxicFault('latency', (bounds) => ({ latency: Math.round(bounds.requestTimeoutMs * 0.2), jitter: 0 })),
  },
  {
    id: 'latency-above-timeout',
    title: 'Latency above the request timeout',
    fault: 'latency > timeout',
    expectation: 'trips',
    ...toxicFault('latency', (bounds) => ({ latency: bounds.requestTimeoutMs * 2, jitter: 0 })),
  },
  {
    id: 'blackhole',
    title: 'Timeout / blackhole (data held, connection kept open)',
    fault: 'timeout',
    expectation: 'trips',
    ...toxicFault('timeout', () => ({ timeout: 0 })),
  },
  {
    id: 'reset-peer',
    title: 'Connection reset by peer',
    fault: 'reset_peer',
    expectation: 'trips',
    ...toxicFault('reset_peer', () => ({ timeout: 0 })),
  },
  {
    id: 'slow-close',
    title: 'Slow close: answers arrive, connection close delayed (keep-alive hides it)',
    fault: 'slow_close',
    expectation: 'no-trip',
    ...toxicFault('slow_close', (bounds) => ({ delay: bounds.requestTimeoutMs * 2 })),
  },
  {
    id: 'bandwidth',
    title: 'Bandwidth starvation (1 KB/s; registry answers take longer than the timeout)',
    fault: 'bandwidth',
    expectation: 'trips',
    ...toxicFault('bandwidth', () => ({ rate: 1 })),
  },
  {
    id: 'slicer',
    title: 'Slicer (answers cut into 64-byte slices, 100 ms apart)',
    fault: 'slicer',
    expectation: 'trips',
    ...toxicFault('slicer', () => ({ average_size: 64, size_variation: 16, delay: 100_000 })),
  },
  {
    id: 'limit-data',
    title: 'limit_data (connections closed after 100 bytes: truncated answers)',
    fault: 'limit_data',
    expectation: 'trips',
    ...toxicFault('limit_data', () => ({ bytes: 100 })),
  },
  {
    id: 'flapping',
    title: 'Flapping MLflow (proxy toggled down 1.2 s / up 0.4 s)',
    fault: 'flapping',
    expectation: 'trips',
    ...flappingFault(1_200, 400),
  },
  {
    id: 'process-killed',
    title: 'MLflow process killed (SIGKILL) and restarted',
    fault: 'kill + restart',
    expectation: 'trips',
    requires: ['kill', 'restart'],
    inject: async ({ stack }) => {
      await stack.mlflow?.kill?.();
    },
    remove: async ({ stack }) => {
      await stack.mlflow?.restart?.();
    },
  },
  {
    // The real form: MLflow's PostgreSQL store unreachable (the Toxiproxy proxy between them disabled).
    id: 'mlflow-5xx',
    title: 'MLflow answering 5xx (its database down)',
    fault: '5xx',
    expectation: 'trips',
    requires: ['breakStore'],
    inject: async ({ stack }) => stack.mlflow?.breakStore?.(),
    remove: async ({ stack }) => stack.mlflow?.restoreStore?.(),
  },
  {
    id: 'mlflow-db-slow',
    title: `MLflow's database slow (${DATABASE_LATENCY_MS} ms on every answer from PostgreSQL): MLflow answers late, within the timeout`,
    fault: 'database slow',
    expectation: 'no-trip',
    requires: ['database'],
    slowsToAtLeastMs: () => DATABASE_LATENCY_MS * 3,
    inject: async ({ stack }) => {
      await requireDatabase(stack).addToxic({
        name: 'chaos-db-latency',
        type: 'latency',
        stream: 'downstream',
        toxicity: 1,
        attributes: { latency: DATABASE_LATENCY_MS, jitter: 0 },
      });
    },
    remove: async ({ stack }) => {
      await (await requireDatabase(stack).getToxic('chaos-db-latency')).remove();
    },
  },
];

/** The capabilities `stack` lacks for `experiment` (empty when it can run). */
export function missingCapabilities(
  experiment: { readonly requires?: readonly Capability[] },
  stack: Stack,
): Capability[] {
  const has: Record<Capability, boolean> = {
    kill: typeof stack.mlflow?.kill === 'function',
    restart: typeof stack.mlflow?.restart === 'function',
    breakStore: typeof stack.mlflow?.breakStore === 'function',
    database: stack.databaseProxy !== undefined,
    localMlflowAddress: stack.service.mlflowUrl !== undefined,
  };
  return (experiment.requires ?? []).filter((capability) => !has[capability]);
}

const CAPABILITY_PHRASES: Record<Capability, string> = {
  kill: 'kill MLflow',
  restart: 'restart MLflow',
  breakStore: "break MLflow's store",
  database: "reach MLflow's database (no Toxiproxy proxy between MLflow and its database)",
  localMlflowAddress: 'tell which MLflow address the service uses (its neighbouring ports cannot be watched)',
};

/** Why `experiment` cannot run on `stack`, for the user; undefined when it can. */
export function missingReason(
  experiment: { readonly requires?: readonly Capability[] },
  stack: Stack,
): string | undefined {
  const missing = missingCapabilities(experiment, stack);
  if (missing.length === 0) return undefined;
  return `the ${stack.provider} provider cannot ${missing.map((c) => CAPABILITY_PHRASES[c]).join(', ')}`;
}
