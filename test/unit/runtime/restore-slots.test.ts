import { RestoreSlots } from '../../../src/runtime/runner/restore-slots';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('RestoreSlots', () => {
  it('runs at most `size` jobs at once and starts the waiting ones in the order they asked', async () => {
    const slots = new RestoreSlots(2);
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof deferred>>();
    const job = (name: string) =>
      slots.use(async () => {
        started.push(name);
        const g = deferred();
        gates.set(name, g);
        await g.promise;
        return name;
      });
    const runs = ['a', 'b', 'c', 'd'].map(job);
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a', 'b']);
    gates.get('b')!.resolve();
    await runs[1];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a', 'b', 'c']);
    gates.get('a')!.resolve();
    gates.get('c')!.resolve();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a', 'b', 'c', 'd']);
    gates.get('d')!.resolve();
    await expect(Promise.all(runs)).resolves.toEqual(['a', 'b', 'c', 'd']);
  });

  it('frees the slot of a job that failed', async () => {
    const slots = new RestoreSlots(1);
    await expect(slots.use(() => Promise.reject(new Error('fetch failed')))).rejects.toThrow('fetch failed');
    await expect(slots.use(async () => 'next')).resolves.toBe('next');
  });

  it('refuses a size that is not a positive integer', () => {
    expect(() => new RestoreSlots(0)).toThrow(/positive integer/);
  });
});
