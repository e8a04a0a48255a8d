/**
 * The load generator and latency meter of `npm run bench`'s latency scenario,
 * in a process of its own so that it shares an event loop with neither
 * system under test: offers ListenEvents at a fixed rate to `input` (event
 * time = send time) and measures, at a consumer of `output`, how long each
 * took to come out as a UserVector (now − updatedAt). First it sends
 * `warmup` events and waits until each has come out, so that assignment,
 * restore and snapshot loading are over, then offers the rate for
 * `settleSeconds` unmeasured, so that the clock runs on a system that runs.
 *
 * The rate is offered in ticks: one send of rate × tickMs / 1000 events every
 * `tickMs` (100 ms unless told).
 *
 * Usage: tsx bench/latency-probe.ts '<json ProbeOptions>'; prints one line of
 * JSON: { offered, seen, p50, p99, max, maxBySecond } (ms). An event not
 * seen within 60 s of the last send counts with its age then, so that
 * percentiles over fewer than all events are never reported as if complete
 * (they are lower bounds then, and `seen` < `offered` says so).
 */
import '../src/runtime/kafka/kafkajs-encoder-patch';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { AvroSerde } from '../src/runtime/serde/avro-serde';
import { ConfluentSchemaRegistry } from '../src/runtime/serde/confluent-registry';
import { loadSchema } from '../src/vectors/contracts';
import type { ListenEvent, UserVector } from '../src/vectors/records';
import { sleep } from './common';

/** What the probe is told (as JSON in argv[2]). */
export interface ProbeOptions {
  brokers: string[];
  registryUrl: string;
  input: string;
  output: string;
  /** Events per second offered, for `seconds`. */
  rate: number;
  /**
   * The rate is offered in one send every `tickMs` (rate × tickMs / 1000 events each, all stamped with the same
   * time): 100 offers 500 events at once every 100 ms at 5,000/s, 10 offers 50 every 10 ms, closer to a stream of
   * independent producers. Default 100.
   */
  tickMs?: number;
  seconds: number;
  /** Events sent first, one per warm-up user, each waited for before the rate is offered. */
  warmup: number;
  /**
   * Seconds offered at `rate` after the warm-up and before the clock runs,
   * not measured: the first second after a system starts was the slowest of
   * every run, for each system (caches, JIT, the first fetch sessions; see
   * `maxBySecond`), and the scenario measures a system that runs.
   */
  settleSeconds: number;
  users: number;
  entities: number;
}

export interface ProbeResult {
  offered: number;
  seen: number;
  p50: number;
  p99: number;
  max: number;
  /** The worst latency of the events sent in each second of the run (ms): where in the run the tail came from. */
  maxBySecond: number[];
}

async function main(o: ProbeOptions): Promise<ProbeResult> {
  const reg = new ConfluentSchemaRegistry(o.registryUrl);
  const listens = new AvroSerde<ListenEvent>({ registry: reg, subject: `${o.input}-value`, schema: loadSchema('ListenEvent') });
  const vectors = new AvroSerde<UserVector>({ registry: reg, subject: `${o.output}-value`, schema: loadSchema('UserVector') });
  await listens.prepare();
  const kafka = new Kafka({ clientId: 'bench-latency', brokers: o.brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({ groupId: `${o.output}-probe-${Date.now().toString(36)}`, maxWaitTimeInMs: 5 });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topics: [o.output], fromBeginning: true });
  const warm = new Set<string>();
  const latencies: number[] = [];
  /** Events sent and not yet seen, by event time (= send time): a vector is told to its event by updatedAt. */
  const pending = new Map<number, number>();
  const maxBySecond: number[] = [];
  let measureFrom = Number.POSITIVE_INFINITY;
  const observe = (sentAt: number, latency: number) => {
    latencies.push(latency);
    const s = Math.floor((sentAt - measureFrom) / 1000);
    maxBySecond[s] = Math.max(maxBySecond[s] ?? 0, latency);
  };
  await consumer.run({
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const m of batch.messages) {
        await vectors.prepareFor(m.value!);
        const uv = vectors.deserialize(m.value!);
        const left = pending.get(uv.updatedAt) ?? 0;
        if (uv.updatedAt < measureFrom) warm.add(uv.userId);
        else if (left > 0) {
          // Not a repeat (exactly-once retries, at-least-once replays).
          pending.set(uv.updatedAt, left - 1);
          observe(uv.updatedAt, now - uv.updatedAt);
        }
      }
    },
  });
  // Event ids unique to this probe: a user who saw an id in an earlier probe would drop the event as a repeat.
  const run = Date.now().toString(36);
  let seq = 0;
  const event = (userId: string) => {
    const e: ListenEvent = {
      eventId: `lat-${run}-${seq}`,
      userId,
      entityId: `e${(seq * 7919) % o.entities}`,
      msPlayed: 180_000,
      durationMs: 200_000,
      context: 'radio',
      timestamp: Date.now(),
    };
    seq++;
    pending.set(e.timestamp, (pending.get(e.timestamp) ?? 0) + 1);
    return { key: userId, value: listens.serialize(e) };
  };

  // Warm-up users of their own, so that their vectors are told apart from any earlier output (an earlier probe's too).
  const warmUsers = Array.from({ length: o.warmup }, (_, i) => `warm-${run}-${i}`);
  await producer.send({ topic: o.input, messages: warmUsers.map(event) });
  const warmDeadline = Date.now() + 300_000;
  while (warmUsers.some((u) => !warm.has(u))) {
    if (Date.now() > warmDeadline)
      throw new Error(`latency probe: ${warmUsers.filter((u) => !warm.has(u)).length} of ${o.warmup} warm-up events never came out on ${o.output}`);
    await sleep(100);
  }

  const tickMs = o.tickMs ?? 100;
  const ticksPerSecond = 1000 / tickMs;
  const perTick = Math.round(o.rate / ticksPerSecond);
  const offer = async (seconds: number) => {
    // Each tick at its own time from the start, so that timer overshoot does not add up into a lower rate.
    const start = Date.now();
    for (let i = 0; i < seconds * ticksPerSecond; i++) {
      await producer.send({ topic: o.input, messages: Array.from({ length: perTick }, () => event(`u${Math.floor(Math.random() * o.users)}`)) });
      await sleep(Math.max(0, start + (i + 1) * tickMs - Date.now()));
    }
  };
  // Sent before measureFrom: their vectors count as warm-up, not as latencies.
  await offer(o.settleSeconds);
  measureFrom = Date.now();
  await offer(o.seconds);
  const offered = perTick * o.seconds * ticksPerSecond;
  const deadline = Date.now() + 60_000;
  while (latencies.length < offered && Date.now() < deadline) await sleep(100);
  await consumer.disconnect();
  await producer.disconnect();
  const seen = latencies.length;
  const end = Date.now();
  for (const [at, left] of pending) if (at >= measureFrom) for (let i = 0; i < left; i++) observe(at, end - at);
  const sorted = latencies.sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
  return { offered, seen, p50: pct(50), p99: pct(99), max: sorted[sorted.length - 1] ?? NaN, maxBySecond: Array.from(maxBySecond, (m) => m ?? 0) };
}

main(JSON.parse(process.argv[2] ?? '{}') as ProbeOptions).then(
  (r) => {
    console.log(JSON.stringify(r));
    process.exit(0);
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
