import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep } from './common';
import type { WorkerOptions } from './uv-worker';

const ROOT = join(__dirname, '..');

/** One bench/uv-worker.ts process and what it reported. */
export class UvWorker {
  readonly child: ChildProcess;
  /** The node process running uv-worker.ts (tsx starts it as a child of its own). */
  pid: number | undefined;
  ready = false;
  tasks: { assigned: string[]; restoring: string[]; standby: string[]; at: number } = { assigned: [], restoring: [], standby: [], at: 0 };
  /** Changelog records its standby replicas applied. */
  standbyRecords = 0;
  /** Each standby's lag (partition → records not applied yet). */
  standbyLag: Record<string, number> = {};
  first: number | undefined;
  records: number | undefined;
  exitCode: number | null | undefined;
  readonly exited: Promise<void>;

  constructor(
    readonly index: number,
    options: WorkerOptions,
    readonly logFile: string,
  ) {
    const log = openSync(logFile, 'a');
    this.child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(__dirname, 'uv-worker.ts'), JSON.stringify(options)], {
      stdio: ['ignore', 'pipe', log],
    });
    closeSync(log);
    let buffered = '';
    this.child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      let nl;
      while ((nl = buffered.indexOf('\n')) !== -1) {
        this.onLine(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    });
    this.exited = new Promise((done) => {
      this.child.on('exit', (code) => {
        this.exitCode = code;
        done();
      });
      // Not started at all (no tsx): 'exit' may never come.
      this.child.on('error', () => {
        this.exitCode ??= -1;
        done();
      });
    });
  }

  private onLine(line: string): void {
    let m: {
      event?: string;
      pid?: number;
      at?: number;
      records?: number;
      assigned?: string[];
      restoring?: string[];
      standby?: string[];
      lag?: Record<string, number>;
    };
    try {
      m = JSON.parse(line) as typeof m;
    } catch {
      return;
    }
    if (m.event === 'pid') this.pid = m.pid;
    else if (m.event === 'ready') this.ready = true;
    else if (m.event === 'tasks') this.tasks = { assigned: m.assigned ?? [], restoring: m.restoring ?? [], standby: m.standby ?? [], at: m.at ?? Date.now() };
    else if (m.event === 'standby') {
      this.standbyRecords = m.records ?? 0;
      this.standbyLag = m.lag ?? {};
    } else if (m.event === 'first') this.first = m.at;
    else if (m.event === 'stopped') this.records = m.records;
  }

  /** SIGKILL to the worker itself (a machine lost: nothing closes, nothing leaves the group), then to its tsx launcher. */
  async kill9(): Promise<void> {
    if (this.pid) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs` (to the worker and to its tsx launcher, both started here). */
  async stop(graceMs = 60_000): Promise<void> {
    if (this.exitCode !== undefined) return;
    this.child.kill('SIGTERM');
    const timeout = sleep(graceMs).then(() => 'timeout' as const);
    if ((await Promise.race([this.exited, timeout])) === 'timeout') {
      console.warn(`  worker ${this.index} did not stop within ${graceMs / 1000} s; killed`);
      await this.kill9();
    }
  }

  tail(lines = 15): string {
    const text = existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8').trimEnd().split('\n') : [];
    return text
      .slice(-lines)
      .map((l) => `    [worker ${this.index}] ${l.slice(0, 300)}`)
      .join('\n');
  }
}

/**
 * Until every worker runs its final share of the tasks: each holds some,
 * none restoring, together exactly the `partitions` tasks once each, for
 * `stableMs` (a late member's rebalance would break it).
 */
export async function awaitStableGroup(workers: UvWorker[], partitions: number, timeoutMs = 300_000, stableMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let since: number | undefined;
  for (;;) {
    const gone = workers.find((w) => w.exitCode !== undefined);
    if (gone) throw new Error(`worker ${gone.index} exited (${gone.exitCode}) before the group was stable:\n${gone.tail()}`);
    const all = workers.flatMap((w) => w.tasks.assigned);
    const stable =
      workers.every((w) => w.ready && w.tasks.assigned.length > 0 && w.tasks.restoring.length === 0) &&
      all.length === partitions &&
      new Set(all).size === partitions;
    if (!stable) since = undefined;
    else if (since === undefined) since = Date.now();
    else if (Date.now() - since >= stableMs) return;
    if (Date.now() > deadline)
      throw new Error(
        `the group of ${workers.length} workers was not stable within ${timeoutMs / 1000} s: ${workers.map((w) => `worker ${w.index} ${w.ready ? 'ready' : 'starting'}, tasks ${w.tasks.assigned.length} (${w.tasks.restoring.length} restoring)`).join('; ')}`,
      );
    await sleep(100);
  }
}
