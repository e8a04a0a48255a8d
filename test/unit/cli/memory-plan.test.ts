import { ErrorCodes, MemoryBudgetError, UsageError } from '../../../src/errors';
import { FIXED_BYTES, allocatorAdvice, describePlan, parseMemorySize, planMemory } from '../../../src/cli/memory-plan';
import { InMemorySnapshotSource, SnapshotCatalog, snapshotMemoryEstimate } from '../../../src/vectors/snapshot-catalog';
import { clusteredSnapshot, manifestOf } from '../topologies/vectors-fixtures';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

describe('--memory sizes', () => {
  it.each([
    ['1g', GiB],
    ['1G', GiB],
    ['1GiB', GiB],
    ['1.5g', 1.5 * GiB],
    ['768m', 768 * MiB],
    ['512MiB', 512 * MiB],
    ['2048k', 2 * MiB],
    ['1073741824', GiB],
    [' 1 gb ', GiB],
  ])('%s is %d bytes', (raw, bytes) => expect(parseMemorySize(raw)).toBe(bytes));

  it.each(['', 'lots', '1t', '-1g', '0', '1g2', 'g'])('refuses %p with one line naming the value and the accepted forms', (raw) => {
    expect(() => parseMemorySize(raw)).toThrow(UsageError);
    expect(() => parseMemorySize(raw)).toThrow(`--memory must be a size such as 1g, 768m or 1073741824 (bytes), got '${raw}'`);
  });
});

describe('the memory plan', () => {
  it('splits 1 GiB for user-vectors on 12 partitions: parts add up to the budget, RocksDB shared out per store instance', () => {
    const plan = planMemory(GiB, 12);
    expect(plan.fixed + plan.snapshots + plan.rocksdb.total + plan.heap).toBe(GiB);
    expect(plan.snapshots).toBe(Math.floor((GiB - FIXED_BYTES) / 2));
    // Every store instance at its worst (memtables 1.5 × their budget, plus the cache) stays within the RocksDB share.
    const worst = plan.rocksdb.storeInstances * (1.5 * plan.rocksdb.perStore.memtableBytes + plan.rocksdb.perStore.cacheBytes);
    expect(worst).toBeLessThanOrEqual(plan.rocksdb.total);
    expect(plan.rocksdb.perStore.memtableBytes).toBeGreaterThan(4 * MiB);
    // Two live 100k × 128 snapshots with their HNSW indexes fit the snapshots' share.
    expect(2 * snapshotMemoryEstimate(100_000, 128)).toBeLessThan(plan.snapshots);
  });

  it('gives each store less as there are more of them', () => {
    expect(planMemory(GiB, 36).rocksdb.perStore.memtableBytes).toBeLessThan(planMemory(GiB, 12).rocksdb.perStore.memtableBytes);
  });

  it('plans no RocksDB for a process without stores', () => {
    const plan = planMemory(512 * MiB, 0);
    expect(plan.rocksdb.total).toBe(0);
    expect(plan.heap).toBeGreaterThan(0);
  });

  it('refuses a budget that cannot give each store instance its minimum, naming one that would', () => {
    let error: unknown;
    try {
      planMemory(256 * MiB, 36);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MemoryBudgetError);
    expect((error as MemoryBudgetError).code).toBe(ErrorCodes.MEMORY_BUDGET);
    const suggested = Number(/at least --memory (\d+)m/.exec((error as Error).message)?.[1]) * MiB;
    expect(suggested).toBeGreaterThan(256 * MiB);
    expect(() => planMemory(suggested, 36)).not.toThrow();
    expect(() => planMemory(suggested - 64 * MiB, 36)).toThrow(MemoryBudgetError);
    expect(() => planMemory(FIXED_BYTES, 0)).toThrow(MemoryBudgetError);
  });

  it('is logged in MiB', () => {
    expect(describePlan(planMemory(GiB, 12))).toEqual({
      total: '1024 MiB',
      fixed: '192 MiB',
      snapshots: '416 MiB',
      rocksdb: '208 MiB (12 store instances at most, each memtables 7 MiB + cache 4 MiB)',
      heap: '208 MiB',
    });
  });
});

describe('the malloc threshold a budget was measured with', () => {
  it('is asked for, by name and value, when glibc runs without it', () => {
    const advice = allocatorAdvice({}, '2.36');
    expect(advice).toMatch(/^MALLOC_MMAP_THRESHOLD_ is not set/);
    expect(advice).toContain('MALLOC_MMAP_THRESHOLD_=131072');
  });

  it('is not asked for when set (whatever the value) or under another C library', () => {
    expect(allocatorAdvice({ MALLOC_MMAP_THRESHOLD_: '65536' }, '2.36')).toBeUndefined();
    expect(allocatorAdvice({}, undefined)).toBeUndefined();
  });
});

describe('a catalog with a memory limit', () => {
  const s1 = clusteredSnapshot('s1', 2000, 16, 1);
  const s2 = clusteredSnapshot('s2', 2000, 16, 2);
  const one = snapshotMemoryEstimate(2000, 16, 'exact');
  const source = () =>
    new InMemorySnapshotSource(
      new Map([
        ['s1', s1],
        ['s2', s2],
      ]),
    );

  it('loads snapshots that fit together', async () => {
    const catalog = new SnapshotCatalog(source(), { index: 'exact', memoryLimitBytes: 2 * one });
    await catalog.ensure(manifestOf(s1));
    await catalog.ensure(manifestOf(s2));
    expect(catalog.ids()).toEqual(['s1', 's2']);
  });

  it('refuses a snapshot that does not fit beside the loaded one, with what it needs and what to raise; after a drop it fits', async () => {
    const catalog = new SnapshotCatalog(source(), { index: 'exact', memoryLimitBytes: Math.floor(1.5 * one) });
    await catalog.ensure(manifestOf(s1));
    await expect(catalog.ensure(manifestOf(s2))).rejects.toThrow(MemoryBudgetError);
    await expect(catalog.ensure(manifestOf(s2))).rejects.toThrow(
      /^snapshot 's2' \(2000 × 16\) needs \d+ MiB beside the \d+ MiB of the 1 loaded, over the \d+ MiB this process's --memory plan gives snapshots; raise --memory by at least \d+ MiB/,
    );
    expect(catalog.get('s2')).toBeUndefined();
    catalog.drop('s1');
    await catalog.ensure(manifestOf(s2));
    expect(catalog.ids()).toEqual(['s2']);
  });
});
