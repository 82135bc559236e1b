import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { withTimeout } from '@registry/service';
import type { Stall } from '../liveness.js';

/** A process that only watches the clock, recording when the whole machine stalled. */
export interface StallWitness {
  /** The witness's process id. */
  readonly pid: number;
  /**
   * Whether it runs at `PROBER_PRIORITY`: only then is a delay it records the machine's (at the ordinary
   * priority it would also record cores kept busy by others).
   */
  readonly raised: boolean;
  /** The stalls seen so far, oldest first. */
  stalls(): readonly Stall[];
  /** Ends the process and waits for its last lines. */
  stop(): Promise<readonly Stall[]>;
}

/** Shortest timer delay the witness records: shorter ones are an ordinary busy machine's. */
export const STALL_THRESHOLD_MS = 50;
/**
 * The nice value the prober (the liveness probe thread, the witness) asks for: it stands for a load balancer
 * on a machine of its own, which the attacker's processes could not starve. The service keeps 0.
 */
export const PROBER_PRIORITY = -10;
/** Longest `start` and `stop` wait for the process. */
const WITNESS_WAIT_MS = 10_000;

/**
 * Starts the witness (`stall-witness-process.ts`) and resolves once it watches. It stops by itself after
 * `maxDurationMs`, or when this process goes.
 */
export async function startStallWitness(maxDurationMs: number): Promise<StallWitness> {
  // Compiled, this module is a .js file beside the process's .js; under vitest both are the .ts sources.
  const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const script = new URL(`./stall-witness-process${extension}`, import.meta.url);
  const child = spawn(
    process.execPath,
    [fileURLToPath(script), String(STALL_THRESHOLD_MS), String(maxDurationMs), String(PROBER_PRIORITY)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  // Its stdin only tells it to end: a witness that ended by itself first must not fail `stop` (EPIPE).
  child.stdin.on('error', () => {});
  const stalls: Stall[] = [];
  const exited = once(child, 'close');
  let raised = false;
  let resolveReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    resolveReady = resolve;
  });
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.startsWith('ready ')) {
      raised = line === 'ready raised';
      return resolveReady();
    }
    const [from, to] = line.split(' ').map(Number);
    if (Number.isFinite(from) && Number.isFinite(to)) stalls.push({ from: from as number, to: to as number });
  });
  const gone = exited.then(([code]) => {
    throw new Error(`the stall witness exited (code ${code}) before it was ready`);
  });
  gone.catch(() => {});
  try {
    await withTimeout(Promise.race([ready, gone]), WITNESS_WAIT_MS, 'starting the stall witness');
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    pid: child.pid as number,
    raised,
    stalls: () => stalls,
    async stop() {
      child.stdin.end();
      await withTimeout(exited, WITNESS_WAIT_MS, 'stopping the stall witness').catch(() => {
        child.kill('SIGKILL');
      });
      return stalls;
    },
  };
}
