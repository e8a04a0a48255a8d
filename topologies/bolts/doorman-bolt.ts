import type { Bolt, BoltContext, StreamRecord } from '../../src';
import { buildView, decide, type DoormanView } from '../../src/vectors/doorman/doorman-state';
import type { SnapshotControl } from '../../src/vectors/records';

export interface DoormanOptions {
  /** A staged snapshot not READY everywhere after this long is aborted. Default 10 minutes. */
  timeoutMs?: number;
  /** How often to check for timeouts, ms. Default 1000. */
  checkEveryMs?: number;
}

/**
 * The doorman: mirrors the control log in its store, and writes ACTIVATE
 * when every partition of every member reported READY for a staged snapshot
 * (I1), ABORT on a FAILED report or a timeout. Its own writes go to its store
 * at once, so it never decides twice on the same state; with exactly-once
 * they commit together with the input offsets, so a crash between the last
 * READY and ACTIVATE re-decides after restart (I5).
 */
export class DoormanBolt implements Bolt {
  constructor(private readonly o: DoormanOptions = {}) {}

  init(ctx: BoltContext): void {
    ctx.schedule(this.o.checkEveryMs ?? 1000, 'wall-clock', (now) => this.decideAndWrite(ctx, now));
  }

  async process(record: StreamRecord, ctx: BoltContext): Promise<void> {
    const log = ctx.store<string, SnapshotControl>('log');
    const rec = record.value as SnapshotControl | null;
    // A staging written by `vectors publish` or `rollforward` (not replayed: the doorman's own store holds the past).
    if (rec?.kind === 'STAGE' && rec.phase === 'STAGED' && (await log.get(record.key as string))?.phase !== 'STAGED')
      ctx.log('info', 'snapshot staged; waiting for every partition to report READY', {
        snapshot: rec.snapshotId,
        entities: rec.manifest?.count,
        dims: rec.manifest?.dims,
      });
    if (record.value === null) log.delete(record.key as string);
    else log.put(record.key as string, record.value as SnapshotControl);
    await this.decideAndWrite(ctx, ctx.now());
  }

  private async view(ctx: BoltContext): Promise<DoormanView> {
    const entries: [string, SnapshotControl][] = [];
    for await (const e of ctx.store<string, SnapshotControl>('log').range()) entries.push(e);
    return buildView(entries);
  }

  private async decideAndWrite(ctx: BoltContext, now: number): Promise<void> {
    const writes = decide(await this.view(ctx), now, this.o.timeoutMs ?? 600_000);
    const log = ctx.store<string, SnapshotControl>('log');
    for (const w of writes) {
      log.put(w.key, w.value);
      ctx.emit(w.key, w.value);
      if (w.key === 'active') ctx.log('info', 'snapshot activated', { snapshot: w.value.snapshotId, previous: w.value.previousSnapshotId });
      else if (w.value.phase === 'FAILED') ctx.log('warn', 'snapshot aborted', { snapshot: w.value.snapshotId, reason: w.value.reason });
    }
  }
}
