import { dealKeys, freePort, startService } from '@registry/testkit';
import { describe, expect, it } from 'vitest';
import { connectRemoteTarget, runStream, type Stream } from '../src/index.js';

const API_KEY = 'load-run-key-0123456789';

// Five reads of a registry route at 5 per second on one connection: enough to see each answer's status.
const registryReads: Stream = {
  name: 'registry_reads',
  requests: [{ method: 'GET', path: '/api/v1/models/load-model', weight: 1 }],
  load: { executor: 'constant-arrival-rate', rate: 5, vus: 1 },
  thresholds: { maxErrorRate: 1, p95Ms: 10_000, p99Ms: 10_000 },
};

describe('connectRemoteTarget', () => {
  it('sends the API key with every request to a service that runs with API_KEYS, and only then gets past auth', async () => {
    const closedPort = await freePort();
    await using service = await startService({
      env: { API_KEYS: API_KEY, MLFLOW_TRACKING_URI: `http://127.0.0.1:${closedPort}` },
    });
    const withKey = await connectRemoteTarget(service.url, undefined, 'mlflow', [API_KEY]);
    const withoutKey = await connectRemoteTarget(service.url);

    const keyed = await runStream(withKey.serviceUrl, registryReads, 1, { apiKeys: dealKeys(withKey.apiKeys) });
    const anonymous = await runStream(withoutKey.serviceUrl, registryReads, 1, {
      apiKeys: dealKeys(withoutKey.apiKeys),
    });

    expect(keyed.requests).toBeGreaterThan(0);
    expect(keyed.statuses['401']).toBeUndefined();
    expect(anonymous.statuses).toEqual({ 401: anonymous.requests });
  });
});
