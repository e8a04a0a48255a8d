/**
 * `vectors produce`: listens or feedback from a JSONL or CSV file (or a
 * stream such as stdin) to their topics, as Avro in the Confluent wire
 * format, keyed by userId and partitioned as every Kafka client would
 * (murmur2 of the key, src/runtime/partitioner.ts).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, EventFileError } from '../../errors';
import type { KafkaClient, OutgoingRecord } from '../../runtime/kafka/client';
import { partitionForKey } from '../../runtime/partitioner';
import { AvroSerde } from '../../runtime/serde/avro-serde';
import type { SchemaRegistry } from '../../runtime/serde/schema-registry';
import { loadSchema, valueSubject } from '../../vectors/contracts';
import type { FeedbackEvent, ListenEvent } from '../../vectors/records';
import {
  countDataLines,
  EVENT_KINDS,
  EVENT_SCHEMAS,
  eventFormatOf,
  EventReader,
  kindOfLine,
  rawEventLines,
  type EventFormat,
  type EventKind,
} from './event-file';
import { unknownTopic } from './unknown-topic';

/** Progress of a run, handed to {@link ProduceOptions.onProgress}. */
export interface ProduceProgress {
  /** Data lines read so far (valid, invalid and for other topics). */
  read: number;
  /** Records acknowledged by the broker. */
  sent: number;
  /** Lines skipped as invalid (`skipInvalid`). */
  invalid: number;
  /** Data lines in the file (less a CSV header); undefined for a stream. */
  total?: number;
  /** Records sent per second since the start. */
  rate: number;
  elapsedMs: number;
}

export interface ProduceOptions {
  kafka: KafkaClient;
  registry: SchemaRegistry;
  /** A file path, `-` for stdin, or any readable stream of text. */
  source: string | Readable;
  /**
   * Where events go. A topic name: every line goes there, read as the kind
   * `kind` says (default: by the topic's name, `listens` or `feedback`);
   * lines whose `topic`/`type` field names the other kind are passed over
   * (counted in `otherKind`), so one mixed file feeds both topics in two
   * runs. Or a map `{ listens, feedback }`: each line goes to the topic of
   * the kind its `topic`/`type` field names (a line without one is invalid),
   * in file order, so listens and their feedback stay interleaved.
   */
  topic: string | Partial<Record<EventKind, string>>;
  /** With a single topic of another name than `listens`/`feedback`: which kind it carries. */
  kind?: EventKind;
  /** `jsonl` or `csv`; default by the file's extension (a stream: JSONL). */
  format?: string;
  /** At most this many events per second (> 0); default as fast as the broker takes them. */
  rate?: number;
  /**
   * What a bad line does. Default (false): the run stops at the first one
   * with an {@link EventFileError} naming the line and each bad field; what
   * was read before it has been sent. True: the line is skipped, counted in
   * `invalid`, and handed to `onInvalid`.
   */
  skipInvalid?: boolean;
  onInvalid?: (error: EventFileError) => void;
  /** Called at most every `progressIntervalMs` (default 250) while sending, and once at the end. */
  onProgress?: (p: ProduceProgress) => void;
  progressIntervalMs?: number;
  /** Stops reading; what was read is sent, and the result says `aborted`. */
  signal?: AbortSignal;
  /** Records per send (default 500; smaller under a low `rate`). */
  batchSize?: number;
}

export interface ProduceResult {
  /** Data lines read (valid, invalid and for other topics). */
  read: number;
  /** Records sent, in all topics. */
  sent: number;
  /** Records sent per topic. */
  byTopic: Record<string, number>;
  /** Lines skipped as invalid (only with `skipInvalid`). */
  invalid: number;
  /** Lines passed over because they name the other kind (single topic only). */
  otherKind: number;
  elapsedMs: number;
  /** Records sent per second. */
  rate: number;
  /** True when `signal` stopped the run before the end of the input. */
  aborted: boolean;
}

interface Route {
  topic: string;
  reader: EventReader;
  serde: AvroSerde<ListenEvent | FeedbackEvent>;
  partitions: number;
}

/** How long a partial batch waits for more lines from a slow stream before it is sent anyway. */
const LINGER_MS = 100;

/**
 * Reads events and sends them: each line validated against its topic's Avro
 * schema, serialized in the Confluent wire format (the schema registered
 * under `<topic>-value`, idempotently), keyed by userId, partition
 * murmur2(userId) mod partitions. The record timestamp is the broker's
 * time, not the event's: Kafka's retention goes by record time, and old
 * event times would have the broker delete them at once. Records of one user
 * keep the file's order.
 *
 * @throws ConfigError for a source or topic that cannot be used (missing file,
 *   unknown format, kind that cannot be told; UnknownTopicError for a topic that does not exist).
 * @throws EventFileError for the first bad line, unless `skipInvalid`.
 */
export async function produceEvents(o: ProduceOptions): Promise<ProduceResult> {
  const targets = targetsOf(o);
  if (o.rate !== undefined && !(o.rate > 0 && Number.isFinite(o.rate))) throw new ConfigError(`rate must be a number of events per second > 0, got ${o.rate}`);
  const batchSize = Math.max(1, Math.min(o.batchSize ?? 500, o.rate !== undefined ? Math.ceil(o.rate / 20) : Infinity));
  const { label, input, format, total } = await openSource(o);
  const ownInput = typeof o.source === 'string' && o.source !== '-';

  const routes = new Map<EventKind, Route>();
  try {
    const admin = await o.kafka.admin();
    try {
      for (const [kind, topic] of targets) {
        const desc = await admin.describeTopic(topic);
        if (!desc) throw await unknownTopic(admin, topic, 'create it first (vectors provision creates listens and feedback)');
        const serde = new AvroSerde<ListenEvent | FeedbackEvent>({
          registry: o.registry,
          subject: valueSubject(topic),
          schema: loadSchema(EVENT_SCHEMAS[kind]),
        });
        await serde.prepare();
        routes.set(kind, { topic, reader: new EventReader(kind), serde, partitions: desc.partitions });
      }
    } finally {
      await admin.close();
    }
  } catch (err) {
    if (ownInput) input.destroy();
    throw err;
  }
  const single = typeof o.topic === 'string' ? [...routes.values()][0]! : undefined;

  const result: ProduceResult = { read: 0, sent: 0, byTopic: {}, invalid: 0, otherKind: 0, elapsedMs: 0, rate: 0, aborted: false };
  for (const r of routes.values()) result.byTopic[r.topic] = 0;
  const start = performance.now();
  const interval = o.progressIntervalMs ?? 250;
  let lastProgress = -Infinity;
  const report = (force: boolean) => {
    const now = performance.now();
    result.elapsedMs = Math.round(now - start);
    result.rate = result.elapsedMs > 0 ? (result.sent * 1000) / result.elapsedMs : 0;
    if (!o.onProgress || (!force && now - lastProgress < interval)) return;
    lastProgress = now;
    o.onProgress({ read: result.read, sent: result.sent, invalid: result.invalid, total, rate: result.rate, elapsedMs: result.elapsedMs });
  };
  const bad = (lineNo: number, problems: string[]) => {
    const err = new EventFileError(label, lineNo, problems);
    if (!o.skipInvalid) throw err;
    result.invalid++;
    o.onInvalid?.(err);
  };

  const producer = await o.kafka.producer().catch((err: unknown) => {
    if (ownInput) input.destroy();
    throw err;
  });
  let batch: { record: OutgoingRecord; topic: string }[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const records = batch;
    batch = [];
    if (o.rate !== undefined) {
      // The last record of the batch goes no earlier than its slot: n records take ≥ (n − 1)/rate s.
      const due = ((result.sent + records.length - 1) * 1000) / o.rate - (performance.now() - start);
      if (due > 0) await sleep(due);
    }
    await producer.send(records.map((r) => r.record));
    for (const r of records) result.byTopic[r.topic] = (result.byTopic[r.topic] ?? 0) + 1;
    result.sent += records.length;
    report(false);
  };

  const lines = rawEventLines(input, format, label);
  // Reading a stream (stdin) can wait for ever: the abort must not.
  const aborted = new Promise<'abort'>((r) => {
    if (o.signal?.aborted) r('abort');
    o.signal?.addEventListener('abort', () => r('abort'), { once: true });
  });
  try {
    let pending = lines.next();
    for (;;) {
      // A partial batch waits for more lines only briefly: a slow stream must not hold read lines back.
      const linger = batch.length > 0 ? [sleep(LINGER_MS).then(() => 'linger' as const)] : [];
      const step = await Promise.race([pending, aborted, ...linger]);
      if (step === 'abort') {
        result.aborted = true;
        break;
      }
      if (step === 'linger') {
        await flush();
        continue;
      }
      if (step.done) break;
      pending = lines.next();
      const line = step.value;
      result.read++;
      if (line.problem !== undefined) {
        bad(line.lineNo, [line.problem]);
        continue;
      }
      const named = kindOfLine(line.fields);
      if (typeof named === 'object') {
        bad(line.lineNo, [named.problem]);
        continue;
      }
      let route: Route | undefined;
      if (single) {
        if (named !== undefined && named !== single.reader.kind) {
          result.otherKind++;
          continue;
        }
        route = single;
      } else {
        if (named === undefined) {
          bad(line.lineNo, [`no 'topic' (or 'type') field; when events go to several topics each line must say "listens" or "feedback"`]);
          continue;
        }
        route = routes.get(named);
        if (!route) {
          result.otherKind++;
          continue;
        }
      }
      const read = route.reader.read(line.fields);
      if (read.problems) {
        bad(line.lineNo, [`not a valid ${route.reader.schemaName}: ${read.problems.join('; ')}`]);
        continue;
      }
      const key = Buffer.from(read.event.userId, 'utf8');
      const partition = partitionForKey(key, route.partitions);
      batch.push({ topic: route.topic, record: { topic: route.topic, key, value: route.serde.serialize(read.event), partition } });
      if (batch.length >= batchSize) await flush();
    }
    await flush();
  } catch (err) {
    if (err instanceof EventFileError) {
      // Streaming: the lines before the bad one go out, and the message says so.
      await flush();
      err.message +=
        `; ${result.sent} event${result.sent === 1 ? '' : 's'} before it ${result.sent === 1 ? 'was' : 'were'} sent. ` +
        'Fix the line, or skip invalid lines (--skip-invalid)';
    }
    throw err;
  } finally {
    // Not awaited: a generator blocked on stdin finishes only when the stream ends.
    void lines.return(undefined).catch(() => undefined);
    if (ownInput) input.destroy();
    await producer.close();
  }
  report(true);
  return result;
}

/** Which kinds go to which topics. */
function targetsOf(o: ProduceOptions): [EventKind, string][] {
  if (typeof o.topic === 'string') {
    const topic = o.topic;
    if (topic === '') throw new ConfigError('topic must not be empty');
    const kind = o.kind ?? (EVENT_KINDS.includes(topic as EventKind) ? (topic as EventKind) : undefined);
    if (!kind) throw new ConfigError(`cannot tell whether topic '${topic}' carries listens or feedback; give the kind (listens or feedback)`);
    if (!EVENT_KINDS.includes(kind)) throw new ConfigError(`kind must be listens or feedback, got '${String(kind)}'`);
    return [[kind, topic]];
  }
  const entries = EVENT_KINDS.filter((k) => o.topic && typeof o.topic === 'object' && o.topic[k]).map(
    (k) => [k, (o.topic as Record<EventKind, string>)[k]] as [EventKind, string],
  );
  if (entries.length === 0) throw new ConfigError('no topic given: name the listens topic, the feedback topic, or both');
  return entries;
}

async function openSource(o: ProduceOptions): Promise<{ label: string; input: Readable; format: EventFormat; total?: number }> {
  if (typeof o.source !== 'string') return { label: 'the input stream', input: o.source, format: eventFormatOf('-', o.format) };
  if (o.source === '-') return { label: 'stdin', input: process.stdin, format: eventFormatOf('-', o.format) };
  const path = o.source;
  const format = eventFormatOf(path, o.format);
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => {
    throw new ConfigError(
      err.code === 'ENOENT'
        ? `event file '${path}' does not exist; give a .jsonl or .csv file, or - for stdin`
        : `cannot read event file '${path}': ${err.message}`,
    );
  });
  if (!info.isFile()) throw new ConfigError(`'${path}' is not a file; give a .jsonl or .csv file, or - for stdin`);
  const total = await countDataLines(path, format);
  return { label: path, input: createReadStream(path, { encoding: 'utf8' }), format, total };
}
