import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';

/** One connection a recording listener accepted. */
export interface RecordedConnection {
  readonly host: string;
  readonly port: number;
  readonly at: number;
  readonly remoteAddress: string;
  /** The first bytes the peer sent (at most `RECORDED_BYTES`, latin1), e.g. a request line and headers. */
  readonly firstBytes: string;
}

/** A set of TCP listeners that never answer and record every connection: proof that nobody connected. */
export interface RecordingListener extends AsyncDisposable {
  /** `host:port` of every listener that could be bound. */
  readonly bound: readonly string[];
  /** `host:port` that could not be bound (in use, or the address does not exist here), with why. */
  readonly unavailable: readonly { readonly address: string; readonly reason: string }[];
  connections(): readonly RecordedConnection[];
  close(): Promise<void>;
}

/** How much of each connection is kept. */
const RECORDED_BYTES = 2048;
/** How long a connection is held open for its first bytes before it is closed unanswered. */
const HOLD_MS = 1_000;

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * Binds a listener on each host and port that is free and records whatever connects (without answering:
 * the connection is closed after its first bytes or `HOLD_MS`). Use it to prove that a service reaches
 * nothing but the dependency it was given, e.g. on the ports next to it. Ports outside 1-65535 are ignored.
 */
export async function startRecordingListener(options: {
  readonly ports: readonly number[];
  readonly hosts?: readonly string[];
}): Promise<RecordingListener> {
  const hosts = options.hosts ?? ['127.0.0.1'];
  const ports = [...new Set(options.ports)].filter((port) => Number.isInteger(port) && port > 0 && port <= 65_535);
  const connections: RecordedConnection[] = [];
  const sockets = new Set<Socket>();
  const servers: Server[] = [];
  const bound: string[] = [];
  const unavailable: { address: string; reason: string }[] = [];

  for (const host of hosts) {
    for (const port of ports) {
      const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      const server = createServer((socket) => {
        sockets.add(socket);
        const at = Date.now();
        let recorded = false;
        const record = (firstBytes: Buffer) => {
          if (recorded) return;
          recorded = true;
          clearTimeout(timer);
          connections.push({
            host,
            port,
            at,
            remoteAddress: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`,
            firstBytes: firstBytes.subarray(0, RECORDED_BYTES).toString('latin1'),
          });
          socket.destroy();
        };
        const timer = setTimeout(() => record(Buffer.alloc(0)), HOLD_MS);
        socket.once('data', (chunk: Buffer) => record(chunk));
        socket.once('error', () => {});
        socket.once('close', () => {
          sockets.delete(socket);
          record(Buffer.alloc(0));
        });
      });
      try {
        await listen(server, host, port);
        servers.push(server);
        bound.push(address);
      } catch (error) {
        unavailable.push({ address, reason: (error as NodeJS.ErrnoException).code ?? String(error) });
      }
    }
  }

  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const socket of sockets) socket.destroy();
    await Promise.all(
      servers.map(async (server) => {
        server.close();
        await once(server, 'close');
      }),
    );
  };
  return { bound, unavailable, connections: () => connections, close, [Symbol.asyncDispose]: close };
}
