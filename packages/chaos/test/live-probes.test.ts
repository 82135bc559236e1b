import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@registry/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_TRAFFIC_LIMITS, startLiveProbes, type TrafficLimits } from '../src/index.js';

const FAST: TrafficLimits = { ...DEFAULT_TRAFFIC_LIMITS, tickMs: 20, requestTimeoutMs: 2_000 };
const LIVE_BODY = JSON.stringify({ alive: true, uptime_seconds: 1, memory_usage_mb: 123 });

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A loopback server on this thread, answering every request with `handler`. */
async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server: Server = createServer(handler);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(
    () => new Promise((resolve) => server.close(resolve)),
    () => server.closeAllConnections(),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A liveness server in a process of its own, so it answers while this thread is busy. */
async function serveElsewhere(): Promise<string> {
  const script = `require('node:http').createServer((q, s) => s.end(${JSON.stringify(LIVE_BODY)}))
    .listen(0, '127.0.0.1', function () { process.stdout.write(String(this.address().port) + '\\n'); });`;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => child.kill('SIGKILL'));
  const [line] = (await once(child.stdout as NonNullable<ChildProcess['stdout']>, 'data')) as [Buffer];
  return `http://127.0.0.1:${Number(line.toString().trim())}`;
}

describe('startLiveProbes', () => {
  it('records each probe of /health/live with its status and the resident memory the answer reports', async () => {
    const paths: string[] = [];
    const url = await serve((request, response) => {
      paths.push(request.url ?? '');
      response.end(LIVE_BODY);
    });
    const probes = startLiveProbes(url, FAST);
    await waitFor(() => probes.samples().length >= 3, { timeoutMs: 10_000, intervalMs: 10, what: '3 probes' });
    await probes.stop();

    expect(new Set(paths)).toEqual(new Set(['/health/live']));
    for (const sample of probes.samples()) {
      expect(sample).toMatchObject({ routeClass: 'live', status: 200, rssMb: 123 });
    }
  });

  it('reports its own longest timer delay and whether it ran at a raised priority once stopped, and neither before', async () => {
    const url = await serve((_request, response) => response.end(LIVE_BODY));
    const probes = startLiveProbes(url, FAST);
    await waitFor(() => probes.samples().length >= 2, { timeoutMs: 10_000, intervalMs: 10, what: '2 probes' });
    expect(probes.loopMaxMs()).toBeUndefined();
    expect(probes.priorityRaised()).toBeUndefined();
    await probes.stop();

    expect(probes.loopMaxMs()).toBeGreaterThanOrEqual(0);
    expect(probes.priorityRaised()).toBe(process.getuid?.() === 0);
  });

  it('records a probe without an answer as a sample without status', async () => {
    const url = await serve((request) => request.socket.destroy());
    const probes = startLiveProbes(url, FAST);
    await waitFor(() => probes.samples().length >= 1, { timeoutMs: 10_000, intervalMs: 10, what: 'a probe' });
    await probes.stop();

    expect(probes.samples()[0]).toMatchObject({ routeClass: 'live', status: null });
  });

  it('stops by itself after its tick limit', async () => {
    const url = await serve((_request, response) => response.end(LIVE_BODY));
    const probes = startLiveProbes(url, { ...FAST, maxTicks: 3 });
    await waitFor(() => probes.samples().length >= 3, { timeoutMs: 10_000, intervalMs: 10, what: '3 probes' });
    await probes.stop();

    expect(probes.samples()).toHaveLength(3);
  });

  it('keeps probing on time while the thread that started it is busy', async () => {
    const url = await serveElsewhere();
    const probes = startLiveProbes(url, FAST);
    cleanups.push(() => probes.stop());
    await waitFor(() => probes.samples().length >= 1, { timeoutMs: 10_000, intervalMs: 10, what: 'a first probe' });
    // Hold this thread as a flood's own callbacks would, then see whether probes went out meanwhile.
    const busyFrom = Date.now();
    while (Date.now() - busyFrom < 600) {
      // busy
    }
    const busyUntil = Date.now();
    await waitFor(() => probes.samples().some((s) => s.at > busyUntil), {
      timeoutMs: 10_000,
      intervalMs: 10,
      what: 'a probe after the busy spell',
    });

    const sentMeanwhile = probes.samples().filter((s) => s.at > busyFrom && s.at < busyUntil);
    expect(sentMeanwhile.length).toBeGreaterThan(0);
  });
});
