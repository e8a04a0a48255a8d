/**
 * produceEvents without a broker: a fake KafkaClient that records what is
 * sent, and the in-memory registry. What is checked here is what a user of
 * `vectors produce` sees: which lines go out, where, and the messages for bad ones.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { produceEvents, type ProduceOptions } from '../../../../src/app/tools/produce';
import { ConfigError, ErrorCodes, EventFileError, UnknownTopicError } from '../../../../src/errors';
import type { KafkaClient, OutgoingRecord } from '../../../../src/runtime/kafka/client';
import { partitionForKey } from '../../../../src/runtime/partitioner';
import { AvroSerde } from '../../../../src/runtime/serde/avro-serde';
import { InMemorySchemaRegistry } from '../../../../src/runtime/serde/schema-registry';
import { loadSchema } from '../../../../src/vectors/contracts';
import type { FeedbackEvent, ListenEvent } from '../../../../src/vectors/records';

const listen = (i: number, userId = `u${i}`): ListenEvent => ({
  eventId: `l${i}`,
  userId,
  entityId: `e${i}`,
  msPlayed: 1000 * i,
  durationMs: 200_000,
  context: 'radio',
  timestamp: 1_700_000_000_000 + i,
});
const like = (i: number): FeedbackEvent => ({
  eventId: `f${i}`,
  userId: `u${i}`,
  entityId: `e${i}`,
  kind: 'LIKE',
  surface: 'player',
  timestamp: 1_700_000_000_000 + i,
});
const jsonl = (items: object[]) => items.map((x) => JSON.stringify(x)).join('\n') + '\n';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'produce-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function fake(topics: Record<string, number> = { listens: 6, feedback: 6 }) {
  const sent: OutgoingRecord[] = [];
  const kafka = {
    admin: async () => ({
      describeTopic: async (name: string) => (topics[name] ? { name, partitions: topics[name], config: {} } : undefined),
      listTopics: async () => [...Object.keys(topics), '__consumer_offsets', 'app-users-changelog'],
      close: async () => undefined,
    }),
    producer: async () => ({
      send: async (records: OutgoingRecord[]) => {
        sent.push(...records);
        return [];
      },
      close: async () => undefined,
    }),
  } as unknown as KafkaClient;
  return { kafka, sent, registry: new InMemorySchemaRegistry() };
}

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function decode(registry: InMemorySchemaRegistry, topic: string, schema: 'ListenEvent' | 'FeedbackEvent', records: OutgoingRecord[]) {
  const serde = new AvroSerde<ListenEvent | FeedbackEvent>({ registry, subject: `${topic}-value`, schema: loadSchema(schema) });
  await serde.prepare();
  return records.filter((r) => r.topic === topic).map((r) => serde.deserialize(r.value!));
}

describe('produceEvents', () => {
  it('sends every line keyed by userId, in the partition murmur2(userId) picks, decodable with the schema', async () => {
    const { kafka, sent, registry } = fake();
    const events = Array.from({ length: 40 }, (_, i) => listen(i));
    const progress: number[] = [];
    const r = await produceEvents({
      kafka,
      registry,
      source: await file('l.jsonl', jsonl(events)),
      topic: 'listens',
      batchSize: 7,
      onProgress: (p) => progress.push(p.sent),
    });
    expect(r).toMatchObject({ read: 40, sent: 40, byTopic: { listens: 40 }, invalid: 0, otherKind: 0, aborted: false });
    expect(await decode(registry, 'listens', 'ListenEvent', sent)).toEqual(events);
    for (const rec of sent) expect(rec.partition).toBe(partitionForKey(Buffer.from(rec.key as Buffer), 6));
    expect(sent.map((x) => x.key!.toString())).toEqual(events.map((e) => e.userId));
    expect(progress[progress.length - 1]).toBe(40);
  });

  it('routes a mixed file by each line’s topic field, keeping file order; a single topic passes the other kind over', async () => {
    const lines = [
      { topic: 'listens', ...listen(1) },
      { topic: 'feedback', ...like(1) },
      { type: 'listens', ...listen(2) },
    ];
    const path = await file('mixed.jsonl', jsonl(lines));
    const both = fake();
    const r = await produceEvents({ ...both, source: path, topic: { listens: 'listens', feedback: 'feedback' } });
    expect(r.byTopic).toEqual({ listens: 2, feedback: 1 });
    expect(both.sent.map((x) => x.topic)).toEqual(['listens', 'feedback', 'listens']);
    expect(await decode(both.registry, 'feedback', 'FeedbackEvent', both.sent)).toEqual([like(1)]);

    const one = fake({ 'my-feedback': 3 });
    const f = await produceEvents({ ...one, source: path, topic: 'my-feedback', kind: 'feedback' });
    expect(f).toMatchObject({ read: 3, sent: 1, otherKind: 2 });
  });

  it('reads CSV with a header, quoted cells and ISO 8601 times', async () => {
    const csv = [
      'topic,eventId,userId,entityId,timestamp,msPlayed,durationMs,context,kind,surface',
      'listens,l1,u1,e1,2024-05-01T12:00:00Z,1000,200000,"radio, late night",,',
      'feedback,f1,"u ""quoted""",e2,1714564800001,,,,BAN,player',
    ].join('\r\n');
    const { kafka, sent, registry } = fake();
    await produceEvents({ kafka, registry, source: await file('e.csv', csv), topic: { listens: 'listens', feedback: 'feedback' } });
    expect(await decode(registry, 'listens', 'ListenEvent', sent)).toEqual([
      { eventId: 'l1', userId: 'u1', entityId: 'e1', msPlayed: 1000, durationMs: 200000, context: 'radio, late night', timestamp: Date.UTC(2024, 4, 1, 12) },
    ]);
    expect(await decode(registry, 'feedback', 'FeedbackEvent', sent)).toEqual([
      { eventId: 'f1', userId: 'u "quoted"', entityId: 'e2', kind: 'BAN', surface: 'player', timestamp: 1714564800001 },
    ]);
  });

  it('stops at the first bad line, naming the line and the field; the lines before it were sent', async () => {
    const { kafka, sent, registry } = fake();
    const path = await file('bad.jsonl', jsonl([listen(1), listen(2), { ...listen(3), msPlayed: 'abc' }, listen(4)]));
    const run = produceEvents({ kafka, registry, source: path, topic: 'listens' });
    await expect(run).rejects.toThrow(EventFileError);
    await expect(run).rejects.toThrow(
      `line 3 of ${path}: not a valid ListenEvent: field 'msPlayed' must be an integer, got "abc"; 2 events before it were sent. Fix the line, or skip invalid lines (--skip-invalid)`,
    );
    expect(sent.map((r) => r.key!.toString())).toEqual(['u1', 'u2']);
  });

  it('with skipInvalid, skips bad lines, counts them and hands each to onInvalid', async () => {
    const { kafka, sent, registry } = fake();
    const text = [JSON.stringify(listen(1)), '{not json', JSON.stringify({ ...listen(3), userId: undefined }), '', JSON.stringify(listen(5))].join('\n');
    const problems: [number, string][] = [];
    const r = await produceEvents({
      kafka,
      registry,
      source: await file('skip.jsonl', text),
      topic: 'listens',
      skipInvalid: true,
      onInvalid: (e) => problems.push([e.lineNo, e.message]),
    });
    expect(r).toMatchObject({ read: 4, sent: 2, invalid: 2 });
    expect(sent.map((x) => x.key!.toString())).toEqual(['u1', 'u5']);
    expect(problems.map(([n]) => n)).toEqual([2, 3]);
    expect(problems[0]![1]).toMatch(/line 2 of .*skip\.jsonl: is not valid JSON/);
    expect(problems[1]![1]).toMatch(/line 3 of .*: not a valid ListenEvent: field 'userId' must be a string, got nothing \(the field is missing\)/);
  });

  it.each<[string, string, string | object, string]>([
    ['an unknown feedback kind', 'k.jsonl', { ...like(1), kind: 'LOVE' }, 'field \'kind\' must be one of LIKE, UNLIKE, DISLIKE, SKIP, BAN, UNBAN, got "LOVE"'],
    [
      'a time that is neither ms nor ISO',
      't.jsonl',
      { ...like(1), timestamp: 'yesterday' },
      "field 'timestamp' must be a time: integer epoch milliseconds or an ISO 8601 date-time",
    ],
    ['a topic field naming no kind', 'x.jsonl', { ...like(1), topic: 'likes' }, 'field \'topic\' must be "listens" or "feedback", got "likes"'],
    ['an array line', 'a.jsonl', '[1,2]', 'is not a JSON object; each line must be one JSON object'],
    ['a CSV row with too few cells', 'c.csv', 'userId,eventId,entityId,kind,surface,timestamp\nu1,f1,e1,LIKE,app', 'has 5 cells but the header has 6 columns'],
    ['a CSV cell with a stray quote', 'q.csv', 'userId,eventId,entityId,kind,surface,timestamp\nu1,f"1,e1,LIKE,app,1', 'has a quote inside unquoted cell 2'],
  ])('names the problem of %s', async (_label, name, line, message) => {
    const { kafka, registry } = fake();
    const text = typeof line === 'string' ? line : JSON.stringify(line);
    await expect(produceEvents({ kafka, registry, source: await file(name, text), topic: 'feedback' })).rejects.toThrow(message);
  });

  it('needs a topic field when routing to several topics', async () => {
    const { kafka, registry } = fake();
    await expect(
      produceEvents({ kafka, registry, source: await file('nt.jsonl', jsonl([listen(1)])), topic: { listens: 'listens', feedback: 'feedback' } }),
    ).rejects.toThrow(/line 1 of .*: no 'topic' \(or 'type'\) field; when events go to several topics each line must say "listens" or "feedback"/);
  });

  it('refuses a topic that does not exist with VEC_ERR_TOPIC_UNKNOWN, naming the closest topic and what creates it', async () => {
    const { kafka, registry } = fake();
    const source = await file('ok.jsonl', jsonl([listen(1)]));
    const err = await produceEvents({ kafka, registry, source, topic: 'listen', kind: 'listens' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownTopicError);
    expect(err).toMatchObject({ code: ErrorCodes.TOPIC_UNKNOWN, topic: 'listen', retriable: false });
    expect((err as Error).message).toBe(
      "topic 'listen' does not exist (did you mean 'listens'?); create it first (vectors provision creates listens and feedback)",
    );
    // Nothing close among the topics (internal ones are never offered): no guess.
    await expect(produceEvents({ kafka, registry, source, topic: 'nope', kind: 'listens' })).rejects.toThrow(/^topic 'nope' does not exist; create it first/);
  });

  it.each<[string, Partial<ProduceOptions>, string]>([
    ['a missing file', { source: join(tmpdir(), 'no-such-dir', 'x.jsonl') }, "event file '" + join(tmpdir(), 'no-such-dir', 'x.jsonl') + "' does not exist"],
    ['an extension that names no format', { source: 'events.txt' }, "cannot tell the format of 'events.txt' from its extension '.txt'"],
    ['an unknown format', { source: '-', format: 'xml' }, "event format 'xml' is not supported: use jsonl or csv"],
    ['a topic of unknown kind', { topic: 'events' }, "cannot tell whether topic 'events' carries listens or feedback"],
    ['a rate of 0', { rate: 0 }, 'rate must be a number of events per second > 0, got 0'],
    ['a CSV file without a header', { source: 'NOHEADER' }, 'the CSV header must name the columns'],
  ])('refuses %s with a ConfigError', async (_label, bad, message) => {
    const { kafka, registry } = fake();
    const ok = await file('ok.jsonl', jsonl([listen(1)]));
    const source = bad.source === 'NOHEADER' ? await file('nh.csv', 'l1,u1,e1,1,2,radio,3\n') : (bad.source ?? ok);
    const run = produceEvents({ kafka, registry, topic: 'listens', ...bad, source });
    await expect(run).rejects.toThrow(ConfigError);
    await expect(produceEvents({ kafka, registry, topic: 'listens', ...bad, source })).rejects.toThrow(message);
  });

  it('sends lines from a stream that pauses, without waiting for a full batch, and stops when aborted', async () => {
    const { kafka, sent, registry } = fake();
    const input = new PassThrough();
    input.write(jsonl([listen(1), listen(2)]));
    const abort = new AbortController();
    const run = produceEvents({ kafka, registry, source: input, topic: 'listens', signal: abort.signal });
    await new Promise((r) => setTimeout(r, 400));
    expect(sent.length).toBe(2);
    abort.abort();
    await expect(run).resolves.toMatchObject({ sent: 2, aborted: true });
    input.destroy();
  });

  it('reads a stream to its end, with no total', async () => {
    const { kafka, registry } = fake();
    const totals: (number | undefined)[] = [];
    const r = await produceEvents({
      kafka,
      registry,
      source: Readable.from([jsonl([listen(1), listen(2), listen(3)])]),
      topic: 'listens',
      onProgress: (p) => totals.push(p.total),
    });
    expect(r.sent).toBe(3);
    expect(totals.every((t) => t === undefined)).toBe(true);
  });
});
