/**
 * Liveness probes on a thread of their own (a worker thread, started by `startLiveProbes`). The hostile
 * clients run on the runner's event loop; probes sent from that loop wait behind the attack's own callbacks
 * (its event-loop delay reached 218 ms during a flood on the 2-core machine), so their latency would be
 * partly the attacker's. A load balancer probes from a machine of its own: this thread stands for it, and
 * asks for a raised priority (where the system allows it) so that the attacker's processes cannot starve it
 * as they would never starve a load balancer; the service keeps the ordinary priority.
 *
 * Only `node:` modules here: the thread runs this file as it is (compiled, or as TypeScript with Node's type
 * stripping under vitest), so it cannot import the package's other modules by their `.js` names.
 */
import { setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';

/** What the thread is started with (`workerData`). */
export interface ProbeThreadData {
  readonly url: string;
  /** The number field of the answer that carries the service's resident memory, in MB. */
  readonly rssField: string;
  readonly tickMs: number;
  readonly maxDurationMs: number;
  readonly maxTicks: number;
  readonly requestTimeoutMs: number;
  /** Shortest delay of the thread's own timer it reports as a stall. */
  readonly stallThresholdMs: number;
  /** The nice value the thread asks for (a raised priority is below 0). */
  readonly priority: number;
}

/** One probe, as the thread posts it. */
export interface ProbeMessage {
  readonly kind: 'probe';
  readonly at: number;
  readonly status: number | null;
  readonly latencyMs: number;
  readonly rssMb?: number;
}

/** A span during which this thread could not run (its 10 ms timer ran that late), told for the report. */
export interface StallMessage {
  readonly kind: 'stall';
  readonly from: number;
  readonly to: number;
}

/** Posted once the loop has stopped and every probe in flight has been posted. */
export interface StoppedMessage {
  readonly kind: 'stopped';
  /** The thread's own longest timer delay while it probed, in ms (the longest stall, or a shorter delay). */
  readonly loopMaxMs: number;
  /** Whether the thread ran at the priority it asked for. */
  readonly priorityRaised: boolean;
}

/** How often the thread checks its own clock. */
const WATCH_TICK_MS = 10;

/** Sets this thread's nice value to `priority` (Linux: per thread); false where the system refuses it. */
function raisePriority(priority: number): boolean {
  try {
    setPriority(priority);
    return true;
  } catch {
    return false;
  }
}

async function probe(data: ProbeThreadData): Promise<ProbeMessage> {
  const at = Date.now();
  try {
    const response = await fetch(data.url, { signal: AbortSignal.timeout(data.requestTimeoutMs) });
    const text = await response.text();
    const latencyMs = Date.now() - at;
    let rssMb: number | undefined;
    try {
      const value = (JSON.parse(text) as Record<string, unknown>)[data.rssField];
      if (typeof value === 'number') rssMb = value;
    } catch {
      // A non-JSON answer is still a probe: its status tells the story.
    }
    return { kind: 'probe', at, status: response.status, latencyMs, ...(rssMb === undefined ? {} : { rssMb }) };
  } catch {
    return { kind: 'probe', at, status: null, latencyMs: Date.now() - at };
  }
}

async function run(port: NonNullable<typeof parentPort>, data: ProbeThreadData): Promise<void> {
  let running = true;
  let wake: (() => void) | undefined;
  port.on('message', () => {
    running = false;
    wake?.();
  });
  const inFlight = new Set<Promise<void>>();
  const priorityRaised = raisePriority(data.priority);
  // The same clock watch as the stall witness's process (this file can import only node: modules).
  let loopMaxMs = 0;
  let last = performance.now();
  const watch = setInterval(() => {
    const tick = performance.now();
    const late = Math.max(0, Math.round(tick - last - WATCH_TICK_MS));
    last = tick;
    const now = Date.now();
    loopMaxMs = Math.max(loopMaxMs, late);
    if (late >= data.stallThresholdMs)
      port.postMessage({ kind: 'stall', from: now - late, to: now } satisfies StallMessage);
  }, WATCH_TICK_MS);
  const deadline = Date.now() + data.maxDurationMs;
  for (let ticks = 0; running && ticks < data.maxTicks && Date.now() < deadline; ticks += 1) {
    const started = Date.now();
    const sending = probe(data).then((message) => port.postMessage(message));
    inFlight.add(sending);
    void sending.finally(() => inFlight.delete(sending));
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, Math.max(0, data.tickMs - (Date.now() - started)));
    });
  }
  await Promise.allSettled([...inFlight]);
  clearInterval(watch);
  port.postMessage({ kind: 'stopped', loopMaxMs, priorityRaised } satisfies StoppedMessage);
  port.close();
}

if (parentPort) await run(parentPort, workerData as ProbeThreadData);
