/**
 * The in-memory Kafka client keeps the promises the runner relies on:
 * transactions, fencing, committed offsets, group assignment. If it did not,
 * the runner tests on it would prove nothing.
 */
import { GroupRebalanceError, MemoryKafkaCluster, partitionForKey, type KafkaConsumer, type TopicPartition } from '../../../src/runtime';

const rec = (key: string, value = key) => ({ topic: 't', key, value: Buffer.from(value), partition: 0 });
const values = (records: { value: Buffer | null }[]) => records.map((r) => r.value!.toString());

describe('MemoryKafkaCluster', () => {
  let cluster: MemoryKafkaCluster;
  beforeEach(() => {
    cluster = new MemoryKafkaCluster();
    cluster.createTopic({ name: 't', partitions: 2 });
  });

  it('places keyed records by murmur2 and returns where each partition’s last record landed', async () => {
    const producer = await cluster.client().producer();
    const produced = await producer.send([
      { topic: 't', key: 'k1', value: Buffer.from('1') },
      { topic: 't', key: 'k1', value: Buffer.from('2') },
    ]);
    const p = partitionForKey(Buffer.from('k1'), 2);
    expect(produced).toEqual([{ topic: 't', partition: p, lastOffset: '1' }]);
    expect(cluster.read('t').map((r) => [r.partition, r.offset])).toEqual([
      [p, '0'],
      [p, '1'],
    ]);
  });

  it('hides an open transaction from read_committed readers, holds back the stable offset, and drops an aborted one', async () => {
    const client = cluster.client();
    const txp = await client.transactionalProducer('tx');
    const reader = await client.partitionReader();
    const uncommitted = await client.partitionReader({ readUncommitted: true });

    const t1 = await txp.begin();
    await t1.send([rec('a')]);
    expect((await reader.fetch({ topic: 't', partition: 0 }, '0')).records).toEqual([]);
    expect(await reader.fetch({ topic: 't', partition: 0 }, '0')).toMatchObject({ lastStableOffset: '0', highWatermark: '1', nextOffset: '0' });
    expect(values((await uncommitted.fetch({ topic: 't', partition: 0 }, '0')).records)).toEqual(['a']);
    await t1.commit();

    const t2 = await txp.begin();
    await t2.send([rec('b')]);
    await t2.abort();
    await (await client.producer()).send([rec('c')]);

    // a, its commit marker, b (aborted), its abort marker, c.
    const all = await reader.fetch({ topic: 't', partition: 0 }, '0');
    expect(values(all.records)).toEqual(['a', 'c']);
    expect(all.records.map((r) => r.offset)).toEqual(['0', '4']);
    expect(all).toMatchObject({ nextOffset: '5', highWatermark: '5', lastStableOffset: '5' });
    expect(values(cluster.read('t'))).toEqual(['a', 'c']);
    expect(values(cluster.read('t', { readUncommitted: true }))).toEqual(['a', 'b', 'c']);
  });

  it('commits transactional offsets with the transaction only; a newer producer of the same id fences the old one and aborts its transaction', async () => {
    const client = cluster.client();
    const old = await client.transactionalProducer('tx');
    const txn = await old.begin();
    await txn.send([rec('x')]);
    await txn.sendOffsets('g', [{ topic: 't', partition: 0, offset: '7' }]);
    expect(cluster.committedOffsets('g', 't')[0]!.offset).toBe('-1');

    const fresh = await client.transactionalProducer('tx');
    expect(values(cluster.read('t'))).toEqual([]);
    await expect(txn.commit()).rejects.toThrow(/fenced/);
    await expect(old.begin()).rejects.toThrow(/PRODUCER_FENCED/);
    expect(cluster.committedOffsets('g', 't')[0]!.offset).toBe('-1');

    const t2 = await fresh.begin();
    await t2.sendOffsets('g', [{ topic: 't', partition: 0, offset: '7' }]);
    await t2.commit();
    expect(cluster.committedOffsets('g', 't').map((o) => o.offset)).toEqual(['7', '-1']);
  });

  it('can only abort a transaction one of whose sends failed, as the real client does', async () => {
    const txn = await (await cluster.client().transactionalProducer('tx')).begin();
    await txn.send([rec('x')]);
    await expect(txn.send([{ topic: 'missing', key: 'k', value: Buffer.from('y') }])).rejects.toThrow(/missing/);
    await expect(txn.sendOffsets('g', [{ topic: 't', partition: 0, offset: '7' }])).rejects.toThrow(/a send of this transaction failed earlier/);
    await expect(txn.commit()).rejects.toThrow(/a send of this transaction failed earlier.*abort it/);
    await txn.abort();
    expect(values(cluster.read('t', { readUncommitted: false }))).toEqual([]);
    expect(cluster.committedOffsets('g', 't')[0]!.offset).toBe('-1');
  });

  describe('consumer groups', () => {
    const consumers: KafkaConsumer[] = [];
    afterEach(async () => {
      for (const c of consumers.splice(0)) await c.close();
    });

    async function member(owned: () => string[], assignments: TopicPartition[][]): Promise<KafkaConsumer> {
      const c = await cluster.client().consumer({ groupId: 'g', taskOf: (_t, p) => `0_${p}`, ownedTasks: owned, maxWaitTimeMs: 10 });
      consumers.push(c);
      await c.subscribe(['t']);
      await c.run({ onBatch: async () => true, onAssignment: (a) => void assignments.push(a) });
      return c;
    }

    const until = async (check: () => boolean) => {
      for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
      expect(check()).toBe(true);
    };

    it('split whole tasks between members and keep a task with its previous owner', async () => {
      const first: TopicPartition[][] = [];
      const second: TopicPartition[][] = [];
      const a = await member(() => (first.length ? first[first.length - 1]!.map((tp) => `0_${tp.partition}`) : []), first);
      await until(() => first.length === 1);
      expect(first[0]!.map((tp) => tp.partition).sort()).toEqual([0, 1]);
      await a.commit([{ topic: 't', partition: 0, offset: '0' }]);

      await member(() => [], second);
      await until(() => first.length === 2 && second.length === 1);
      // Balanced one and one, and a kept the task it had first in order (sticky), the newcomer got the other.
      expect(first[1]!.map((tp) => tp.partition)).toEqual([0]);
      expect(second[0]!.map((tp) => tp.partition)).toEqual([1]);
      await a.commit([{ topic: 't', partition: 0, offset: '1' }]);
      expect(cluster.committedOffsets('g', 't')[0]!.offset).toBe('1');
    });

    it('refuse an at-least-once commit while the group rebalances', async () => {
      const seen: TopicPartition[][] = [];
      const a = await member(() => [], seen);
      await until(() => seen.length === 1);
      // A member joins: the group rebalances until every member rejoined, and a commit meanwhile is refused.
      const late = await cluster.client().consumer({ groupId: 'g', taskOf: (_t, p) => `0_${p}` });
      consumers.push(late);
      await late.subscribe(['t']);
      await late.run({ onBatch: async () => true });
      await expect(a.commit([{ topic: 't', partition: 0, offset: '1' }])).rejects.toBeInstanceOf(GroupRebalanceError);
    });
  });
});
