/**
 * The CPU a user-vector update costs, without a broker: the runner, the
 * user-vectors topology, its RocksDB store and changelog, the doorman and
 * the Avro serdes, on the in-memory Kafka client (`src/runtime/testing`).
 * What it leaves out is kafkajs (fetching, encoding, sockets) and the broker,
 * the part of the 5,000/s latency run whose CPU a two-core machine shares
 * with everything else: so its figure moves by far less between runs than
 * the end-to-end one, for A/B work on the update path itself.
 *
 * It processes 200,000 listens of 100,000 users first (as `npm run bench`
 * does before its latency phase), then offers bursts of 500 listens every
 * 100 ms (5,000/s, as the latency probe does, users drawn from all of them)
 * and reports the CPU time of the event loop's thread per listen of that
 * phase (Linux; elsewhere the whole process's, whose RocksDB compactions and
 * garbage-collection helpers come and go between runs), and how long the last
 * burst took to be committed after it was offered.
 *
 * `npm run bench:update` (`tsx bench/update-path.ts`), with UPDATE_SECONDS
 * (10 s a phase), UPDATE_REPEAT (3 phases, each reported) and
 * UPDATE_PROFILE=file.cpuprofile (a V8 CPU profile of the phases;
 * `tsx bench/profile-summary.ts file`). Needs no stack.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { KafkaSnapshotSource, publishSnapshot, readControlView, writeControl, type SnapshotTopics } from '../src/app/snapshots';
import { AvroSerde } from '../src/runtime/serde/avro-serde';
import { InMemorySchemaRegistry } from '../src/runtime/serde/schema-registry';
import { MemoryKafkaCluster } from '../src/runtime/testing/memory-kafka';
import { TopologyRunner } from '../src/runtime/runner/topology-runner';
import { loadSchema } from '../src/vectors/contracts';
import { planMember } from '../src/vectors/doorman/doorman-state';
import type { ListenEvent } from '../src/vectors/records';
import { SnapshotCatalog } from '../src/vectors/snapshot-catalog';
import { writeBinarySnapshot } from '../src/vectors/snapshot/formats';
import { doorman } from '../topologies/doorman';
import { userVectors } from '../topologies/user-vectors';
import { mulberry32 } from '../test/support/random';
import { clusteredSnapshot, machine, sleep, startProfile } from './common';

const PARTITIONS = 12;
const USERS = 100_000;
const ENTITIES = 100_000;
const DIMS = 128;
const WARM_EVENTS = 200_000;
const BURST = 500;
const TICK_MS = 100;
const SECONDS = Number(process.env.UPDATE_SECONDS ?? 10);
const REPEAT = Number(process.env.UPDATE_REPEAT ?? 3);

const MAIN_THREAD_STAT = `/proc/self/task/${process.pid}/stat`;
const TICK_US = 10_000; // USER_HZ = 100 on Linux

/** CPU time of the main thread (Linux), else of the process, µs. */
function cpuMicros(): { us: number; of: string } {
  if (existsSync(MAIN_THREAD_STAT)) {
    // utime and stime are fields 14 and 15; the command name (field 2) may hold spaces, so count from its ')'.
    const stat = readFileSync(MAIN_THREAD_STAT, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { us: (Number(fields[11]) + Number(fields[12])) * TICK_US, of: 'the event-loop thread' };
  }
  const u = process.cpuUsage();
  return { us: u.user + u.system, of: 'the process' };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vectors-update-path-'));
  const cluster = new MemoryKafkaCluster();
  const kafka = cluster.client();
  const registry = new InMemorySchemaRegistry();
  const t = { listens: 'listens', feedback: 'feedback', control: 'control', userVectors: 'user-vectors', candidateRequests: 'candidate-requests' };
  const snapTopics: SnapshotTopics = { control: t.control, prefix: 'ev.' };
  for (const name of [t.listens, t.feedback, t.userVectors, t.candidateRequests]) cluster.createTopic({ name, partitions: PARTITIONS });
  cluster.createTopic({ name: t.control, partitions: 1, config: { 'cleanup.policy': 'compact' } });

  const name = 'user-vectors';
  await writeControl(kafka, registry, [planMember(name, PARTITIONS, Date.now())], snapTopics);
  await writeBinarySnapshot(join(dir, 's1'), clusteredSnapshot('s1', 1, ENTITIES, DIMS));
  const catalog = new SnapshotCatalog(new KafkaSnapshotSource(kafka, registry, snapTopics), { index: 'exact' });
  const door = new TopologyRunner({
    topology: doorman({ controlTopic: t.control }),
    kafka,
    registry,
    stateDir: join(dir, 'doorman'),
    guarantee: 'exactly-once',
  });
  await door.start();
  const runner = new TopologyRunner({
    topology: userVectors({ catalog, name, topics: t }),
    kafka,
    registry,
    stateDir: join(dir, 'uv'),
    commitIntervalMs: 1000,
  });
  await publishSnapshot(kafka, registry, { file: join(dir, 's1'), snapshotId: 's1', model: 'bench', topics: snapTopics });
  await runner.start();
  while ((await readControlView(kafka, registry, snapTopics)).active !== 's1') await sleep(100);

  const serde = new AvroSerde<ListenEvent>({ registry, subject: `${t.listens}-value`, schema: loadSchema('ListenEvent') });
  await serde.prepare();
  const producer = await kafka.producer();
  const random = mulberry32(7);
  let seq = 0;
  const listens = (n: number, randomUsers: boolean) =>
    Array.from({ length: n }, () => {
      const userId = `u${randomUsers ? Math.floor(random() * USERS) : seq % USERS}`;
      const e = {
        eventId: `ev${seq}`,
        userId,
        entityId: `e${(seq * 7919) % ENTITIES}`,
        msPlayed: 180_000,
        durationMs: 200_000,
        context: 'radio',
        timestamp: Date.now(),
      };
      seq++;
      return { topic: t.listens, key: Buffer.from(userId), value: serde.serialize(e) };
    });
  const committedAll = () => {
    const ends = cluster.offsets(t.listens);
    const committed = cluster.committedOffsets(name, t.listens);
    return ends.every((e) => e.high === e.low || committed.find((c) => c.partition === e.partition)?.offset === e.high);
  };
  const untilCommitted = async () => {
    while (!committedAll()) await sleep(5);
  };

  for (let i = 0; i < WARM_EVENTS; i += 10_000) await producer.send(listens(10_000, false));
  const warmStart = performance.now();
  await untilCommitted();
  console.log(
    `${machine()}; load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  console.log(
    `warm-up: ${WARM_EVENTS} listens of ${USERS} users committed ${((performance.now() - warmStart) / 1000).toFixed(1)} s after the last was written`,
  );

  const profile = process.env.UPDATE_PROFILE ? await startProfile(500) : undefined;
  const results: number[] = [];
  for (let round = 0; round < REPEAT; round++) {
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const cpu = cpuMicros();
    const started = performance.now();
    const ticks = (SECONDS * 1000) / TICK_MS;
    for (let i = 0; i < ticks; i++) {
      await producer.send(listens(BURST, true));
      const next = started + (i + 1) * TICK_MS;
      await sleep(Math.max(0, next - performance.now()));
    }
    const offeredEnd = performance.now();
    await untilCommitted();
    const drainMs = performance.now() - offeredEnd;
    const used = cpuMicros().us - cpu.us;
    delay.disable();
    const perListen = used / (ticks * BURST);
    results.push(perListen);
    console.log(
      `phase ${round + 1}: ${ticks * BURST} listens at ${(BURST * 1000) / TICK_MS}/s, CPU of ${cpu.of} ${perListen.toFixed(1)} µs a listen, ` +
        `all committed ${drainMs.toFixed(0)} ms after the last burst; event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms`,
    );
  }
  if (profile) await profile.stop(process.env.UPDATE_PROFILE!);
  const sorted = [...results].sort((a, b) => a - b);
  console.log(
    `CPU µs a listen, median of ${results.length}: ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)}; load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );

  await runner.stop();
  await door.stop();
  await producer.close();
  rmSync(dir, { recursive: true, force: true });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
