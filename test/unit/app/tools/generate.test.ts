import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { generateWorldFiles, type GenerateResult } from '../../../../src/app/tools/generate';
import { EventReader, rawEventLines, type EventKind } from '../../../../src/app/tools/event-file';
import { ConfigError } from '../../../../src/errors';
import { DEFAULT_EVENT_TIME_WINDOW } from '../../../../src/vectors/event-time';
import { readSnapshotFile } from '../../../../src/vectors/snapshot/formats';
import { userFactorRows } from '../../../../src/vectors/snapshot/user-factors-file';

const END = Date.UTC(2026, 0, 1);
const SMALL = { users: 40, items: 200, dims: 8, events: 1500, endTime: END };

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'generate-test-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function filesOf(dir: string): Promise<Map<string, Buffer>> {
  const names = (await readdir(dir)).sort();
  return new Map(await Promise.all(names.map(async (n) => [n, await readFile(join(dir, n))] as const)));
}

async function eventsOf(file: string, format: 'jsonl' | 'csv') {
  const readers = { listens: new EventReader('listens'), feedback: new EventReader('feedback') };
  const out: { kind: EventKind; event: unknown }[] = [];
  for await (const line of rawEventLines(Readable.from(await readFile(file, 'utf8')), format)) {
    if (line.problem !== undefined) throw new Error(`line ${line.lineNo}: ${line.problem}`);
    const kind = line.fields.topic as EventKind;
    const read = readers[kind].read(line.fields);
    if (read.problems) throw new Error(`line ${line.lineNo}: ${read.problems.join('; ')}`);
    out.push({ kind, event: read.event });
  }
  return out;
}

describe('generateWorldFiles', () => {
  let result: GenerateResult;
  beforeAll(async () => {
    result = await generateWorldFiles({ out: join(root, 'a'), seed: 7, ...SMALL });
  });

  it('writes the same bytes for the same seed, and other bytes for another seed', async () => {
    await generateWorldFiles({ out: join(root, 'b'), seed: 7, ...SMALL });
    await generateWorldFiles({ out: join(root, 'c'), seed: 8, ...SMALL });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((d) => filesOf(join(root, d))));
    expect([...a.keys()]).toEqual(['events.jsonl', 'snapshot-s1.jsonl', 'snapshot-s2.jsonl', 'users-s1.jsonl', 'users-s2.jsonl', 'world.json']);
    for (const [name, bytes] of a) {
      expect(b.get(name)!.equals(bytes)).toBe(true);
      expect(c.get(name)!.equals(bytes)).toBe(false);
    }
    expect(JSON.parse(a.get('world.json')!.toString())).toMatchObject({ manifest: 'world.json', events: { file: 'events.jsonl', count: SMALL.events } });
  });

  it('writes snapshots that publish would accept, with the count and checksum it reports', async () => {
    for (const s of result.snapshots) {
      const loaded = await readSnapshotFile(s.file, { snapshotId: s.id });
      expect({ count: loaded.count, checksum: loaded.checksum, dims: loaded.matrix.dims }).toEqual({ count: s.count, checksum: s.checksum, dims: s.dims });
      expect(s.count).toBe(SMALL.items);
    }
    const [s1, s2] = await Promise.all(result.snapshots.map((s) => readSnapshotFile(s.file, { snapshotId: s.id })));
    expect(s2!.matrix.ids).toEqual(s1!.matrix.ids);
  });

  it('writes user factors that publish --users accepts, for the users active before the cut-off', async () => {
    const events = await eventsOf(result.events.file, 'jsonl');
    const before = new Set(
      events.filter((e) => (e.event as { timestamp: number }).timestamp <= result.cutoff!).map((e) => (e.event as { userId: string }).userId),
    );
    for (const s of result.snapshots) {
      const ids: string[] = [];
      const rows = userFactorRows(s.users!.file, { snapshotId: s.id, dims: s.dims });
      for await (const row of rows) ids.push(row.userId);
      expect(ids.length).toBe(s.users!.count);
      expect(new Set(ids)).toEqual(before);
    }
  });

  it('makes S2 a retrained space: every vector moved, yet users rank entities alike in both', async () => {
    const [s1, s2] = await Promise.all(result.snapshots.map((s) => readSnapshotFile(s.file, { snapshotId: s.id })));
    const factors = async (i: number) => {
      const m = new Map<string, Float32Array>();
      for await (const r of userFactorRows(result.snapshots[i]!.users!.file, { snapshotId: result.snapshots[i]!.id, dims: 8 }))
        m.set(r.userId, new Float32Array(r.vector));
      return m;
    };
    const [u1, u2] = await Promise.all([factors(0), factors(1)]);
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i]!, 0);
    let sameEntityCos = 0;
    for (let r = 0; r < s1!.matrix.count; r++) sameEntityCos += dot(s1!.matrix.row(r), s2!.matrix.row(r));
    expect(Math.abs(sameEntityCos / s1!.matrix.count)).toBeLessThan(0.5);
    let worst = Infinity;
    for (const [userId, x1] of u1) {
      const a = Array.from({ length: s1!.matrix.count }, (_, r) => dot(x1, s1!.matrix.row(r)));
      const b = Array.from({ length: s2!.matrix.count }, (_, r) => dot(u2.get(userId)!, s2!.matrix.row(r)));
      const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
      const [ma, mb] = [mean(a), mean(b)];
      const cov = a.reduce((s, x, i) => s + (x - ma) * (b[i]! - mb), 0);
      const corr = cov / Math.sqrt(a.reduce((s, x) => s + (x - ma) ** 2, 0) * b.reduce((s, x) => s + (x - mb) ** 2, 0));
      worst = Math.min(worst, corr);
    }
    expect(worst).toBeGreaterThan(0.95);
  });

  it('writes exactly the events asked for, in time order, valid for their topics, with the counts it reports', async () => {
    const events = await eventsOf(result.events.file, 'jsonl');
    expect(events.length).toBe(SMALL.events);
    const times = events.map((e) => (e.event as { timestamp: number }).timestamp);
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(events.filter((e) => e.kind === 'listens').length).toBe(result.events.listens);
    const kinds = new Map<string, number>();
    for (const e of events) if (e.kind === 'feedback') kinds.set((e.event as { kind: string }).kind, (kinds.get((e.event as { kind: string }).kind) ?? 0) + 1);
    for (const k of ['LIKE', 'SKIP', 'BAN']) expect(kinds.get(k)).toBe(result.events.feedback[k as 'LIKE']);
    expect(kinds.get('LIKE')! * kinds.get('SKIP')! * kinds.get('BAN')!).toBeGreaterThan(0);
    expect(times[times.length - 1]).toBeLessThanOrEqual(END + DEFAULT_EVENT_TIME_WINDOW.maxFutureMs);
  });

  it('writes the same events as CSV', async () => {
    const csv = await generateWorldFiles({ out: join(root, 'csv'), seed: 7, ...SMALL, eventsFormat: 'csv', second: false, userFactors: false });
    expect(csv.events.file.endsWith('events.csv')).toBe(true);
    expect((await readFile(csv.events.file, 'utf8')).split('\n')[0]).toBe('topic,eventId,userId,entityId,timestamp,msPlayed,durationMs,context,kind,surface');
    expect(await eventsOf(csv.events.file, 'csv')).toEqual(await eventsOf(result.events.file, 'jsonl'));
    expect(csv.snapshots.map((s) => s.id)).toEqual(['s1']);
    expect(csv.cutoff).toBeNull();
  });

  it('by default ends the world at the start of today (UTC), inside the topology’s event-time window', async () => {
    const r = await generateWorldFiles({ out: join(root, 'now'), users: 10, items: 50, dims: 4, events: 200, second: false });
    const now = Date.now();
    expect(r.options.endTime % 86_400_000).toBe(0);
    expect(r.events.to).toBeLessThanOrEqual(now + DEFAULT_EVENT_TIME_WINDOW.maxFutureMs);
    expect(r.events.from).toBeGreaterThan(now - DEFAULT_EVENT_TIME_WINDOW.maxAgeMs);
  });

  it.each([
    [{ events: 0 }, "option 'events' must be an integer ≥ 1, got 0"],
    [{ cutoffShare: 0 }, "option 'cutoffShare' must be a number in (0, 1]"],
    [{ snapshotIds: ['s1', 's1'] as [string, string] }, "option 'snapshotIds' must be two different snapshot ids"],
    [{ users: 0 }, "synthetic world option 'users' must be an integer ≥ 1, got 0"],
    [{ items: 10, clusters: 20 }, "synthetic world option 'entities' must be an integer ≥ clusters (20), got 10"],
  ])('refuses %j with a message naming the option', async (bad, message) => {
    const run = generateWorldFiles({ out: join(root, 'bad'), ...SMALL, ...bad });
    await expect(run).rejects.toThrow(ConfigError);
    await expect(generateWorldFiles({ out: join(root, 'bad'), ...SMALL, ...bad })).rejects.toThrow(message);
  });
});
