/**
 * Writes the chaos run's input: the seeded good events at a steady rate,
 * probe rounds, and poison records, through one idempotent producer (no
 * duplicates on retries, so each good event is in its topic once). Keeps the
 * good events in production order for the reference.
 */
import type { KafkaClient, KafkaProducer, OutgoingRecord } from '../../src/runtime/kafka/client';
import { partitionForKey } from '../../src/runtime/partitioner';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import type { SchemaRegistry } from '../../src/runtime/serde/schema-registry';
import { Topics, loadSchema, valueSubject } from '../../src/vectors/contracts';
import type { FeedbackEvent, ListenEvent } from '../../src/vectors/records';
import { mulberry32 } from '../support/random';
import { type EventGenerator, type GoodEvent, OVERSIZE_BYTES, POISON_KINDS, type PoisonKind } from './generator';
import { sleep } from './processes';

/** A poison record as written: where it landed and the dead-letter code it must get. */
export interface SentPoison {
  kind: PoisonKind;
  key: string;
  topic: string;
  partition: number;
  offset: string;
  expectedCode: string;
  at: number;
}

const FOREIGN_SCHEMA = {
  type: 'record',
  name: 'Foreign',
  namespace: 'chaos',
  fields: [
    { name: 'x', type: 'int' },
    { name: 'note', type: 'string' },
  ],
};

export class Feeder {
  private producer!: KafkaProducer;
  private listenSerde!: AvroSerde<ListenEvent>;
  /** An optional field the current listen schema version adds (for a version the workers have not seen yet). */
  private extraField: string | undefined;
  private feedbackSerde!: AvroSerde<FeedbackEvent>;
  private foreignSerde!: AvroSerde<{ x: number; note: string }>;
  /** Good events as produced, in order. */
  readonly log: GoodEvent[] = [];
  readonly poison: SentPoison[] = [];
  private streaming?: Promise<void>;
  private stopRequested = false;
  private versions = 0;
  private poisonSeq = 0;
  private readonly rng: () => number;
  /** Sends that failed and were retried (the producer retries by itself; this counts what reached us). */
  sendRetries = 0;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly registry: SchemaRegistry,
    private readonly gen: EventGenerator,
    seed: number,
  ) {
    this.rng = mulberry32(seed ^ 0xfeed);
  }

  async prepare(): Promise<void> {
    this.producer = await this.kafka.producer();
    this.listenSerde = new AvroSerde<ListenEvent>({ registry: this.registry, subject: valueSubject(Topics.listens), schema: loadSchema('ListenEvent') });
    this.feedbackSerde = new AvroSerde<FeedbackEvent>({ registry: this.registry, subject: valueSubject(Topics.feedback), schema: loadSchema('FeedbackEvent') });
    this.foreignSerde = new AvroSerde({ registry: this.registry, subject: 'chaos-foreign-value', schema: FOREIGN_SCHEMA });
    await Promise.all([this.listenSerde.prepare(), this.feedbackSerde.prepare(), this.foreignSerde.prepare()]);
  }

  /**
   * Registers a newer, compatible version of the listen schema (one more
   * optional field); returns a function that makes the feeder write listens
   * with it from then on. Call that once the registry is down: the id is new
   * to the workers, who must then ask the registry for it while it is away.
   */
  async nextListenSchemaVersion(): Promise<{ version: number; use: () => void }> {
    const field = `chaos_v${++this.versions}`;
    const base = JSON.parse(loadSchema('ListenEvent'));
    const schema = { ...base, fields: [...base.fields, { name: field, type: ['null', 'string'], default: null }] };
    const serde = new AvroSerde<ListenEvent>({ registry: this.registry, subject: valueSubject(Topics.listens), schema });
    await serde.prepare();
    return {
      version: this.versions + 1,
      use: () => {
        this.listenSerde = serde;
        this.extraField = field;
      },
    };
  }

  private encode(e: GoodEvent): OutgoingRecord {
    const value =
      e.topic === 'listens'
        ? this.listenSerde.serialize(this.extraField ? ({ ...(e.value as ListenEvent), [this.extraField]: 'x' } as ListenEvent) : (e.value as ListenEvent))
        : this.feedbackSerde.serialize(e.value as FeedbackEvent);
    return {
      topic: e.topic === 'listens' ? Topics.listens : Topics.feedback,
      key: e.key,
      value,
      ...(e.partition !== undefined ? { partition: e.partition } : {}),
    };
  }

  /** Sends good events; retries until the broker took them. */
  async send(events: GoodEvent[]): Promise<void> {
    if (events.length === 0) return;
    const records = events.map((e) => this.encode(e));
    for (;;) {
      try {
        await this.producer.send(records);
        break;
      } catch {
        // The idempotent producer retries by itself; this is a send it gave up on (e.g. a very long outage). Same records again.
        this.sendRetries++;
        await sleep(500);
      }
    }
    this.log.push(...events);
  }

  /** Streams `ratePerSec` good events per second, in batches every 100 ms, until {@link stop}. */
  start(ratePerSec: number): void {
    this.stopRequested = false;
    this.streaming = (async () => {
      const perTick = Math.max(1, Math.round(ratePerSec / 10));
      let next = Date.now();
      while (!this.stopRequested) {
        const batch: GoodEvent[] = [];
        for (let i = 0; i < perTick; i++) batch.push(this.gen.next());
        await this.send(batch);
        next += 100;
        const wait = next - Date.now();
        if (wait > 0) await sleep(wait);
        else next = Date.now(); // behind (a broker outage): go on at the rate, do not burst to catch up
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopRequested = true;
    await this.streaming;
  }

  /** One listen of every probe user; returns the version each probe user's output must reach. */
  async probe(): Promise<Map<string, number>> {
    const events = this.gen.probeRound();
    await this.send(events);
    return new Map(events.map((e) => [e.key, this.gen.eventsOf(e.key)]));
  }

  /** Writes one record of each poison kind given, alone, and records where it landed. */
  async sendPoison(kinds: PoisonKind[]): Promise<SentPoison[]> {
    const sent: SentPoison[] = [];
    for (const kind of kinds) {
      const n = this.poisonSeq++;
      let record: OutgoingRecord;
      let key: string;
      switch (kind) {
        case 'not-avro': {
          key = `poison-bytes-${n}`;
          const topic = this.rng() < 0.5 ? Topics.listens : Topics.feedback;
          record = { topic, key, value: Buffer.from(JSON.stringify({ userId: key, entityId: 'e1', note: 'JSON where Avro is expected' })) };
          break;
        }
        case 'foreign-schema':
          key = `poison-schema-${n}`;
          record = { topic: Topics.listens, key, value: this.foreignSerde.serialize({ x: n, note: 'a record of another schema' }) };
          break;
        case 'invalid-record':
          key = `poison-invalid-${n}`;
          // Valid Avro, but the userId is not the key: the spout's validate refuses it.
          record = {
            topic: Topics.listens,
            key,
            value: this.listenSerde.serialize({
              eventId: `poison-${n}`,
              userId: 'someone-else',
              entityId: 'e1',
              msPlayed: 1,
              durationMs: 1,
              context: 'chaos',
              timestamp: Date.now(),
            }),
          };
          break;
        case 'oversize':
          key = `poison-oversize-${n}`;
          record = { topic: Topics.listens, key, value: Buffer.alloc(OVERSIZE_BYTES, 7) };
          break;
        case 'far-future':
          key = `z-future-${n}`;
          // A good record in every way but its time: 30 days ahead.
          record = {
            topic: Topics.listens,
            key,
            value: this.listenSerde.serialize({
              eventId: `future-${n}`,
              userId: key,
              entityId: 'e1',
              msPlayed: 200_000,
              durationMs: 200_000,
              context: 'chaos',
              timestamp: Date.now() + 30 * 86_400_000,
            }),
          };
          break;
      }
      // On its key's murmur2 partition (a misrouted poison record would be rerouted first), given explicitly so the producer reports its offset.
      record.partition = partitionForKey(Buffer.from(key), this.gen.o.partitions);
      const [landed] = await this.producer.send([record]);
      if (!landed) throw new Error(`no offset reported for poison record ${key}`);
      const p: SentPoison = {
        kind,
        key,
        topic: record.topic,
        partition: landed.partition,
        offset: landed.lastOffset,
        expectedCode: POISON_KINDS[kind],
        at: Date.now(),
      };
      this.poison.push(p);
      sent.push(p);
    }
    return sent;
  }

  async close(): Promise<void> {
    await this.producer?.close().catch(() => undefined);
  }
}
