import type { PartitionOffsets, PartitionReader } from '../kafka/client';
import type { RuntimeMetrics } from '../metrics/runtime-metrics';
import type { BytesStore } from '../state/store';
import { taskId } from '../task';
import type { LogFn } from '../topology/bolt';
import type { Topology } from '../topology/topology';
import { Checkpoint } from './checkpoint';
import { sleep } from './sleep';

/** What the standby replicas need from their runner. */
export interface StandbyDeps {
  topology: Topology;
  /** The task's state directory (the same one its active task uses here). */
  taskDir(id: string): string;
  /** A new, unopened backend for one store of a task. */
  newBackend(store: string, dir: string): BytesStore;
  /** Whether backends outlive the process (RocksDB): only then are checkpoints written and read. */
  persistent: boolean;
  /** The standbys' own changelog reader (not the one restores and broadcasts share: its long polls would hold them up). */
  reader(): PartitionReader | undefined;
  /** The changelog partition's bounds now. */
  bounds(topic: string, partition: number): Promise<PartitionOffsets | undefined>;
  /** Settles once whatever else had the task's stores open here (a closed task or restore) let go of them. */
  released(id: string): Promise<void> | undefined;
  metrics: RuntimeMetrics;
  log: LogFn;
}

/** The open stores of a task and the changelog offset each holds up to (exclusive): what a takeover hands to the active task. */
export interface WarmState {
  backends: Map<string, BytesStore>;
  changelogOffsets: Record<string, string>;
}

interface Standby extends WarmState {
  id: string;
  sub: number;
  partition: number;
  dir: string;
  stopped: boolean;
  stop: () => void;
  stopSignal: Promise<void>;
  /** The replication loop; never rejects. */
  job: Promise<void>;
  checkpointedAt: number;
}

/** How long a caught-up standby waits before it asks its changelogs again. */
const STANDBY_POLL_MS = 250;
/** How often a standby's checkpoint moves (its stores synced first), as a running task's. */
const STANDBY_CHECKPOINT_EVERY_MS = 10_000;

/**
 * Standby replicas (Kafka Streams' standby tasks): local copies of the stores
 * of tasks that are active on other instances, kept warm by reading their
 * changelogs as they grow. A standby never processes, commits or produces;
 * it reads only committed changelog records, so its stores always hold a
 * prefix of what the active task committed. When the group moves the task
 * here, {@link takeOver} hands the open stores to the new active task, whose
 * restore then reads only the tail. A standby that fails (its changelog gone)
 * is dropped with a warning: it is an optimisation, never a reason to stop.
 */
export class StandbyTasks {
  private readonly standbys = new Map<string, Standby>();

  constructor(private readonly deps: StandbyDeps) {}

  /** The task ids kept as standby now. */
  get ids(): string[] {
    return [...this.standbys.keys()];
  }

  /**
   * Keeps exactly the tasks `wanted` (task id → sub-topology and partition)
   * as standbys: starts the missing ones and closes the others, each leaving
   * a checkpoint at what its stores hold.
   */
  async assign(wanted: Map<string, { sub: number; partition: number }>): Promise<void> {
    for (const id of [...this.standbys.keys()]) if (!wanted.has(id)) await this.close(id);
    for (const [id, { sub, partition }] of wanted) if (!this.standbys.has(id)) this.start(id, sub, partition);
    this.report();
  }

  /**
   * Stops the standby of task `id` and hands its open stores over (they are
   * the caller's to close from now on); undefined when there is none.
   */
  async takeOver(id: string): Promise<WarmState | undefined> {
    const s = this.standbys.get(id);
    if (!s) return undefined;
    this.standbys.delete(id);
    s.stopped = true;
    s.stop();
    await s.job;
    this.report();
    this.forgetLag(s);
    if (s.backends.size !== this.deps.topology.subtopologies[s.sub]!.stores.length) {
      // Stopped before it had every store open: nothing worth handing over.
      await this.release(s);
      return undefined;
    }
    this.deps.log('info', 'standby taken over; restoring only the changelogs tail', { topology: this.deps.topology.name, task: id, from: s.changelogOffsets });
    return { backends: s.backends, changelogOffsets: s.changelogOffsets };
  }

  /** Closes every standby (the runner stopping or reconnecting). */
  async closeAll(): Promise<void> {
    for (const id of [...this.standbys.keys()]) await this.close(id);
    this.report();
  }

  private async close(id: string): Promise<void> {
    const s = this.standbys.get(id);
    if (!s) return;
    this.standbys.delete(id);
    s.stopped = true;
    s.stop();
    await s.job;
    await this.release(s);
  }

  /** Leaves a checkpoint at what the stores hold, then closes them. */
  private async release(s: Standby): Promise<void> {
    try {
      await this.checkpoint(s);
    } catch (err) {
      this.deps.log('warn', 'could not write the checkpoint of a standby; the next restore of the task reads more of its changelog', {
        task: s.id,
        error: String(err),
      });
    }
    for (const b of s.backends.values()) await b.close().catch(() => undefined);
    s.backends.clear();
    this.forgetLag(s);
  }

  /** A standby gone from here has no lag to report. */
  private forgetLag(s: Standby): void {
    for (const name of this.deps.topology.subtopologies[s.sub]!.stores)
      this.deps.metrics.standbyLag.remove({ topology: this.deps.topology.name, store: name, partition: String(s.partition) });
  }

  private start(id: string, sub: number, partition: number): void {
    let stop!: () => void;
    const stopSignal = new Promise<void>((fire) => (stop = fire));
    const s: Standby = {
      id,
      sub,
      partition,
      dir: this.deps.taskDir(id),
      backends: new Map(),
      changelogOffsets: {},
      stopped: false,
      stop,
      stopSignal,
      job: Promise.resolve(),
      checkpointedAt: Date.now(),
    };
    this.standbys.set(id, s);
    s.job = this.replicate(s).catch(async (err) => {
      if (s.stopped) return;
      this.deps.log('warn', 'standby replica failed; dropped until the next rebalance', { topology: this.deps.topology.name, task: id, error: String(err) });
      if (this.standbys.get(id) === s) this.standbys.delete(id);
      s.stopped = true;
      await this.release(s);
      this.report();
    });
  }

  /** Opens the task's stores where its checkpoint says they are complete, then follows their changelogs until stopped. */
  private async replicate(s: Standby): Promise<void> {
    const { topology } = this.deps;
    await this.deps.released(s.id);
    const saved = this.deps.persistent ? new Checkpoint(s.dir).read() : {};
    const logged: string[] = [];
    for (const name of topology.subtopologies[s.sub]!.stores) {
      if (s.stopped) return;
      const backend = this.deps.newBackend(name, `${s.dir}/${name}`);
      await backend.open();
      s.backends.set(name, backend);
      if (!topology.stores.get(name)!.logged) continue;
      logged.push(name);
      // Unknown bounds (no admin while the runner reconnects, the partition's metadata not there yet) are asked
      // again: read as 0..0 they would make a good checkpoint look out of range, and the store would be cleared.
      let bounds = await this.deps.bounds(topology.changelogTopic(name), s.partition);
      while (!bounds && !s.stopped) {
        await sleep(STANDBY_POLL_MS, s.stopSignal);
        bounds = await this.deps.bounds(topology.changelogTopic(name), s.partition);
      }
      if (!bounds) return;
      const low = BigInt(bounds.low);
      const high = BigInt(bounds.high);
      const from = saved[name];
      if (from === undefined || BigInt(from) < low || BigInt(from) > high) {
        await backend.clear();
        s.changelogOffsets[name] = low.toString();
      } else {
        s.changelogOffsets[name] = from;
      }
    }
    this.deps.log('info', 'standby replica started', { topology: topology.name, task: s.id, from: { ...s.changelogOffsets } });
    while (!s.stopped) {
      let applied = 0;
      for (const name of logged) {
        const reader = this.deps.reader();
        if (!reader || s.stopped) return;
        const res = await reader.fetch({ topic: topology.changelogTopic(name), partition: s.partition }, s.changelogOffsets[name]!, 0);
        // Stopped while fetching: write nothing more, so the offsets handed over stay those of what the store holds.
        if (s.stopped) return;
        if (res.records.length) {
          await s.backends.get(name)!.write(res.records.map((x) => ({ key: x.key ?? Buffer.alloc(0), value: x.value })));
          this.deps.metrics.standbyRecords.inc({ topology: topology.name, store: name }, res.records.length);
          applied += res.records.length;
        }
        s.changelogOffsets[name] = res.nextOffset;
        const lag = BigInt(res.lastStableOffset) - BigInt(res.nextOffset);
        this.deps.metrics.standbyLag.set({ topology: topology.name, store: name, partition: String(s.partition) }, Number(lag > 0n ? lag : 0n));
      }
      if (Date.now() - s.checkpointedAt >= STANDBY_CHECKPOINT_EVERY_MS) await this.checkpoint(s);
      if (!applied) await sleep(STANDBY_POLL_MS, s.stopSignal);
    }
  }

  private async checkpoint(s: Standby): Promise<void> {
    s.checkpointedAt = Date.now();
    if (!this.deps.persistent || Object.keys(s.changelogOffsets).length === 0) return;
    for (const b of s.backends.values()) await b.sync();
    new Checkpoint(s.dir).write(s.changelogOffsets);
  }

  private report(): void {
    this.deps.metrics.standbyTasks.set({ topology: this.deps.topology.name }, this.standbys.size);
  }
}

/** Task ids → where they are, for the standby ids the group gave this member (ids of no sub-topology are ignored). */
export function standbyPlacements(ids: string[], topology: Topology): Map<string, { sub: number; partition: number }> {
  const out = new Map<string, { sub: number; partition: number }>();
  for (const id of ids) {
    const m = /^(\d+)_(\d+)$/.exec(id);
    if (!m) continue;
    const sub = Number(m[1]);
    const partition = Number(m[2]);
    if (sub < topology.subtopologies.length && taskId(sub, partition) === id) out.set(id, { sub, partition });
  }
  return out;
}
