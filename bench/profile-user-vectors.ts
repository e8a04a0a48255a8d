/**
 * A small, profiled run of the user-vector update path alone (what
 * `npm run bench:vectors` measures first), for A/B work on the bytes and the
 * work per update. Unlike bench:vectors it writes nothing to docs/, runs no
 * latency or switch phase, and reports the bytes that matter: the user state
 * in the changelog and the candidate requests.
 *
 * `tsx bench/profile-user-vectors.ts` with BENCH_EVENTS (50000), BENCH_USERS
 * (5000), BENCH_ENTITIES (20000), BENCH_DIMS (128); BENCH_PROFILE=file.cpuprofile
 * writes a V8 CPU profile of the update phase (summarise it with
 * `tsx bench/profile-summary.ts file.cpuprofile`); BENCH_CONSUMED_EVERY (user-vectors'
 * consumedEvery, 1); BENCH_CANDIDATES=1 also
 * times (and with BENCH_PROFILE_CAND=file profiles) the candidates topology
 * catching up on the requests; BENCH_AWAIT_SENDS=1 awaits every output send
 * (the runner's behaviour before sends were chained), for an A/B run.
 */
import '../src/runtime/kafka/kafkajs-encoder-patch';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { KafkaSnapshotSource, publishSnapshot, readControlView, writeControl } from '../src/app/snapshots';
import { KafkajsClient } from '../src/runtime/kafka/kafkajs-client';
import { TaskCommitter } from '../src/runtime/runner/task-committer';
import { TopologyRunner } from '../src/runtime/runner/topology-runner';
import { AvroSerde } from '../src/runtime/serde/avro-serde';
import { ConfluentSchemaRegistry } from '../src/runtime/serde/confluent-registry';
import { loadSchema } from '../src/vectors/contracts';
import { planMember } from '../src/vectors/doorman/doorman-state';
import type { ListenEvent } from '../src/vectors/records';
import { SnapshotCatalog } from '../src/vectors/snapshot-catalog';
import { writeBinarySnapshot } from '../src/vectors/snapshot/formats';
import { candidates } from '../topologies/candidates';
import { doorman } from '../topologies/doorman';
import { userVectors } from '../topologies/user-vectors';
import { clusteredSnapshot, drain, sleep, startProfile } from './common';

// BENCH_AWAIT_SENDS=1: at-least-once outputs awaited batch by batch, as before sends were chained (an A/B switch for this harness only).
if (process.env.BENCH_AWAIT_SENDS) {
  const proto = TaskCommitter.prototype as unknown as {
    sendOutputsBehind(records: unknown[]): Promise<void>;
    d: { producer(): { send(r: unknown[]): Promise<unknown> } };
  };
  proto.sendOutputsBehind = async function (this: typeof proto, records) {
    await this.d.producer().send(records);
  };
}

const ENTITIES = Number(process.env.BENCH_ENTITIES ?? 20_000);
const DIMS = Number(process.env.BENCH_DIMS ?? 128);
const USERS = Number(process.env.BENCH_USERS ?? 5_000);
const EVENTS = Number(process.env.BENCH_EVENTS ?? 50_000);
/** user-vectors' consumedEvery: the whole consumed set in every request (1) or every N-th. */
const EVERY = Number(process.env.BENCH_CONSUMED_EVERY ?? 1);
const PARTITIONS = 12;
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const tag = `pv-${Date.now().toString(36)}`;
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** Sizes of the values of `topic`: all records, and the latest per key (what a compacted changelog keeps). */
async function valueSizes(topic: string): Promise<{ records: number; bytes: number; keys: number; latestBytes: number; max: number }> {
  const k = new Kafka({ clientId: `${tag}-sizes`, brokers, logLevel: logLevel.NOTHING });
  const admin = k.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = ends.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  const latest = new Map<string, number>();
  let records = 0;
  let bytes = 0;
  let max = 0;
  if (total > 0) {
    const consumer = k.consumer({ groupId: `${tag}-sizes-${topic}`, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve) => {
      void consumer.run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            const n = m.value?.length ?? 0;
            records++;
            bytes += n;
            max = Math.max(max, n);
            latest.set(m.key!.toString(), n);
          }
          if (records >= total) resolve();
        },
      });
    });
    await consumer.disconnect();
  }
  let latestBytes = 0;
  for (const n of latest.values()) latestBytes += n;
  return { records, bytes, keys: latest.size, latestBytes, max };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vectors-pv-'));
  const kafka = new KafkajsClient({ brokers, clientId: 'bench-pv', logLevel: 'nothing' });
  const reg = new ConfluentSchemaRegistry(registryUrl);
  const admin = await kafka.admin();
  const t = {
    listens: `${tag}-listens`,
    feedback: `${tag}-feedback`,
    control: `${tag}-control`,
    userVectors: `${tag}-uv`,
    candidates: `${tag}-cand`,
    candidateRequests: `${tag}-cand-req`,
  };
  const snapTopics = { control: t.control, prefix: `${tag}-ev.` };
  await admin.createTopics([
    ...[t.listens, t.feedback, t.userVectors, t.candidates, t.candidateRequests].map((name) => ({ name, partitions: PARTITIONS })),
    { name: t.control, partitions: 1, config: { 'cleanup.policy': 'compact' } },
  ]);
  const uvName = `${tag}-uv`;
  const candName = `${tag}-cand`;
  await writeControl(kafka, reg, [planMember(uvName, PARTITIONS, Date.now()), planMember(candName, PARTITIONS, Date.now())], snapTopics);
  await writeBinarySnapshot(join(dir, 's1'), clusteredSnapshot(`${tag}-s1`, 1, ENTITIES, DIMS));
  const serde = new AvroSerde<ListenEvent>({ registry: reg, subject: `${t.listens}-value`, schema: loadSchema('ListenEvent') });
  await serde.prepare();
  const producer = await kafka.producer();
  let seq = 0;
  const event = (ts: number) => {
    const userId = `u${seq % USERS}`;
    const e = { eventId: `ev${seq}`, userId, entityId: `e${(seq * 7919) % ENTITIES}`, msPlayed: 180_000, durationMs: 200_000, context: 'radio', timestamp: ts };
    seq++;
    return { topic: t.listens, key: userId, value: serde.serialize(e) };
  };
  const catalog = new SnapshotCatalog(new KafkaSnapshotSource(kafka, reg, snapTopics));
  const door = new TopologyRunner({
    topology: doorman({ name: `${tag}-doorman`, controlTopic: t.control }),
    kafka,
    registry: reg,
    stateDir: join(dir, 'doorman'),
    guarantee: 'exactly-once',
  });
  await door.start();
  const mk = (which: 'uv' | 'cand') =>
    new TopologyRunner({
      topology: which === 'uv' ? userVectors({ catalog, name: uvName, topics: t, consumedEvery: EVERY }) : candidates({ catalog, name: candName, topics: t }),
      kafka,
      registry: reg,
      stateDir: join(dir, which),
      commitIntervalMs: 1000,
    });
  await publishSnapshot(kafka, reg, { file: join(dir, 's1'), snapshotId: `${tag}-s1`, model: 'bench', topics: snapTopics });
  const first = [mk('uv'), mk('cand')];
  for (const r of first) await r.start();
  while ((await readControlView(kafka, reg, snapTopics)).active !== `${tag}-s1`) await sleep(200);
  for (const r of first) await r.stop();

  const base = Date.now() - EVENTS;
  for (let i = 0; i < EVENTS; i += 5000) await producer.send(Array.from({ length: Math.min(5000, EVENTS - i) }, (_, j) => event(base + i + j)));

  const runner = mk('uv');
  const loadBefore = load();
  const profile = process.env.BENCH_PROFILE ? await startProfile(500) : undefined;
  await runner.start();
  const seconds = await drain(admin, runner, 'listens', uvName, t.listens);
  if (profile) await profile.stop(process.env.BENCH_PROFILE!);
  const loadAfter = load();
  await runner.stop();
  const result: Record<string, unknown> = {
    awaitSends: Boolean(process.env.BENCH_AWAIT_SENDS),
    consumedEvery: EVERY,
    events: EVENTS,
    users: USERS,
    entities: ENTITIES,
    dims: DIMS,
    seconds,
    updatesPerSec: EVENTS / seconds,
    loadBefore,
    loadAfter,
  };

  const changelog = await valueSizes(`${uvName}-users-changelog`);
  const requests = await valueSizes(t.candidateRequests);
  result.changelog = {
    ...changelog,
    bytesPerUser: changelog.latestBytes / Math.max(1, changelog.keys),
    bytesPerRecord: changelog.bytes / Math.max(1, changelog.records),
  };
  result.candidateRequests = { ...requests, bytesPerRequest: requests.bytes / Math.max(1, requests.records) };

  if (process.env.BENCH_CANDIDATES) {
    const cand = mk('cand');
    const cprof = process.env.BENCH_PROFILE_CAND ? await startProfile(500) : undefined;
    await cand.start();
    const catchUp = await drain(admin, cand, 'requests', candName, t.candidateRequests);
    if (cprof) await cprof.stop(process.env.BENCH_PROFILE_CAND!);
    const lists = (await cand.metrics.recordsOut.get()).values.filter((v) => v.labels.sink === 'candidates-out').reduce((n, v) => n + v.value, 0);
    await cand.stop();
    result.candidates = { seconds: catchUp, requestsPerSec: requests.records / catchUp, lists, load: load() };
  }
  console.log(JSON.stringify(result, null, 1));

  await door.stop();
  await producer.close();
  await admin.deleteTopics([...Object.values(t), `${tag}-ev.${tag}-s1`, `${uvName}-users-changelog`, `${candName}-marks-changelog`]).catch(() => undefined);
  await admin.close();
  rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
