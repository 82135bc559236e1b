import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  HAPROXY_BACKEND,
  HAPROXY_CONNECT_TIMEOUT_MS,
  type HaproxyHandle,
  haproxyConfig,
  SERVED_BY_HEADER,
  startHaproxy,
  waitFor,
} from '@registry/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type BackendSample,
  chaosFleet,
  defaultConcurrency,
  FIXED_HEALTH_CHECK,
  haproxyCheck,
  INCIDENT_HEALTH_CHECK,
  isOutOfService,
  loadBalancerView,
  type Sample,
  waitForServersUp,
} from '../src/index.js';

/** A replica stand-in on loopback whose health route answers 200 or 503 as the test says. */
async function backend(name: string): Promise<{ server: Server; port: number; healthy: { value: boolean } }> {
  const healthy = { value: true };
  const server = createServer((request, response) => {
    if (request.url === '/check' && !healthy.value) response.statusCode = 503;
    response.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, healthy };
}

const CHECK = { path: '/check', intervalMs: 200, timeoutMs: 100, rise: 2, fall: 2 };
const started: { close(): Promise<void> }[] = [];

afterEach(async () => {
  for (const item of started.splice(0).reverse()) await item.close();
});

async function twoReplicas(): Promise<{ haproxy: HaproxyHandle; healthy: { value: boolean }[] }> {
  const replicas = await Promise.all([backend('one'), backend('two')]);
  for (const { server } of replicas) {
    started.push({ close: () => new Promise((resolve) => server.close(() => resolve())) });
  }
  const haproxy = await startHaproxy({
    servers: replicas.map(({ port }, index) => ({ name: `replica-${index + 1}`, host: '127.0.0.1', port })),
    check: CHECK,
  });
  started.push({ close: haproxy.stop });
  return { haproxy, healthy: replicas.map((replica) => replica.healthy) };
}

describe('The load balancer settings', () => {
  it('gives HAProxy the target group check of the fix, 20 times faster', () => {
    expect(chaosFleet()).toEqual({
      replicas: 2,
      loadBalancer: { path: '/health/live', intervalMs: 1500, timeoutMs: 500, rise: 2, fall: 3 },
      loadBalancerRetries: true,
    });
  });

  it('replays the incident with the pre-fix check: /health/mlflow, 2 failures, 5 s timeout', () => {
    expect(haproxyCheck(INCIDENT_HEALTH_CHECK, 20)).toEqual({
      path: '/health/mlflow',
      intervalMs: 1500,
      timeoutMs: 250,
      rise: 3,
      fall: 2,
    });
  });

  it('writes the check, the 200-299 matcher, retries and the served-by header into the configuration', () => {
    const config = haproxyConfig({
      port: 8080,
      socket: '/tmp/admin.sock',
      servers: [{ name: 'replica-1', host: '127.0.0.1', port: 9000 }],
      check: haproxyCheck(FIXED_HEALTH_CHECK, 20),
    });
    expect(config).toContain('option httpchk GET /health/live');
    expect(config).toContain('http-check expect rstatus ^2[0-9][0-9]$');
    expect(config).toContain('default-server check inter 1500ms rise 2 fall 3');
    expect(config).toContain('timeout check 500ms');
    expect(config).toContain('option redispatch 1');
    expect(config).toContain(`http-response set-header ${SERVED_BY_HEADER} %s`);
    expect(config).toContain('server replica-1 127.0.0.1:9000');
  });
});

describe('Experiments side by side', () => {
  it.each([
    [1, 2],
    [2, 3],
    [4, 5],
    [16, 8],
  ])('runs %i-core machines with %i lanes by default (one per core plus one, at most 8)', (cores, lanes) => {
    expect(defaultConcurrency(cores)).toBe(lanes);
  });
});

describe('A load balancer view', () => {
  const sample = (at: number, one: string, two: string): BackendSample => ({
    at,
    servers: { 'replica-1': one, 'replica-2': two },
  });
  const request = (servedBy: string | undefined, status: number | null = 200): Sample => ({
    routeClass: 'core',
    at: 0,
    status,
    latencyMs: 1,
    servedBy,
  });

  it('counts total outage only while every server is out of service', () => {
    const view = loadBalancerView(
      'before-fix',
      CHECK,
      [
        sample(0, 'UP', 'UP'),
        sample(100, 'DOWN', 'UP 1/2'),
        sample(300, 'DOWN', 'DOWN'),
        sample(1_300, 'DOWN 1/3', 'UP'),
      ],
      [],
      2_000,
    );
    expect(view).toMatchObject({ everDown: true, everAllDown: true, outageMs: 1_000 });
  });

  it('counts as lost the requests HAProxy answered itself or nobody answered', () => {
    const view = loadBalancerView(
      'fixed',
      CHECK,
      [sample(0, 'UP', 'UP')],
      [request('replica-1'), request(undefined, 503), request('replica-2', 503), request(undefined, null)],
      1_000,
    );
    expect(view).toMatchObject({ everDown: false, everAllDown: false, outageMs: 0, requests: 4, lost: 2 });
  });

  it.each([
    ['UP', false],
    ['UP 1/3', false],
    ['DRAIN', false],
    ['DOWN', true],
    ['DOWN 1/2', true],
    ['MAINT', true],
  ])('treats HAProxy state %s as out of service: %s', (status, out) => {
    expect(isOutOfService(status)).toBe(out);
  });
});

describe('HAProxy in front of replicas (real HAProxy)', () => {
  it('balances over both replicas and names the one that answered', async () => {
    const { haproxy } = await twoReplicas();
    await waitForServersUp(haproxy);
    const answers = [];
    for (let i = 0; i < 4; i += 1) {
      const response = await fetch(`${haproxy.url}/anything`);
      answers.push([response.headers.get(SERVED_BY_HEADER), await response.text()]);
    }
    expect(answers.sort()).toEqual([
      ['replica-1', 'one'],
      ['replica-1', 'one'],
      ['replica-2', 'two'],
      ['replica-2', 'two'],
    ]);
  });

  it('marks a failing replica DOWN, keeps serving from the other, and answers 503 itself when none is left', async () => {
    const { haproxy, healthy } = await twoReplicas();
    await waitForServersUp(haproxy);
    (healthy[1] as { value: boolean }).value = false;
    await waitFor(async () => (await haproxy.servers()).find((s) => s.name === 'replica-2')?.status === 'DOWN', {
      timeoutMs: 5_000,
      what: 'replica-2 DOWN',
    });
    const served = await fetch(`${haproxy.url}/anything`);
    expect(served.headers.get(SERVED_BY_HEADER)).toBe('replica-1');
    (healthy[0] as { value: boolean }).value = false;
    await waitFor(async () => (await haproxy.servers()).every((s) => s.status === 'DOWN'), {
      timeoutMs: 5_000,
      what: 'every server DOWN',
    });
    const refused = await fetch(`${haproxy.url}/anything`);
    expect([refused.status, refused.headers.get(SERVED_BY_HEADER)]).toEqual([503, null]);
    expect(await refused.text()).toContain('No server is available');
  });

  it('drains a replica through the runtime API and sends it nothing new', async () => {
    const { haproxy } = await twoReplicas();
    await waitForServersUp(haproxy);
    await haproxy.setServerState('replica-1', 'drain');
    expect((await haproxy.servers()).map((s) => s.status)).toEqual(['DRAIN', 'UP']);
    const servedBy = new Set<string | null>();
    for (let i = 0; i < 4; i += 1) servedBy.add((await fetch(`${haproxy.url}/x`)).headers.get(SERVED_BY_HEADER));
    expect([...servedBy]).toEqual(['replica-2']);
  });

  it('retries a dead server after its connect timeout, not after 1 s, when no other server is up', async () => {
    const dead = await backend('dead');
    await new Promise<void>((resolve) => dead.server.close(() => resolve()));
    const haproxy = await startHaproxy({
      servers: [{ name: 'replica-1', host: '127.0.0.1', port: dead.port }],
      check: { ...CHECK, intervalMs: 60_000, fall: 3 },
    });
    started.push({ close: haproxy.stop });
    // The first check marks it DOWN; forced UP, it stays UP until the next check a minute later, so every
    // request meets a failed connection with no other server up: the case of a replica killed as it goes DOWN.
    await waitFor(async () => (await haproxy.servers())[0]?.status === 'DOWN', { timeoutMs: 5_000, what: 'DOWN' });
    await haproxy.command(`set server ${HAPROXY_BACKEND}/replica-1 health up`);
    expect((await haproxy.servers())[0]?.status).toBe('UP');
    const begun = performance.now();
    const refused = await fetch(`${haproxy.url}/anything`);
    const elapsedMs = performance.now() - begun;
    expect([refused.status, refused.headers.get(SERVED_BY_HEADER)]).toEqual([503, null]);
    // Three retries, each after the turn-around wait: about 750 ms; HAProxy's default of 1 s makes it 3 s.
    expect(elapsedMs).toBeGreaterThanOrEqual(3 * HAPROXY_CONNECT_TIMEOUT_MS - 50);
    expect(elapsedMs).toBeLessThan(2_500);
  });

  it('refuses a runtime command for a server it does not have, naming it', async () => {
    const { haproxy } = await twoReplicas();
    await expect(haproxy.setServerState('replica-9', 'drain')).rejects.toThrow(
      'HAProxy refused "set server replicas/replica-9 state drain": No such server.',
    );
  });
});
