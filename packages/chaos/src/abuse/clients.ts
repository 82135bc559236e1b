import { type IncomingMessage, request } from 'node:http';
import { connect } from 'node:net';
import { type ErrorBody, REQUEST_ID_HEADER } from '@registry/service';

/** What an attack request must get for the service to pass. */
export type Expectation =
  /** Refused by the service itself with one of these catalogue codes (any catalogue code when empty). */
  | { readonly kind: 'refusal'; readonly codes: readonly string[] }
  /** Served: a 2xx, MLflow's own error relayed, or a catalogue refusal; never a cut connection. */
  | { readonly kind: 'served' }
  /** A 200 whose body arrives whole: exactly `bytes` bytes. */
  | { readonly kind: 'complete'; readonly bytes: number }
  /** Refused with one of `codes`, or cut by the service after at most `maxBytes` bytes of body. */
  | { readonly kind: 'capped'; readonly codes: readonly string[]; readonly maxBytes: number }
  /** Cut by the service (closed, or Node's bare 408, or a catalogue refusal) within `withinMs`. */
  | { readonly kind: 'cut'; readonly withinMs: number };

/** One answer a hostile client got (or did not get). */
export interface AttackSample {
  readonly label: string;
  readonly expect: Expectation;
  readonly at: number;
  readonly latencyMs: number;
  /** HTTP status; null when the connection closed, or the client gave up, before any answer. */
  readonly status: number | null;
  /** `code` and `requestId` of a JSON error body (the service's catalogue shape). */
  readonly code?: string;
  readonly requestId?: string;
  /** `error_code` of a JSON error body (MLflow's own shape, relayed by the pass-through). */
  readonly mlflowErrorCode?: string;
  readonly headerRequestId?: string;
  readonly retryAfter?: string;
  /** The answer has no body by definition (HEAD): judged by status and `x-request-id` alone. */
  readonly bodiless?: boolean;
  readonly bodyBytes: number;
  /** The connection closed before the body was complete. */
  readonly truncated: boolean;
  /** The client stopped waiting at its own deadline: the service neither answered nor closed. */
  readonly gaveUp: boolean;
  readonly error?: string;
}

/** Where hostile clients connect: the service's loopback address. */
export interface Target {
  readonly host: string;
  readonly port: number;
}

/** One hostile HTTP request, sent verbatim (any method, any request target, absolute-form included). */
export interface RequestSpec {
  readonly method: string;
  /** The request target exactly as sent: `/mlflow/../x`, `http://127.0.0.1:1/x`, ... */
  readonly path: string;
  readonly expect: Expectation;
  readonly timeoutMs: number;
  readonly label?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  /** Read the body no faster than this (a slow client), so a buffering server would hold it all. */
  readonly readBytesPerSecond?: number;
}

/** The part of a body kept for parsing; the rest is counted and dropped. */
const KEPT_BODY_BYTES = 64 * 1024;

function shorten(text: string, max = 90): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

/** The label of a request in reports: method and target, shortened. */
export function requestLabel(method: string, path: string): string {
  return shorten(`${method} ${path}`);
}

function parseBody(kept: Buffer): Pick<AttackSample, 'code' | 'requestId' | 'mlflowErrorCode'> {
  try {
    // Field names from the contract; values checked here, since a hostile request may get any answer.
    const body = JSON.parse(kept.toString('utf8')) as Partial<Record<keyof ErrorBody, unknown>>;
    return {
      code: typeof body.code === 'string' ? body.code : undefined,
      requestId: typeof body.requestId === 'string' ? body.requestId : undefined,
      mlflowErrorCode: typeof body.error_code === 'string' ? body.error_code : undefined,
    };
  } catch {
    return {};
  }
}

function header(response: IncomingMessage, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Sends one request with `node:http` (which, unlike fetch, sends any method and target as given). */
export function sendRequest(target: Target, spec: RequestSpec): Promise<AttackSample> {
  const at = Date.now();
  const label = spec.label ?? requestLabel(spec.method, spec.path);
  const base = { label, expect: spec.expect, at, bodiless: spec.method === 'HEAD' };
  return new Promise((resolve) => {
    let settled = false;
    const finish = (sample: Omit<AttackSample, 'label' | 'expect' | 'at' | 'latencyMs'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve({ ...base, latencyMs: Date.now() - at, ...sample });
    };
    const req = request({
      host: target.host,
      port: target.port,
      method: spec.method,
      path: spec.path,
      // Node frames a DELETE's body only with an explicit length (it does not chunk DELETE by default).
      headers:
        spec.body === undefined
          ? spec.headers
          : { 'content-length': String(Buffer.byteLength(spec.body)), ...spec.headers },
      // A connection per request, closed after it.
      agent: false,
    });
    let answered: IncomingMessage | undefined;
    let bodyBytes = 0;
    const kept: Buffer[] = [];
    let keptBytes = 0;
    const answer = (truncated: boolean, gaveUp: boolean, error?: string) =>
      finish({
        status: answered?.statusCode ?? null,
        ...(answered ? parseBody(Buffer.concat(kept)) : {}),
        headerRequestId: answered ? header(answered, REQUEST_ID_HEADER) : undefined,
        retryAfter: answered ? header(answered, 'retry-after') : undefined,
        bodyBytes,
        truncated,
        gaveUp,
        error,
      });
    const deadline = setTimeout(() => {
      answer(false, true, 'client deadline');
      req.destroy();
    }, spec.timeoutMs);
    req.once('error', (error) => {
      // Once an answer has started, its own close event tells whether it was complete.
      if (!answered) answer(false, false, error.message);
    });
    req.once('response', (response) => {
      answered = response;
      const started = Date.now();
      response.on('data', (chunk: Buffer) => {
        bodyBytes += chunk.length;
        if (keptBytes < KEPT_BODY_BYTES) {
          kept.push(chunk);
          keptBytes += chunk.length;
        }
        const rate = spec.readBytesPerSecond;
        if (rate !== undefined) {
          const aheadMs = (bodyBytes / rate) * 1000 - (Date.now() - started);
          if (aheadMs > 5) {
            response.pause();
            setTimeout(() => response.resume(), aheadMs);
          }
        }
      });
      response.once('error', () => {});
      response.once('close', () => answer(!response.complete, false));
    });
    req.end(spec.body);
  });
}

/**
 * Runs `task(0..count-1)` with at most `concurrency` in flight and stops starting new ones at the count or
 * the deadline, whichever comes first: every request loop of the abuse class stops by itself.
 */
export async function runBounded<T>(
  options: { readonly count: number; readonly concurrency: number; readonly maxDurationMs: number },
  task: (index: number) => Promise<T>,
): Promise<T[]> {
  const results: T[] = [];
  const deadline = Date.now() + options.maxDurationMs;
  let next = 0;
  const worker = async () => {
    while (next < options.count && Date.now() < deadline) {
      const index = next;
      next += 1;
      results.push(await task(index));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, options.count)) }, worker));
  return results;
}

/** A slowloris connection: the start of a request, then one byte at a time, never finished. */
export interface TrickleSpec {
  readonly label: string;
  /** Sent at once: a request line and headers (the whole head, for a trickled body). */
  readonly head: string;
  /** Bytes dripped one at a time after the head, cycled. */
  readonly drip: string;
  readonly intervalMs: number;
  /** The client stops (and records that the service did not cut it) after this long. */
  readonly giveUpAfterMs: number;
  readonly expect: Expectation;
}

/** Opens a raw connection and trickles a request into it until the service cuts it or the client gives up. */
export function trickle(target: Target, spec: TrickleSpec): Promise<AttackSample> {
  const at = Date.now();
  return new Promise((resolve) => {
    const socket = connect({ host: target.host, port: target.port });
    let received = Buffer.alloc(0);
    let settled = false;
    let dripped = 0;
    let ticker: NodeJS.Timeout | undefined;
    const finish = (gaveUp: boolean, error?: string) => {
      if (settled) return;
      settled = true;
      clearInterval(ticker);
      clearTimeout(deadline);
      socket.destroy();
      const text = received.toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      const bodyAt = text.indexOf('\r\n\r\n');
      const body = bodyAt === -1 ? Buffer.alloc(0) : received.subarray(bodyAt + 4);
      resolve({
        label: spec.label,
        expect: spec.expect,
        at,
        latencyMs: Date.now() - at,
        status: status === undefined ? null : Number(status),
        ...parseBody(body),
        bodyBytes: body.length,
        truncated: false,
        gaveUp,
        error,
      });
    };
    const deadline = setTimeout(() => finish(true, 'still open when the client gave up'), spec.giveUpAfterMs);
    socket.once('connect', () => {
      socket.write(spec.head);
      ticker = setInterval(() => {
        if (socket.writable) socket.write(spec.drip[dripped % spec.drip.length] ?? 'a');
        dripped += 1;
      }, spec.intervalMs);
    });
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]).subarray(0, KEPT_BODY_BYTES);
    });
    socket.once('error', (error) => finish(false, error.message));
    socket.once('close', () => finish(false));
  });
}
