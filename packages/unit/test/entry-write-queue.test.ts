import { createEntryWriteQueue } from '@registry/service';
import { describe, expect, it } from 'vitest';

describe('createEntryWriteQueue', () => {
  const model = (name: string) => ({ kind: 'model', name }) as const;

  it('runs writes to one entry one after another, writes to another entry at once, and forgets an entry once its writes end', async () => {
    const queue = createEntryWriteQueue();
    const order: string[] = [];
    const first = Promise.withResolvers<void>();
    const a1 = queue.run(model('churn'), async () => {
      order.push('churn 1 starts');
      await first.promise;
      order.push('churn 1 ends');
    });
    const a2 = queue.run(model('churn'), async () => {
      order.push('churn 2 runs');
    });
    await queue.run(model('fraud'), async () => {
      order.push('fraud runs');
    });
    expect(order).toEqual(['churn 1 starts', 'fraud runs']);
    expect(queue.size()).toBe(1);
    first.resolve();
    await Promise.all([a1, a2]);
    expect(order).toEqual(['churn 1 starts', 'fraud runs', 'churn 1 ends', 'churn 2 runs']);
    expect(queue.size()).toBe(0);
  });

  it('runs the next write to an entry after one that failed, and gives each its own outcome', async () => {
    const queue = createEntryWriteQueue();
    const failed = queue.run(model('churn'), async () => {
      throw new Error('MLflow refused it');
    });
    const next = queue.run(model('churn'), async () => 'stored');
    await expect(failed).rejects.toThrow('MLflow refused it');
    await expect(next).resolves.toBe('stored');
    expect(queue.size()).toBe(0);
  });

  it('runs a write that names no entry (a create) without waiting for anything', async () => {
    const queue = createEntryWriteQueue();
    const held = Promise.withResolvers<void>();
    const blocking = queue.run(model('churn'), () => held.promise);
    await expect(queue.run(undefined, async () => 'created')).resolves.toBe('created');
    held.resolve();
    await blocking;
  });
});
