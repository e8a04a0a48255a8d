/**
 * The system under test as real OS processes (`src/cli/main.ts`), and a
 * supervisor that keeps each instance running the way systemd or Kubernetes
 * would: an instance that exits by itself is restarted after a backoff, and
 * the exit is recorded. The chaos schedule kills instances through it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './stack';

/** One instance of a topology (or a one-off CLI command). */
export class ChaosProcess {
  readonly child: ChildProcess;
  readonly startedAt = Date.now();
  private output = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exitedAt?: number;

  constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string>,
    logStream?: WriteStream,
  ) {
    // node itself, not the tsx launcher: SIGKILL of the launcher would leave its child running.
    this.child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    logStream?.write(`=== ${new Date().toISOString()} start ${name} pid ${this.child.pid}: ${args.join(' ')}\n`);
    const capture = (d: Buffer) => {
      this.output += d.toString('utf8');
      if (this.output.length > 400_000) this.output = this.output.slice(-200_000);
      logStream?.write(d);
    };
    this.child.stdout!.on('data', capture);
    this.child.stderr!.on('data', capture);
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.exitedAt = Date.now();
        logStream?.write(`=== ${new Date().toISOString()} ${name} pid ${this.child.pid} exited code=${code} signal=${signal}\n`);
        resolve({ code, signal });
      }),
    );
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get logs(): string {
    return this.output;
  }

  /** Resolves when the process logged a line matching `re`; rejects when it exits first or the time runs out. */
  async waitForLog(re: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.output)) {
      if (!this.running) throw new Error(`${this.name} (pid ${this.pid}) exited before logging ${re}:\n${this.output.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`${this.name} (pid ${this.pid}) did not log ${re} within ${timeoutMs} ms:\n${this.output.slice(-2000)}`);
      await sleep(100);
    }
  }

  async kill9(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (a graceful stop), SIGKILL after `timeoutMs`; resolves with the exit code. */
  async stop(timeoutMs = 20_000): Promise<number | null> {
    if (this.running) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      await this.exited;
      clearTimeout(timer);
    }
    return (await this.exited).code;
  }
}

/** A one-off CLI command (provision, publish, activate-when-ready); rejects on a non-zero exit. */
export async function runCli(name: string, args: string[], env: Record<string, string>, logStream?: WriteStream, timeoutMs = 180_000): Promise<string> {
  const p = new ChaosProcess(name, args, env, logStream);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const { code, signal } = await p.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`vectors ${args.join(' ')} failed (code ${code}, signal ${signal}):\n${p.logs.slice(-3000)}`);
  return p.logs;
}

export type Role = 'doorman' | 'user-vectors' | 'user-vectors-alos' | 'candidates';

export interface InstanceSpec {
  name: string;
  role: Role;
  args: string[];
  /** Local state directory (--state-dir), wiped when an instance is restarted without its disk. */
  stateDir: string;
}

/** An instance's exit that the chaos schedule did not cause. */
export interface SelfExit {
  instance: string;
  pid: number;
  at: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last log lines of the process. */
  tail: string;
}

interface Slot {
  spec: InstanceSpec;
  proc: ChaosProcess;
  /** Set while the schedule itself stops or kills the instance: no automatic restart. */
  held: boolean;
  starts: number;
  restartTimer?: NodeJS.Timeout;
  backoffMs: number;
}

const RESTART_FIRST_MS = 1000;
const RESTART_MAX_MS = 8000;

/** Keeps every instance running; the chaos schedule kills and restarts through it. */
export class Supervisor {
  private readonly slots = new Map<string, Slot>();
  readonly selfExits: SelfExit[] = [];
  private closed = false;
  private readonly logs = new Map<string, WriteStream>();

  constructor(
    private readonly env: Record<string, string>,
    private readonly logDir: string,
    private readonly log: (line: string) => void,
  ) {
    mkdirSync(logDir, { recursive: true });
  }

  logStream(name: string): WriteStream {
    let s = this.logs.get(name);
    if (!s) this.logs.set(name, (s = createWriteStream(join(this.logDir, `${name}.log`), { flags: 'a' })));
    return s;
  }

  /** Lines matching `re` in the log files of every instance so far (all its processes). */
  countInLogs(re: RegExp): number {
    let n = 0;
    for (const name of this.slots.keys()) {
      const file = join(this.logDir, `${name}.log`);
      if (existsSync(file))
        n += readFileSync(file, 'utf8')
          .split('\n')
          .filter((l) => re.test(l)).length;
    }
    return n;
  }

  instances(role?: Role): string[] {
    return [...this.slots.values()].filter((s) => !role || s.spec.role === role).map((s) => s.spec.name);
  }

  process(name: string): ChaosProcess {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`no instance '${name}'`);
    return slot.proc;
  }

  roleOf(name: string): Role {
    return this.slots.get(name)!.spec.role;
  }

  starts(name: string): number {
    return this.slots.get(name)?.starts ?? 0;
  }

  start(spec: InstanceSpec): ChaosProcess {
    const slot: Slot = { spec, proc: undefined as unknown as ChaosProcess, held: false, starts: 0, backoffMs: RESTART_FIRST_MS };
    this.slots.set(spec.name, slot);
    this.launch(slot);
    return slot.proc;
  }

  private launch(slot: Slot): void {
    slot.starts++;
    const proc = new ChaosProcess(slot.spec.name, slot.spec.args, this.env, this.logStream(slot.spec.name));
    slot.proc = proc;
    void proc.exited.then(({ code, signal }) => {
      if (slot.proc !== proc || slot.held || this.closed) return;
      // Exited by itself: record it and restart after a backoff, as a process supervisor would.
      const lived = (proc.exitedAt ?? Date.now()) - proc.startedAt;
      this.selfExits.push({
        instance: slot.spec.name,
        pid: proc.pid,
        at: proc.exitedAt ?? Date.now(),
        code,
        signal,
        tail: proc.logs.trim().split('\n').slice(-4).join('\n'),
      });
      slot.backoffMs = lived > 30_000 ? RESTART_FIRST_MS : Math.min(slot.backoffMs * 2, RESTART_MAX_MS);
      this.log(`${slot.spec.name} (pid ${proc.pid}) exited by itself (code ${code}, signal ${signal}); restarting in ${slot.backoffMs} ms`);
      slot.restartTimer = setTimeout(() => {
        slot.restartTimer = undefined;
        if (!slot.held && !this.closed) this.launch(slot);
      }, slot.backoffMs);
    });
  }

  /** kill -9 of an instance; it stays down until {@link restart}. */
  async kill9(name: string): Promise<ChaosProcess> {
    const slot = this.slots.get(name)!;
    slot.held = true;
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    const proc = slot.proc;
    await proc.kill9();
    return proc;
  }

  /** SIGTERM of an instance (a deployment's rolling restart); it stays down until {@link restart}. Resolves with the exit code. */
  async stop(name: string): Promise<number | null> {
    const slot = this.slots.get(name)!;
    slot.held = true;
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    return slot.proc.stop();
  }

  /** Starts the instance again, with its local state or (`wipeState`) without it, as on a new machine. */
  restart(name: string, options: { wipeState?: boolean } = {}): ChaosProcess {
    const slot = this.slots.get(name)!;
    if (slot.proc.running) throw new Error(`${name} is still running`);
    if (options.wipeState) rmSync(slot.spec.stateDir, { recursive: true, force: true });
    slot.held = false;
    slot.backoffMs = RESTART_FIRST_MS;
    this.launch(slot);
    return slot.proc;
  }

  /** Graceful stop of every instance; returns the exit code of each. */
  async stopAll(): Promise<Record<string, number | null>> {
    this.closed = true;
    const codes: Record<string, number | null> = {};
    await Promise.all(
      [...this.slots.values()].map(async (slot) => {
        if (slot.restartTimer) clearTimeout(slot.restartTimer);
        codes[slot.spec.name] = slot.proc.running ? await slot.proc.stop() : null;
      }),
    );
    for (const s of this.logs.values()) s.end();
    return codes;
  }

  /** kill -9 of everything still running (cleanup after a failure). */
  async killAll(): Promise<void> {
    this.closed = true;
    await Promise.all(
      [...this.slots.values()].map(async (slot) => {
        if (slot.restartTimer) clearTimeout(slot.restartTimer);
        await slot.proc.kill9();
      }),
    );
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
