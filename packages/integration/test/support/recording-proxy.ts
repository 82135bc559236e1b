import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, request } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the recording proxy forwarded: what the upstream saw. */
export interface ForwardedRequest {
  readonly method: string;
  readonly target: string;
  readonly headers: IncomingHttpHeaders;
}

/** An HTTP proxy in front of an upstream that records every request it forwards. */
export interface RecordingProxy extends AsyncDisposable {
  readonly url: string;
  requests(): readonly ForwardedRequest[];
  close(): Promise<void>;
}

/**
 * Starts a loopback HTTP proxy that forwards every request unchanged (but for `Host`) to `upstreamUrl`
 * and records its method, target and headers: put it between the service and MLflow to see exactly what
 * MLflow receives.
 */
export async function startRecordingProxy(upstreamUrl: string): Promise<RecordingProxy> {
  const upstream = new URL(upstreamUrl);
  const recorded: ForwardedRequest[] = [];
  const server = createServer((incoming, outgoing) => {
    const headers = { ...incoming.headers };
    recorded.push({ method: incoming.method ?? '', target: incoming.url ?? '', headers });
    const forwarded = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: incoming.method,
        path: incoming.url,
        // MLflow checks the Host header against the hosts it serves.
        headers: { ...headers, host: upstream.host },
      },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.once('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  };
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => recorded,
    close,
    [Symbol.asyncDispose]: close,
  };
}
