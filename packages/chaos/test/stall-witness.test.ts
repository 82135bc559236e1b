import { setTimeout as delay } from 'node:timers/promises';
import { waitFor } from '@registry/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { STALL_THRESHOLD_MS, type StallWitness, startStallWitness } from '../src/index.js';

const started: StallWitness[] = [];
afterEach(async () => {
  for (const witness of started.splice(0)) {
    if (running(witness.pid)) process.kill(witness.pid, 'SIGCONT');
    await witness.stop();
  }
});

/** Whether the process `pid` still exists. */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startStallWitness', () => {
  it('records a span during which it could not run, as a machine that stood still would make it', async () => {
    const witness = await startStallWitness(30_000);
    started.push(witness);
    const stoppedAt = Date.now();
    process.kill(witness.pid, 'SIGSTOP');
    await delay(400); // the stimulus: 400 ms without a core
    process.kill(witness.pid, 'SIGCONT');
    const resumedAt = Date.now();
    await waitFor(() => witness.stalls().some((stall) => stall.to - stall.from >= 300), {
      timeoutMs: 5_000,
      intervalMs: 10,
      what: 'the witness to record its stall',
    });

    const stall = witness.stalls().find((s) => s.to - s.from >= 300);
    expect(stall?.from).toBeGreaterThanOrEqual(stoppedAt - 50);
    expect(stall?.to).toBeLessThanOrEqual(Date.now());
    expect(stall?.to).toBeGreaterThanOrEqual(resumedAt - 50);
    // Delays shorter than the threshold are an ordinary busy machine's: never recorded.
    expect(witness.stalls().every((s) => s.to - s.from >= STALL_THRESHOLD_MS)).toBe(true);
  });

  it('ends its process when stopped, and by itself after its time limit', async () => {
    const stopped = await startStallWitness(30_000);
    await stopped.stop();
    expect(running(stopped.pid)).toBe(false);

    const limited = await startStallWitness(200);
    started.push(limited);
    await waitFor(() => !running(limited.pid), { timeoutMs: 5_000, intervalMs: 20, what: 'the witness to end itself' });
  });
});
