import { ServiceError } from './errors.js';
import type { EntryRef } from './mlflow-entry-write.js';
import { saturated } from './mlflow-gateway.js';

/** What one write waits under: its client's connection, and how long it may wait for its turn. */
export interface EntryWriteOptions {
  /** Aborts when the client is gone: a write still waiting then leaves the queue and never runs. */
  readonly signal: AbortSignal;
  /** A write that waited this long for the writes before it is refused: 503 MLFLOW_SATURATED. */
  readonly maxWaitMs: number;
}

/** Runs budgeted writes one entry at a time; see `createEntryWriteQueue`. */
export interface EntryWriteQueue {
  /** Runs `write` once every earlier write to `entry` has ended (at once for a write that names no entry). */
  run<T>(entry: EntryRef | undefined, write: () => Promise<T>, options: EntryWriteOptions): Promise<T>;
}

/**
 * The entry budget reads the entry, then relays the write: two writes to one entry at once would both read
 * it before either is stored, and both pass (eight 15,000-byte tags at once left a model holding 120,016
 * bytes against a 16,384-byte budget). Budgeted writes to one entry therefore run one after another in this
 * process, from the read to MLflow's answer, in the order they came. A waiting write leaves the queue as
 * soon as its client closes the connection (it never runs), and is refused after `maxWaitMs`; an entry is
 * kept only while it has a write running. Several service processes each keep their own queue: with N
 * tasks, N writes at once, one per task, are measured on the same reading.
 */
export function createEntryWriteQueue(): EntryWriteQueue {
  /** The entries with a write running, each with the turns of the writes waiting for it, oldest first. */
  const entries = new Map<string, (() => void)[]>();

  const passTurn = (key: string) => {
    const next = entries.get(key)?.shift();
    if (next) next();
    else entries.delete(key);
  };

  const waitTurn = (waiting: (() => void)[], options: EntryWriteOptions) =>
    new Promise<void>((resolve, reject) => {
      const stopWaiting = () => {
        clearTimeout(timer);
        options.signal.removeEventListener('abort', gone);
      };
      const leave = (error: ServiceError) => {
        waiting.splice(waiting.indexOf(turn), 1);
        stopWaiting();
        reject(error);
      };
      const gone = () =>
        leave(
          new ServiceError('BAD_REQUEST', {
            message: 'The client closed its connection while its write waited for the entry; it was not relayed.',
          }),
        );
      const turn = () => {
        stopWaiting();
        resolve();
      };
      const timer = setTimeout(
        () =>
          leave(
            saturated({
              message: `Other writes to this entry kept it busy for ${options.maxWaitMs} ms (MLFLOW_REQUEST_TIMEOUT); this one was not relayed. Retry after the Retry-After delay.`,
            }),
          ),
        options.maxWaitMs,
      );
      waiting.push(turn);
      if (options.signal.aborted) gone();
      else options.signal.addEventListener('abort', gone, { once: true });
    });

  return {
    async run(entry, write, options) {
      if (entry === undefined) return write();
      const key = JSON.stringify(entry);
      const waiting = entries.get(key);
      if (waiting === undefined) entries.set(key, []);
      else await waitTurn(waiting, options);
      try {
        return await write();
      } finally {
        passTurn(key);
      }
    },
  };
}
