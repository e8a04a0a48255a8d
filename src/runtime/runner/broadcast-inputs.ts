import type { IncomingRecord, KafkaAdmin, PartitionReader } from '../kafka/client';
import { readRange } from '../kafka/read-range';
import type { Task } from '../task';
import type { Topology } from '../topology/topology';

/** What the broadcast inputs need from their runner. */
export interface BroadcastDeps {
  topology: Topology;
  /** The current connection's admin and reader (both change when the runner reconnects). */
  admin(): KafkaAdmin;
  reader(): PartitionReader;
  /**
   * The followers' own reader. A reader serves one fetch at a time, and a
   * follower's fetch waits up to 200 ms for new records: on the reader that
   * restores share, every restore fetch queued behind such a wait.
   */
  followReader(): PartitionReader;
  /** Whether a follower started for connection generation `gen` should go on. */
  following(gen: number): boolean;
  /** The running tasks, each to be given every new broadcast record. */
  tasks(): Iterable<Task>;
  /** Runs `job` in the runner's processing queue, never concurrently with a batch or a commit. */
  inQueue(job: () => Promise<void>): Promise<void>;
  /** Hands one broadcast record to a task, retrying a retriable failure (a registry blip) until it is applied. */
  process(task: Task, spout: string, record: IncomingRecord): Promise<void>;
  /** After new records reached every task: send what they emitted. */
  afterRecords(): Promise<void>;
  /**
   * After new records reached one task, before the next task gets them: commit
   * when that task's caches are full (`Task.wantsCommit`). A broadcast record
   * can make every task write much (user-vectors computes every user in a new
   * snapshot), and dirty entries stay until a commit: without one between
   * tasks, all of the instance's tasks' writes are held at once.
   */
  afterTask(task: Task): Promise<void>;
}

const IDLE_WAIT_MS = 50;
/** How long a follower's fetch waits for new records at the end of a partition. */
const FOLLOW_WAIT_MS = 200;

/**
 * The broadcast spouts of one instance (Storm's all-grouping, a Kafka Streams
 * global input): every task reads every partition of such a topic. One
 * follower per spout reads it once for the whole instance and hands each
 * record to every running task; a task opened later first replays the
 * history the instance has read ({@link replayInto}), so every task has seen
 * the same records before its first partitioned one. A broadcast input has no
 * committed offsets: a task rebuilds what it derives from it by replaying.
 */
export class BroadcastInputs {
  /** Per `topic:partition`: the next offset the instance reads, i.e. how far every task has seen. */
  private readonly positions = new Map<string, string>();

  constructor(private readonly d: BroadcastDeps) {}

  /** Moves the position of `spoutName` to the end of its committed records, before the first task opens: tasks replay up to it. */
  async bootstrap(spoutName: string): Promise<void> {
    const spout = this.d.topology.spouts.get(spoutName)!;
    for (const o of await this.d.admin().topicOffsets(spout.topic)) {
      // The last stable offset, not the high watermark: records of a transaction still open must not be skipped.
      // A fetch at the end returns no records, only the offsets.
      const { lastStableOffset } = await this.d.reader().fetch({ topic: spout.topic, partition: o.partition }, o.high, 0);
      const end = BigInt(lastStableOffset) < BigInt(o.high) ? lastStableOffset : o.high;
      this.positions.set(`${spout.topic}:${o.partition}`, end);
    }
  }

  /** Reads `spoutName` on from its position while the connection of generation `gen` lasts, giving each record to every running task. */
  async follow(spoutName: string, gen: number): Promise<void> {
    const spout = this.d.topology.spouts.get(spoutName)!;
    const offsets = await this.d.admin().topicOffsets(spout.topic);
    for (const o of offsets) if (!this.positions.has(`${spout.topic}:${o.partition}`)) this.positions.set(`${spout.topic}:${o.partition}`, o.low);
    while (this.d.following(gen)) {
      let got = 0;
      for (const o of offsets) {
        const key = `${spout.topic}:${o.partition}`;
        const res = await this.d.followReader().fetch({ topic: spout.topic, partition: o.partition }, this.positions.get(key)!, FOLLOW_WAIT_MS);
        got += res.records.length;
        if (res.records.length) {
          await this.d.inQueue(async () => {
            for (const task of this.d.tasks()) {
              for (const r of res.records) await this.d.process(task, spoutName, r);
              await this.d.afterTask(task);
            }
            this.positions.set(key, res.nextOffset);
            await this.d.afterRecords();
          });
        } else {
          this.positions.set(key, res.nextOffset);
        }
      }
      if (got === 0) await new Promise((r) => setTimeout(r, IDLE_WAIT_MS));
    }
  }

  /** Gives a newly opened task the broadcast history the instance has already read (its position), in offset order per partition. */
  async replayInto(task: Task): Promise<void> {
    for (const spoutName of this.d.topology.broadcastSpouts) {
      const spout = this.d.topology.spouts.get(spoutName)!;
      for (const o of await this.d.admin().topicOffsets(spout.topic)) {
        const until = BigInt(this.positions.get(`${spout.topic}:${o.partition}`) ?? o.low);
        await readRange(this.d.reader(), { topic: spout.topic, partition: o.partition }, BigInt(o.low), until, async (records) => {
          for (const r of records) await this.d.process(task, spoutName, r);
        });
      }
    }
  }
}
