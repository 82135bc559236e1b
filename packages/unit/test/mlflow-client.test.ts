import { createMlflowClient, isMlflowError, type MlflowError } from '@registry/service';
import { afterEach, describe, expect, it, vi } from 'vitest';

const BASE = 'http://mlflow.test:5000';

function clientAnswering(respond: (url: string, init: RequestInit) => Promise<Response>) {
  const fetch = vi.fn(respond);
  return {
    client: createMlflowClient({ baseUrl: `${BASE}/`, timeoutMs: 2_000, fetch: fetch as typeof globalThis.fetch }),
    fetch,
  };
}

async function failure(promise: Promise<unknown>): Promise<MlflowError> {
  const error = await promise.catch((e: unknown) => e);
  if (!isMlflowError(error)) throw new Error(`expected an MlflowError, got ${String(error)}`);
  return error;
}

describe('MlflowClient', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('calls the registry REST endpoint with query parameters', async () => {
    const { client, fetch } = clientAnswering(async () => Response.json({ registered_model: { name: 'fraud' } }));
    await expect(client.getRegisteredModel('fraud')).resolves.toEqual({ name: 'fraud' });
    expect(fetch.mock.calls[0]?.[0]).toBe(`${BASE}/api/2.0/mlflow/registered-models/get?name=fraud`);
  });

  it('sends JSON bodies on writes', async () => {
    const { client, fetch } = clientAnswering(async () =>
      Response.json({ model_version: { name: 'm', version: '3' } }),
    );
    await client.transitionModelVersionStage({
      name: 'm',
      version: '3',
      stage: 'Staging',
      archiveExistingVersions: true,
    });
    const init = fetch.mock.calls[0]?.[1];
    expect(init?.method).toBe('POST');
    expect(JSON.parse(new TextDecoder().decode(init?.body as Uint8Array))).toEqual({
      name: 'm',
      version: '3',
      stage: 'Staging',
      archive_existing_versions: true,
    });
  });

  it('reports a refused connection as unreachable with the cause', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const { client } = clientAnswering(async () => {
      throw new TypeError('fetch failed', { cause: refused });
    });
    const error = await failure(client.ping());
    expect(error.kind).toBe('unreachable');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.cause).toBeInstanceOf(TypeError);
  });

  it('aborts and reports a timeout after the request timeout', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { client } = clientAnswering(
      (_url, init) =>
        new Promise((_resolve, reject) => {
          init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
        }),
    );
    const pending = failure(client.ping());
    await vi.advanceTimersByTimeAsync(2_000);
    expect((await pending).kind).toBe('timeout');
  });

  it('reports a 5xx answer as an upstream failure', async () => {
    const { client } = clientAnswering(async () => new Response('<html>oops</html>', { status: 503 }));
    const error = await failure(client.ping());
    expect([error.kind, error.status]).toEqual(['upstream', 503]);
  });

  it('reports malformed JSON as malformed, not as a crash', async () => {
    const { client } = clientAnswering(async () => new Response('{"registered_models": [', { status: 200 }));
    expect((await failure(client.searchRegisteredModels({}))).kind).toBe('malformed');
  });

  it('reports a body missing required fields as malformed', async () => {
    const { client } = clientAnswering(async () => Response.json({ model_version: { source: 'x' } }));
    expect((await failure(client.getModelVersion('m', '1'))).kind).toBe('malformed');
  });

  it('reports an MLflow error answer as an api error with its error_code', async () => {
    const { client } = clientAnswering(async () =>
      Response.json({ error_code: 'RESOURCE_ALREADY_EXISTS', message: 'exists' }, { status: 400 }),
    );
    const error = await failure(client.createRegisteredModel('m'));
    expect([error.kind, error.errorCode, error.message]).toEqual(['api', 'RESOURCE_ALREADY_EXISTS', 'exists']);
  });

  it('reports a 4xx without an error body as malformed', async () => {
    const { client } = clientAnswering(async () => new Response('nope', { status: 404 }));
    expect((await failure(client.ping())).kind).toBe('malformed');
  });

  it('returns a forwarded 5xx answer for the pass-through to relay instead of throwing it', async () => {
    const { client } = clientAnswering(async () => Response.json({ error_code: 'INTERNAL_ERROR' }, { status: 500 }));
    const response = await client.forward({ method: 'GET', pathAndQuery: '/x', headers: {}, body: undefined });
    expect(response.status).toBe(500);
  });
});
