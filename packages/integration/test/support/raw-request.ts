import { type IncomingHttpHeaders, request } from 'node:http';

/** The answer to a raw request: status, headers and the whole body. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: Record<string, unknown> | undefined;
}

/** What `sendRaw` sends. */
export interface RawRequest {
  readonly method: string;
  /** The request target exactly as it goes on the wire: `/mlflow/%2e%2e/x`, `http://127.0.0.1:1/x`, ... */
  readonly target: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

function parseJson(body: Buffer): Record<string, unknown> | undefined {
  try {
    return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/**
 * Sends one request to `baseUrl` with the request target verbatim (node:http, unlike fetch, neither
 * resolves dot segments nor refuses methods such as TRACE), and resolves with the whole answer.
 */
export function sendRaw(baseUrl: string, spec: RawRequest): Promise<RawAnswer> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const outgoing = request(
      { host: hostname, port, method: spec.method, path: spec.target, headers: spec.headers, agent: false },
      (incoming) => {
        const chunks: Buffer[] = [];
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
        incoming.once('error', reject);
        incoming.once('end', () => {
          const body = Buffer.concat(chunks);
          resolve({ status: incoming.statusCode ?? 0, headers: incoming.headers, body, json: parseJson(body) });
        });
      },
    );
    outgoing.setTimeout(spec.timeoutMs ?? 15_000, () =>
      outgoing.destroy(new Error(`no answer to ${spec.method} ${spec.target} in time`)),
    );
    outgoing.once('error', reject);
    outgoing.end();
  });
}
