import { cpus, totalmem } from 'node:os';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import type { KafkaAdmin } from '../src/runtime/kafka/client';
import type { TopologyRunner } from '../src/runtime/runner/topology-runner';
import { EntityMatrixBuilder, type EntityMatrix } from '../src/vectors/snapshot/entity-matrix';
import { mulberry32 } from '../test/support/random';

/** One line describing the machine, for benchmark reports. */
export function machine(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}/${process.arch}`;
}

/** Replaces (or appends) the section `## <title>` of docs/BENCHMARKS.md (or of `file`). */
export function writeSection(title: string, body: string, file = join(__dirname, '..', 'docs', 'BENCHMARKS.md')): void {
  const header =
    '# Benchmarks\n\nFigures are ratios to an anchor measured in the same run on the same machine; absolute numbers are given for context only. Re-run with the commands shown.\n';
  let text = existsSync(file) ? readFileSync(file, 'utf8') : header;
  const start = text.indexOf(`\n## ${title}\n`);
  const section = `\n## ${title}\n\n${body.trim()}\n`;
  if (start === -1) text = text.trimEnd() + '\n' + section;
  else {
    const next = text.indexOf('\n## ', start + 1);
    text = text.slice(0, start) + section + (next === -1 ? '' : text.slice(next));
  }
  writeFileSync(file, text);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Records a runner's spout `component` has taken in. */
export async function recordsIn(runner: TopologyRunner, component: string): Promise<number> {
  return (await runner.metrics.recordsIn.get()).values.filter((v) => v.labels.component === component).reduce((n, v) => n + v.value, 0);
}

/**
 * Seconds from the first record `runner` took in from spout `component` until
 * group `groupId` committed every record `topic` held at that moment (state
 * and outputs durable): a topology's throughput over a pre-loaded topic.
 */
export async function drain(admin: KafkaAdmin, runner: TopologyRunner, component: string, groupId: string, topic: string): Promise<number> {
  while ((await recordsIn(runner, component)) === 0) await sleep(5);
  const t0 = performance.now();
  await awaitCommitted(admin, groupId, topic, await admin.topicOffsets(topic));
  return (performance.now() - t0) / 1000;
}

/** Waits until group `groupId` has committed offset `high` on every partition of `topic` that `ends` lists with `high` > `low`. */
export async function awaitCommitted(
  admin: KafkaAdmin,
  groupId: string,
  topic: string,
  ends: { partition: number; low: string; high: string }[],
): Promise<void> {
  while (!(await committedAll(admin, groupId, topic, ends))) await sleep(20);
}

/** Whether group `groupId` committed every record of `topic` up to `ends` (a partition with nothing in it gets no commit: nothing to wait for there). */
export async function committedAll(
  admin: KafkaAdmin,
  groupId: string,
  topic: string,
  ends: { partition: number; low: string; high: string }[],
): Promise<boolean> {
  const committed = await admin.committedOffsets(groupId, topic);
  return ends.every((e) => e.high === e.low || committed.find((c) => c.partition === e.partition)?.offset === e.high);
}

/** Raw kafkajs: consume every record and produce it unchanged to another topic, committing as kafkajs does by default. */
export async function passthrough(brokers: string[], input: string, output: string, N: number): Promise<number> {
  const tag = Date.now().toString(36);
  const kafka = new Kafka({ clientId: 'bench-raw', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({ groupId: `bench-raw-${tag}`, maxWaitTimeInMs: 100 });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [input], fromBeginning: true });
  let seen = 0;
  let t0 = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (!t0) t0 = performance.now();
      // In requests of 1,000 records: kafkajs slows down badly on much larger requests.
      for (let i = 0; i < batch.messages.length; i += 1000) {
        const messages = batch.messages.slice(i, i + 1000).map((m) => ({ key: m.key, value: m.value, partition: batch.partition }));
        await producer.send({ topic: output, acks: -1, messages });
      }
      seen += batch.messages.length;
      if (seen >= N) done();
    },
  });
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  await consumer.disconnect();
  await producer.disconnect();
  return N / seconds;
}

/** VmRSS and VmHWM of a process, in bytes; zeros once it is gone. */
export function memoryOf(pid: number): { rss: number; hwm: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
  } catch {
    return { rss: 0, hwm: 0 };
  }
}

/**
 * A V8 CPU profile of this process from now until `stop(file)` writes it
 * (open it in Chrome DevTools, or summarise it with bench/profile-summary.ts).
 * `intervalUs`: the sampling interval (V8's default of 1,000 µs when omitted).
 */
export async function startProfile(intervalUs?: number): Promise<{ stop(file: string): Promise<void> }> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  if (intervalUs !== undefined) await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await session.post('Profiler.start');
  return {
    async stop(file: string) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/** A snapshot of `count` unit vectors of `dims` around `clusters` centres (ids `e0`..), the same for the same arguments. */
export function clusteredSnapshot(id: string, seed: number, count: number, dims: number, clusters = 200): EntityMatrix {
  const r = mulberry32(seed);
  const centres = Array.from({ length: clusters }, () => Float32Array.from({ length: dims }, () => r() * 2 - 1));
  const b = new EntityMatrixBuilder({ snapshotId: id, dims, expectedCount: count });
  const v = new Float32Array(dims);
  for (let i = 0; i < count; i++) {
    const c = centres[i % clusters]!;
    let s = 0;
    for (let j = 0; j < dims; j++) s += (v[j] = c[j]! + (r() - 0.5) * 0.4) ** 2;
    for (let j = 0; j < dims; j++) v[j]! /= Math.sqrt(s);
    b.add(`e${i}`, 'TRACK', v);
  }
  return b.build();
}
