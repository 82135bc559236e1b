/**
 * Liveness probes on a thread of their own (a worker thread, started by `startLiveProbes`). The hostile
 * clients run on the runner's event loop; probes sent from that loop wait behind the attack's own callbacks
 * (its event-loop delay reached 218 ms during a flood on the 2-core machine), so their latency would be
 * partly the attacker's. A load balancer probes from a machine of its own: this thread stands for it.
 *
 * Only `node:` modules here: the thread runs this file as it is (compiled, or as TypeScript with Node's type
 * stripping under vitest), so it cannot import the package's other modules by their `.js` names.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
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
}

/** One probe, as the thread posts it. */
export interface ProbeMessage {
  readonly kind: 'probe';
  readonly at: number;
  readonly status: number | null;
  readonly latencyMs: number;
  readonly rssMb?: number;
}

/** Posted once the loop has stopped and every probe in flight has been posted. */
export interface StoppedMessage {
  readonly kind: 'stopped';
  /**
   * The thread's own longest event-loop delay while it probed, in ms: a probe's latency includes it, so a
   * long one says the machine (not the service) held the probe up.
   */
  readonly loopMaxMs: number;
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
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
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
  delay.disable();
  port.postMessage({ kind: 'stopped', loopMaxMs: Math.round(delay.max / 1e6) } satisfies StoppedMessage);
  port.close();
}

if (parentPort) await run(parentPort, workerData as ProbeThreadData);
