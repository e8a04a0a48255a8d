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

/** At-least-once: output sends queued behind each other before processing waits for them (see sendOutputsBehind). */
const MAX_OUTPUT_SENDS_IN_FLIGHT = 4;
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
  /** At-least-once output sends not yet acknowledged, chained in order (sendOutputsBehind). */
  private outputSends: Promise<void> = Promise.resolve();
  private outputSendsPending = 0;

  constructor(private readonly d: CommitterDeps) {}

  /** A new connection: sends of the previous one (work dropped when it was lost) are not waited for. */
  reset(): void {
    this.outputSends = Promise.resolve();
    this.outputSendsPending = 0;
  }

  /**
   * At-least-once: sends `records` once the sends before them have succeeded,
   * without waiting for it, so that the next batch is processed while they
   * travel. At most MAX_OUTPUT_SENDS_IN_FLIGHT wait in line. A failed send
   * fails every later one (none overtakes it: order per partition holds) and
   * is thrown by the next {@link drainOutputSends}, which every commit runs
   * before it writes changelogs or offsets: no input offset is committed
   * before the outputs of its records are durable.
   */
  async sendOutputsBehind(records: OutgoingRecord[]): Promise<void> {
    if (this.outputSendsPending >= MAX_OUTPUT_SENDS_IN_FLIGHT) await this.drainOutputSends();
    const producer = this.d.producer();
    this.outputSendsPending++;
    const sent = this.outputSends
      .then(() => producer.send(records))
      .finally(() => (this.outputSendsPending = Math.max(0, this.outputSendsPending - 1)))
      .then(() => undefined);
    sent.catch(() => undefined); // thrown by drainOutputSends, not an unhandled rejection
    this.outputSends = sent;
  }

  /** Waits for every output send in flight; throws the first failure (at-least-once). */
  async drainOutputSends(): Promise<void> {
    await this.outputSends;
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
