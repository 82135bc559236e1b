import type { Socket } from 'node:net';
import { ERRORS, MAX_JSON_DEPTH, REGISTRY_BODY_LIMIT_BYTES, REQUEST_ID_HEADER } from '@registry/service';
import { describe, expect, it, vi } from 'vitest';
import { buildTestApp } from './support/fakes.js';
import { createCapturingLogger } from './support/logs.js';

/** Registers a version of model `x` with `payload` sent as `contentType`. */
async function register(contentType: string, payload: string | Buffer) {
  const { app, mlflow } = buildTestApp();
  mlflow.addModel({ name: 'x' });
  const response = await app.inject({
    method: 'POST',
    url: '/api/v1/models/x/versions',
    headers: { 'content-type': contentType },
    payload,
  });
  return { response, mlflow };
}

describe('Framework errors', () => {
  it('answers a text/plain body on a JSON route with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/x/versions',
      headers: { 'content-type': 'text/plain' },
      payload: 'source=s3://m/1',
    });
    expect(response.statusCode).toBe(415);
    expect(response.json().code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers a path that is not valid percent-encoding with a catalogue 400 carrying the request id', async () => {
    const { app, mlflow } = buildTestApp();
    const response = await app.inject({ url: '/api/v1/models/%ZZ', headers: { 'x-request-id': 'trace-bad-url' } });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      code: 'BAD_REQUEST',
      message: 'The request path is not valid percent-encoding.',
      requestId: 'trace-bad-url',
    });
    expect(response.headers['x-request-id']).toBe('trace-bad-url');
    expect(mlflow.calls()).toBe(0);
  });

  it.each(['search=%ZZ', 'search=%C3%28', 'search=abc%'])(
    'answers the query string %s, which is not valid percent-encoding, with a catalogue 400',
    async (query) => {
      const { app, mlflow } = buildTestApp();
      const response = await app.inject({ url: `/api/v1/models?${query}`, headers: { 'x-request-id': 'trace-q' } });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({
        code: 'BAD_REQUEST',
        requestId: 'trace-q',
        details: [{ field: 'query' }],
      });
      expect(mlflow.calls()).toBe(0);
    },
  );

  it('reads + in a query string as a space, not as bad encoding', async () => {
    const { app, mlflow } = buildTestApp();
    const response = await app.inject('/api/v1/models?search=fraud+model%25');
    expect(response.statusCode).toBe(200);
    expect(mlflow.searches()[0]?.filter).toBe("name ILIKE '%fraud model_%'");
  });

  it('lets a 256-character model name reach the route', async () => {
    const { app, mlflow } = buildTestApp();
    const name = 'm'.repeat(256);
    mlflow.addModel({ name });
    const response = await app.inject(`/api/v1/models/${name}`);
    expect(response.statusCode).toBe(200);
    expect(response.json().model.name).toBe(name);
  });

  it('lets a 256-character model name of two-byte characters reach the route percent-encoded', async () => {
    const { app, mlflow } = buildTestApp();
    const name = 'é'.repeat(256);
    mlflow.addModel({ name });
    const response = await app.inject(`/api/v1/models/${encodeURIComponent(name)}`);
    expect(response.statusCode).toBe(200);
    expect(response.json().model.name).toBe(name);
  });

  it('answers a 257-character model name with a 400 naming the limit', async () => {
    const { app } = buildTestApp();
    const response = await app.inject(`/api/v1/models/${'m'.repeat(257)}`);
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('at most 256 characters');
  });

  it('answers a path parameter over the router limit with a catalogue 414 URI_TOO_LONG', async () => {
    const { app, mlflow } = buildTestApp();
    const response = await app.inject({
      url: `/api/v1/models/${'m'.repeat(4000)}`,
      headers: { 'x-request-id': 'trace-long' },
    });
    expect(response.statusCode).toBe(414);
    expect(response.json()).toEqual({
      code: 'URI_TOO_LONG',
      message: ERRORS.URI_TOO_LONG.message,
      requestId: 'trace-long',
    });
    expect(mlflow.calls()).toBe(0);
  });

  it.each(['application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])(
    'answers a %s body with 415 UNSUPPORTED_MEDIA_TYPE',
    async (contentType) => {
      const { app, mlflow } = buildTestApp();
      const response = await app.inject({
        method: 'POST',
        url: '/api/v1/models/x/versions',
        headers: { 'content-type': contentType },
        payload: 'source=s3://m/1',
      });
      expect(response.statusCode).toBe(415);
      expect(response.json()).toMatchObject({
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: ERRORS.UNSUPPORTED_MEDIA_TYPE.message,
        requestId: response.headers['x-request-id'],
      });
      expect(mlflow.calls()).toBe(0);
    },
  );

  it('answers malformed JSON with a catalogue 400 carrying the request id', async () => {
    const { app } = buildTestApp();
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/x/versions',
      headers: { 'content-type': 'application/json', 'x-request-id': 'trace-json' },
      payload: '{"source": "s3://m/1"',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'BAD_REQUEST',
      requestId: 'trace-json',
      details: [{ field: 'body', problem: 'not valid JSON' }],
    });
    // Where the JSON broke off, without an excerpt of the body (which would echo it into answers and logs).
    expect(response.json().message).toBe('The body is not valid JSON (at character 21).');
  });

  it.each([
    [
      'a __proto__ key',
      '{"source": "s3://m/1", "__proto__": {"admin": true}}',
      'The body has a "__proto__" key, or a "constructor" key holding "prototype"; neither is accepted.',
      'a __proto__ or constructor.prototype key',
    ],
    [
      'a constructor.prototype key',
      '{"source": "s3://m/1", "constructor": {"prototype": {"admin": true}}}',
      'The body has a "__proto__" key, or a "constructor" key holding "prototype"; neither is accepted.',
      'a __proto__ or constructor.prototype key',
    ],
    [
      'bytes that are not UTF-8 (stored as U+FFFD before)',
      Buffer.from('{"source": "s3://m/\xff\xfe"}', 'latin1'),
      'The body is not valid UTF-8.',
      'not valid UTF-8',
    ],
    [
      'an overlong encoding of /',
      Buffer.concat([Buffer.from('{"source": "s3://m/'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]),
      'The body is not valid UTF-8.',
      'not valid UTF-8',
    ],
  ])(
    'refuses a JSON body with %s with a 400 saying so, and never calls MLflow',
    async (_what, payload, message, problem) => {
      const { response, mlflow } = await register('application/json', payload);
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ code: 'BAD_REQUEST', message, details: [{ field: 'body', problem }] });
      expect(mlflow.calls()).toBe(0);
    },
  );

  it.each(['iso-8859-1', 'utf-16', '"windows-1252"'])(
    'refuses a JSON body declared charset=%s with 415 naming the charset',
    async (charset) => {
      const { response, mlflow } = await register(
        `application/json; charset=${charset}`,
        Buffer.from('{"source": "s3://m/caf\u00e9"}', 'latin1'),
      );
      expect(response.statusCode).toBe(415);
      expect(response.json()).toMatchObject({
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: `JSON bodies must be UTF-8; this one declares charset=${charset.replaceAll('"', '')}.`,
      });
      expect(mlflow.calls()).toBe(0);
    },
  );

  it.each([
    ['application/json;charset=latin1', 'latin1'],
    ['application/json; charset = latin1', 'latin1'],
    ['application/json; charset=utf-8x', 'utf-8x'],
    ['application/json; charset=xutf-8', 'xutf-8'],
  ])('reads the charset of %s and refuses it', async (contentType, charset) => {
    const { response } = await register(contentType, '{"source": "s3://m/1"}');
    expect(response.statusCode).toBe(415);
    expect(response.json().message).toBe(`JSON bodies must be UTF-8; this one declares charset=${charset}.`);
  });

  it.each(['utf-8', 'UTF8', '"utf-8"'])('stores a UTF-8 body declared charset=%s as it was sent', async (charset) => {
    const payload = Buffer.from(JSON.stringify({ source: 's3://m/café' }), 'utf8');
    const { response } = await register(`application/json; charset=${charset}`, payload);
    expect(response.statusCode).toBe(201);
    expect(response.json().model_version.source).toBe('s3://m/café');
  });

  it('answers an empty body sent as JSON with a 400 that says it is empty', async () => {
    const { response, mlflow } = await register('application/json; charset=utf-8', '');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'BAD_REQUEST',
      message: 'The body is empty, but its content-type is JSON.',
    });
    expect(mlflow.calls()).toBe(0);
  });

  it('still holds a JSON body to BODY_LIMIT (413) with the parser that names JSON errors', async () => {
    const { app, mlflow } = buildTestApp({ env: { BODY_LIMIT: '1024' } });
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/x/versions',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ source: 's3://m/1', description: 'd'.repeat(2048) }),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json().code).toBe('PAYLOAD_TOO_LARGE');
    expect(mlflow.calls()).toBe(0);
  });

  it('names at most 300 characters of a problem, however many unknown keys the body has', async () => {
    const keys = Object.fromEntries(Array.from({ length: 3_000 }, (_, i) => [`unknown_key_${i}`, 1]));
    const { response } = await register('application/json', JSON.stringify({ source: 's3://m/1', ...keys }));
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('more characters');
    expect(response.body.length).toBeLessThan(2_000);
  });

  it('holds a registration to REGISTRY_BODY_LIMIT_BYTES (413) when BODY_LIMIT is larger', async () => {
    const { app, mlflow } = buildTestApp({ env: { BODY_LIMIT: String(1024 * 1024) } });
    const payload = JSON.stringify({ source: 's3://m/1', description: 'd'.repeat(REGISTRY_BODY_LIMIT_BYTES) });
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/models/x/versions',
      headers: { 'content-type': 'application/json' },
      payload,
    });
    expect(response.statusCode).toBe(413);
    expect(response.json().code).toBe('PAYLOAD_TOO_LARGE');
    expect(mlflow.calls()).toBe(0);
  });

  it('refuses a body nested more than MAX_JSON_DEPTH levels with a 400 that says so, before parsing it', async () => {
    const deep = `${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`;
    const { response, mlflow } = await register('application/json', `{"source":"s3://m/1","description":${deep}}`);
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      code: 'BAD_REQUEST',
      message: `The body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep.`,
    });
    expect(mlflow.calls()).toBe(0);
  });

  it('counts no bracket inside a string (escaped quotes included) towards the depth', async () => {
    const description = `say \\"${'['.repeat(MAX_JSON_DEPTH + 5)}\\" twice`;
    const { response } = await register('application/json', `{"source":"s3://m/1","description":"${description}"}`);
    expect(response.statusCode).toBe(201);
  });

  it('answers a failure of the MLflow client that is not an MLflow error with a catalogue 500 and logs it', async () => {
    const { logger, lines } = createCapturingLogger();
    const { app, mlflow } = buildTestApp({ logger });
    mlflow.getRegisteredModel = async () => {
      throw new RangeError('boom');
    };
    const response = await app.inject('/api/v1/models/fraud');
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({ code: 'INTERNAL_ERROR', message: ERRORS.INTERNAL_ERROR.message });
    expect(response.body).not.toContain('boom');
    const logged = lines.find((line) => line.code === 'INTERNAL_ERROR');
    expect(logged).toMatchObject({ level: 'warn', err: { cause: { message: 'boom' } } });
  });
});

/** A stand-in for the raw socket Node hands to the clientError handler. */
function socketStub(state: { destroyed?: boolean; writable?: boolean } = {}) {
  const written: string[] = [];
  const socket = {
    destroyed: state.destroyed ?? false,
    writable: state.writable ?? true,
    write: vi.fn((chunk: string) => {
      written.push(chunk);
      return true;
    }),
    destroy: vi.fn(),
  };
  return { socket, written, asSocket: socket as unknown as Socket };
}

function clientError(code: string): Error & { code: string } {
  return Object.assign(new Error(code), { code });
}

/** Parses the raw HTTP response the handler wrote. */
function parseRaw(raw: string) {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const headers = Object.fromEntries(
    headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 2)]),
  );
  return { statusLine, headers, body: JSON.parse(body) as unknown, bodyBytes: Buffer.byteLength(body) };
}

describe('clientErrorHandler', () => {
  it.each([
    ['ERR_HTTP_REQUEST_TIMEOUT', 'HTTP/1.1 408 Request Timeout', 'REQUEST_TIMEOUT'],
    ['HPE_HEADER_OVERFLOW', 'HTTP/1.1 431 Request Header Fields Too Large', 'HEADERS_TOO_LARGE'],
    ['HPE_INVALID_METHOD', 'HTTP/1.1 400 Bad Request', 'BAD_REQUEST'],
  ])(
    'answers %s with "%s", a %s catalogue body and its request id in the header, then closes the socket',
    (errorCode, statusLine, code) => {
      const { app } = buildTestApp();
      const { socket, written, asSocket } = socketStub();
      app.server.emit('clientError', clientError(errorCode), asSocket);
      expect(written).toHaveLength(1);
      const response = parseRaw(written[0] ?? '');
      expect(response.statusLine).toBe(statusLine);
      expect(response.headers).toMatchObject({
        'content-type': 'application/json',
        connection: 'close',
        'content-length': String(response.bodyBytes),
      });
      expect(response.body).toEqual({
        code,
        message: ERRORS[code as keyof typeof ERRORS].message,
        requestId: expect.any(String),
      });
      expect(response.headers[REQUEST_ID_HEADER]).toBe((response.body as { requestId: string }).requestId);
      expect(socket.destroy).toHaveBeenCalled();
    },
  );

  it('writes nothing for a connection the client reset', () => {
    const { app } = buildTestApp();
    const { socket, asSocket } = socketStub();
    app.server.emit('clientError', clientError('ECONNRESET'), asSocket);
    expect(socket.write).not.toHaveBeenCalled();
  });

  it('writes nothing to a socket already destroyed', () => {
    const { app } = buildTestApp();
    const { socket, asSocket } = socketStub({ destroyed: true });
    app.server.emit('clientError', clientError('ERR_HTTP_REQUEST_TIMEOUT'), asSocket);
    expect(socket.write).not.toHaveBeenCalled();
  });

  it('destroys a socket that can no longer be written without writing to it', () => {
    const { app } = buildTestApp();
    const { socket, asSocket } = socketStub({ writable: false });
    app.server.emit('clientError', clientError('ERR_HTTP_REQUEST_TIMEOUT'), asSocket);
    expect(socket.write).not.toHaveBeenCalled();
    expect(socket.destroy).toHaveBeenCalled();
  });
});

describe('Error handler', () => {
  it('answers an error outside the catalogue with a generic 500 and logs it', async () => {
    const { logger, lines } = createCapturingLogger();
    const { app } = buildTestApp({ logger });
    app.get('/test/throws', async () => {
      throw new RangeError('internal detail');
    });
    const response = await app.inject('/test/throws');
    expect(response.statusCode).toBe(500);
    expect(response.json()).toMatchObject({ code: 'INTERNAL_ERROR', message: ERRORS.INTERNAL_ERROR.message });
    expect(response.body).not.toContain('internal detail');
    expect(lines).toContainEqual(expect.objectContaining({ level: 'error', msg: 'unhandled error' }));
  });

  it.each([
    [404, 'NOT_FOUND'],
    [408, 'REQUEST_TIMEOUT'],
    [413, 'PAYLOAD_TOO_LARGE'],
    [414, 'URI_TOO_LONG'],
    [415, 'UNSUPPORTED_MEDIA_TYPE'],
    [422, 'BAD_REQUEST'],
    [503, 'INTERNAL_ERROR'],
  ] as const)('renders a plugin error with status %i as the catalogue code %s', async (statusCode, code) => {
    const { app } = buildTestApp();
    app.get('/test/throws', async () => {
      throw Object.assign(new Error('plugin failure'), { statusCode });
    });
    const response = await app.inject('/test/throws');
    expect(response.statusCode).toBe(ERRORS[code].status);
    expect(response.json()).toMatchObject({ code, requestId: response.headers['x-request-id'] });
  });
});

describe('Server timeouts', () => {
  it('gives the server REQUEST_TIMEOUT and HEADERS_TIMEOUT, checked every second at most', () => {
    const { app } = buildTestApp({ env: { REQUEST_TIMEOUT: '7', HEADERS_TIMEOUT: '3' } });
    expect(app.server.requestTimeout).toBe(7_000);
    expect(app.server.headersTimeout).toBe(3_000);
    const { connectionsCheckingInterval } = app.server as typeof app.server & { connectionsCheckingInterval: number };
    expect(connectionsCheckingInterval).toBe(1_000);
  });

  it('checks sooner than every second when HEADERS_TIMEOUT is shorter', () => {
    const { app } = buildTestApp({ env: { REQUEST_TIMEOUT: '7', HEADERS_TIMEOUT: '0.5' } });
    const { connectionsCheckingInterval } = app.server as typeof app.server & { connectionsCheckingInterval: number };
    expect(connectionsCheckingInterval).toBe(500);
  });
});
