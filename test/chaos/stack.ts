/**
 * A second local stack (Kafka + Schema Registry) that the chaos suite owns
 * and may stop and start at will: the project's own scripts
 * (scripts/stack.sh, scripts/stack/kafka.sh, scripts/stack/registry.sh) run
 * with STACK_DIR and the ports overridden, so the shared stack on
 * 9092/8081 is never touched.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');

export interface ChaosStackOptions {
  /** Where the stack keeps its pids, logs and data. Default `<repo>/.stack-chaos`. */
  dir?: string;
  kafkaPort?: number;
  kafkaControllerPort?: number;
  registryPort?: number;
  registryMgmtPort?: number;
  log?: (line: string) => void;
}

/** The ports of the shared stack (scripts/stack/common.sh defaults): never ours. */
const SHARED_PORTS = new Set([9092, 9093, 8081, 9081]);

export class ChaosStack {
  readonly dir: string;
  readonly kafkaPort: number;
  readonly kafkaControllerPort: number;
  readonly registryPort: number;
  readonly registryMgmtPort: number;
  private readonly log: (line: string) => void;
  private started = false;

  constructor(o: ChaosStackOptions = {}) {
    this.dir = o.dir ?? join(ROOT, '.stack-chaos');
    this.kafkaPort = o.kafkaPort ?? 19092;
    this.kafkaControllerPort = o.kafkaControllerPort ?? 19093;
    this.registryPort = o.registryPort ?? 18081;
    this.registryMgmtPort = o.registryMgmtPort ?? 19081;
    this.log = o.log ?? (() => undefined);
    const ports = [this.kafkaPort, this.kafkaControllerPort, this.registryPort, this.registryMgmtPort];
    const shared = ports.filter((p) => SHARED_PORTS.has(p));
    if (shared.length)
      throw new Error(`the chaos stack must not use the shared stack's ports (${shared.join(', ')}): it stops and starts its broker and registry`);
    if (new Set(ports).size !== ports.length) throw new Error(`the chaos stack needs four distinct ports, got ${ports.join(', ')}`);
    if (this.dir.replace(/\/+$/, '') === join(ROOT, '.stack')) throw new Error('the chaos stack must not use the shared STACK_DIR (.stack)');
  }

  get brokers(): string {
    return `127.0.0.1:${this.kafkaPort}`;
  }

  get registryUrl(): string {
    return `http://127.0.0.1:${this.registryPort}/apis/ccompat/v7`;
  }

  /** Environment for the stack scripts. */
  private scriptEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      ...process.env,
      STACK_DIR: this.dir,
      KAFKA_PORT: String(this.kafkaPort),
      KAFKA_CONTROLLER_PORT: String(this.kafkaControllerPort),
      REGISTRY_PORT: String(this.registryPort),
      REGISTRY_MGMT_PORT: String(this.registryMgmtPort),
      ...extra,
    };
  }

  /** Environment for clients of this stack (the CLI processes). */
  clientEnv(): Record<string, string> {
    return { KAFKA_BROKERS: this.brokers, SCHEMA_REGISTRY_URL: this.registryUrl };
  }

  private script(args: string[], extra: Record<string, string> = {}, timeoutMs = 240_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn('bash', args, { cwd: ROOT, env: this.scriptEnv(extra), stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const take = (d: Buffer) => {
        out += d.toString('utf8');
        if (out.length > 20_000) out = out.slice(-10_000);
      };
      child.stdout.on('data', take);
      child.stderr.on('data', take);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (code) => {
        clearTimeout(timer);
        for (const line of out.trim().split('\n').filter(Boolean).slice(-3)) this.log(line);
        if (code === 0) resolve();
        else reject(new Error(`bash ${args.join(' ')} (STACK_DIR=${this.dir}) exited ${code}:\n${out.slice(-3000)}`));
      });
    });
  }

  /** Starts both services on empty data (whatever an earlier run left is stopped and wiped first). */
  async up(): Promise<void> {
    this.started = true;
    await this.script(['scripts/stack.sh', 'reset']);
    await this.script(['scripts/stack.sh', 'up'], { KAFKA_CLEAN: '1' });
  }

  /** Stops both services (by their pids); safe to call when they are not running. */
  async down(): Promise<void> {
    if (!this.started) return;
    await this.script(['scripts/stack.sh', 'down']);
  }

  /** A controlled shutdown (SIGTERM). See {@link kafkaCrash} for why the faults crash the broker instead. */
  kafkaDown(): Promise<void> {
    return this.script(['scripts/stack/kafka.sh', 'down']);
  }

  /**
   * The broker dies (SIGKILL) and this resolves once its process is gone;
   * `kafkaUp` starts it again (Kafka recovers its logs). The faults use a
   * crash, not a controlled shutdown: in a cluster of one broker a controlled
   * shutdown leaves every partition without a leader, and the transaction
   * coordinator then skips the commit markers of a transaction completing at
   * that moment as if its partitions had been deleted (Kafka's log: "Couldn't
   * find leader endpoint … these partitions are likely deleted already and
   * hence can be skipped"). That transaction's offsets never apply and its
   * records stay open until the producer's next marker, so any exactly-once
   * client processes those inputs again and its outputs appear twice. With
   * more than one broker, leadership moves and the markers are written
   * (docs/RELIABILITY.md). A crash does not always avoid it: the restarted
   * broker's coordinator can complete a transaction that was committing at
   * the kill while the partitions are still without a leader (the co-located
   * controller first fences the old registration), and drop its markers the
   * same way. The chaos run proves those repeats from the broker's log and
   * files and counts them apart (hanging.ts).
   */
  async kafkaCrash(): Promise<void> {
    const pidFile = join(this.dir, 'kafka', 'kafka.pid');
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : NaN;
    if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no broker pid in ${pidFile}: is the chaos stack up?`);
    process.kill(pid, 'SIGKILL');
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 10_000;
    while (alive()) {
      if (Date.now() > deadline) throw new Error(`the broker (pid ${pid}) is still alive 10 s after SIGKILL`);
      await new Promise((r) => setTimeout(r, 100));
    }
    this.log(`[stack] Kafka killed (pid ${pid}, SIGKILL)`);
  }

  kafkaUp(): Promise<void> {
    return this.script(['scripts/stack/kafka.sh', 'up']);
  }

  registryDown(): Promise<void> {
    return this.script(['scripts/stack/registry.sh', 'down']);
  }

  registryUp(): Promise<void> {
    return this.script(['scripts/stack/registry.sh', 'up']);
  }

  /**
   * The broker's own log (server.log and its rolled files) from `sinceMs` on:
   * lines stamped earlier, by a run before this one, are left out. log4j
   * stamps local time, as JavaScript reads a date without a zone.
   */
  brokerLog(sinceMs: number): string {
    const dir = join(this.dir, 'kafka', 'logs');
    if (!existsSync(dir)) return '';
    const out: string[] = [];
    for (const f of readdirSync(dir).filter((n) => n.startsWith('server.log'))) {
      const path = join(dir, f);
      if (statSync(path).mtimeMs < sinceMs) continue;
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        const stamp = /^\[(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}),(\d{3})\]/.exec(line);
        if (stamp && new Date(`${stamp[1]}T${stamp[2]}.${stamp[3]}`).getTime() >= sinceMs) out.push(line);
      }
    }
    return out.join('\n');
  }

  /**
   * Writes Kafka's own dump of one partition's log (batches with producer id,
   * epoch, sequence and transaction markers, and the records) to `outFile`.
   * Reads the segment files directly: run it with the broker stopped.
   */
  async dumpPartition(topic: string, partition: number, outFile: string): Promise<void> {
    const dir = join(this.dir, 'kafka', 'data', `${topic}-${partition}`);
    const files = existsSync(dir)
      ? readdirSync(dir)
          .filter((f) => f.endsWith('.log'))
          .map((f) => join(dir, f))
      : [];
    if (files.length === 0) return;
    await new Promise<void>((resolve) => {
      const out = createWriteStream(outFile);
      const child = spawn(
        'bash',
        ['scripts/stack/kafka.sh', 'run-class', 'org.apache.kafka.tools.DumpLogSegments', '--deep-iteration', '--print-data-log', '--files', files.join(',')],
        { cwd: ROOT, env: this.scriptEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout.pipe(out);
      child.stderr.pipe(out);
      child.on('close', () => resolve());
    });
  }
}
