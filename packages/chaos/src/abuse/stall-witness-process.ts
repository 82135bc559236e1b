/**
 * A process that only watches the clock (started by `startStallWitness`): every 10 ms it checks how late its
 * timer ran, and writes each delay of at least the threshold as `<from> <to>` (epoch ms) on a line. It uses
 * next to no CPU and asks for a raised priority, so a long delay here means the whole machine stopped (a
 * hypervisor, the kernel), not that the cores were busy. Only `node:` modules: it runs as it is, compiled or
 * as TypeScript.
 *
 * Arguments: threshold in ms, longest life in ms, nice value to ask for. First line: `ready raised` or
 * `ready normal` (the system refused the priority). It exits at its time limit, or when its stdin closes.
 */
import { setPriority } from 'node:os';
import { performance } from 'node:perf_hooks';
import { argv, exit, stdin, stdout } from 'node:process';

const TICK_MS = 10;
const [thresholdMs = 50, maxDurationMs = 60_000, priority = -10] = argv.slice(2).map(Number);
let raised = true;
try {
  setPriority(priority);
} catch {
  raised = false;
}
const deadline = Date.now() + maxDurationMs;
let last = performance.now();
const timer = setInterval(() => {
  const tick = performance.now();
  const late = Math.round(tick - last - TICK_MS);
  last = tick;
  const now = Date.now();
  if (late >= thresholdMs) stdout.write(`${now - late} ${now}\n`);
  if (now >= deadline) {
    clearInterval(timer);
    exit(0);
  }
}, TICK_MS);
stdin.on('end', () => exit(0));
stdin.resume();
stdout.write(`ready ${raised ? 'raised' : 'normal'}\n`);
