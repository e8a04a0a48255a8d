/**
 * Repeats Kafka caused, told apart from ours. When a one-broker cluster
 * restarts, its transaction coordinator can complete a transaction while the
 * partitions' leaders are not yet known, and then skips their commit markers
 * ("Couldn't find leader endpoint for partitions Set(...) while trying to send
 * transaction markers for <id>, these partitions are likely deleted already
 * and hence can be skipped"). The records of that transaction stay open in
 * those partitions (a hanging transaction), and the first commit marker of
 * the same producer id's next epoch commits them together with that epoch's
 * records, although the input offsets of the first transaction were never
 * committed and its records were processed again: they appear twice.
 *
 * A repeat is Kafka's only when both hold: the broker logged the dropped
 * markers for the repeat's partition, and the repeat's first copy lies in a
 * range of the partition's log (read with Kafka's DumpLogSegments) that one
 * producer epoch wrote transactionally and never marked before the same
 * producer wrote with a newer epoch. docs/RELIABILITY.md explains it.
 */
import type { Repeat } from './checks';

/** `topic-partition` names whose markers the broker logged as dropped, each with the transactional ids concerned. */
export function droppedMarkerPartitions(brokerLog: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const re = /Couldn't find leader endpoint for partitions Set\(([^)]*)\) while trying to send transaction markers for ([^,\s]+)/g;
  for (const m of brokerLog.matchAll(re)) {
    for (const tp of m[1]!.split(',').map((s) => s.trim())) {
      if (tp) (out.get(tp) ?? out.set(tp, new Set()).get(tp)!).add(m[2]!);
    }
  }
  return out;
}

/** Offsets one producer epoch wrote in a transaction that was never marked before the producer wrote again with a newer epoch. */
export interface HangingRange {
  producerId: string;
  producerEpoch: number;
  from: bigint;
  to: bigint;
}

/** The hanging ranges of one partition, from DumpLogSegments' batch lines (`baseOffset: … isControl: …`). */
export function hangingRanges(dump: string): HangingRange[] {
  const open = new Map<string, HangingRange>();
  const out: HangingRange[] = [];
  for (const line of dump.split('\n')) {
    if (!line.startsWith('baseOffset:')) continue;
    const field = (name: string) => new RegExp(`\\b${name}: (\\S+)`).exec(line)?.[1];
    const producerId = field('producerId');
    if (producerId === undefined || producerId === '-1' || field('isTransactional') !== 'true') continue;
    const epoch = Number(field('producerEpoch'));
    const from = BigInt(field('baseOffset')!);
    const to = BigInt(field('lastOffset')!);
    const current = open.get(producerId);
    if (field('isControl') === 'true') {
      // A marker of this epoch or a newer one ends whatever the producer had open.
      if (current && epoch >= current.producerEpoch) open.delete(producerId);
      continue;
    }
    if (current && epoch > current.producerEpoch) {
      out.push(current);
      open.delete(producerId);
    }
    const still = open.get(producerId);
    if (still) still.to = to;
    else open.set(producerId, { producerId, producerEpoch: epoch, from, to });
  }
  return out;
}

/**
 * How many of `repeats` (all of one topic) Kafka caused: the broker dropped
 * the markers of their partition and their first copy lies in a hanging
 * range of it. `dumps` maps a partition to its DumpLogSegments output.
 */
export function repeatsFromDroppedMarkers(topic: string, repeats: Repeat[], dropped: Map<string, Set<string>>, dumps: Map<number, string>): number {
  const ranges = new Map<number, HangingRange[]>();
  let n = 0;
  for (const r of repeats) {
    if (r.firstOffset === undefined || !dropped.has(`${topic}-${r.partition}`)) continue;
    const dump = dumps.get(r.partition);
    if (dump === undefined) continue;
    const hanging = ranges.get(r.partition) ?? ranges.set(r.partition, hangingRanges(dump)).get(r.partition)!;
    if (hanging.some((h) => h.from <= r.firstOffset! && r.firstOffset! <= h.to)) n++;
  }
  return n;
}
