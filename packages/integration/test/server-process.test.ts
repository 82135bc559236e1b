import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { SETTINGS } from '@registry/service';
import { createRegistryClient, METRICS } from '@registry/service/client';
import {
  fetchJson,
  freePort,
  listensOn,
  onFreePort,
  serviceEntryPoint,
  startService,
  waitFor,
} from '@registry/testkit';
import { describe, expect, it, vi } from 'vitest';

/** A stand-in MLflow on loopback that holds every request until the test releases it. */
async function startHeldMlflow() {
  const held: ServerResponse[] = [];
  const server = createServer((_request: IncomingMessage, response: ServerResponse) => {
    held.push(response);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    heldCount: () => held.length,
    release() {
      for (const response of held.splice(0)) {
        response
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ registered_model: { name: 'held' } }));
      }
    },
    [Symbol.asyncDispose]: async () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

describe('Service process', () => {
  it('exits non-zero before listening and names every bad variable', () => {
    const result = spawnSync(process.execPath, [serviceEntryPoint()], {
      env: { ...process.env, PORT: 'eighty', MLFLOW_CB_FAILURE_THRESHOLD: '-1', MLFLOW_REQUEST_TIMEOUT: '0' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('PORT: expected a whole number');
    expect(result.stderr).toContain('MLFLOW_CB_FAILURE_THRESHOLD: expected a whole number');
    expect(result.stderr).toContain('MLFLOW_REQUEST_TIMEOUT: expected a number of seconds above 0');
  });

  it('stays live and ready with MLflow on a closed port and fails MLflow-bound calls fast', async () => {
    const closedPort = await freePort();
    await using service = await startService({
      env: { MLFLOW_TRACKING_URI: `http://127.0.0.1:${closedPort}`, MLFLOW_HEALTH_PROBE_INTERVAL: '0.2' },
    });
    expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
    await waitFor(
      async () =>
        (await fetchJson<{ circuit_breaker: { state: string } }>(`${service.url}/health/status`)).body.circuit_breaker
          .state === 'open',
      { timeoutMs: 15_000, what: 'the breaker to open from background probes' },
    );
    const ready = await fetch(`${service.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ degraded_mode: true });
    const client = createRegistryClient({ baseUrl: service.url });
    const refusedBefore = (await client.metrics()).value(METRICS.breakerRejections);
    const response = await fetchJson<{ code: string }>(`${service.url}/api/v1/models/anything`);
    expect(response.status).toBe(503);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(response.body.code).toBe('MLFLOW_CIRCUIT_OPEN');
    // The breaker refused the call itself (its refusal count went up): the request never waited on MLflow.
    expect((await client.metrics()).value(METRICS.breakerRejections)).toBe(refusedBefore + 1);
  });

  it('reports the commit it was built from and when, as stamped by the build', async () => {
    const closedPort = await freePort();
    await using service = await startService({ env: { MLFLOW_TRACKING_URI: `http://127.0.0.1:${closedPort}` } });
    const client = createRegistryClient({ baseUrl: service.url });
    const answer = await client.version();
    const head = spawnSync('git', ['rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ git_commit: head, name: '@registry/service' });
    if (answer.status === 200) expect(Date.parse(answer.body.build_date ?? '')).toBeLessThanOrEqual(Date.now());
  });

  it('runs with the settings its test gives, never with a service setting exported in the shell', async () => {
    vi.stubEnv('ENVIRONMENT', 'from-the-shell');
    try {
      const closedPort = await freePort();
      await using service = await startService({ env: { MLFLOW_TRACKING_URI: `http://127.0.0.1:${closedPort}` } });
      const answer = await createRegistryClient({ baseUrl: service.url }).version();
      expect(answer.body).toMatchObject({ environment: SETTINGS.ENVIRONMENT.default });
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('turns readiness 503 on SIGTERM, finishes in-flight requests and exits 0', async () => {
    await using mlflow = await startHeldMlflow();
    const service = await startService({
      env: { MLFLOW_TRACKING_URI: mlflow.url, MLFLOW_HEALTH_PROBE_INTERVAL: '0', SHUTDOWN_DRAIN_DELAY: '1' },
    });
    const inFlight = fetch(`${service.url}/api/v1/models/held`);
    await waitFor(() => mlflow.heldCount() === 1, { timeoutMs: 10_000, what: 'the request to reach MLflow' });
    process.kill(service.process.pid, 'SIGTERM');
    await waitFor(async () => (await fetch(`${service.url}/health/ready`)).status === 503, {
      timeoutMs: 10_000,
      what: 'readiness to answer 503 during the drain',
    });
    mlflow.release();
    const response = await inFlight;
    expect(response.status).toBe(200);
    expect(await service.process.exited).toBe(0);
  });
});

/** A listener on a loopback port nobody else uses, standing for whoever takes a chosen port first. */
async function occupyPort() {
  const server = createNetServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { port, [Symbol.asyncDispose]: async () => void server.close() };
}

/** An HTTP server on a free loopback port that answers every request 200 and counts them. */
async function startAnsweringServer() {
  let answered = 0;
  const server = createServer((_request, response) => {
    answered++;
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"alive"}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { port, answered: () => answered, [Symbol.asyncDispose]: async () => void server.close() };
}

describe('Starting a server on a free port', () => {
  it('starts the service on another port when the chosen one was taken before it listened', async () => {
    await using taken = await occupyPort();
    const closedPort = await freePort();
    const chosen: number[] = [];
    const choosePort = async () => {
      const port = chosen.length === 0 ? taken.port : await freePort();
      chosen.push(port);
      return port;
    };
    await using service = await onFreePort(
      (port) => startService({ env: { PORT: String(port), MLFLOW_TRACKING_URI: `http://127.0.0.1:${closedPort}` } }),
      { choosePort },
    );
    expect(chosen).toHaveLength(2);
    expect(chosen[0]).toBe(taken.port);
    expect(service.port).toBe(chosen[1]);
    expect((await fetch(`${service.url}/health/live`)).status).toBe(200);
  });

  it('does not take a server that answers on the chosen port for the one it started', async () => {
    // Another server that answers every request 200, as another replica's /health/live would.
    await using impostor = await startAnsweringServer();
    const closedPort = await freePort();
    let first = true;
    const choosePort = async () => {
      const port = first ? impostor.port : await freePort();
      first = false;
      return port;
    };
    await using service = await onFreePort(
      (port) => startService({ env: { PORT: String(port), MLFLOW_TRACKING_URI: `http://127.0.0.1:${closedPort}` } }),
      { choosePort },
    );
    expect(service.port).not.toBe(impostor.port);
    expect(await listensOn(service.process.pid, service.port)).toBe(true);
    expect(await listensOn(service.process.pid, impostor.port)).toBe(false);
    expect(impostor.answered()).toBe(0);
  });

  it('does not try again when the start failed for another reason than a taken port', async () => {
    let starts = 0;
    const failing = onFreePort(async () => {
      starts++;
      throw new Error('the configuration was refused');
    });
    await expect(failing).rejects.toThrow('the configuration was refused');
    expect(starts).toBe(1);
  });

  it('gives up after three taken ports with the last failure', async () => {
    await using taken = await occupyPort();
    let starts = 0;
    const failing = onFreePort(
      async (port) => {
        starts++;
        throw new Error(`listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
      },
      { choosePort: async () => taken.port },
    );
    await expect(failing).rejects.toThrow(`EADDRINUSE: address already in use 127.0.0.1:${taken.port}`);
    expect(starts).toBe(3);
  });
});
