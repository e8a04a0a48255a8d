/**
 * The data tools on the real broker and registry: a generated world's events
 * produced to fresh topics come back through tail exactly — every event, in
 * the partition murmur2(userId) picks, in file order per user — a tail from
 * the end sees only what comes after it, a rate limit holds, and the
 * generated snapshots and user factors publish.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { publishSnapshot } from '../../src/app/snapshots';
import { generateWorldFiles, type GenerateResult } from '../../src/app/tools/generate';
import { produceEvents } from '../../src/app/tools/produce';
import { tailTopic, type TailRecord } from '../../src/app/tools/tail';
import { registerSchemas } from '../../src/runtime/admin/provision';
import type { KafkaAdmin, KafkaClient } from '../../src/runtime/kafka/client';
import { partitionForKey } from '../../src/runtime/partitioner';
import type { ConfluentSchemaRegistry } from '../../src/runtime/serde/confluent-registry';
import { loadSchema, valueSubject } from '../../src/vectors/contracts';
import { createVectorsTopics, kafkaClient, registry as makeRegistry, uniqueName } from './helpers';

jest.setTimeout(120_000);

const PARTITIONS = { listens: 5, feedback: 3 };
let kafka: KafkaClient;
let admin: KafkaAdmin;
let registry: ConfluentSchemaRegistry;
let world: GenerateResult;
const dir = mkdtempSync(join(tmpdir(), 'vectors-tools-'));
const created: string[] = [];

/** Fresh listens and feedback topics with their schemas registered under `<topic>-value`, as provisioning does. */
async function eventTopics(label: string): Promise<{ listens: string; feedback: string }> {
  const tag = uniqueName(label);
  const topics = { listens: `${tag}-listens`, feedback: `${tag}-feedback` };
  await admin.createTopics([
    { name: topics.listens, partitions: PARTITIONS.listens },
    { name: topics.feedback, partitions: PARTITIONS.feedback },
  ]);
  created.push(topics.listens, topics.feedback);
  await registerSchemas(registry, [
    { subject: valueSubject(topics.listens), schema: loadSchema('ListenEvent') },
    { subject: valueSubject(topics.feedback), schema: loadSchema('FeedbackEvent') },
  ]);
  return topics;
}

async function collect(it: AsyncIterable<TailRecord>): Promise<TailRecord[]> {
  const out: TailRecord[] = [];
  for await (const r of it) out.push(r);
  return out;
}

beforeAll(async () => {
  kafka = kafkaClient('tools');
  admin = await kafka.admin();
  registry = makeRegistry();
  world = await generateWorldFiles({ out: dir, seed: 3, users: 30, items: 120, dims: 8, events: 800 });
});

afterAll(async () => {
  await admin?.deleteTopics(created).catch(() => undefined);
  await admin?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('produces a generated event file and tails every event back, in its murmur2 partition, in file order per user', async () => {
  const topics = await eventTopics('tools-roundtrip');
  const progress: number[] = [];
  const result = await produceEvents({
    kafka,
    registry,
    source: world.events.file,
    topic: topics,
    onProgress: (p) => progress.push(p.sent),
    progressIntervalMs: 0,
  });
  const lines = readFileSync(world.events.file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { topic: 'listens' | 'feedback'; userId: string; eventId: string });
  expect(result).toMatchObject({
    read: 800,
    sent: 800,
    invalid: 0,
    byTopic: { [topics.listens]: world.events.listens, [topics.feedback]: 800 - world.events.listens },
  });
  expect(progress[progress.length - 1]).toBe(800);

  for (const kind of ['listens', 'feedback'] as const) {
    const tailed = await collect(tailTopic({ kafka, registry, topic: topics[kind], from: 'beginning', idleMs: 2000 }));
    const expected = lines.filter((l) => l.topic === kind).map(({ topic: _topic, ...event }) => event);
    expect(tailed.length).toBe(expected.length);
    const byId = new Map(tailed.map((r) => [(r.value as { eventId: string }).eventId, r]));
    for (const event of expected) {
      const r = byId.get(event.eventId)!;
      expect(r.value).toEqual(event);
      expect(r.key).toBe(event.userId);
      expect(r.partition).toBe(partitionForKey(Buffer.from(event.userId), PARTITIONS[kind]));
      expect(r.topic).toBe(topics[kind]);
    }
    // Per user, the offsets follow the file's order.
    const offsets = new Map<string, bigint[]>();
    for (const event of expected) (offsets.get(event.userId) ?? offsets.set(event.userId, []).get(event.userId)!).push(BigInt(byId.get(event.eventId)!.offset));
    for (const list of offsets.values()) for (let i = 1; i < list.length; i++) expect(list[i]! > list[i - 1]!).toBe(true);
  }

  const limited = await collect(tailTopic({ kafka, registry, topic: topics.listens, from: 'beginning', limit: 7 }));
  expect(limited.length).toBe(7);
});

it('tails from the end: only what is produced after it started', async () => {
  const topics = await eventTopics('tools-end');
  await produceEvents({ kafka, registry, source: world.events.file, topic: topics.feedback, kind: 'feedback' });
  const before = (await admin.topicOffsets(topics.feedback)).reduce((s, p) => s + Number(p.high), 0);
  expect(before).toBe(800 - world.events.listens);

  const abort = new AbortController();
  const seen: TailRecord[] = [];
  let started!: (start: { offset: string }[]) => void;
  const startedAt = new Promise<{ offset: string }[]>((r) => (started = r));
  const tailing = (async () => {
    for await (const r of tailTopic({ kafka, registry, topic: topics.feedback, from: 'end', signal: abort.signal, onStart: started })) seen.push(r);
  })();
  const start = await startedAt;
  expect(start.reduce((s, p) => s + Number(p.offset), 0)).toBe(before);
  const input = new PassThrough();
  const fresh = Array.from({ length: 10 }, (_, i) => ({
    eventId: `late-${i}`,
    userId: `late-user-${i}`,
    entityId: 'e1',
    kind: 'BAN',
    surface: 'test',
    timestamp: Date.now(),
  }));
  input.end(fresh.map((e) => JSON.stringify(e)).join('\n'));
  await produceEvents({ kafka, registry, source: input, topic: topics.feedback, kind: 'feedback' });
  const deadline = Date.now() + 20_000;
  while (seen.length < fresh.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  abort.abort();
  await tailing;
  expect(seen.map((r) => (r.value as { eventId: string }).eventId).sort()).toEqual(fresh.map((e) => e.eventId).sort());
});

it('holds a rate limit: 60 events at 100/s take at least about 0.6 s', async () => {
  const topics = await eventTopics('tools-rate');
  const sixty = new PassThrough();
  sixty.end(
    readFileSync(world.events.file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"topic":"listens"'))
      .slice(0, 60)
      .join('\n'),
  );
  const started = Date.now();
  const r = await produceEvents({ kafka, registry, source: sixty, topic: topics.listens, kind: 'listens', rate: 100 });
  const elapsed = Date.now() - started;
  expect(r.sent).toBe(60);
  // 60 events at 100/s: the last goes out no earlier than 0.59 s after the first.
  expect(elapsed).toBeGreaterThanOrEqual(550);
  expect(r.rate).toBeLessThanOrEqual(105);
});

it('generates snapshots and user factors that publish accepts', async () => {
  const tag = uniqueName('tools-publish');
  const { t, snapTopics } = await createVectorsTopics(admin, tag, 4);
  created.push(...Object.values(t));
  for (const s of world.snapshots) {
    const snapshotId = `${tag}-${s.id}`;
    created.push(`${snapTopics.prefix}${snapshotId}`, `${snapTopics.prefix}${snapshotId}-users`);
    const manifest = await publishSnapshot(kafka, registry, {
      file: s.file,
      snapshotId,
      model: 'synthetic',
      topics: snapTopics,
      users: { file: s.users!.file, partitions: 4 },
      cutoff: world.cutoff!,
    });
    expect(manifest).toMatchObject({ count: s.count, dims: s.dims, checksum: s.checksum, cutoff: world.cutoff, users: { count: s.users!.count } });
  }
});
