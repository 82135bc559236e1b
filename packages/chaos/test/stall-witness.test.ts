import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { waitFor } from '@registry/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_TRAFFIC_LIMITS,
  judgeLiveness,
  LIVE_MAX_MS,
  STALL_THRESHOLD_MS,
  type StallWitness,
  startLiveProbes,
  startStallWitness,
} from '../src/index.js';

const started: StallWitness[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const witness of started.splice(0)) {
    if (isRunning(witness.pid)) process.kill(witness.pid, 'SIGCONT');
    await witness.stop();
  }
});

/** Whether the process `pid` still exists. */
function isRunning(pid: number): boolean {
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
    await waitFor(() => witness.stalls().some((stall) => stall.to >= resumedAt - 50 && stall.to - stall.from >= 300), {
      timeoutMs: 5_000,
      intervalMs: 10,
      what: 'the witness to record its stall',
    });

    // The stall that spans the stop (the machine may have stalled at other times too).
    const stall = witness.stalls().find((s) => s.from <= stoppedAt + 50 && s.to >= resumedAt - 50);
    expect(stall?.from).toBeGreaterThanOrEqual(stoppedAt - 50);
    expect(stall?.to).toBeLessThanOrEqual(Date.now());
    expect(stall?.to).toBeGreaterThanOrEqual(resumedAt - 50);
    // Delays shorter than the threshold are an ordinary busy machine's: never recorded.
    expect(witness.stalls().every((s) => s.to - s.from >= STALL_THRESHOLD_MS)).toBe(true);
  });

  it('runs at a raised priority where the system allows it (as root)', async () => {
    const witness = await startStallWitness(30_000);
    started.push(witness);
    expect(witness.raised).toBe(process.getuid?.() === 0);
  });

  it('ends its process when stopped, and by itself after its time limit', async () => {
    const stopped = await startStallWitness(30_000);
    await stopped.stop();
    expect(isRunning(stopped.pid)).toBe(false);

    const limited = await startStallWitness(200);
    started.push(limited);
    await waitFor(() => !isRunning(limited.pid), {
      timeoutMs: 5_000,
      intervalMs: 20,
      what: 'the witness to end itself',
    });
  });

  it('leaves a service that blocks its own event loop failing the liveness judgement (negative control)', async () => {
    // A liveness server in a process of its own that holds its loop for 2.5 s when asked to.
    const script = `require('node:http').createServer((q, s) => {
        if (q.url === '/block') { const from = Date.now(); while (Date.now() - from < 2500) {} }
        s.end('{"alive":true}');
      }).listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n'); });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    const [line] = (await once(child.stdout as NonNullable<ChildProcess['stdout']>, 'data')) as [Buffer];
    const url = `http://127.0.0.1:${Number(line.toString().trim())}`;
    const witness = await startStallWitness(30_000);
    started.push(witness);
    const probes = startLiveProbes(url, { ...DEFAULT_TRAFFIC_LIMITS, tickMs: 50, requestTimeoutMs: 5_000 });
    await waitFor(() => probes.samples().length >= 2, { timeoutMs: 10_000, intervalMs: 10, what: 'two probes' });
    await (await fetch(`${url}/block`)).text();
    const unblocked = Date.now();
    await waitFor(() => probes.samples().some((s) => s.at > unblocked), {
      timeoutMs: 10_000,
      intervalMs: 10,
      what: 'a probe after the block',
    });
    await probes.stop();

    const verdict = judgeLiveness(probes.samples(), undefined, await witness.stop());
    expect(verdict.passed).toBe(false);
    // Nothing was taken off: the machine never stood still while the server held its own loop.
    expect(verdict.detail).not.toContain('without the');
    expect(Math.max(...probes.samples().map((s) => s.latencyMs))).toBeGreaterThan(LIVE_MAX_MS);
  });
});
