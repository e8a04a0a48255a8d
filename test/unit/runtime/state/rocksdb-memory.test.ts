/**
 * A RocksDB store's memory must not grow with the bytes written to it.
 * @nxtedition/rocksdb 12.2's `db.batch(array)` keeps every native WriteBatch
 * attached to the database until it closes, so a process's resident memory
 * grew by every byte it ever wrote (docs/BENCHMARKS.md, "Memory"). Measured
 * in a child process, whose anonymous resident memory is all this test's.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const STORE = resolve(__dirname, '../../../../src/runtime/state/rocksdb/rocksdb-store.ts');
const MiB = 2 ** 20;

// Writes `total` bytes as commits of ~512 KiB (a task's commit under load), 1,200-byte values over
// 20,000 keys, then prints how much the process's anonymous resident memory grew.
const CHILD = `
const { readFileSync } = require('node:fs');
const { RocksDBBytesStore } = require(process.env.STORE);
const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
(async () => {
  const store = new RocksDBBytesStore('users', process.env.DIR, {});
  await store.open();
  const value = Buffer.alloc(1200, 7);
  const total = Number(process.env.TOTAL);
  let written = 0, k = 0;
  // Warm up: memtables, block cache and the reused batch reach their size.
  const commit = async () => {
    const ops = [];
    for (let i = 0; i < 430; i++, k++) ops.push({ key: Buffer.from('u' + (k % 20000)), value });
    await store.write(ops);
    written += 430 * 1200;
  };
  while (written < 32 * 2 ** 20) await commit();
  const before = anon();
  written = 0;
  while (written < total) await commit();
  const grown = anon() - before;
  await store.close();
  process.stdout.write(JSON.stringify({ grown, written }));
})();
`;

const onLinux = process.platform === 'linux' ? it : it.skip;

describe('RocksDBBytesStore memory', () => {
  onLinux(
    'does not keep the bytes it wrote: 256 MiB of writes grow resident memory by far less than that',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'rocksdb-memory-'));
      try {
        const out = execFileSync(process.execPath, ['-r', 'tsx/cjs', '-e', CHILD], {
          env: { ...process.env, STORE, DIR: join(dir, 'db'), TOTAL: String(256 * MiB) },
          encoding: 'utf8',
          timeout: 120_000,
        });
        const { grown, written } = JSON.parse(out) as { grown: number; written: number };
        expect(written).toBeGreaterThanOrEqual(256 * MiB);
        // Memtables (≤ 12 MiB at the 8 MiB budget) and the 4 MiB block cache are already full after
        // the warm-up; before the fix this grew by about the bytes written (~280 MiB).
        expect(grown).toBeLessThan(64 * MiB);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    180_000,
  );
});
