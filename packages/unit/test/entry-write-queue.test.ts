import { createEntryWriteQueue } from '@registry/service';
import { afterEach, describe, expect, it, vi } from 'vitest';

const model = (name: string) => ({ kind: 'model', name }) as const;
const WAIT_MS = 10_000;

/** Options of a write whose client stays (or goes, through `client.abort()`). */
function aClient() {
  const client = new AbortController();
  return { client, options: { signal: client.signal, maxWaitMs: WAIT_MS } };
}

/** A write that records when it starts and ends, and ends when the test says so. */
function heldWrite(name: string, order: string[]) {
  const release = Promise.withResolvers<void>();
  return {
    release: () => release.resolve(),
    write: async () => {
      order.push(`${name} starts`);
      await release.promise;
      order.push(`${name} ends`);
      return name;
    },
  };
}

/** Lets every promise that can settle now settle (one turn of the event loop, no time passing). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('createEntryWriteQueue', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs writes to one entry one after another, in the order they came', async () => {
    const queue = createEntryWriteQueue();
    const order: string[] = [];
    const first = heldWrite('first', order);
    const second = heldWrite('second', order);
    const third = heldWrite('third', order);
    const runs = [first, second, third].map((held) => queue.run(model('churn'), held.write, aClient().options));
    await settle();
    expect(order).toEqual(['first starts']);
    first.release();
    await settle();
    expect(order).toEqual(['first starts', 'first ends', 'second starts']);
    second.release();
    third.release();
    await expect(Promise.all(runs)).resolves.toEqual(['first', 'second', 'third']);
    expect(order).toEqual(['first starts', 'first ends', 'second starts', 'second ends', 'third starts', 'third ends']);
  });

  it('runs a write to another entry while one entry is busy', async () => {
    const queue = createEntryWriteQueue();
    const order: string[] = [];
    const busy = heldWrite('churn', order);
    const running = queue.run(model('churn'), busy.write, aClient().options);
    await expect(queue.run(model('fraud'), async () => 'fraud stored', aClient().options)).resolves.toBe(
      'fraud stored',
    );
    expect(order).toEqual(['churn starts']);
    busy.release();
    await running;
  });

  it('runs the next write to an entry after one that failed, each with its own outcome', async () => {
    const queue = createEntryWriteQueue();
    const failed = queue.run(
      model('churn'),
      async () => {
        throw new Error('MLflow refused it');
      },
      aClient().options,
    );
    const next = queue.run(model('churn'), async () => 'stored', aClient().options);
    await expect(failed).rejects.toThrow('MLflow refused it');
    await expect(next).resolves.toBe('stored');
  });

  it('drops a waiting write whose client went away: it never runs, and the writes after it keep their order', async () => {
    const queue = createEntryWriteQueue();
    const order: string[] = [];
    const first = heldWrite('first', order);
    const abandoned = heldWrite('abandoned', order);
    const last = heldWrite('last', order);
    const leaving = aClient();
    const running = queue.run(model('churn'), first.write, aClient().options);
    const dropped = queue.run(model('churn'), abandoned.write, leaving.options);
    const after = queue.run(model('churn'), last.write, aClient().options);
    leaving.client.abort();
    await expect(dropped).rejects.toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringContaining('closed its connection while its write waited'),
    });
    expect(order).toEqual(['first starts']);
    first.release();
    last.release();
    await Promise.all([running, after]);
    expect(order).toEqual(['first starts', 'first ends', 'last starts', 'last ends']);
  });

  it('refuses a write whose client had gone before it queued, without running it', async () => {
    const queue = createEntryWriteQueue();
    const order: string[] = [];
    const first = heldWrite('first', order);
    const running = queue.run(model('churn'), first.write, aClient().options);
    const gone = aClient();
    gone.client.abort();
    await expect(queue.run(model('churn'), async () => order.push('ran'), gone.options)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    first.release();
    await running;
    expect(order).toEqual(['first starts', 'first ends']);
  });

  it('refuses a write that waited MLFLOW_REQUEST_TIMEOUT for its entry with 503 MLFLOW_SATURATED, without running it', async () => {
    vi.useFakeTimers();
    const queue = createEntryWriteQueue();
    const order: string[] = [];
    const first = heldWrite('first', order);
    const running = queue.run(model('churn'), first.write, aClient().options);
    const waiting = queue.run(model('churn'), async () => order.push('ran'), aClient().options);
    const refused = expect(waiting).rejects.toMatchObject({
      code: 'MLFLOW_SATURATED',
      status: 503,
      message: expect.stringContaining(`busy for ${WAIT_MS} ms (MLFLOW_REQUEST_TIMEOUT)`),
    });
    await vi.advanceTimersByTimeAsync(WAIT_MS - 1);
    expect(order).toEqual(['first starts']);
    await vi.advanceTimersByTimeAsync(1);
    await refused;
    first.release();
    await running;
    expect(order).toEqual(['first starts', 'first ends']);
  });

  it("keeps the places of the writes after one that left or got its turn, when that write's client or wait bound ends later", async () => {
    vi.useFakeTimers();
    const queue = createEntryWriteQueue();
    const order: string[] = [];
    const first = heldWrite('first', order);
    const second = heldWrite('second', order);
    const last = heldWrite('last', order);
    const leaving = aClient();
    const running = aClient();
    const runs = [
      queue.run(model('churn'), first.write, aClient().options),
      queue.run(model('churn'), async () => order.push('left, yet ran'), leaving.options).catch(() => 'left'),
      queue.run(model('churn'), second.write, running.options),
    ];
    leaving.client.abort();
    await vi.advanceTimersByTimeAsync(100);
    first.release();
    await vi.advanceTimersByTimeAsync(100);
    expect(order).toEqual(['first starts', 'first ends', 'second starts']);
    // The second write has its turn; the last one queues behind it, and the second's client goes.
    const lastRun = queue.run(model('churn'), last.write, aClient().options);
    running.client.abort();
    // The wait bounds of the two writes that no longer wait (queued at 0) pass; the last one's (200) does not.
    await vi.advanceTimersByTimeAsync(WAIT_MS - 150);
    second.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(['first starts', 'first ends', 'second starts', 'second ends', 'last starts']);
    last.release();
    await expect(Promise.all([...runs, lastRun])).resolves.toEqual(['first', 'left', 'second', 'last']);
  });

  it('keeps the places of the writes after one refused at its wait bound, when its client goes after the refusal', async () => {
    vi.useFakeTimers();
    const queue = createEntryWriteQueue();
    const order: string[] = [];
    const first = heldWrite('first', order);
    const last = heldWrite('last', order);
    const refusedClient = aClient();
    const running = queue.run(model('churn'), first.write, aClient().options);
    const refused = expect(
      queue.run(model('churn'), async () => order.push('ran'), refusedClient.options),
    ).rejects.toMatchObject({
      code: 'MLFLOW_SATURATED',
    });
    await vi.advanceTimersByTimeAsync(100);
    const lastRun = queue.run(model('churn'), last.write, aClient().options);
    await vi.advanceTimersByTimeAsync(WAIT_MS - 100);
    await refused;
    // The refused client reads its 503 and closes its connection.
    refusedClient.client.abort();
    first.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(order).toEqual(['first starts', 'first ends', 'last starts']);
    last.release();
    await expect(Promise.all([running, lastRun])).resolves.toEqual(['first', 'last']);
  });

  it('runs a write that names no entry (a create) at once, whatever is busy', async () => {
    const queue = createEntryWriteQueue();
    const busy = heldWrite('churn', []);
    const running = queue.run(model('churn'), busy.write, aClient().options);
    await expect(queue.run(undefined, async () => 'created', aClient().options)).resolves.toBe('created');
    busy.release();
    await running;
  });
});
