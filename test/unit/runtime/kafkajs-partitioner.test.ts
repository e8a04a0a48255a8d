/**
 * The producer's partitioner places every record where kafkajs's
 * DefaultPartitioner (the Java client's murmur2) places it: outputs, rerouted
 * records and changelogs must land on the partition every other client and
 * the runtime's own routing expect.
 */
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { javaCompatiblePartitioner } from '../../../src/runtime/kafka/kafkajs-client';
import { mulberry32 } from '../../support/random';

const metadata = (n: number, leaderless: number[] = []): PartitionMetadata[] =>
  Array.from({ length: n }, (_, partitionId) => ({
    partitionId,
    leader: leaderless.includes(partitionId) ? -1 : 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));

describe('javaCompatiblePartitioner', () => {
  it("puts keyed records where kafkajs's DefaultPartitioner does, for Buffer and string keys", () => {
    const ours = javaCompatiblePartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const random = mulberry32(11);
    let checked = 0;
    for (const partitions of [1, 2, 3, 7, 12, 64, 1000]) {
      const partitionMetadata = metadata(partitions);
      for (let i = 0; i < 300; i++) {
        const length = Math.floor(random() * 40);
        const bytes = Buffer.from(Array.from({ length }, () => Math.floor(random() * 256)));
        for (const key of [bytes, `user-${Math.floor(random() * 1e9)}`, `ü${i}`]) {
          const message = { key, value: null };
          expect(ours({ topic: 't', partitionMetadata, message })).toBe(theirs({ topic: 't', partitionMetadata, message }));
          checked++;
        }
      }
    }
    expect(checked).toBe(7 * 300 * 3);
  });

  it("keeps a record's own partition, keyed or not", () => {
    const ours = javaCompatiblePartitioner();
    const partitionMetadata = metadata(12);
    expect(ours({ topic: 't', partitionMetadata, message: { key: Buffer.from('u1'), value: null, partition: 7 } })).toBe(7);
    expect(ours({ topic: 't', partitionMetadata, message: { key: null, value: null, partition: 0 } })).toBe(0);
  });

  it('spreads keyless records round robin over the partitions that have a leader, each topic on its own', () => {
    const ours = javaCompatiblePartitioner();
    const partitionMetadata = metadata(5, [1, 3]);
    const picks = Array.from({ length: 9 }, () => ours({ topic: 'a', partitionMetadata, message: { key: null, value: null } }));
    expect(new Set(picks)).toEqual(new Set([0, 2, 4]));
    // Consecutive picks cycle through the three available partitions.
    for (let i = 3; i < picks.length; i++) expect(picks[i]).toBe(picks[i - 3]);
    expect(new Set(picks.slice(0, 3)).size).toBe(3);
    const other = ours({ topic: 'b', partitionMetadata, message: { key: null, value: null } });
    expect([0, 2, 4]).toContain(other);
    // With no leader anywhere, a partition of the topic still comes back (the send is then retried).
    expect([0, 1]).toContain(ours({ topic: 'c', partitionMetadata: metadata(2, [0, 1]), message: { key: null, value: null } }));
  });
});
