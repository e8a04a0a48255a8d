/**
 * Telling the repeats Kafka caused from ours, on excerpts of a real failing
 * chaos run (seed 6): the broker's log line and DumpLogSegments' batch lines
 * of user-vectors-1, where producer 18's epoch-0 transaction at 2207-2211
 * never got its marker and epoch 1's commit at 2293 published it again.
 */
import type { Repeat } from '../../chaos/checks';
import { droppedMarkerPartitions, hangingRanges, repeatsFromDroppedMarkers } from '../../chaos/hanging';

const LOG = [
  '[2026-11-30 08:58:47,100] INFO [TransactionCoordinator id=1] Elected as the txn coordinator for partition 3 (kafka.coordinator.transaction.TransactionCoordinator)',
  "[2026-11-30 08:58:48,303] INFO [Transaction Marker Channel Manager 1]: Couldn't find leader endpoint for partitions Set(user-vectors-users-changelog-1, user-vectors-1, __consumer_offsets-4, candidate-requests-1) while trying to send transaction markers for user-vectors-0_1, these partitions are likely deleted already and hence can be skipped (kafka.coordinator.transaction.TransactionMarkerChannelManager)",
].join('\n');

const batch = (base: number, last: number, seq: number, epoch: number, control: boolean, pid = 18) =>
  `baseOffset: ${base} lastOffset: ${last} count: ${last - base + 1} baseSequence: ${control ? -1 : seq} lastSequence: ${control ? -1 : seq + last - base} producerId: ${pid} producerEpoch: ${epoch} partitionLeaderEpoch: 0 isTransactional: true isControl: ${control} deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1796029105903 size: 100 magic: 2 compresscodec: none crc: 1 isvalid: true`;

const DUMP = [
  'Dumping /x/user-vectors-1/00000000000000000000.log',
  'Log starting offset: 0',
  batch(2202, 2205, 1912, 0, false),
  '| offset: 2202 CreateTime: 1796029105813 keySize: 6 valueSize: 89 sequence: 1912 headerKeys: [] key: u00182 payload: …',
  batch(2206, 2206, 0, 0, true),
  '| offset: 2206 CreateTime: 1796029105931 keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] endTxnMarker: COMMIT coordinatorEpoch: 0',
  batch(2207, 2211, 1916, 0, false),
  batch(2212, 2292, 0, 1, false),
  batch(2293, 2293, 0, 1, true),
  batch(2294, 2299, 81, 1, false),
].join('\n');

it('reads which partitions the broker dropped markers for, and for which transactional id', () => {
  const dropped = droppedMarkerPartitions(LOG);
  expect([...dropped.keys()]).toEqual(['user-vectors-users-changelog-1', 'user-vectors-1', '__consumer_offsets-4', 'candidate-requests-1']);
  expect([...dropped.get('user-vectors-1')!]).toEqual(['user-vectors-0_1']);
  expect(droppedMarkerPartitions('[2026-11-30 08:58:48,303] INFO nothing about markers').size).toBe(0);
});

it('finds the range one epoch wrote and never marked before the next epoch wrote; marked transactions and the still open one are not hanging', () => {
  expect(hangingRanges(DUMP)).toEqual([{ producerId: '18', producerEpoch: 0, from: 2207n, to: 2211n }]);
  // Another producer's batches in between change nothing.
  const interleaved = DUMP.replace(batch(2212, 2292, 0, 1, false), `${batch(2212, 2212, 5, 3, false, 44)}\n${batch(2213, 2292, 0, 1, false)}`);
  expect(hangingRanges(interleaved)).toEqual([{ producerId: '18', producerEpoch: 0, from: 2207n, to: 2211n }]);
  // Marked before the new epoch wrote: not hanging.
  expect(hangingRanges(DUMP.replace(batch(2212, 2292, 0, 1, false), `${batch(2212, 2212, 0, 0, true)}\n${batch(2213, 2292, 0, 1, false)}`))).toEqual([]);
});

it("counts a repeat as Kafka's only when the broker logged dropped markers for its partition and its first copy hangs", () => {
  const dumps = new Map([[1, DUMP]]);
  const dropped = droppedMarkerPartitions(LOG);
  const repeats: Repeat[] = [
    { partition: 1, offset: 2212n, firstOffset: 2207n }, // Kafka's
    { partition: 1, offset: 2215n, firstOffset: 2211n }, // Kafka's
    { partition: 1, offset: 2290n, firstOffset: 2204n }, // first copy in a committed transaction: ours
    { partition: 1, offset: 2291n }, // out of order, no first copy: ours
  ];
  expect(repeatsFromDroppedMarkers('user-vectors', repeats, dropped, dumps)).toBe(2);
  // Without the broker's line, or on a partition it did not name, nothing is Kafka's.
  expect(repeatsFromDroppedMarkers('user-vectors', repeats, new Map(), dumps)).toBe(0);
  expect(repeatsFromDroppedMarkers('recommendation-candidates', repeats, dropped, dumps)).toBe(0);
});
