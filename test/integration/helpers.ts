import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { IncomingRecord, KafkaAdmin, KafkaClient, TopicSpec } from '../../src/runtime/kafka/client';
import { KafkajsClient } from '../../src/runtime/kafka/kafkajs-client';
import { readRange } from '../../src/runtime/kafka/read-range';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { ConfluentSchemaRegistry } from '../../src/runtime/serde/confluent-registry';
import { loadSchema, type SchemaName } from '../../src/vectors/contracts';

export const ROOT = join(__dirname, '..', '..');

/** Where the real stack is; set by scripts/test.sh (or `eval "$(scripts/stack.sh env)"`). */
export function stackEnv(): { brokers: string[]; registryUrl: string } {
  const brokers = process.env.KAFKA_BROKERS;
  const registryUrl = process.env.SCHEMA_REGISTRY_URL;
  if (!brokers || !registryUrl) {
    throw new Error('integration tests need the local stack: run `npm test`, or `npm run stack:up` and `eval "$(bash scripts/stack.sh env)"` first');
  }
  return { brokers: brokers.split(','), registryUrl };
}

export function kafkaClient(clientId = 'it'): KafkaClient {
  return new KafkajsClient({ brokers: stackEnv().brokers, clientId, logLevel: 'nothing' });
}

export function registry(): ConfluentSchemaRegistry {
  return new ConfluentSchemaRegistry(stackEnv().registryUrl);
}

/** A topic name no other test or run uses. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export async function createTopics(admin: KafkaAdmin, specs: TopicSpec[]): Promise<void> {
  await admin.createTopics(specs);
}

/** Reads every committed record of a topic (all partitions) up to its current end. */
export async function readAll(client: KafkaClient, admin: KafkaAdmin, topic: string): Promise<IncomingRecord[]> {
  const reader = await client.partitionReader();
  const out: IncomingRecord[] = [];
  try {
    for (const p of await admin.topicOffsets(topic)) {
      await readRange(reader, { topic, partition: p.partition }, BigInt(p.low), BigInt(p.high), (records) => void out.push(...records));
    }
  } finally {
    await reader.close();
  }
  return out;
}

/** Every record of a topic decoded with the schema of `schema` (writer schemas from the registry), in partition, then offset order. */
export async function readDecoded<T>(
  client: KafkaClient,
  admin: KafkaAdmin,
  reg: ConfluentSchemaRegistry,
  topic: string,
  schema: SchemaName,
): Promise<(T & { partition: number; offset: bigint })[]> {
  const serde = new AvroSerde<T>({ registry: reg, subject: `${topic}-value`, schema: loadSchema(schema) });
  await serde.prepare();
  const out: (T & { partition: number; offset: bigint })[] = [];
  for (const r of await readAll(client, admin, topic)) {
    await serde.prepareFor(r.value!);
    out.push({ ...serde.deserialize(r.value!), partition: r.partition, offset: BigInt(r.offset) });
  }
  return out.sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
}

/**
 * Whether, in every partition, the snapshots of the records (in offset order)
 * appear in `order` and never go back: each partition's runs of one snapshot
 * form a subsequence of `order` (I3; a rollback is a later entry of `order`).
 */
export function snapshotsFollow(records: { partition: number; snapshotId: string }[], order: string[]): boolean {
  const runs = new Map<number, string[]>();
  for (const r of records) {
    const seq = runs.get(r.partition) ?? runs.set(r.partition, []).get(r.partition)!;
    if (seq.at(-1) !== r.snapshotId) seq.push(r.snapshotId);
  }
  return [...runs.values()].every((seq) => {
    let at = 0;
    for (const id of seq) {
      while (at < order.length && order[at] !== id) at++;
      if (at++ === order.length) return false;
    }
    return true;
  });
}

/** Waits until consumer group `groupId` has committed every record of `topic` written so far. */
export async function waitCaughtUp(admin: KafkaAdmin, groupId: string, topic: string, timeoutMs: number): Promise<void> {
  const ends = await admin.topicOffsets(topic);
  await waitFor(
    async () => {
      const committed = await admin.committedOffsets(groupId, topic);
      return ends.every((e) => e.high === e.low || committed.find((c) => c.partition === e.partition)?.offset === e.high);
    },
    timeoutMs,
    `group ${groupId} to commit all of ${topic}`,
  );
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, everyMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs a command, resolving with its stdout (rejecting with stderr on a non-zero exit). */
export function run(cmd: string, args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d) => out.push(d));
    child.stderr.on('data', (d) => err.push(d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${Buffer.concat(err).toString('utf8').slice(-2000)}`));
    });
  });
}

/** Parses Kafka's ConsoleConsumer BytesDeserializer output line back into bytes (`\xHH` escapes). */
export function unescapeConsoleBytes(line: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '\\' && line[i + 1] === 'x') {
      bytes.push(parseInt(line.slice(i + 2, i + 4), 16));
      i += 3;
    } else bytes.push(line.charCodeAt(i));
  }
  return Buffer.from(bytes);
}

/** Topic names of one vectors system under test (DESIGN.md's topics, prefixed with `tag`). */
export interface VectorsTestTopics {
  t: { listens: string; feedback: string; control: string; userVectors: string; candidates: string; candidateRequests: string };
  /** Where snapshots and the control log live, for the app's snapshot functions. */
  snapTopics: { control: string; prefix: string };
}

/** Creates the topics of a vectors system under `tag` (inputs and outputs with `partitions`, the control log with one). */
export async function createVectorsTopics(admin: KafkaAdmin, tag: string, partitions: number): Promise<VectorsTestTopics> {
  const t = {
    listens: `${tag}-listens`,
    feedback: `${tag}-feedback`,
    control: `${tag}-control`,
    userVectors: `${tag}-user-vectors`,
    candidates: `${tag}-candidates`,
    candidateRequests: `${tag}-candidate-requests`,
  };
  await admin.createTopics([
    { name: t.listens, partitions },
    { name: t.feedback, partitions },
    { name: t.userVectors, partitions, config: { 'cleanup.policy': 'compact' } },
    { name: t.candidates, partitions },
    { name: t.candidateRequests, partitions },
    { name: t.control, partitions: 1, config: { 'cleanup.policy': 'compact' } },
  ]);
  return { t, snapTopics: { control: t.control, prefix: `${tag}-entity-vectors.` } };
}

/** A TCP port free on 127.0.0.1 now, for a server a test starts next (see its TSDoc for why not listen(0)). */
export { freePort } from '../support/ports';
