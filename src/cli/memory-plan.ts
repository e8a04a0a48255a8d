/**
 * `vectors run --memory <size>` (VECTORS_MEMORY): one memory budget per
 * process, split into a plan that is logged at start (docs/ARCHITECTURE.md,
 * "Memory budget"; figures behind the split in docs/BENCHMARKS.md, "Memory").
 *
 *   fixed      192 MiB: Node, the code, Kafka clients (measured 177–198 MiB at start)
 *   snapshots  half of the rest: the loaded snapshots together (active and
 *              staged during a switch), matrix + ids + neighbour index each
 *   rocksdb    a quarter of the rest, divided by the local store instances
 *              (stores × partitions: the most this instance can be assigned)
 *   heap       the last quarter: JS heap (store caches, batches, fetches)
 *
 * @nxtedition/rocksdb opens one database per store instance with its own block
 * cache and memtables (no shared cache or write-buffer manager without column
 * families), so the total is bounded by giving each instance its share.
 */
import { MemoryBudgetError, UsageError } from '../errors';
import type { RocksDBStoreOptions } from '../runtime/state/rocksdb/rocksdb-store';

const MiB = 2 ** 20;
/**
 * glibc's malloc maps each allocation of this many bytes or more on its own
 * and returns it to the system when freed. Set through the environment
 * (`MALLOC_MMAP_THRESHOLD_`, read once at start) by `vectors demo` and the
 * image: without it glibc raises its threshold as large blocks are freed and
 * keeps a snapshot switch's peak resident (docs/ARCHITECTURE.md, "Memory budget").
 */
export const MALLOC_MMAP_THRESHOLD = 128 * 1024;
/** Node, the code and the clients, before any snapshot or store (measured 177–198 MiB). */
export const FIXED_BYTES = 192 * MiB;
/** Below this per store instance RocksDB stalls writes (memtables of 2 MiB, a 1 MiB cache). */
export const MIN_STORE_BYTES = 4 * MiB;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, kb: 2 ** 10, kib: 2 ** 10, m: MiB, mb: MiB, mib: MiB, g: 2 ** 30, gb: 2 ** 30, gib: 2 ** 30 };

/**
 * A size such as `1g`, `1.5GiB`, `768m`, `512MiB` or `1073741824` (bytes),
 * in binary units (k = 1024).
 * @throws UsageError naming the value and the accepted forms.
 */
export function parseMemorySize(raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(bytes) || bytes <= 0) throw new UsageError(`--memory must be a size such as 1g, 768m or 1073741824 (bytes), got '${raw}'`);
  return bytes;
}

export interface MemoryPlan {
  total: number;
  fixed: number;
  /** What the loaded snapshots may take together. */
  snapshots: number;
  /** RocksDB, all store instances together, and the options of each. */
  rocksdb: { storeInstances: number; total: number; perStore: Required<RocksDBStoreOptions> };
  /** The rest: the JS heap. */
  heap: number;
}

/**
 * Splits `total` bytes for a process holding at most `storeInstances` RocksDB
 * stores (0 for a topology without state or with in-memory stores).
 * @throws MemoryBudgetError when the budget cannot give each store instance
 *   {@link MIN_STORE_BYTES}, saying which budget would.
 */
export function planMemory(total: number, storeInstances: number): MemoryPlan {
  const rest = total - FIXED_BYTES;
  const rocksdbTotal = storeInstances > 0 ? Math.floor(rest / 4) : 0;
  const perStore = storeInstances > 0 ? Math.floor(rocksdbTotal / storeInstances) : 0;
  if (rest <= 0 || (storeInstances > 0 && perStore < MIN_STORE_BYTES)) {
    const needed = FIXED_BYTES + Math.max(4 * storeInstances * MIN_STORE_BYTES, 64 * MiB);
    throw new MemoryBudgetError(
      `--memory ${mib(total)} is too small for ${storeInstances} RocksDB store instances: each needs ${mib(MIN_STORE_BYTES)} of a quarter of what is left after ${mib(FIXED_BYTES)} fixed; give at least --memory ${Math.ceil(needed / MiB)}m`,
    );
  }
  // RocksDB holds up to 1.5 × the memtable budget (6 write buffers of a quarter each) and reads
  // index and filter blocks outside the cache: 0.4 + 0.25 of the share leaves room for both.
  const memtableBytes = storeInstances > 0 ? Math.floor(perStore * 0.4) : 0;
  const cacheBytes = storeInstances > 0 ? Math.floor(perStore * 0.25) : 0;
  const snapshots = Math.floor(rest / 2);
  return {
    total,
    fixed: FIXED_BYTES,
    snapshots,
    rocksdb: { storeInstances, total: rocksdbTotal, perStore: { memtableBytes, cacheBytes } },
    heap: rest - snapshots - rocksdbTotal,
  };
}

/** The plan as log fields, in MiB. */
export function describePlan(plan: MemoryPlan): Record<string, unknown> {
  return {
    total: mib(plan.total),
    fixed: mib(plan.fixed),
    snapshots: mib(plan.snapshots),
    rocksdb: `${mib(plan.rocksdb.total)} (${plan.rocksdb.storeInstances} store instances at most, each memtables ${mib(plan.rocksdb.perStore.memtableBytes)} + cache ${mib(plan.rocksdb.perStore.cacheBytes)})`,
    heap: mib(plan.heap),
  };
}

/**
 * What an operator should know when a `--memory` budget runs without the
 * malloc threshold the budget was measured with: a warning naming the
 * variable, or undefined when it is set or the C library is not glibc
 * (`glibcVersion` undefined: musl and others ignore the variable).
 */
export function allocatorAdvice(env: NodeJS.ProcessEnv, glibcVersion: string | undefined): string | undefined {
  if (glibcVersion === undefined || env.MALLOC_MMAP_THRESHOLD_ !== undefined) return undefined;
  return (
    `MALLOC_MMAP_THRESHOLD_ is not set: glibc's malloc may keep a snapshot switch's peak resident, near or over the --memory budget ` +
    `(923–929 MiB against 895 MiB with it for user-vectors and candidates at --memory 1g; 1,058 MiB before the RocksDB stores' own options; docs/BENCHMARKS.md "Memory"); ` +
    `start the process with MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD} in its environment, as the image and 'vectors demo' do`
  );
}

/** The running glibc's version (Node's diagnostic report), or undefined under another C library. */
export function glibcVersion(): string | undefined {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime;
}

function mib(bytes: number): string {
  return `${(bytes / MiB).toFixed(0)} MiB`;
}
