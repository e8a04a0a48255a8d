/**
 * Restore in the background (issue 11): a task whose changelog is long is
 * restored with its input partition paused while the other tasks already
 * process and answer queries; closing the runner during a restore ends it
 * cleanly, and the next start continues from where it stopped.
 *
 * The large restore is held by the runner's restore hook until the test has
 * seen what it waits for, so the order of events does not depend on timing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KafkaAdmin, KafkaClient, KafkaProducer } from '../../src/runtime/kafka/client';
import { MetricNames } from '../../src/runtime/metrics/names';
import { RuntimeMetrics } from '../../src/runtime/metrics/runtime-metrics';
import { partitionForKey } from '../../src/runtime/partitioner';
import { type ProcessingGuarantee, TopologyRunner, type RestoreProgress } from '../../src/runtime/runner/topology-runner';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import { Int64Serde, StringSerde } from '../../src/runtime/serde/serde';
import { type CountedEvent, CountedEventSchema, eventCounter } from '../../topologies/event-counter';
import { kafkaClient, readAll, registry, uniqueName, waitFor } from './helpers';

jest.setTimeout(180_000);

const PARTITIONS = 2;
const LARGE = 0;
const SMALL = 1;

let kafka: KafkaClient;
let admin: KafkaAdmin;
let producer: KafkaProducer;
const runners: TopologyRunner[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  kafka = kafkaClient('background-restore');
  admin = await kafka.admin();
  producer = await kafka.producer();
});
afterAll(async () => {
  for (const r of runners) await r.stop();
  await producer?.close();
  await admin?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** `n` keys that Kafka's partitioner puts on `partition`; long, so that the changelog takes several fetches to read. */
function keysOn(partition: number, n: number, prefix: string): string[] {
  const keys: string[] = [];
  for (let i = 0; keys.length < n; i++) {
    const key = `${prefix}-${i}-${'k'.repeat(120)}`;
    if (partitionForKey(StringSerde.serialize(key), PARTITIONS) === partition) keys.push(key);
  }
  return keys;
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

interface Setup {
  name: string;
  input: string;
  output: string;
  serde: AvroSerde<CountedEvent>;
}

/** Topics of one event counter, its changelog already holding `counts` on each partition (as a previous run left it). */
async function setUp(prefix: string, counts: Map<string, number>[]): Promise<Setup> {
  const tag = uniqueName(prefix);
  const name = `${tag}-ec`;
  const input = `${tag}-events`;
  const output = `${tag}-counts`;
  const changelog = `${name}-counts-changelog`;
  await admin.createTopics([
    { name: input, partitions: PARTITIONS },
    { name: output, partitions: PARTITIONS },
    { name: changelog, partitions: PARTITIONS, config: { 'cleanup.policy': 'compact' } },
  ]);
  for (const [partition, entries] of counts.entries()) {
    const records = [...entries].map(([key, n]) => ({ topic: changelog, partition, key: StringSerde.serialize(key), value: Int64Serde.serialize(n) }));
    for (let i = 0; i < records.length; i += 5000) await producer.send(records.slice(i, i + 5000));
  }
  const serde = new AvroSerde<CountedEvent>({ registry: registry(), subject: `${input}-value`, schema: CountedEventSchema });
  await serde.prepare();
  return { name, input, output, serde };
}

function runner(
  s: Setup,
  stateDir: string,
  options: {
    onRestoreProgress?: (p: RestoreProgress) => Promise<void> | void;
    metrics?: RuntimeMetrics;
    sessionTimeoutMs?: number;
    guarantee?: ProcessingGuarantee;
  } = {},
): TopologyRunner {
  const r = new TopologyRunner({
    topology: eventCounter({ name: s.name, input: s.input, output: s.output }),
    kafka,
    registry: registry(),
    stateDir,
    commitIntervalMs: 200,
    ...options,
  });
  runners.push(r);
  return r;
}

function stateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'background-restore-'));
  dirs.push(dir);
  return dir;
}

async function send(s: Setup, key: string, id: string): Promise<void> {
  await producer.send([{ topic: s.input, key, value: s.serde.serialize({ id, key, timestamp: Date.now() }) }]);
}

/** The counts the topology emitted for `key`, in order. */
async function outputsOf(s: Setup, key: string): Promise<number[]> {
  return (await readAll(kafka, admin, s.output)).filter((r) => r.key?.toString() === key).map((r) => Int64Serde.deserialize(r.value!));
}

async function committed(s: Setup, partition: number): Promise<string | undefined> {
  return (await admin.committedOffsets(s.name, s.input)).find((o) => o.partition === partition)?.offset;
}

it.each<ProcessingGuarantee>(['at-least-once', 'exactly-once'])(
  '%s: processes and serves the partition with a short changelog while the long one restores, its input paused',
  async (guarantee) => {
    const large = keysOn(LARGE, 60_000, 'large');
    const small = keysOn(SMALL, 3, 'small');
    const s = await setUp('bg-restore', [new Map(large.map((k) => [k, 1])), new Map(small.map((k) => [k, 5]))]);

    // The large partition's restore waits here before its first fetch until the test lets it go.
    const release = deferred();
    let largeFetches = 0;
    const r = runner(s, stateDir(), {
      guarantee,
      onRestoreProgress: async (p) => {
        if (p.partition !== LARGE) return;
        largeFetches++;
        await release.promise;
      },
    });
    const t0 = performance.now();
    await r.start();
    await send(s, small[0]!, 'e1');
    await send(s, large[0]!, 'e2');

    await waitFor(async () => (await outputsOf(s, small[0]!)).includes(6), 60_000, 'the small partition counting its event on its restored state');
    const smallServedMs = performance.now() - t0;

    // The small partition runs and answers queries; the large one is still restoring, its event neither processed nor committed.
    expect(r.taskReadiness).toEqual({ assigned: ['0_0', '0_1'], restoring: ['0_0'] });
    expect(r.hasTask(0, SMALL)).toBe(true);
    expect(r.hasTask(0, LARGE)).toBe(false);
    expect(largeFetches).toBe(1);
    expect(await r.store<string, number>('counts').get(small[0]!)).toBe(6);
    expect(await r.store<string, number>('counts').get(small[1]!)).toBe(5);
    expect(await r.store<string, number>('counts').get(large[0]!)).toBeUndefined();
    expect((await r.queryMetadataForKey('counts', large[0]!)).local).toBe(false);
    expect((await r.queryMetadataForKey('counts', small[0]!)).local).toBe(true);
    await waitFor(async () => (await committed(s, SMALL)) === '1', 30_000, 'the small partition committed');
    // Commits of the running task went on (200 ms interval) for a while: none moved the restoring partition's offset.
    await new Promise((done) => setTimeout(done, 1000));
    expect(await committed(s, LARGE)).toBe('-1');
    expect(await outputsOf(s, large[0]!)).toEqual([]);

    const released = performance.now();
    release.resolve();
    await waitFor(() => r.taskReadiness.restoring.length === 0, 60_000, 'the large partition restored');
    const largeRestoredMs = performance.now() - t0;
    expect(largeFetches).toBeGreaterThan(1); // a changelog of several fetches, each one offered to the hook

    // The event held back during the restore is processed on the restored state, once.
    await waitFor(async () => (await outputsOf(s, large[0]!)).length > 0, 60_000, 'the large partition processing its event');
    expect(await outputsOf(s, large[0]!)).toEqual([2]);
    expect(await r.store<string, number>('counts').get(large[0]!)).toBe(2);
    expect(await r.store<string, number>('counts').get(large.at(-1)!)).toBe(1);
    await waitFor(async () => (await committed(s, LARGE)) === '1', 30_000, 'the large partition committed');

    console.log(
      `background restore (${guarantee}): small partition served after ${Math.round(smallServedMs)} ms; ` +
        `large partition (${large.length} changelog records) restored after ${Math.round(largeRestoredMs)} ms ` +
        `(held until the small one served, then ${Math.round(performance.now() - released)} ms to read it)`,
    );
  },
);

it('stops cleanly during a restore, and the next start goes on from where it stopped', async () => {
  const large = keysOn(LARGE, 40_000, 'close');
  const s = await setUp('bg-restore-close', [new Map(large.map((k, i) => [k, i + 1])), new Map()]);
  const dir = stateDir();

  // Hold the large restore before its second fetch: part of the changelog is in the store.
  const release = deferred();
  let fetches = 0;
  const first = runner(s, dir, {
    onRestoreProgress: async (p) => {
      if (p.partition !== LARGE) return;
      if (++fetches === 2) await release.promise;
    },
  });
  await first.start();
  await waitFor(() => fetches >= 2, 60_000, 'the large restore at its second fetch');
  await waitFor(() => first.hasTask(0, SMALL), 30_000, 'the other task running');
  expect(first.taskReadiness.restoring).toEqual(['0_0']);

  const stopping = performance.now();
  await first.stop();
  // Not held by the restore waiting in the hook: stopping cancels it.
  expect(performance.now() - stopping).toBeLessThan(4000);
  await expect(first.done).resolves.toBeUndefined();
  release.resolve();
  await new Promise((done) => setTimeout(done, 1000));
  expect(fetches).toBe(2); // nothing read (nor written) after the stop

  const metrics = new RuntimeMetrics();
  const second = runner(s, dir, { metrics });
  await second.start();
  await waitFor(() => second.taskReadiness.assigned.length === PARTITIONS && second.taskReadiness.restoring.length === 0, 60_000, 'every task restored');
  for (const i of [0, 1, large.length - 1]) expect(await second.store<string, number>('counts').get(large[i]!)).toBe(i + 1);
  let entries = 0;
  for await (const _ of second.store<string, number>('counts').range()) entries++;
  expect(entries).toBe(large.length);
  // The stopped restore left a checkpoint where it was: the second start read only the rest.
  const restored = (await metrics.registry.getSingleMetric(MetricNames.restoreRecords)!.get()).values.reduce((a, v) => a + v.value, 0);
  expect(restored).toBeGreaterThan(0);
  expect(restored).toBeLessThan(large.length);
});

it('hands a task over during its restore: the old owner stops restoring it, the new one restores and processes it', async () => {
  const keys = [keysOn(0, 20_000, 'moved'), keysOn(1, 20_000, 'moved')];
  const s = await setUp('bg-restore-move', [new Map(keys[0]!.map((k) => [k, 1])), new Map(keys[1]!.map((k) => [k, 1]))]);

  // Both of the first instance's restores are held before their first fetch.
  const release = deferred();
  const calls = new Map<number, number>();
  const first = runner(s, stateDir(), {
    sessionTimeoutMs: 10_000,
    onRestoreProgress: async (p) => {
      calls.set(p.partition, (calls.get(p.partition) ?? 0) + 1);
      await release.promise;
    },
  });
  await first.start();
  await waitFor(() => calls.size === PARTITIONS, 60_000, 'both restores started on the first instance');

  // A second instance joins: the group moves one task to it while the first still restores it.
  const second = runner(s, stateDir(), { sessionTimeoutMs: 10_000 });
  await second.start();
  await waitFor(
    () => second.taskReadiness.assigned.length === 1 && second.taskReadiness.restoring.length === 0 && first.taskReadiness.assigned.length === 1,
    60_000,
    'one task moved to the second instance and restored there',
  );
  const [moved] = second.taskReadiness.assigned;
  const movedPartition = Number(moved!.split('_')[1]);
  const kept = 1 - movedPartition;
  expect(first.taskReadiness).toEqual({ assigned: [`0_${kept}`], restoring: [`0_${kept}`] });
  await send(s, keys[movedPartition]![0]!, 'm1');
  await waitFor(async () => (await outputsOf(s, keys[movedPartition]![0]!)).length > 0, 60_000, 'the moved task processing');
  expect(await outputsOf(s, keys[movedPartition]![0]!)).toEqual([2]);

  // The first instance's closed restore read nothing more; its other restore goes on once let go.
  const before = calls.get(movedPartition);
  release.resolve();
  await waitFor(() => first.taskReadiness.restoring.length === 0, 60_000, 'the kept task restored');
  expect(calls.get(movedPartition)).toBe(before);
  await send(s, keys[kept]![0]!, 'k1');
  await waitFor(async () => (await outputsOf(s, keys[kept]![0]!)).length > 0, 60_000, 'the kept task processing');
  expect(await outputsOf(s, keys[kept]![0]!)).toEqual([2]);
  await first.stop();
  await second.stop();
  await expect(first.done).resolves.toBeUndefined();
  await expect(second.done).resolves.toBeUndefined();
});
