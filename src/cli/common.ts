/**
 * What the `vectors` commands share: output, the JSON log line, option
 * parsers, and the option groups several commands take (Kafka and registry,
 * snapshot topics), each read from its flag, else its environment variable,
 * else its default — the order commander applies.
 *
 * To add an option to a command, add it in that command's file with
 * `new Option(...)`, an `.env(...)` where operators set it from the
 * environment and a `.default(...)` shown by `--help`; parsers below turn a
 * bad value into a usage error (exit 2) that names the flag.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { ConfigError, UsageError } from '../errors';
import type { KafkaClient } from '../runtime/kafka/client';
import { KafkajsClient } from '../runtime/kafka/kafkajs-client';
import { ConfluentSchemaRegistry } from '../runtime/serde/confluent-registry';
import type { SnapshotTopics } from '../app/snapshots';
import { Topics } from '../vectors/contracts';
import { isValidSnapshotId } from '../vectors/snapshot/manifest';
import { addKafkaSecurityOptions, kafkaSecurityFrom, type KafkaSecurityOptions, registryAuthFrom } from './security';

/** Exit codes scripts can rely on. */
export const ExitCodes = {
  /** The command did what it was asked. */
  OK: 0,
  /** The command ran and failed (broker, registry, invalid data, a refused switch, a timeout). */
  FAILED: 1,
  /** The command line was wrong: unknown command or option, missing or malformed value. Nothing was done. */
  USAGE: 2,
} as const;

/** Where a command writes its result (stdout) and usage errors (stderr); tests pass their own. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/** One JSON log line on stderr, the format of every process's logs. */
export function logLine(level: string, message: string, fields: Record<string, unknown> = {}): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`);
}

/** A command's result: JSON on stdout (indented unless `compact`). */
export function printJson(io: CliIo, value: unknown, compact = false): void {
  io.out(`${compact ? JSON.stringify(value) : JSON.stringify(value, null, 2)}\n`);
}

// ---- parsers: each throws InvalidArgumentError, which commander reports naming the flag (exit 2)

export function positiveInt(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** Repeatable `--opt key=value`: collects into one record (a later key wins). */
export function keyValue(raw: string, previous: Record<string, string> | undefined): Record<string, string> {
  const eq = raw.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected key=value, e.g. --opt lambda=0.1');
  return { ...previous, [raw.slice(0, eq)]: raw.slice(eq + 1) };
}

/** `HOST:PORT` or `PORT` (host 127.0.0.1). */
export function listenAddress(raw: string): { host: string; port: number } {
  const m = /^(?:(.+):)?(\d+)$/.exec(raw);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new InvalidArgumentError('expected HOST:PORT or PORT, e.g. 127.0.0.1:8090');
  return { host: m[1] ?? '127.0.0.1', port };
}

/** An ISO-8601 time or epoch milliseconds, as epoch ms. */
export function instant(raw: string): number {
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isSafeInteger(ms) || ms < 0) throw new InvalidArgumentError('expected an ISO-8601 time (2024-06-01T00:00:00Z) or epoch milliseconds');
  return ms;
}

export function snapshotId(raw: string): string {
  if (!isValidSnapshotId(raw)) throw new InvalidArgumentError('expected 1 to 100 characters of A-Z a-z 0-9 . _ - (it becomes part of a topic name)');
  return raw;
}

/** A comma-separated list, blanks dropped. */
export function list(raw: string): string[] {
  return raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

// ---- option groups

/** `--brokers`, `--registry` and the Kafka TLS/SASL flags (./security.ts): every command that talks to Kafka. */
export interface KafkaOptions extends KafkaSecurityOptions {
  brokers?: string;
  registry?: string;
}

export function addKafkaOptions(cmd: Command): Command {
  return addKafkaSecurityOptions(
    cmd
      .addOption(new Option('--brokers <host:port,...>', 'Kafka bootstrap brokers').env('KAFKA_BROKERS'))
      .addOption(
        new Option('--registry <url>', 'Confluent-compatible schema registry URL (credentials: SCHEMA_REGISTRY_USER/_PASSWORD or _TOKEN)').env(
          'SCHEMA_REGISTRY_URL',
        ),
      ),
  );
}

/** A value every command that connects needs: missing, it is a usage error (exit 2), as a missing option's value is. */
function required(value: string | undefined, flag: string, env: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing --${flag} (or ${env}); for the local stack: eval "$(bash scripts/stack.sh env)"`);
  return value;
}

/**
 * A Kafka client for one command. One-shot commands pass `quiet`: their
 * failure is reported once, as their own error line, not also as kafkajs's.
 */
export function kafkaFrom(o: KafkaOptions, clientId: string, quiet = false): KafkajsClient {
  return new KafkajsClient({
    brokers: list(required(o.brokers, 'brokers', 'KAFKA_BROKERS')),
    clientId,
    logLevel: quiet ? 'nothing' : 'error',
    ...kafkaSecurityFrom(o),
  });
}

export function registryFrom(o: KafkaOptions): ConfluentSchemaRegistry {
  const auth = registryAuthFrom();
  return new ConfluentSchemaRegistry(required(o.registry, 'registry', 'SCHEMA_REGISTRY_URL'), auth ? { auth } : {});
}

/** `--control-topic` and `--snapshot-prefix`: where the doorman's log and the snapshots are (several systems on one cluster, tests). */
export interface SnapshotTopicOptions {
  controlTopic?: string;
  snapshotPrefix?: string;
}

export function addSnapshotTopicOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--control-topic <topic>', `the doorman's control log (default ${Topics.snapshotControl})`).env('VECTORS_CONTROL_TOPIC'))
    .addOption(
      new Option(
        '--snapshot-prefix <prefix>',
        'prefix of snapshot topics: <prefix><id>, <prefix><id>-users (default entity-vectors.<id>, user-factors.<id>)',
      ).env('VECTORS_SNAPSHOT_PREFIX'),
    );
}

export function snapshotTopicsFrom(o: SnapshotTopicOptions): SnapshotTopics {
  return {
    ...(o.controlTopic ? { control: o.controlTopic } : {}),
    ...(o.snapshotPrefix ? { prefix: o.snapshotPrefix } : {}),
  };
}

export { editDistance, suggest } from '../app/suggest';

/**
 * Fails fast, naming the fix, when the control log does not exist (an
 * unprovisioned cluster or a mistyped --control-topic): reading it would
 * otherwise retry for seconds and end in "This server does not host this topic-partition".
 */
export async function requireControlTopic(kafka: KafkaClient, topics: SnapshotTopics): Promise<void> {
  const topic = topics.control ?? Topics.snapshotControl;
  const admin = await kafka.admin();
  try {
    if (!(await admin.listTopics()).includes(topic)) {
      throw new ConfigError(
        `the control topic '${topic}' does not exist: run 'vectors provision${topics.control ? ` --control-topic ${topic}` : ''}' first, or give the right --control-topic`,
      );
    }
  } finally {
    await admin.close();
  }
}

/** A number > 0 (e.g. a rate). */
export function positiveNumber(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0');
  return n;
}

/** A share in [0, 1]. */
export function share(raw: string): number {
  const n = Number(raw);
  if (raw.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a number from 0 to 1');
  return n;
}

/**
 * A status line redrawn in place on stderr while a command works (a progress
 * bar), only when stderr is a terminal: logs and pipes get the result alone.
 */
export class ProgressLine {
  private readonly tty = process.stderr.isTTY === true;
  private shown = false;

  update(text: string): void {
    if (!this.tty) return;
    this.shown = true;
    process.stderr.write(`\r\x1b[K${text}`);
  }

  done(): void {
    if (this.shown) process.stderr.write('\n');
    this.shown = false;
  }
}

/** `[#####.....] 50%` */
export function bar(fraction: number, width = 24): string {
  const f = Math.max(0, Math.min(1, fraction));
  const filled = Math.round(f * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(f * 100)
    .toString()
    .padStart(3)}%`;
}
