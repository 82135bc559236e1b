import { Worker } from 'node:worker_threads';
import { withTimeout } from '@registry/service';
import { type Answer, ROUTES } from '@registry/service/client';
import type { Stall } from '../liveness.js';
import type { Sample, TrafficLimits } from '../traffic.js';
import type { ProbeMessage, ProbeThreadData, StallMessage, StoppedMessage } from './live-probe-thread.js';
import { PROBER_PRIORITY, STALL_THRESHOLD_MS } from './stall-witness.js';

/** Liveness probes running on their own thread. */
export interface LiveProbes {
  /** The probes answered (or failed) so far, as traffic samples of route class `live`. */
  samples(): readonly Sample[];
  /** The probing thread's own longest timer delay, in ms, once it has stopped (undefined before). */
  loopMaxMs(): number | undefined;
  /** The spans during which the probing thread could not run (its timer late by `STALL_THRESHOLD_MS` or more). */
  stalls(): readonly Stall[];
  /** Whether the thread ran at `PROBER_PRIORITY`, once it has stopped (undefined before). */
  priorityRaised(): boolean | undefined;
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
    stallThresholdMs: STALL_THRESHOLD_MS,
    priority: PROBER_PRIORITY,
  };
  const worker = new Worker(new URL(`./live-probe-thread${extension}`, import.meta.url), { workerData: data });
  const samples: Sample[] = [];
  const stalls: Stall[] = [];
  let failure: Error | undefined;
  let loopMaxMs: number | undefined;
  let priorityRaised: boolean | undefined;
  const stopped = new Promise<void>((resolve) => {
    worker.on('message', (message: ProbeMessage | StallMessage | StoppedMessage) => {
      if (message.kind === 'stall') {
        stalls.push({ from: message.from, to: message.to });
        return;
      }
      if (message.kind === 'stopped') {
        loopMaxMs = message.loopMaxMs;
        priorityRaised = message.priorityRaised;
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
    stalls: () => stalls,
    priorityRaised: () => priorityRaised,
    async stop() {
      worker.postMessage('stop');
      // A thread that does not end its last probe in time is ended all the same.
      await withTimeout(stopped, limits.requestTimeoutMs + STOP_GRACE_MS, 'stopping the liveness probes').catch(
        () => {},
      );
      await worker.terminate();
      if (failure) throw new Error(`the liveness probe thread failed: ${failure.message}`, { cause: failure });
    },
  };
}
