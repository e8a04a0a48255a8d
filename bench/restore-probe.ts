/**
 * Where a changelog restore's time goes (a probe, not a benchmark of record):
 * fills a 12-partition topic with `RECORDS` values of `BYTES` bytes, then
 * reads it whole (a) with one partition reader, fetch only; (b) the same,
 * writing each fetch to a RocksDB store; (c) as (b) with two readers, each
 * on half of the partitions, at the same time.
 */
import '../src/runtime/kafka/kafkajs-encoder-patch';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KafkajsClient } from '../src/runtime/kafka/kafkajs-client';
import { RocksDBBytesStore } from '../src/runtime/state/rocksdb/rocksdb-store';

const RECORDS = Number(process.env.RECORDS ?? 150_000);
const BYTES = Number(process.env.BYTES ?? 1200);
const PARTITIONS = 12;

async function main(): Promise<void> {
  const kafka = new KafkajsClient({ brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), clientId: 'restore-probe', logLevel: 'nothing' });
  const admin = await kafka.admin();
  const topic = `restore-probe-${Date.now().toString(36)}`;
  await admin.createTopics([{ name: topic, partitions: PARTITIONS }]);
  const producer = await kafka.producer();
  const value = Buffer.alloc(BYTES, 7);
  for (let i = 0; i < RECORDS; i += 5000) {
    await producer.send(Array.from({ length: Math.min(5000, RECORDS - i) }, (_, j) => ({ topic, key: `u${i + j}`, value, partition: (i + j) % PARTITIONS })));
  }
  await producer.close();
  const offsets = await admin.topicOffsets(topic);
  const dir = mkdtempSync(join(tmpdir(), 'restore-probe-'));
  const readAll = async (partitions: number[], write: boolean, tag: string) => {
    const reader = await kafka.partitionReader();
    const stores = new Map<number, RocksDBBytesStore>();
    try {
      for (const p of partitions) {
        let store: RocksDBBytesStore | undefined;
        if (write) {
          store = new RocksDBBytesStore('s', join(dir, `${tag}-${p}`));
          await store.open();
          stores.set(p, store);
        }
        let offset = BigInt(offsets.find((o) => o.partition === p)!.low);
        const high = BigInt(offsets.find((o) => o.partition === p)!.high);
        while (offset < high) {
          const res = await reader.fetch({ topic, partition: p }, offset.toString(), 0);
          if (store) await store.write(res.records.map((r) => ({ key: r.key!, value: r.value })));
          offset = BigInt(res.nextOffset);
        }
      }
    } finally {
      for (const s of stores.values()) await s.close();
      await reader.close();
    }
  };
  const all = Array.from({ length: PARTITIONS }, (_, p) => p);
  const time = async (label: string, job: () => Promise<unknown>) => {
    const t0 = performance.now();
    await job();
    const s = (performance.now() - t0) / 1000;
    console.log(`${label}: ${s.toFixed(2)} s, ${Math.round(RECORDS / s)} records/s, ${((RECORDS * BYTES) / s / 2 ** 20).toFixed(0)} MiB/s`);
  };
  await time('(a) one reader, fetch only', () => readAll(all, false, 'a'));
  await time('(b) one reader, fetch + RocksDB write', () => readAll(all, true, 'b'));
  await time('(c) two readers in parallel, fetch + RocksDB write', () =>
    Promise.all([
      readAll(
        all.filter((p) => p % 2 === 0),
        true,
        'c',
      ),
      readAll(
        all.filter((p) => p % 2 === 1),
        true,
        'c',
      ),
    ]),
  );
  await time('(a2) one reader, fetch only, again', () => readAll(all, false, 'a2'));
  await admin.deleteTopics([topic]).catch(() => undefined);
  await admin.close();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
