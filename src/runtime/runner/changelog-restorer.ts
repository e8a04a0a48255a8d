import type { KafkaAdmin, PartitionReader } from '../kafka/client';
import type { RuntimeMetrics } from '../metrics/runtime-metrics';
import type { BytesStore } from '../state/store';
import type { LogFn } from '../topology/bolt';
import type { Topology } from '../topology/topology';
import type { RestoreProgress, RestoreSlots } from './restore-slots';

/** What the restorer needs from its runner. */
export interface RestorerDeps {
  topology: Topology;
  /** The current connection's admin and reader (both change when the runner reconnects). */
  admin(): KafkaAdmin;
  reader(): PartitionReader;
  /** Shared by every restoring task of the instance: one fetch per slot at a time. */
  slots: RestoreSlots;
  metrics: RuntimeMetrics;
  log: LogFn;
  /** Called before every fetch (RunnerOptions.onRestoreProgress); a restore waits for it, or for its cancellation. */
  onProgress?: (progress: RestoreProgress) => void | Promise<void>;
}

/** The part of a restoring task the restorer reads and moves. */
export interface RestoreTarget {
  /** Task id, e.g. `0_3`. */
  id: string;
  partition: number;
  /** Per store: the changelog offset its backend holds up to (exclusive); moved after every write. */
  changelogOffsets: Record<string, string>;
  /** Set when the task is closed: the restore writes nothing more. */
  cancelled: boolean;
  /** Fires on cancellation, to cut a wait short. */
  cancelledSignal: Promise<void>;
}

/**
 * Brings stores up to the end of their changelogs (Kafka Streams' store
 * changelog reader): one store of one task per call, resumable from a
 * checkpoint, cancellable between fetches.
 */
export class ChangelogRestorer {
  constructor(private readonly d: RestorerDeps) {}

  /**
   * Brings `backend` up to the end of its changelog partition, one fetch per
   * restore slot, recording the offset reached in `r.changelogOffsets` after
   * every write. A checkpoint outside the partition's bounds (the topic was
   * recreated or truncated) is not trusted: the store is cleared and read in
   * full. Returns the offset reached, or undefined when the task was closed
   * meanwhile (nothing is written after that).
   */
  async restore(r: RestoreTarget, store: string, backend: BytesStore, fromCheckpoint: string | undefined): Promise<string | undefined> {
    const { topology, metrics } = this.d;
    const topic = topology.changelogTopic(store);
    const { partition } = r;
    const reader = this.d.reader();
    const bounds = (await this.d.admin().topicOffsets(topic)).find((o) => o.partition === partition);
    if (r.cancelled) return undefined;
    const low = BigInt(bounds?.low ?? '0');
    const high = BigInt(bounds?.high ?? '0');
    let offset: bigint;
    if (fromCheckpoint === undefined || BigInt(fromCheckpoint) < low || BigInt(fromCheckpoint) > high) {
      // Nothing trustworthy locally: start from an empty store.
      await backend.clear();
      offset = low;
      r.changelogOffsets[store] = offset.toString();
    } else {
      offset = BigInt(fromCheckpoint);
    }
    const labels = { topology: topology.name, store, partition: String(partition) };
    let end = high;
    let restored = 0;
    metrics.restoreRemaining.set(labels, Number(end > offset ? end - offset : 0n));
    for (;;) {
      if (this.d.onProgress) {
        const progress = { taskId: r.id, store, partition, offset: offset.toString(), end: end.toString(), restored };
        await Promise.race([Promise.resolve(this.d.onProgress(progress)), r.cancelledSignal]);
      }
      const res = await this.d.slots.use(async () => {
        if (r.cancelled) return undefined;
        const fetched = await reader.fetch({ topic, partition }, offset.toString(), 0);
        if (r.cancelled) return undefined;
        if (fetched.records.length) {
          await backend.write(fetched.records.map((x) => ({ key: x.key ?? Buffer.alloc(0), value: x.value })));
          metrics.restoreRecords.inc({ topology: topology.name, store }, fetched.records.length);
        }
        return fetched;
      });
      if (!res) return undefined;
      const next = BigInt(res.nextOffset);
      end = BigInt(res.lastStableOffset);
      restored += res.records.length;
      r.changelogOffsets[store] = next.toString();
      metrics.restoreRemaining.set(labels, Number(end > next ? end - next : 0n));
      // Already at the end (an empty changelog on a first start) is complete, not stuck.
      if (next >= end) {
        offset = next;
        break;
      }
      if (next === offset) {
        this.d.log('warn', 'changelog restore made no progress; continuing from where it stopped', { topic, partition, offset: offset.toString() });
        break;
      }
      offset = next;
    }
    metrics.restoreRemaining.set(labels, 0);
    return offset.toString();
  }
}
