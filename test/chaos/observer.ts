/**
 * Follows output topics while the run goes on (read_committed, as their
 * consumers would): the highest version seen per user, to time recovery with
 * probe events, and when each snapshot's first record became visible.
 * Survives broker outages by reconnecting.
 */
import type { KafkaClient, PartitionReader } from '../../src/runtime/kafka/client';
import { AvroSerde } from '../../src/runtime/serde/avro-serde';
import type { SchemaRegistry } from '../../src/runtime/serde/schema-registry';
import { loadSchema, valueSubject } from '../../src/vectors/contracts';
import { sleep } from './processes';

export interface ObservedTopic {
  topic: string;
  schema: 'UserVector' | 'Candidates';
  partitions: number;
}

interface Versioned {
  snapshotId: string;
  version?: number;
  userVectorVersion?: number;
}

export class OutputObserver {
  private readonly latest = new Map<string, Map<string, number>>();
  /** topic → snapshot id → wall-clock time its first record was seen. */
  readonly firstSeen = new Map<string, Map<string, number>>();
  private running = false;
  private loops: Promise<void>[] = [];
  errors = 0;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly registry: SchemaRegistry,
    private readonly topics: ObservedTopic[],
  ) {}

  async start(): Promise<void> {
    this.running = true;
    for (const t of this.topics) {
      this.latest.set(t.topic, new Map());
      this.firstSeen.set(t.topic, new Map());
      const serde = new AvroSerde<Versioned>({ registry: this.registry, subject: valueSubject(t.topic), schema: loadSchema(t.schema), autoRegister: false });
      await serde.prepare();
      this.loops.push(this.follow(t, serde));
    }
  }

  /** Highest version (user-vectors) or userVectorVersion (candidates) seen for `userId` on `topic`. */
  versionOf(topic: string, userId: string): number {
    return this.latest.get(topic)?.get(userId) ?? 0;
  }

  private async follow(t: ObservedTopic, serde: AvroSerde<Versioned>): Promise<void> {
    const positions = Array.from({ length: t.partitions }, () => '0');
    const latest = this.latest.get(t.topic)!;
    const first = this.firstSeen.get(t.topic)!;
    let reader: PartitionReader | undefined;
    while (this.running) {
      try {
        reader ??= await this.kafka.partitionReader();
        let got = 0;
        for (let p = 0; p < t.partitions && this.running; p++) {
          const res = await reader.fetch({ topic: t.topic, partition: p }, positions[p]!, 0);
          for (const r of res.records) {
            if (!r.key || !r.value) continue;
            await serde.prepareFor(r.value);
            const v = serde.deserialize(r.value);
            const user = r.key.toString('utf8');
            const version = v.version ?? v.userVectorVersion ?? 0;
            if (version > (latest.get(user) ?? 0)) latest.set(user, version);
            if (!first.has(v.snapshotId)) first.set(v.snapshotId, Date.now());
          }
          got += res.records.length;
          positions[p] = res.nextOffset;
        }
        if (got === 0) await sleep(200);
      } catch {
        // The broker (or the registry) is away: reconnect and go on from the same positions.
        this.errors++;
        await reader?.close().catch(() => undefined);
        reader = undefined;
        await sleep(1000);
      }
    }
    await reader?.close().catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}
