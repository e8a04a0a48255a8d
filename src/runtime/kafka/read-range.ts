import type { FetchResult, IncomingRecord, PartitionReader, TopicPartition } from './client';

/** Where {@link readRange} stopped. */
export interface RangeEnd {
  /** The next offset to read. */
  offset: bigint;
  /** False when a fetch made no progress before the end (nothing more is readable now, e.g. an open transaction). */
  complete: boolean;
}

/**
 * Reads one partition from `from` up to `until` (exclusive), or, without
 * `until`, up to the end of committed data as each fetch reports it; hands the
 * records of every fetch to `onRecords` in offset order. Used to restore
 * changelogs, replay broadcast inputs and load whole topics.
 */
export async function readRange(
  reader: PartitionReader,
  tp: TopicPartition,
  from: bigint,
  until: bigint | undefined,
  onRecords: (records: IncomingRecord[], fetch: FetchResult) => Promise<void> | void,
): Promise<RangeEnd> {
  let offset = from;
  if (until !== undefined && offset >= until) return { offset, complete: true };
  for (;;) {
    const res = await reader.fetch(tp, offset.toString(), 0);
    const records = until === undefined ? res.records : res.records.filter((r) => BigInt(r.offset) < until);
    await onRecords(records, res);
    const next = BigInt(res.nextOffset);
    // Already at the end (an empty changelog on a first start) is complete, not stuck.
    if (next >= (until ?? BigInt(res.lastStableOffset))) return { offset: next, complete: true };
    if (next === offset) return { offset, complete: false };
    offset = next;
  }
}
