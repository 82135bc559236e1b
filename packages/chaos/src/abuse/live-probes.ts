import { Worker } from 'node:worker_threads';
import { type Answer, ROUTES } from '@registry/service/client';
import type { Sample, TrafficLimits } from '../traffic.js';
import type { ProbeMessage, ProbeThreadData, StoppedMessage } from './live-probe-thread.js';

/** Liveness probes running on their own thread. */
export interface LiveProbes {
  /** The probes answered (or failed) so far, as traffic samples of route class `live`. */
  samples(): readonly Sample[];
  /** The probing thread's own longest event-loop delay, in ms, once it has stopped (undefined before). */
  loopMaxMs(): number | undefined;
  /** Stops the loop and waits for the probes in flight; rejects if the thread failed. */
  stop(): Promise<void>;
}

/** The field of the liveness answer that carries the service's resident memory. */
const RSS_FIELD = 'memory_usage_mb' satisfies keyof Answer<typeof ROUTES.live>['body'];

/** Longest `stop` waits for the thread beyond the probes' own timeout before it ends the thread itself. */
const STOP_GRACE_MS = 2_000;

/**
 * Probes `${baseUrl}/health/live` each tick from a worker thread (see `live-probe-thread.ts` for why),
 * within the same limits as the traffic generator: bounded in time and count, it stops by itself.
 */
export function startLiveProbes(baseUrl: string, limits: TrafficLimits): LiveProbes {
  // Compiled, this module is a .js file beside the thread's .js; under vitest both are the .ts sources.
  const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const data: ProbeThreadData = {
    url: `${baseUrl}${ROUTES.live.url}`,
    rssField: RSS_FIELD,
    tickMs: limits.tickMs,
    maxDurationMs: limits.maxDurationMs,
    maxTicks: limits.maxTicks,
    requestTimeoutMs: limits.requestTimeoutMs,
  };
  const worker = new Worker(new URL(`./live-probe-thread${extension}`, import.meta.url), { workerData: data });
  const samples: Sample[] = [];
  let failure: Error | undefined;
  let loopMaxMs: number | undefined;
  const stopped = new Promise<void>((resolve) => {
    worker.on('message', (message: ProbeMessage | StoppedMessage) => {
      if (message.kind === 'stopped') {
        loopMaxMs = message.loopMaxMs;
        return resolve();
      }
      const { kind: _, ...sample } = message;
      samples.push({ routeClass: 'live', ...sample });
    });
    worker.on('error', (error) => {
      failure = error;
      resolve();
    });
    worker.on('exit', () => resolve());
  });
  return {
    samples: () => samples,
    loopMaxMs: () => loopMaxMs,
    async stop() {
      worker.postMessage('stop');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        stopped,
        new Promise((resolve) => {
          timer = setTimeout(resolve, limits.requestTimeoutMs + STOP_GRACE_MS);
        }),
      ]);
      clearTimeout(timer);
      await worker.terminate();
      if (failure) throw new Error(`the liveness probe thread failed: ${failure.message}`, { cause: failure });
    },
  };
}
