import { GroupRebalanceError } from '../errors';
import type {
  KafkaConsumer,
  KafkaProducer,
  KafkaTransaction,
  OutgoingRecord,
  ProducedOffset,
  TopicPartitionOffset,
  TransactionalProducer,
} from '../kafka/client';
import type { RuntimeMetrics } from '../metrics/runtime-metrics';
import type { BytesStore } from '../state/store';
import type { PreparedCommit, Task } from '../task';
import type { LogFn } from '../topology/bolt';
import type { Topology } from '../topology/topology';
import type { Checkpoint } from './checkpoint';

/** A running task with what its commits need: its stores' backends and checkpoint, and (exactly-once) its producer and open transaction. */
export interface TaskState {
  task: Task;
  backends: Map<string, BytesStore>;
  checkpoint: Checkpoint;
  changelogOffsets: Record<string, string>;
  /** When the checkpoint was last written (Date.now()). */
  checkpointedAt: number;
  producer?: TransactionalProducer;
  txn?: KafkaTransaction;
  /** Transactions of this task that failed in a row (not fenced); reset by a commit. */
  failedCommits?: number;
}

/** What the committer needs from its runner. */
export interface CommitterDeps {
  topology: Topology;
  applicationId: string;
  instanceId: string;
  guarantee: 'at-least-once' | 'exactly-once';
  /** Whether backends outlive the process (RocksDB): only then are checkpoints written. */
  persistent: boolean;
  /** The current connection's producer (at-least-once) and consumer (offset commits). */
  producer(): KafkaProducer;
  consumer(): KafkaConsumer;
  /** A new transactional producer for `transactionalId` (exactly-once); its initialisation fences older ones. */
  transactionalProducer(transactionalId: string): Promise<TransactionalProducer>;
  metrics: RuntimeMetrics;
  log: LogFn;
}

/**
 * At-least-once: output records waiting behind the send in flight before
 * processing waits for that send (see sendOutputsBehind). Bounds the memory
 * they hold, not the latency: they leave together as soon as it is answered.
 */
export const MAX_QUEUED_OUTPUTS = 20_000;
/** How often a running task's checkpoint moves (and its stores sync); also on close and after a restore. */
const CHECKPOINT_EVERY_MS = 10_000;

/**
 * How a task's work becomes durable (Kafka Streams' task commit): outputs,
 * changelog records and input offsets, then the local stores and the
 * checkpoint. At-least-once, outputs travel while the next batch is
 * processed and every commit first waits for them; exactly-once, everything
 * goes into the task's transaction. What to do when a commit fails (reopen,
 * renew, die) is the runner's decision, not the committer's.
 */
export class TaskCommitter {
  /** At-least-once outputs given to sendOutputsBehind and not sent yet: they wait for the send in flight. */
  private queued: OutgoingRecord[] = [];
  /** The send in flight, if any. */
  private inFlight: Promise<void> | undefined;
  /** Sends queued outputs one request at a time until none are left (undefined when idle). */
  private sending: Promise<void> | undefined;
  /** The first failed output send of this connection: later outputs are dropped, and every drain throws it. */
  private failed: { error: unknown } | undefined;
  /** Bumped by reset: a sending loop of an older connection stops. */
  private connection = 0;

  constructor(private readonly d: CommitterDeps) {}

  /** A new connection: sends of the previous one (work dropped when it was lost) are not waited for. */
  reset(): void {
    this.connection++;
    this.queued = [];
    this.inFlight = undefined;
    this.sending = undefined;
    this.failed = undefined;
  }

  /**
   * At-least-once: sends `records` after the outputs given before them,
   * without waiting for it, so that the next batch is processed while they
   * travel. One send is in flight at a time; what is given meanwhile waits
   * and leaves in one request when it is answered, as a Kafka producer
   * batches while its requests are in flight: at 5,000 records/s the twelve
   * batches of a burst went out in twelve requests one behind the other, the
   * last waiting for eleven round trips. Processing waits for the send in
   * flight only when MAX_QUEUED_OUTPUTS records are queued behind it.
   *
   * A failed send fails every later output (none overtakes it: order per
   * partition holds) and is thrown by the next {@link drainOutputSends},
   * which every commit runs before it writes changelogs or offsets: no input
   * offset is committed before the outputs of its records are durable.
   */
  async sendOutputsBehind(records: OutgoingRecord[]): Promise<void> {
    if (this.failed || records.length === 0) return;
    for (const r of records) this.queued.push(r);
    this.sending ??= this.sendQueued(this.connection);
    if (this.queued.length >= MAX_QUEUED_OUTPUTS) await this.inFlight?.catch(() => undefined);
  }

  private async sendQueued(connection: number): Promise<void> {
    // Never to finish synchronously: `sending` is assigned this promise before the `finally` below clears it.
    await null;
    try {
      while (this.queued.length > 0 && connection === this.connection) {
        const records = this.queued;
        this.queued = [];
        this.inFlight = this.d
          .producer()
          .send(records)
          .then(() => undefined);
        await this.inFlight;
      }
    } catch (error) {
      if (connection === this.connection) {
        this.failed = { error };
        this.queued = [];
      }
    } finally {
      // In the same synchronous step as the loop's last look at the queue: nothing can be queued unseen between them.
      if (connection === this.connection) {
        this.inFlight = undefined;
        this.sending = undefined;
      }
    }
  }

  /** Waits until every output given to sendOutputsBehind is acknowledged; throws the first failure (at-least-once). */
  async drainOutputSends(): Promise<void> {
    while (this.sending) await this.sending;
    if (this.failed) throw this.failed.error;
  }

  /** Exactly-once: the task's open transaction, begun on first use. */
  async txnOf(state: TaskState): Promise<KafkaTransaction> {
    if (!state.txn) state.txn = await state.producer!.begin();
    return state.txn;
  }

  /** At-least-once: commits these tasks together (one changelog send, one offset commit). */
  async commitAtLeastOnce(states: TaskState[]): Promise<void> {
    await this.drainOutputSends();
    const prepared = states.map((state) => ({ state, p: state.task.prepareCommit() }));
    const records = prepared.flatMap(({ p }) => p.changelog);
    const produced = await this.d.producer().send(records);
    for (const { state, p } of prepared) await this.afterDurable(state, p, produced);
    await this.commitOffsets(prepared.flatMap(({ p }) => p.offsets));
  }

  /** Commits one task: at-least-once on its own (when it closes), exactly-once in its transaction. */
  async commitTask(state: TaskState): Promise<void> {
    if (this.d.guarantee === 'at-least-once') {
      const p = state.task.prepareCommit();
      await this.drainOutputSends();
      await this.d.producer().send(state.task.drainOutputs());
      const produced = await this.d.producer().send(p.changelog);
      await this.afterDurable(state, p, produced);
      await this.commitOffsets(p.offsets);
      return;
    }
    const outputs = state.task.drainOutputs();
    const p = state.task.prepareCommit();
    // Nothing since the last commit: what was processed is committed already (afterCommit callbacks run).
    if (!state.txn && outputs.length === 0 && p.changelog.length === 0 && p.offsets.length === 0) return state.task.completeCommit(p);
    const txn = await this.txnOf(state);
    await txn.send(outputs);
    const produced = await txn.send(p.changelog);
    if (p.offsets.length) await txn.sendOffsets(this.d.applicationId, p.offsets);
    await txn.commit();
    delete state.txn;
    await this.afterDurable(state, p, produced);
  }

  /**
   * Drops a task's uncommitted work and its transactional producer after a
   * failed transaction, and starts a new one with the same transactional id:
   * a producer whose transaction failed can be stuck retrying (kafkajs
   * retries CONCURRENT_TRANSACTIONS without end), and the new one's
   * initialisation aborts the old transaction on the broker.
   */
  async renewProducer(state: TaskState): Promise<void> {
    state.task.abandonUncommitted();
    delete state.txn;
    const old = state.producer;
    state.producer = await this.d.transactionalProducer(`${this.d.applicationId}-${state.task.id}`);
    void old?.close().catch(() => undefined);
  }

  /**
   * Writes a task's checkpoint only once what it claims survives a crash of
   * the machine: each store syncs first (RocksDB fsyncs its write-ahead log;
   * writes are not synced one by one), then the file is replaced atomically
   * and fsynced. A checkpoint written before the sync could claim writes that
   * a power loss takes back, and the restore would then skip them. Memory
   * stores survive nothing: they get no checkpoint.
   */
  async writeCheckpoint(checkpoint: Checkpoint, backends: Map<string, BytesStore>, offsets: Record<string, string>): Promise<void> {
    if (!this.d.persistent || Object.keys(offsets).length === 0) return;
    for (const b of backends.values()) await b.sync();
    checkpoint.write(offsets);
  }

  /** Changelog records are durable: write the backends and move the checkpoint. */
  private async afterDurable(state: TaskState, p: PreparedCommit, produced: ProducedOffset[]): Promise<void> {
    await state.task.completeCommit(p);
    let moved = false;
    for (const name of state.task.sub.stores) {
      const topic = this.d.topology.changelogTopic(name);
      const o = produced.find((x) => x.topic === topic && x.partition === state.task.partition);
      if (o) {
        state.changelogOffsets[name] = (BigInt(o.lastOffset) + 1n).toString();
        moved = true;
      }
    }
    // Not at every commit: each checkpoint costs an fsync of the stores' logs (see writeCheckpoint). Between
    // checkpoints a restart restores a little more changelog; replaying entries the store already holds is harmless.
    if (moved && Date.now() - state.checkpointedAt >= CHECKPOINT_EVERY_MS) {
      await this.writeCheckpoint(state.checkpoint, state.backends, state.changelogOffsets);
      state.checkpointedAt = Date.now();
    }
  }

  /**
   * At-least-once offset commit. The group refuses it while it rebalances (a
   * peer joined, left or restarted): routine, not fatal. State and outputs are
   * already durable; the partition's next owner, this instance or another,
   * processes the records since the last commit again, and this member
   * rejoins by itself.
   */
  private async commitOffsets(offsets: TopicPartitionOffset[]): Promise<void> {
    try {
      await this.d.consumer().commit(offsets);
    } catch (err) {
      if (!(err instanceof GroupRebalanceError)) throw err;
      this.d.metrics.commitsRefused.inc({ topology: this.d.topology.name, reason: 'rebalance' });
      this.d.log('info', 'offset commit refused while the group rebalances; records since the last commit will be processed again', {
        topology: this.d.topology.name,
        instance: this.d.instanceId,
        error: err.message,
      });
    }
  }
}
