/**
 * A process that only watches the clock (started by `startStallWitness`): every 10 ms it checks how late its
 * timer ran, and writes each delay of at least the threshold as `<from> <to>` (epoch ms) on a line. It uses
 * next to no CPU, so a long delay here means the whole machine stopped (a hypervisor, the kernel, every core
 * taken), not that one process was slow. Only `node:` modules: it runs as it is, compiled or as TypeScript.
 *
 * Arguments: threshold in ms, longest life in ms. It exits at that limit, or when its stdin closes.
 */
import { argv, exit, stdin, stdout } from 'node:process';

const TICK_MS = 10;
const [thresholdMs = 50, maxDurationMs = 60_000] = argv.slice(2).map(Number);
const deadline = Date.now() + maxDurationMs;
let last = Date.now();
const timer = setInterval(() => {
  const now = Date.now();
  const late = now - last - TICK_MS;
  last = now;
  if (late >= thresholdMs) stdout.write(`${now - late} ${now}\n`);
  if (now >= deadline) {
    clearInterval(timer);
    exit(0);
  }
}, TICK_MS);
stdin.on('end', () => exit(0));
stdin.resume();
stdout.write('ready\n');
