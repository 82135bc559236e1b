import type { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import {
  createMlflowClient,
  FORWARDED_RESPONSE_HEADERS,
  isMlflowError,
  loadConfig,
  type MlflowError,
} from '@registry/service';
import { afterEach, describe, expect, it, vi } from 'vitest';

const BASE = 'http://mlflow.test:5000';

type MlflowClientOptions = Parameters<typeof createMlflowClient>[0];

function clientAnswering(
  respond: (url: string, init: RequestInit) => Promise<Response>,
  options: Partial<MlflowClientOptions> = {},
) {
  const fetch = vi.fn(respond);
  return {
    client: createMlflowClient({
      baseUrl: `${BASE}/`,
      timeoutMs: 2_000,
      fetch: fetch as typeof globalThis.fetch,
      ...options,
    }),
    fetch,
  };
}

/** The headers of the `index`th request the stub fetch received. */
function sentHeaders(fetch: ReturnType<typeof clientAnswering>['fetch'], index = 0): Headers {
  const call = fetch.mock.calls[index];
  if (!call) throw new Error(`fetch was not called ${index + 1} time(s)`);
  return new Headers(call[1].headers);
}

/** A response body the test feeds chunk by chunk; it errors when the request is aborted, as fetch's does. */
function feedableBody(signal: AbortSignal | null | undefined) {
  let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  signal?.addEventListener('abort', () => controller?.error(signal.reason));
  return {
    stream,
    push: (chunk: string) => controller?.enqueue(new TextEncoder().encode(chunk)),
    end: () => controller?.close(),
  };
}

const forwardRequest = (extra: { untimedBody?: boolean; headers?: Record<string, string> } = {}) => ({
  method: 'GET',
  pathAndQuery: '/api/2.0/mlflow-artifacts/artifacts/1/model.pkl',
  headers: extra.headers ?? {},
  body: undefined,
  untimedBody: extra.untimedBody,
});

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

  it('returns the model MLflow created', async () => {
    const { client } = clientAnswering(async () => Response.json({ registered_model: { name: 'churn' } }));
    await expect(client.createRegisteredModel('churn')).resolves.toEqual({ name: 'churn' });
  });

  it('reports an empty answer as malformed', async () => {
    const { client } = clientAnswering(async () => new Response(''));
    expect((await failure(client.getRegisteredModel('m'))).kind).toBe('malformed');
  });

  it("reports a connection failure without a code by its cause's message", async () => {
    const { client } = clientAnswering(async () => {
      throw new TypeError('fetch failed', { cause: new Error('other side closed') });
    });
    const error = await failure(client.ping());
    expect([error.kind, error.message]).toEqual([
      'unreachable',
      'MLflow could not be reached for GET /api/2.0/mlflow/registered-models/search: other side closed',
    ]);
  });

  it('reports a rejection that is not an Error as unreachable', async () => {
    const { client } = clientAnswering(() => Promise.reject('socket gone'));
    const error = await failure(client.ping());
    expect([error.kind, error.message]).toEqual([
      'unreachable',
      'MLflow could not be reached for GET /api/2.0/mlflow/registered-models/search: socket gone',
    ]);
  });

  it('probes with a search for a random name of its own, so that what clients stored never sizes the probe', async () => {
    const urls: URL[] = [];
    const answer = async (url: string) => {
      urls.push(new URL(url));
      return Response.json({ registered_models: [] });
    };
    const first = clientAnswering(answer).client;
    const second = clientAnswering(answer).client;
    await first.ping();
    await first.ping();
    await second.ping();
    const filters = urls.map((url) => url.searchParams.get('filter'));
    expect(urls.map((url) => url.pathname)).toEqual(Array(3).fill('/api/2.0/mlflow/registered-models/search'));
    expect(filters[0]).toMatch(/^name = 'registry-probe-[0-9a-f-]{36}'$/);
    expect(filters[1]).toBe(filters[0]);
    expect(filters[2]).not.toBe(filters[0]);
    expect(urls.map((url) => url.searchParams.get('max_results'))).toEqual(['1', '1', '1']);
  });

  it('uses the global fetch when given none, looked up at each call so msw can patch it later', async () => {
    const client = createMlflowClient({ baseUrl: BASE, timeoutMs: 2_000 });
    const fetch = vi.fn(async () => Response.json({ registered_models: [] }));
    vi.stubGlobal('fetch', fetch);
    try {
      await client.ping();
    } finally {
      vi.unstubAllGlobals();
    }
    expect(fetch).toHaveBeenCalledTimes(1);
  });

  describe('credentials', () => {
    it('sends the configured MLFLOW_TRACKING_TOKEN as a bearer token', async () => {
      const { authorization } = loadConfig({ MLFLOW_TRACKING_TOKEN: 'tok-123' }).mlflow;
      const { client, fetch } = clientAnswering(async () => Response.json({ registered_models: [] }), {
        authorization,
      });
      await client.ping();
      expect(sentHeaders(fetch).get('authorization')).toBe('Bearer tok-123');
    });

    it('sends MLFLOW_TRACKING_USERNAME and PASSWORD as basic authentication', async () => {
      const { authorization } = loadConfig({
        MLFLOW_TRACKING_USERNAME: 'alice',
        MLFLOW_TRACKING_PASSWORD: 'pa:ss wörd',
      }).mlflow;
      const { client, fetch } = clientAnswering(async () => Response.json({ registered_models: [] }), {
        authorization,
      });
      await client.ping();
      const expected = `Basic ${Buffer.from('alice:pa:ss wörd', 'utf8').toString('base64')}`;
      expect(sentHeaders(fetch).get('authorization')).toBe(expected);
    });

    it("replaces a forwarded request's credentials with the service's own", async () => {
      const { client, fetch } = clientAnswering(async () => new Response('ok'), { authorization: 'Bearer service' });
      await client.forward(
        forwardRequest({ headers: { authorization: 'Bearer client', cookie: 'a=b', accept: 'application/json' } }),
      );
      const headers = sentHeaders(fetch);
      expect(headers.get('authorization')).toBe('Bearer service');
      expect(headers.has('cookie')).toBe(false);
      expect(headers.get('accept')).toBe('application/json');
    });

    it("drops a forwarded request's credentials when the service has none", async () => {
      const { client, fetch } = clientAnswering(async () => new Response('ok'));
      await client.forward(forwardRequest({ headers: { authorization: 'Bearer client', 'x-api-key': 'key' } }));
      expect([...sentHeaders(fetch).keys()]).toEqual([]);
    });
  });

  describe('size cap', () => {
    const high = 1024 * 1024;
    it.each([
      [
        'a registry call',
        (client: ReturnType<typeof createMlflowClient>) => client.ping(),
        { maxResponseBytes: high, maxApiResponseBytes: 1024 },
      ],
      [
        'a forwarded request',
        (client: ReturnType<typeof createMlflowClient>) => client.forward(forwardRequest()),
        { maxResponseBytes: 1024, maxApiResponseBytes: high },
      ],
    ])(
      'fails %s as too_large from the declared length over its own cap without reading the body',
      async (_what, call, caps) => {
        const pull = vi.fn();
        const cancel = vi.fn();
        const { client } = clientAnswering(
          async () =>
            new Response(new ReadableStream({ pull, cancel }, { highWaterMark: 0 }), {
              headers: { 'content-length': '5000' },
            }),
          caps,
        );
        const error = await failure(call(client));
        expect(error.kind).toBe('too_large');
        expect(pull).not.toHaveBeenCalled();
        expect(cancel).toHaveBeenCalled();
      },
    );

    it('fails a registry call as too_large once a streamed body passes MLFLOW_API_MAX_BYTES, however high the relay cap', async () => {
      const { client } = clientAnswering(
        async () => new Response(new Blob(['{"registered_models":[', ' '.repeat(2048), ']}']).stream()),
        { maxResponseBytes: high, maxApiResponseBytes: 1024 },
      );
      expect((await failure(client.searchRegisteredModels({}))).kind).toBe('too_large');
    });

    it('reads a registry answer of exactly MLFLOW_API_MAX_BYTES, declared or streamed', async () => {
      const body = `{"registered_models":[${' '.repeat(1000)}]}`;
      const declared = clientAnswering(
        async () => new Response(body, { headers: { 'content-length': String(body.length) } }),
        { maxApiResponseBytes: body.length },
      ).client;
      expect(await declared.searchRegisteredModels({})).toEqual({ registered_models: [] });
      const streamed = clientAnswering(async () => new Response(new Blob([body]).stream()), {
        maxApiResponseBytes: body.length,
      }).client;
      expect(await streamed.searchRegisteredModels({})).toEqual({ registered_models: [] });
    });

    it('names the call and the cap when a registry answer is too large', async () => {
      const declared = clientAnswering(
        async () => new Response('x'.repeat(2000), { headers: { 'content-length': '2000' } }),
        {
          maxApiResponseBytes: 1024,
        },
      ).client;
      expect((await failure(declared.ping())).message).toBe(
        "MLflow's answer to GET /api/2.0/mlflow/registered-models/search has 2000 bytes, over 1024",
      );
      const streamed = clientAnswering(async () => new Response(new Blob(['x'.repeat(2000)]).stream()), {
        maxApiResponseBytes: 1024,
      }).client;
      expect((await failure(streamed.ping())).message).toBe(
        "MLflow's answer to GET /api/2.0/mlflow/registered-models/search passed 1024 bytes",
      );
    });

    it('reads a registry answer over the relay cap whole when it is within MLFLOW_API_MAX_BYTES', async () => {
      const { client } = clientAnswering(
        async () => new Response(new Blob(['{"registered_models":[', ' '.repeat(2048), ']}']).stream()),
        { maxResponseBytes: 1024, maxApiResponseBytes: 4096 },
      );
      expect(await client.searchRegisteredModels({})).toEqual({ registered_models: [] });
    });

    it('relays an answer over MLFLOW_API_MAX_BYTES in full when it is within the relay cap', async () => {
      const { client } = clientAnswering(async () => new Response(new Blob(['a'.repeat(2048)]).stream()), {
        maxResponseBytes: 4096,
        maxApiResponseBytes: 1024,
      });
      const response = await client.forward(forwardRequest());
      expect(await text(response.body as Readable)).toHaveLength(2048);
    });

    it('errors a relayed stream once it passes the cap', async () => {
      const { client } = clientAnswering(
        async () => new Response(new Blob(['a'.repeat(800), 'b'.repeat(800)]).stream()),
        {
          maxResponseBytes: 1024,
        },
      );
      const response = await client.forward(forwardRequest());
      expect(response.status).toBe(200);
      const error = await text(response.body as Readable).catch((e: unknown) => e);
      expect(isMlflowError(error) && error.kind).toBe('too_large');
    });

    it('relays a body of exactly the cap in full', async () => {
      const { client } = clientAnswering(
        async () => new Response(new Blob(['a'.repeat(512), 'b'.repeat(512)]).stream()),
        {
          maxResponseBytes: 1024,
        },
      );
      const response = await client.forward(forwardRequest());
      expect(await text(response.body as Readable)).toHaveLength(1024);
    });
  });

  describe('forwarded answers', () => {
    it("relays MLflow's security headers and nothing outside the list", async () => {
      const { client } = clientAnswering(
        async () =>
          new Response('{}', {
            headers: {
              'content-type': 'application/json',
              'x-content-type-options': 'nosniff',
              'x-frame-options': 'SAMEORIGIN',
              'set-cookie': 'session=upstream',
              server: 'gunicorn',
            },
          }),
      );
      const response = await client.forward(forwardRequest());
      expect(response.headers).toMatchObject({
        'content-type': 'application/json',
        'x-content-type-options': 'nosniff',
        'x-frame-options': 'SAMEORIGIN',
      });
      expect(
        Object.keys(response.headers).every(
          (name) => (FORWARDED_RESPONSE_HEADERS as readonly string[]).includes(name) || name === 'content-length',
        ),
      ).toBe(true);
      expect(response.headers).not.toHaveProperty('set-cookie');
      expect(response.headers).not.toHaveProperty('server');
    });

    it('relays an answer without a body as one', async () => {
      const { client } = clientAnswering(async () => new Response(null, { status: 204 }));
      const response = await client.forward(forwardRequest());
      expect([response.status, response.body]).toEqual([204, null]);
    });

    it("relays MLflow's declared length for an unencoded body", async () => {
      const { client } = clientAnswering(async () => new Response('12345', { headers: { 'content-length': '5' } }));
      expect((await client.forward(forwardRequest())).headers['content-length']).toBe('5');
    });

    /** Reads a relayed body to its end: 'completed', or 'cut' when the relay ended it early. */
    const readToEnd = (body: Readable) =>
      text(body).then(
        () => 'completed',
        () => 'cut',
      );

    /** A client whose MLflow answers with bodies the test feeds chunk by chunk, under fake timers. */
    function clientWithFeedableBodies() {
      vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      const bodies: ReturnType<typeof feedableBody>[] = [];
      const { client } = clientAnswering(async (_url, init) => {
        const body = feedableBody(init.signal);
        bodies.push(body);
        return new Response(body.stream);
      });
      return { client, bodies };
    }

    it('keeps streaming an artifact body for longer than the request timeout while its chunks keep coming', async () => {
      const { client, bodies } = clientWithFeedableBodies();
      const response = await client.forward(forwardRequest({ untimedBody: true }));
      const received = text(response.body as Readable);
      // 6 s in all against a 2 s timeout, never 2 s without a chunk.
      for (const chunk of ['a;', 'b;', 'c;', 'd']) {
        bodies[0]?.push(chunk);
        await vi.advanceTimersByTimeAsync(1_500);
      }
      bodies[0]?.end();
      expect(await received).toBe('a;b;c;d');
    });

    it('cuts an artifact body after the request timeout without a chunk from MLflow', async () => {
      const { client, bodies } = clientWithFeedableBodies();
      const response = await client.forward(forwardRequest({ untimedBody: true }));
      const received = readToEnd(response.body as Readable);
      bodies[0]?.push('first;');
      await vi.advanceTimersByTimeAsync(2_000);
      expect(await received).toBe('cut');
    });

    it('cuts an artifact body its client stopped reading, after the request timeout without progress', async () => {
      const { client, bodies } = clientWithFeedableBodies();
      const response = await client.forward(forwardRequest({ untimedBody: true }));
      const body = response.body as Readable;
      // Nobody reads: once the buffers are full, MLflow's chunks back up and nothing passes any more.
      let cut = false;
      body.once('error', () => {
        cut = true;
      });
      // 4 s of chunks at 2 per second, against a 2 s timeout: only the backed-up chunks can stop progress.
      for (let i = 0; i < 8 && !cut; i += 1) {
        bodies[0]?.push('x'.repeat(64 * 1024));
        await vi.advanceTimersByTimeAsync(500);
      }
      expect(cut).toBe(true);
    });

    it('cuts a non-artifact body at the request timeout', async () => {
      const { client, bodies } = clientWithFeedableBodies();
      const response = await client.forward(forwardRequest());
      const received = readToEnd(response.body as Readable);
      bodies[0]?.push('first;');
      await vi.advanceTimersByTimeAsync(2_000);
      expect(await received).toBe('cut');
    });
  });
});
