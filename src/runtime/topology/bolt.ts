import type { KeyValueStore } from '../state/store';

/** A record as a bolt sees it: decoded key and value plus where it came from. */
export interface StreamRecord<K = unknown, V = unknown> {
  key: K;
  value: V;
  /** Event time, epoch milliseconds (the Kafka record timestamp, or the emitter's). */
  timestamp: number;
  /** The component (spout or bolt) and stream it came from. */
  source: { component: string; stream: string };
  /** Kafka coordinates of the input record this one descends from. */
  origin: { topic: string; partition: number; offset: string };
  headers: Record<string, Buffer | undefined>;
}

/** When a punctuator fires. */
export type PunctuationType = 'wall-clock' | 'event-time';

/** Handle to cancel a scheduled punctuator. */
export interface Cancellable {
  cancel(): void;
}

/** A structured log line: a message and fields, at a level (the CLI writes JSON lines to stderr). */
export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;

/**
 * What the runtime gives a bolt. Valid from `init` until `close`.
 */
export interface BoltContext {
  readonly topology: string;
  /** The application this task runs in (the namespace of its group and internal topics); the topology name by default. */
  readonly applicationId: string;
  readonly bolt: string;
  /** Task id, `<subtopology>_<partition>`. */
  readonly taskId: string;
  /** The input partition this task owns. */
  readonly partition: number;
  /** Identifies the running instance (process); stable for its lifetime. */
  readonly instanceId: string;
  /**
   * A state store the bolt declared in its spec. The runtime owns it: do not
   * close it, and do not keep values across calls without `put`ting them.
   * @throws TopologyError when the bolt did not declare the store.
   */
  store<K, V>(name: string): KeyValueStore<K, V>;
  /**
   * Sends a record downstream on `stream` (default 'default'). Downstream bolts
   * in the same task run before `emit` returns; records to sinks are written
   * with the task's next commit (exactly-once) or right after the current
   * input batch (at-least-once).
   */
  emit<K, V>(key: K, value: V, options?: { stream?: string; timestamp?: number; headers?: Record<string, Buffer | string> }): void;
  /**
   * Calls `callback` every `intervalMs`: on wall-clock time, or on event time
   * (the largest record timestamp this task has seen), from the task's own
   * processing loop, never concurrently with `process`.
   */
  schedule(intervalMs: number, type: PunctuationType, callback: (timestamp: number) => void | Promise<void>): Cancellable;
  /** Wall-clock time as the runtime sees it, epoch ms (the test driver's clock under test). */
  now(): number;
  /** Asks the runtime to commit as soon as the current record is done. */
  requestCommit(): void;
  /**
   * Calls `callback` once everything this task has processed so far is
   * committed: its store writes are in the changelog and the local store,
   * its outputs and input offsets are written (at-least-once: the offsets
   * may still be refused by a rebalance; exactly-once: the transaction is
   * committed). It runs in the task's own loop, never concurrently with
   * `process`; what it writes or emits belongs to the next commit.
   *
   * A callback of work that is never committed is dropped, never called: a
   * failed commit, a task closed without committing, or moved. Use it for a
   * durable note that earlier writes are safe, e.g. "this walk over the
   * store finished", which must not be written in the same commit as the
   * walk: at-least-once, a failed commit can leave any part of its
   * changelog records written. An exception from `callback` is a bug and
   * stops the runtime, as one from a punctuator does.
   */
  afterCommit(callback: () => void | Promise<void>): void;
  /**
   * Writes a log line through the instance's logger, with the topology and
   * task added. For what an operator should see (a snapshot loaded, a
   * decision taken), not per record.
   */
  log: LogFn;
}

/**
 * A processor. Lifecycle: `init(ctx)` once, then `process(record)` for each
 * input record in offset order per input partition, then `close()` once when
 * the task is closed (rebalance or shutdown).
 *
 * The framework owns stores, commits and shutdown: a bolt never closes a store
 * or commits an offset. An exception from `process` sends the input record to
 * the dead-letter topic, undoes the store writes and emits of that record, and
 * processing continues with the next record.
 */
export interface Bolt<K = unknown, V = unknown> {
  init?(ctx: BoltContext): void | Promise<void>;
  process(record: StreamRecord<K, V>, ctx: BoltContext): void | Promise<void>;
  close?(): void | Promise<void>;
}
