import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, stackEnv } from './helpers';

/** A topology instance in its own OS process, through the real CLI. */
export class Worker {
  readonly child: ChildProcess;
  private output = '';
  private exited: Promise<number | null>;

  constructor(
    readonly name: string,
    args: string[],
    env: Record<string, string> = {},
    readonly logFile?: string,
  ) {
    // The shared stack unless the caller names another one.
    const { brokers, registryUrl } =
      env.KAFKA_BROKERS && env.SCHEMA_REGISTRY_URL ? { brokers: [env.KAFKA_BROKERS], registryUrl: env.SCHEMA_REGISTRY_URL } : stackEnv();
    // node itself, not the tsx launcher: the tsx CLI runs the script in a child
    // process, and SIGKILL of the launcher would leave that child running.
    this.child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, KAFKA_BROKERS: brokers.join(','), SCHEMA_REGISTRY_URL: registryUrl, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const log = logFile ? createWriteStream(logFile, { flags: 'a' }) : undefined;
    const capture = (d: Buffer) => {
      this.output += d.toString('utf8');
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
      log?.write(d);
    };
    this.child.stdout!.on('data', capture);
    this.child.stderr!.on('data', capture);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get logs(): string {
    return this.output;
  }

  /** Resolves when the worker logged a line matching `re`. */
  async waitForLog(re: RegExp, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.output)) {
      if (this.child.exitCode !== null)
        throw new Error(`worker ${this.name} exited (${this.child.exitCode}) before logging ${re}:\n${this.output.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`worker ${this.name} did not log ${re} within ${timeoutMs} ms:\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits for the process to exit by itself: its exit code, or 'still running' after `timeoutMs`. */
  async exitWithin(timeoutMs: number): Promise<number | null | 'still running'> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), timeoutMs)));
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill9(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** SIGTERM and wait; resolves with the exit code. */
  async stop(timeoutMs = 15_000): Promise<number | null> {
    if (this.child.exitCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `vectors-${prefix}-`));
}
