/**
 * The topology runner's Kafka logic — assignment, restore, commits,
 * broadcast inputs — on the in-memory Kafka client, without a broker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BoltContext,
  Groupings,
  InMemorySchemaRegistry,
  Int64Serde,
  jsonSerde,
  type MemoryKafkaClient,
  MemoryKafkaCluster,
  RuntimeMetrics,
  StringSerde,
  type Topology,
  TopologyBuilder,
  TopologyRunner,
  type RunnerOptions,
} from '../../../src/runtime';
import { Checkpoint } from '../../../src/runtime/runner/checkpoint';
import { RocksDBBytesStore } from '../../../src/runtime/state/rocksdb/rocksdb-store';

const PARTITIONS = 4;
const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
const ALL_TASKS = ['0_0', '0_1', '0_2', '0_3'];

interface Event {
  key: string;
}

type CountingBolt = { process(record: { key: unknown; value: unknown; source: { component: string } }, ctx: BoltContext): Promise<void> };

/** Topology `counter`: events (keyed) into bolt `count` with store `counts`, out to `counts`; with `labels`, the broadcast spout `labels` too. */
function counterTopology(bolt: () => CountingBolt, labels: boolean, store: { cacheEntries?: number; prefetch?: string[] } = {}): Topology {
  let builder = new TopologyBuilder('counter').spout('events', { topic: 'events', value: jsonSerde<Event>(), keyedBy: 'key' });
  if (labels) builder = builder.spout('labels', { topic: 'labels', value: jsonSerde<{ label: string }>() });
  return builder
    .store('counts', { key: StringSerde, value: Int64Serde, ...store })
    .bolt('count', bolt, {
      inputs: [{ from: 'events', grouping: Groupings.fields('key') }, ...(labels ? [{ from: 'labels', grouping: Groupings.all() }] : [])],
      stores: ['counts'],
    })
    .sink('out', { topic: 'counts', from: 'count', value: StringSerde })
    .build();
}

/** Counts events per key in store `counts`; emits `<label>:<count>`, the label being the last one the broadcast `labels` spout gave this task (in memory). */
function countingTopology(seen?: string[], store: { cacheEntries?: number; prefetch?: string[] } = {}): Topology {
  return counterTopology(
    () => {
      let label = 'none';
      return {
        async process(record, ctx) {
          if (record.source.component === 'labels') {
            label = (record.value as { label: string }).label;
            seen?.push(`${ctx.partition}:${label}`);
            return;
          }
          const key = (record.value as Event).key;
          const counts = ctx.store<string, number>('counts');
          const next = ((await counts.get(key)) ?? 0) + 1;
          counts.put(key, next);
          ctx.emit(key, `${label}:${next}`);
        },
      };
    },
    seen !== undefined,
    store,
  );
}

/** As countingTopology, but the broadcast label is kept in the task's store (key `#label`), as a bolt keeps state derived from a broadcast input. */
function storedLabelTopology(): Topology {
  return counterTopology(
    () => ({
      async process(record, ctx) {
        const counts = ctx.store<string, number>('counts');
        if (record.source.component === 'labels') return counts.put('#label', Number((record.value as { label: string }).label.slice(1)));
        const key = (record.value as Event).key;
        const next = ((await counts.get(key)) ?? 0) + 1;
        counts.put(key, next);
        ctx.emit(key, `v${(await counts.get('#label')) ?? 0}:${next}`);
      },
    }),
    true,
  );
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('TopologyRunner on the in-memory Kafka client', () => {
  let cluster: MemoryKafkaCluster;
  let dirs: string[];
  let runners: TopologyRunner[];
  let clients: Map<TopologyRunner, MemoryKafkaClient>;

  beforeEach(async () => {
    cluster = new MemoryKafkaCluster();
    cluster.createTopic({ name: 'events', partitions: PARTITIONS });
    cluster.createTopic({ name: 'labels', partitions: 1 });
    cluster.createTopic({ name: 'counts', partitions: PARTITIONS });
    dirs = [];
    runners = [];
    clients = new Map();
  });

  afterEach(async () => {
    for (const r of runners) await r.stop().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** A runner in a process of its own: its own client, state directory and metrics. */
  function runner(options: Partial<RunnerOptions> & { stateDir?: string } = {}): TopologyRunner {
    const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'runner-memory-'));
    dirs.push(stateDir);
    const kafka = cluster.client();
    const r = new TopologyRunner({
      topology: countingTopology(),
      kafka,
      registry: new InMemorySchemaRegistry(),
      commitIntervalMs: 50,
      metrics: new RuntimeMetrics(),
      ...options,
      stateDir,
    });
    runners.push(r);
    clients.set(r, kafka);
    return r;
  }

  async function produce(events: string[], topic = 'events'): Promise<void> {
    const producer = await cluster.client().producer();
    await producer.send(events.map((key) => ({ topic, key, value: Buffer.from(JSON.stringify(topic === 'labels' ? { label: key } : { key })) })));
    await producer.close();
  }

  /** Output values per key, in the order written. */
  function outputs(): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const r of cluster.read('counts')) {
      const key = r.key!.toString();
      out.set(key, [...(out.get(key) ?? []), r.value!.toString()]);
    }
    return out;
  }

  /** The latest count per key in the changelog: what a restore rebuilds. */
  function changelogCounts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of cluster.read('counter-counts-changelog')) out[r.key!.toString()] = Int64Serde.deserialize(r.value!);
    return out;
  }

  const committedEverything = () => {
    const ends = cluster.offsets('events');
    return cluster.committedOffsets('counter', 'events').every((c) => c.offset === ends[c.partition]!.high);
  };

  const lastCounts = () => Object.fromEntries([...outputs()].map(([k, v]) => [k, v[v.length - 1]]));
  const expectedCounts = (events: string[], label = 'none') => {
    const n: Record<string, number> = {};
    for (const e of events) n[e] = (n[e] ?? 0) + 1;
    return Object.fromEntries(Object.entries(n).map(([k, c]) => [k, `${label}:${c}`]));
  };
  const events = (rounds: number) => Array.from({ length: rounds }, () => KEYS).flat();

  it('processes records, writes the changelog and commits the input offsets', async () => {
    const r = runner();
    await r.start();
    await waitFor('all four tasks', () => r.taskIds.length === PARTITIONS);
    const input = events(3);
    await produce(input);
    await waitFor('every input offset committed', committedEverything);

    expect(Object.fromEntries([...outputs()].map(([k, v]) => [k, v]))).toEqual(Object.fromEntries(KEYS.map((k) => [k, ['none:1', 'none:2', 'none:3']])));
    expect(changelogCounts()).toEqual(Object.fromEntries(KEYS.map((k) => [k, 3])));
    // Each key's records were processed by the task of its partition: outputs land on the key's input partition.
    for (const rec of cluster.read('counts')) {
      const source = cluster.read('events').find((e) => e.key!.equals(rec.key!))!;
      expect(rec.partition).toBe(source.partition);
    }
    expect(await r.store<string, number>('counts').get('a')).toBe(3);
  });

  it('at-least-once, commits the tasks in turn, one slice of them at a time, each about once per commit interval', async () => {
    // 400 ms over 4 tasks: one task every 100 ms (a whole commit of every task held processing for 110–200 ms at 5,000 records/s).
    const r = runner({ commitIntervalMs: 400 });
    const kafka = clients.get(r)!;
    const consumerOf = kafka.consumer.bind(kafka);
    const commits: { at: number; partitions: number[] }[] = [];
    kafka.consumer = async (options) => {
      const consumer = await consumerOf(options);
      const commit = consumer.commit.bind(consumer);
      consumer.commit = async (offsets) => {
        if (offsets.length) commits.push({ at: Date.now(), partitions: offsets.map((o) => o.partition) });
        return commit(offsets);
      };
      return consumer;
    };
    await r.start();
    await waitFor('all four tasks', () => r.taskIds.length === PARTITIONS);
    const started = Date.now();
    const input: string[] = [];
    while (Date.now() - started < 1500) {
      await produce(KEYS);
      input.push(...KEYS);
      await new Promise((res) => setTimeout(res, 20));
    }
    await waitFor('every input offset committed', committedEverything);
    expect(lastCounts()).toEqual(expectedCounts(input));
    // Every periodic commit carried one task's offsets, never all four together.
    expect(commits.length).toBeGreaterThan(8);
    expect(Math.max(...commits.map((c) => c.partitions.length))).toBe(1);
    // Each task took its turn: no task waited much longer than the interval between two of its commits.
    for (let p = 0; p < PARTITIONS; p++) {
      const at = commits.filter((c) => c.partitions.includes(p)).map((c) => c.at);
      expect(at.length).toBeGreaterThan(1);
      const gaps = at.slice(1).map((t, i) => t - at[i]!);
      expect(Math.max(...gaps)).toBeLessThan(1000);
    }
  });

  it('at-least-once, commits an input offset only once the outputs and changelog records of the records before it are acknowledged', async () => {
    const r = runner({ commitIntervalMs: 100 });
    const kafka = clients.get(r)!;
    const producerOf = kafka.producer.bind(kafka);
    kafka.producer = async () => {
      const producer = await producerOf();
      const send = producer.send.bind(producer);
      // Acknowledgements that take a while: records reach the topic only when acknowledged.
      producer.send = async (records) => {
        await new Promise((res) => setTimeout(res, 15));
        return send(records);
      };
      return producer;
    };
    const violations: string[] = [];
    let checked = 0;
    const consumerOf = kafka.consumer.bind(kafka);
    kafka.consumer = async (options) => {
      const consumer = await consumerOf(options);
      const commit = consumer.commit.bind(consumer);
      consumer.commit = async (offsets) => {
        for (const o of offsets.filter((x) => x.topic === 'events')) {
          const before = cluster.read('events').filter((e) => e.partition === o.partition && BigInt(e.offset) < BigInt(o.offset));
          // One output per event, on the event's partition.
          const outputs = cluster.read('counts').filter((e) => e.partition === o.partition).length;
          if (outputs < before.length) violations.push(`partition ${o.partition} committed at ${o.offset} with ${outputs} of ${before.length} outputs written`);
          const logged = changelogCounts();
          for (const [key, n] of Object.entries(expectedCounts(before.map((e) => e.key!.toString())))) {
            const want = Number(n.split(':')[1]);
            if ((logged[key] ?? 0) < want)
              violations.push(`partition ${o.partition} committed at ${o.offset} with key ${key} at ${logged[key] ?? 0} of ${want} in the changelog`);
          }
          checked++;
        }
        return commit(offsets);
      };
      return consumer;
    };
    await r.start();
    await waitFor('all four tasks', () => r.taskIds.length === PARTITIONS);
    const input: string[] = [];
    for (let round = 0; round < 30; round++) {
      await produce(KEYS);
      input.push(...KEYS);
      await new Promise((res) => setTimeout(res, 20));
    }
    await waitFor('every input offset committed', committedEverything);
    expect(lastCounts()).toEqual(expectedCounts(input));
    expect(checked).toBeGreaterThan(8);
    expect(violations).toEqual([]);
  });

  it('reads each batch’s keys ahead in one multi-get (StoreOptions.prefetch) and counts exactly, across commits and evictions', async () => {
    const getMany = jest.spyOn(RocksDBBytesStore.prototype, 'getMany');
    try {
      // One cached entry per task for two keys per partition: most reads miss the cache, and commits keep moving the backend.
      const r = runner({ topology: countingTopology(undefined, { cacheEntries: 1, prefetch: ['events'] }) });
      await r.start();
      await waitFor('all four tasks', () => r.taskIds.length === PARTITIONS);
      const rounds = 20;
      for (let round = 0; round < rounds; round++) {
        await produce(KEYS);
        await new Promise((res) => setTimeout(res, 15));
      }
      await waitFor('every input offset committed', committedEverything);
      const counts = Array.from({ length: rounds }, (_, i) => `none:${i + 1}`);
      expect(Object.fromEntries([...outputs()])).toEqual(Object.fromEntries(KEYS.map((k) => [k, counts])));
      // Reads that missed the cache went through read-aheads (a key the cache held at the read-ahead and evicted
      // before its read, as here with one entry, is read by a get of its own).
      expect(getMany).toHaveBeenCalled();
      expect(getMany.mock.calls.reduce((n, [keys]) => n + keys.length, 0)).toBeGreaterThan(rounds);
    } finally {
      getMany.mockRestore();
    }
  });

  it('splits the tasks between two instances, and the survivor restores the other’s state from the changelog', async () => {
    const a = runner();
    const b = runner();
    await a.start();
    await waitFor('a to own all tasks', () => a.taskIds.length === PARTITIONS);
    await b.start();
    await waitFor('the tasks to be split two and two', () => a.taskIds.length === 2 && b.taskIds.length === 2);
    expect([...a.taskIds, ...b.taskIds].sort()).toEqual(ALL_TASKS);

    const first = events(2);
    await produce(first);
    await waitFor('every input offset committed', committedEverything);
    expect(lastCounts()).toEqual(expectedCounts(first));
    const bKeys = KEYS.filter((k) => cluster.read('events').some((r) => r.key!.toString() === k && b.taskIds.includes(`0_${r.partition}`)));
    expect(bKeys.length).toBeGreaterThan(0);

    const restoredBefore = await restoreRecords(a);
    await b.stop();
    await waitFor('a to take every task back', () => a.taskIds.length === PARTITIONS);
    // a never processed b's keys: their counts came to it through b's changelog.
    expect(await restoreRecords(a)).toBeGreaterThan(restoredBefore);
    for (const k of bKeys) expect(await a.store<string, number>('counts').get(k)).toBe(2);

    const second = events(1);
    await produce(second);
    await waitFor('every input offset committed', committedEverything);
    expect(lastCounts()).toEqual(expectedCounts([...first, ...second]));
  });

  it('restarts at-least-once from the committed offsets and the changelog: no event lost, none counted twice', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'runner-memory-'));
    dirs.push(stateDir);
    // Commits only when stopped cleanly (the interval is never reached in the test).
    const first = runner({ stateDir, commitIntervalMs: 600_000 });
    await first.start();
    await waitFor('all four tasks', () => first.taskIds.length === PARTITIONS);
    const committed = events(2);
    await produce(committed);
    await waitFor('the first events processed', () => cluster.read('counts').length === committed.length);
    await first.stop();
    expect(committedEverything()).toBe(true);

    // A second instance processes more events, then crashes before it commits them.
    const second = runner({ stateDir, commitIntervalMs: 600_000 });
    await second.start();
    await waitFor('all four tasks', () => second.taskIds.length === PARTITIONS);
    const lost = events(1);
    await produce(lost);
    await waitFor('the next events processed', () => cluster.read('counts').length === committed.length + lost.length);
    clients.get(second)!.crash(new Error('injected crash'));
    await expect(second.done).rejects.toThrow(/injected crash/);
    expect(changelogCounts()).toEqual(Object.fromEntries(KEYS.map((k) => [k, 2])));

    // A third, with a fresh state directory (another machine), restores from the changelog and reprocesses from the offsets.
    const third = runner({ commitIntervalMs: 50 });
    await third.start();
    await waitFor('every input offset committed', committedEverything);
    expect(changelogCounts()).toEqual(Object.fromEntries(KEYS.map((k) => [k, 3])));
    // The crashed instance's outputs are repeated, with the same values (at-least-once: duplicates, never wrong counts).
    for (const k of KEYS) expect(outputs().get(k)).toEqual(['none:1', 'none:2', 'none:3', 'none:3']);
  });

  it('restarts exactly-once after a crash: read_committed outputs and counts as if each event were processed once', async () => {
    // Commits only when stopped cleanly (the interval is never reached in the test).
    const first = runner({ guarantee: 'exactly-once', commitIntervalMs: 600_000 });
    await first.start();
    await waitFor('all four tasks', () => first.taskIds.length === PARTITIONS);
    const committed = events(2);
    await produce(committed);
    await waitFor('the first events processed', () => cluster.read('counts', { readUncommitted: true }).length === committed.length);
    await first.stop();
    expect(committedEverything()).toBe(true);

    // Processed into open transactions, then the consumer crashes.
    const second = runner({ guarantee: 'exactly-once', commitIntervalMs: 600_000 });
    await second.start();
    await waitFor('all four tasks', () => second.taskIds.length === PARTITIONS);
    const lost = events(1);
    await produce(lost);
    await waitFor('the next events in open transactions', () => cluster.read('counts', { readUncommitted: true }).length === committed.length + lost.length);
    expect(cluster.read('counts')).toHaveLength(committed.length);
    clients.get(second)!.crash(new Error('injected crash'));
    await expect(second.done).rejects.toThrow(/injected crash/);

    const third = runner({ guarantee: 'exactly-once', commitIntervalMs: 50 });
    await third.start();
    await waitFor('every input offset committed', committedEverything);
    for (const k of KEYS) expect(outputs().get(k)).toEqual(['none:1', 'none:2', 'none:3']);
    expect(changelogCounts()).toEqual(Object.fromEntries(KEYS.map((k) => [k, 3])));
  });

  // Found in a chaos run: during rebalances a stale owner's producer fenced the task's rightful owner, which then
  // closed the task for good although the group still assigned it there: no instance processed it any more.
  it('exactly-once: opens a task again when another producer fenced it while the group still assigns it here', async () => {
    const r = runner({
      guarantee: 'exactly-once',
      log: (level, message, fields) => process.env.DEBUG_FENCE && console.log(level, message, JSON.stringify(fields)),
    });
    await r.start();
    await waitFor('all four tasks', () => r.taskIds.length === PARTITIONS);
    const first = events(1);
    await produce(first);
    await waitFor('the first events committed', committedEverything);

    // A zombie of another instance starts a producer with the task's transactional id: ours is fenced.
    const zombie = await cluster.client().transactionalProducer('counter-0_0');
    const fencedTask = '0_0';
    const second = events(1);
    await produce(second);
    await waitFor('every input offset committed after the fencing', committedEverything);
    expect(r.taskIds).toContain(fencedTask);
    await expect(zombie.begin()).rejects.toThrow(/fenced/);
    // Exactly once: each key counted twice, each count written once.
    for (const k of KEYS) expect(outputs().get(k)).toEqual(['none:1', 'none:2']);
    expect(changelogCounts()).toEqual(Object.fromEntries(KEYS.map((k) => [k, 2])));
  });

  // Found when these tests were written: the runner read the checkpoint a memory store's earlier run left, so a
  // restart restored only the changelog after it into an empty store and the counts started over.
  it('with the memory backend, restarts on the same state directory with the whole state', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'runner-memory-'));
    dirs.push(stateDir);
    const first = runner({ stateDir, storeBackend: 'memory' });
    await first.start();
    await waitFor('all four tasks', () => first.taskIds.length === PARTITIONS);
    const before = events(1);
    await produce(before);
    await waitFor('every input offset committed', committedEverything);
    await first.stop();

    const second = runner({ stateDir, storeBackend: 'memory' });
    await second.start();
    await waitFor('all four tasks', () => second.taskIds.length === PARTITIONS);
    const after = events(1);
    await produce(after);
    await waitFor('every input offset committed', committedEverything);
    expect(lastCounts()).toEqual(expectedCounts([...before, ...after]));
  });

  it('writes a checkpoint only after the stores synced, and not at every commit', async () => {
    // What a checkpoint claims must survive a machine crash: RocksDB's write-ahead log is fsynced (sync) first.
    const calls: string[] = [];
    const syncSpy = jest.spyOn(RocksDBBytesStore.prototype, 'sync').mockImplementation(async function (this: RocksDBBytesStore) {
      calls.push(`sync ${this.path}`);
    });
    const writeSpy = jest.spyOn(Checkpoint.prototype, 'write');
    writeSpy.mockImplementation(function (this: Checkpoint) {
      calls.push(`checkpoint ${this.dir}`);
    });
    try {
      const stateDir = mkdtempSync(join(tmpdir(), 'runner-memory-'));
      const r = runner({ stateDir, storeBackend: 'rocksdb', commitIntervalMs: 20 });
      await r.start();
      await waitFor('all four tasks', () => r.taskIds.length === PARTITIONS);
      for (let i = 0; i < 5; i++) {
        await produce(events(1));
        await waitFor('every input offset committed', committedEverything);
      }
      await r.stop();
      const checkpoints = calls.filter((c) => c.startsWith('checkpoint'));
      expect(checkpoints.length).toBeGreaterThan(0);
      for (const [i, c] of calls.entries()) {
        if (!c.startsWith('checkpoint')) continue;
        const taskDir = c.slice('checkpoint '.length);
        // The task's store synced after its previous checkpoint and before this one.
        const previous = calls
          .slice(0, i)
          .map((x) => x === c)
          .lastIndexOf(true);
        expect(calls.slice(previous + 1, i)).toContain(`sync ${join(taskDir, 'counts')}`);
      }
      // Five rounds of commits within a second: one checkpoint per task after its restore and one at close, no more.
      expect(checkpoints.length).toBeLessThanOrEqual(2 * PARTITIONS);
    } finally {
      syncSpy.mockRestore();
      writeSpy.mockRestore();
    }
  });

  it('gives every instance’s tasks the broadcast input, before their first record and after a takeover', async () => {
    const seenA: string[] = [];
    const seenB: string[] = [];
    await produce(['v1'], 'labels');
    const a = runner({ topology: countingTopology(seenA) });
    const b = runner({ topology: countingTopology(seenB) });
    await a.start();
    await b.start();
    const first = events(1);
    // Produced at once: every task must replay the broadcast input up to where its instance bootstrapped before it counts.
    await produce(first);
    await waitFor('the tasks to be split two and two', () => a.taskIds.length === 2 && b.taskIds.length === 2);
    await waitFor('every input offset committed', committedEverything);
    expect(lastCounts()).toEqual(expectedCounts(first, 'v1'));

    await produce(['v2'], 'labels');
    const sawV2 = (seen: string[], r: TopologyRunner) => r.taskIds.every((t) => seen.includes(`${t.split('_')[1]}:v2`));
    await waitFor('both instances to read the new label', () => sawV2(seenA, a) && sawV2(seenB, b));
    const second = events(1);
    await produce(second);
    await waitFor('every input offset committed', committedEverything);
    expect(lastCounts()).toEqual(expectedCounts([...first, ...second], 'v2'));

    // b's tasks move to a, whose new tasks replay the broadcast input before they process.
    await b.stop();
    await waitFor('a to own every task', () => a.taskIds.length === PARTITIONS);
    const third = events(1);
    await produce(third);
    await waitFor('every input offset committed', committedEverything);
    expect(lastCounts()).toEqual(expectedCounts([...first, ...second, ...third], 'v2'));
  });

  it('keeps standby replicas of the other instance’s tasks warm, and the takeover after a crash restores only the tail', async () => {
    const a = runner({ standbyReplicas: 1 });
    const b = runner({ standbyReplicas: 1 });
    await a.start();
    await b.start();
    await waitFor('the tasks to be split two and two', () => a.taskIds.length === 2 && b.taskIds.length === 2);
    // Each instance keeps the other's tasks as standbys, never its own.
    await waitFor('each to keep the other’s tasks as standbys', () => sameSet(a.standbyTaskIds, b.taskIds) && sameSet(b.standbyTaskIds, a.taskIds));

    const first = events(3);
    await produce(first);
    await waitFor('every input offset committed', committedEverything);
    const bChangelog = cluster.read('counter-counts-changelog').filter((r) => b.taskIds.includes(`0_${r.partition}`)).length;
    expect(bChangelog).toBeGreaterThan(0);
    await waitFor('a’s standbys to hold all of b’s changelog', async () => (await metricSum(a, 'vectors_runtime_standby_records_total')) === bChangelog);

    const restoredBefore = await restoreRecords(a);
    const bTasks = b.taskIds;
    clients.get(b)!.crash(new Error('injected crash'));
    await expect(b.done).rejects.toThrow(/injected crash/);
    await waitFor('a to run every task', () => a.taskIds.length === PARTITIONS);
    // The standbys' stores became the tasks' stores: nothing of b's changelog was read again.
    expect(await restoreRecords(a)).toBe(restoredBefore);
    expect(a.standbyTaskIds).toEqual([]);
    const bKeys = KEYS.filter((k) => cluster.read('events').some((r) => r.key!.toString() === k && bTasks.includes(`0_${r.partition}`)));
    expect(bKeys.length).toBeGreaterThan(0);
    for (const k of bKeys) expect(await a.store<string, number>('counts').get(k)).toBe(3);

    const second = events(1);
    await produce(second);
    await waitFor('every input offset committed', committedEverything);
    expect(lastCounts()).toEqual(expectedCounts([...first, ...second]));
  });

  it('exactly-once: the takeover of a standby fences the dead owner’s open transaction and counts each event once', async () => {
    const a = runner({ standbyReplicas: 1, guarantee: 'exactly-once' });
    await a.start();
    await waitFor('a to run every task', () => a.taskIds.length === PARTITIONS);
    // b never commits on its own (the interval is never reached): its work stays in open transactions.
    const b = runner({ standbyReplicas: 1, guarantee: 'exactly-once', commitIntervalMs: 600_000 });
    await b.start();
    await waitFor('each to keep the other’s tasks as standbys', () => b.taskIds.length === 2 && sameSet(a.standbyTaskIds, b.taskIds));
    const bTasks = b.taskIds;
    const input = events(2);
    await produce(input);
    const ofB = (topic: string, readUncommitted: boolean) => cluster.read(topic, { readUncommitted }).filter((r) => bTasks.includes(`0_${r.partition}`));
    await waitFor(
      'b’s work written in open transactions',
      () => ofB('counts', true).length === input.filter((k) => ofB('events', true).some((e) => e.key!.toString() === k)).length,
    );
    expect(ofB('counts', false)).toHaveLength(0);

    clients.get(b)!.crash(new Error('injected crash'));
    await expect(b.done).rejects.toThrow(/injected crash/);
    await waitFor('a to run every task', () => a.taskIds.length === PARTITIONS);
    await waitFor('every input offset committed', committedEverything);
    for (const k of KEYS) expect(outputs().get(k)).toEqual(['none:1', 'none:2']);
    expect(changelogCounts()).toEqual(Object.fromEntries(KEYS.map((k) => [k, 2])));
  });

  it('a closed standby leaves a checkpoint: a later restore of its task reads only the changelog written since', async () => {
    const stateA = mkdtempSync(join(tmpdir(), 'runner-memory-'));
    dirs.push(stateA);
    const a = runner({ standbyReplicas: 1, stateDir: stateA });
    const b = runner({ standbyReplicas: 1 });
    await a.start();
    await b.start();
    await waitFor('each to keep the other’s tasks as standbys', () => a.taskIds.length === 2 && sameSet(a.standbyTaskIds, b.taskIds));
    const first = events(2);
    await produce(first);
    await waitFor('every input offset committed', committedEverything);
    const bTasks = b.taskIds;
    const changelogOf = (tasks: string[]) => cluster.read('counter-counts-changelog').filter((r) => tasks.includes(`0_${r.partition}`)).length;
    await waitFor('a’s standbys to catch up', async () => (await metricSum(a, 'vectors_runtime_standby_records_total')) === changelogOf(bTasks));

    await a.stop();
    const endsAtStop = cluster.offsets('counter-counts-changelog').map((o) => BigInt(o.high));
    for (const t of bTasks) {
      const partition = Number(t.split('_')[1]);
      expect(new Checkpoint(join(stateA, 'counter', t)).read()).toEqual({ counts: endsAtStop[partition]!.toString() });
    }
    await waitFor('b to run every task', () => b.taskIds.length === PARTITIONS);
    const second = events(1);
    await produce(second);
    await waitFor('every input offset committed', committedEverything);

    // Back on the same state directory: whichever tasks it gets, it held them (active or standby) up to where it stopped.
    const c = runner({ standbyReplicas: 1, stateDir: stateA });
    await c.start();
    await waitFor('the tasks to be split two and two again', () => c.taskIds.length === 2 && b.taskIds.length === 2);
    const ends = cluster.offsets('counter-counts-changelog').map((o) => BigInt(o.high));
    const since = c.taskIds.map((t) => Number(t.split('_')[1])).reduce((n, p) => n + Number(ends[p]! - endsAtStop[p]!), 0);
    expect(since).toBeGreaterThan(0);
    expect(await restoreRecords(c)).toBe(since);
    const third = events(1);
    await produce(third);
    await waitFor('every input offset committed', committedEverything);
    expect(lastCounts()).toEqual(expectedCounts([...first, ...second, ...third]));
  });

  it.each(['at-least-once', 'exactly-once'] as const)(
    'a task kept across a rebalance keeps the state it derived from a broadcast record processed since its last commit (%s)',
    async (guarantee) => {
      // a never commits on its own: the label it stores is uncommitted when b joins and the group rebalances.
      const a = runner({ topology: storedLabelTopology(), commitIntervalMs: 600_000, guarantee });
      await a.start();
      await waitFor('a to run every task', () => a.taskIds.length === PARTITIONS);
      await produce(['v7'], 'labels');
      await waitFor('a’s tasks to store the label', async () => (await a.store<string, number>('counts').get('#label')) === 7);
      const b = runner({ topology: storedLabelTopology(), guarantee });
      await b.start();
      await waitFor('the tasks to be split two and two', () => a.taskIds.length === 2 && b.taskIds.length === 2);
      const input = events(1);
      await produce(input);
      const written = () => cluster.read('counts', { readUncommitted: true }); // a's transactions stay open (exactly-once)
      await waitFor('an output for every event', () => written().length === input.length);
      // Every task counts under the label, whichever instance runs it and whether it was kept or moved.
      const labelled = Object.fromEntries(written().map((r) => [r.key!.toString(), r.value!.toString()]));
      expect(labelled).toEqual(Object.fromEntries(KEYS.map((k) => [k, 'v7:1'])));
    },
  );

  it('exactly-once: a task whose transaction failed after a broadcast record keeps the state the record gave it', async () => {
    const a = runner({ topology: storedLabelTopology(), guarantee: 'exactly-once' });
    await a.start();
    await waitFor('a to run every task', () => a.taskIds.length === PARTITIONS);
    // The transaction of each task that holds the label's write fails once: its uncommitted work is dropped.
    for (const t of ALL_TASKS) cluster.failCommits(`counter-${t}`);
    await produce(['v7'], 'labels');
    // The events come after the label (a broadcast and a partitioned input are not ordered with each other). A read
    // can meet a task's store closing while the task reopens (the query API answers 503 then): asked again.
    const label = () =>
      a
        .store<string, number>('counts')
        .get('#label')
        .catch(() => undefined);
    await waitFor('a’s tasks to store the label', async () => (await label()) === 7);
    const input = events(1);
    await produce(input);
    await waitFor('every input offset committed', committedEverything);
    for (const k of KEYS) expect(outputs().get(k)).toEqual(['v7:1']);
  });

  it('exactly-once: a transaction that keeps failing ends the runner after five in a row, though each reopens the task', async () => {
    const a = runner({ topology: storedLabelTopology(), guarantee: 'exactly-once' });
    await a.start();
    await waitFor('a to run every task', () => a.taskIds.length === PARTITIONS);
    cluster.failCommits('counter-0_0', 100);
    await produce(['v7'], 'labels');
    await expect(a.done).rejects.toThrow(/transaction of task 0_0 \(5 in a row\)/);
  });

  /** Counts events per key; each event's bolt call registers an afterCommit callback that reports it to `ran` and writes `after:<key>`. */
  function afterCommitTopology(ran: { key: string; inCommittedChangelog: boolean }[]): Topology {
    const inCommittedChangelog = (key: string) => cluster.read('counter-counts-changelog').some((r) => r.key!.toString() === key);
    return counterTopology(
      () => ({
        async process(record, ctx) {
          const key = (record.value as Event).key;
          const counts = ctx.store<string, number>('counts');
          counts.put(key, ((await counts.get(key)) ?? 0) + 1);
          ctx.afterCommit(() => {
            ran.push({ key, inCommittedChangelog: inCommittedChangelog(key) });
            counts.put(`after:${key}`, 1);
          });
        },
      }),
      false,
    );
  }

  it.each(['at-least-once', 'exactly-once'] as const)(
    'afterCommit: a callback runs once the writes made before it are in the committed changelog, and its own writes go out with the next commit (%s)',
    async (guarantee) => {
      const ran: { key: string; inCommittedChangelog: boolean }[] = [];
      const a = runner({ topology: afterCommitTopology(ran), guarantee });
      await a.start();
      await waitFor('a to run every task', () => a.taskIds.length === PARTITIONS);
      await produce(KEYS);
      await waitFor('every callback', () => ran.length === KEYS.length);
      expect(ran.filter((r) => !r.inCommittedChangelog)).toEqual([]);
      const changelogKeys = () => new Set(cluster.read('counter-counts-changelog').map((r) => r.key!.toString()));
      await waitFor('the callbacks’ writes in the changelog', () => KEYS.every((k) => changelogKeys().has(`after:${k}`)));
    },
  );

  it('exactly-once: the afterCommit callbacks of a failed transaction are dropped, never called; the records processed again register their own', async () => {
    const ran: { key: string; inCommittedChangelog: boolean }[] = [];
    const a = runner({ topology: afterCommitTopology(ran), guarantee: 'exactly-once' });
    await a.start();
    await waitFor('a to run every task', () => a.taskIds.length === PARTITIONS);
    for (const t of ALL_TASKS) cluster.failCommits(`counter-${t}`);
    await produce(KEYS);
    await waitFor('every input offset committed', committedEverything);
    await waitFor('every callback', () => ran.length >= KEYS.length);
    await new Promise((r) => setTimeout(r, 200)); // a second call for a key would come with the next commits
    expect(ran.map((r) => r.key).sort()).toEqual([...KEYS].sort());
    expect(ran.filter((r) => !r.inCommittedChangelog)).toEqual([]);
    expect(changelogCounts()).toMatchObject(Object.fromEntries(KEYS.map((k) => [k, 1])));
  });

  it('a broadcast record that fills a task’s cache is committed before the next task gets it: one task’s writes held at a time, not every task’s', async () => {
    // Each task writes 20 keys for a label, with a cache of 10 entries; `atLabel` gets the committed changelog's length as each task starts on it.
    const atLabel: number[] = [];
    const topology = new TopologyBuilder('counter')
      .spout('events', { topic: 'events', value: jsonSerde<Event>(), keyedBy: 'key' })
      .spout('labels', { topic: 'labels', value: jsonSerde<{ label: string }>() })
      .store('counts', { key: StringSerde, value: Int64Serde, cacheEntries: 10 })
      .bolt(
        'count',
        () => ({
          process(record: { source: { component: string } }, ctx: BoltContext) {
            if (record.source.component !== 'labels') return;
            atLabel.push(cluster.read('counter-counts-changelog').length);
            for (let i = 0; i < 20; i++) ctx.store<string, number>('counts').put(`#${i}`, i);
          },
        }),
        {
          inputs: [
            { from: 'events', grouping: Groupings.fields('key') },
            { from: 'labels', grouping: Groupings.all() },
          ],
          stores: ['counts'],
        },
      )
      .sink('out', { topic: 'counts', from: 'count', value: StringSerde })
      .build();
    const a = runner({ topology, commitIntervalMs: 600_000 }); // no commit on the clock
    await a.start();
    await waitFor('a to run every task', () => a.taskIds.length === PARTITIONS);
    await produce(['v1'], 'labels');
    await waitFor('every task to take the label', () => atLabel.length === PARTITIONS);
    // Before the fix all four started at 0: nothing was committed until every task had written its 20 keys.
    expect(atLabel).toEqual([0, 20, 40, 60]);
    await waitFor('the last task’s writes committed', () => cluster.read('counter-counts-changelog').length === 80);
  });

  it('restores and broadcast replays never wait behind the broadcast follower’s long polls: the follower has a reader of its own', async () => {
    // Which reader (by creation order) served which fetches: a reader serves one fetch at a time, so a restore
    // fetch on the follower's reader queued behind its up-to-200 ms wait for new broadcast records.
    const kafka = cluster.client();
    const fetchesOf: { waits: number; changelog: number }[] = [];
    const created = kafka.partitionReader.bind(kafka);
    jest.spyOn(kafka, 'partitionReader').mockImplementation(async (options) => {
      const reader = await created(options);
      const seen = { waits: 0, changelog: 0 };
      fetchesOf.push(seen);
      const fetch = reader.fetch.bind(reader);
      reader.fetch = async (tp, offset, maxWaitMs) => {
        if (tp.topic.endsWith('-changelog')) seen.changelog++;
        if ((maxWaitMs ?? 0) > 0) seen.waits++;
        return fetch(tp, offset, maxWaitMs);
      };
      return reader;
    });
    await produce(['v1'], 'labels');
    await produce(events(2));
    const a = runner({ topology: storedLabelTopology(), kafka });
    await a.start();
    await waitFor('every input offset committed', committedEverything);
    await a.stop();
    // Again, on a fresh state directory: every task restores its changelog while the follower polls.
    const b = runner({ topology: storedLabelTopology(), kafka });
    await b.start();
    await waitFor('b to run every task', () => b.taskIds.length === PARTITIONS);
    expect(await restoreRecords(b)).toBeGreaterThan(0);
    const restoring = fetchesOf.filter((f) => f.changelog > 0);
    expect(restoring.length).toBeGreaterThan(0);
    expect(restoring.filter((f) => f.waits > 0)).toEqual([]);
  });

  async function restoreRecords(r: TopologyRunner): Promise<number> {
    return metricSum(r, 'vectors_runtime_restore_records_total');
  }

  async function metricSum(r: TopologyRunner, name: string): Promise<number> {
    const m = await r.metrics.registry.getSingleMetric(name)!.get();
    return m.values.reduce((s, v) => s + v.value, 0);
  }

  const sameSet = (x: string[], y: string[]) => x.length === y.length && [...x].sort().join() === [...y].sort().join();
});
