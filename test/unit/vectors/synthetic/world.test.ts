import { ConfigError } from '../../../../src/errors';
import { norm } from '../../../../src/vectors/math';
import { interactionOf } from '../../../../src/vectors/signals';
import { generateWorld, retrainedSpace, worldMatrix, type WorldEvent } from '../../../../src/vectors/synthetic/world';

const SMALL = { users: 120, entities: 400, clusters: 8, dims: 8, sessionsPerUser: 6 };

const kindOf = (e: WorldEvent) => ('kind' in e ? e.kind : e.msPlayed >= 0.8 * e.durationMs ? 'full' : e.msPlayed < 0.1 * e.durationMs ? 'skip' : 'partial');

describe('generateWorld', () => {
  const world = generateWorld({ seed: 3, ...SMALL });

  it('is a pure function of its options: the same seed gives the same world, another seed another', () => {
    const again = generateWorld({ seed: 3, ...SMALL });
    expect(again.events).toEqual(world.events);
    expect(again.vectors).toEqual(world.vectors);
    expect(generateWorld({ seed: 4, ...SMALL }).events).not.toEqual(world.events);
  });

  it('yields product events in time order, with unique ids, that the product accepts', () => {
    for (let i = 1; i < world.events.length; i++) expect(world.events[i]!.timestamp).toBeGreaterThanOrEqual(world.events[i - 1]!.timestamp);
    expect(new Set(world.events.map((e) => e.eventId)).size).toBe(world.events.length);
    const entities = new Set(world.entityIds);
    for (const e of world.events) {
      expect(entities.has(e.entityId)).toBe(true);
      expect(() => interactionOf(e)).not.toThrow();
    }
    expect(new Set(world.events.map((e) => e.userId)).size).toBe(SMALL.users);
  });

  it('has every kind of signal, mostly full listens, and a popularity that is heavy at the head', () => {
    const kinds = new Map<string, number>();
    for (const e of world.events) kinds.set(kindOf(e), (kinds.get(kindOf(e)) ?? 0) + 1);
    for (const k of ['full', 'partial', 'skip', 'LIKE', 'DISLIKE', 'BAN']) expect(kinds.get(k) ?? 0).toBeGreaterThan(0);
    expect(kinds.get('full')!).toBeGreaterThan(world.events.length * 0.3);
    const plays = new Map<string, number>();
    for (const e of world.events) if (!('kind' in e)) plays.set(e.entityId, (plays.get(e.entityId) ?? 0) + 1);
    const sorted = [...plays.values()].sort((a, b) => b - a);
    expect(sorted[0]!).toBeGreaterThan(5 * sorted[Math.floor(sorted.length / 2)]!);
    expect(world.popularity.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('gives unit entity vectors, and a snapshot matrix of them', () => {
    for (let e = 0; e < world.entityIds.length; e++) expect(norm(world.vectors.subarray(e * world.dims, (e + 1) * world.dims))).toBeCloseTo(1, 5);
    const m = worldMatrix(world, 'truth');
    expect(m.count).toBe(SMALL.entities);
    expect(Array.from(m.vectorOf('e7')!)).toEqual(Array.from(world.vectors.subarray(7 * world.dims, 8 * world.dims)));
  });

  it('never plays a banned entity to the user again', () => {
    const bannedAt = new Map<string, number>();
    for (const e of world.events) {
      const key = `${e.userId}/${e.entityId}`;
      if ('kind' in e && e.kind === 'BAN') bannedAt.set(key, e.timestamp);
      else if (!('kind' in e) && bannedAt.has(key)) throw new Error(`${key} played after its ban`);
    }
    expect(bannedAt.size).toBeGreaterThan(0);
  });

  it('moves tastes between clusters over time when drift is on', () => {
    // Share of users whose most played cluster differs between the first and the second half of their plays.
    const changed = (drift: number) => {
      const w = generateWorld({ seed: 5, ...SMALL, sessionsPerUser: 12, drift });
      const plays = new Map<string, number[]>();
      for (const e of w.events)
        if (!('kind' in e)) (plays.get(e.userId) ?? plays.set(e.userId, []).get(e.userId)!).push(w.clusterOf[Number(e.entityId.slice(1))]!);
      const top = (cs: number[]) => {
        const n = new Map<number, number>();
        for (const c of cs) n.set(c, (n.get(c) ?? 0) + 1);
        return [...n].sort((a, b) => b[1] - a[1])[0]![0];
      };
      let moved = 0;
      let users = 0;
      for (const cs of plays.values()) {
        if (cs.length < 20) continue;
        users++;
        if (top(cs.slice(0, cs.length >> 1)) !== top(cs.slice(cs.length >> 1))) moved++;
      }
      return moved / users;
    };
    expect(changed(0.5)).toBeGreaterThan(changed(0) + 0.15);
  });

  it.each<[string, object, RegExp]>([
    ['fewer entities than clusters', { entities: 3, clusters: 4 }, /'entities' must be an integer ≥ clusters \(4\), got 3/],
    ['a drift above 1', { drift: 1.5 }, /'drift' must be a number in \[0, 1\], got 1.5/],
    ['a seed that is not an integer', { seed: 0.5 }, /'seed' must be a safe integer/],
  ])('refuses %s', (_label, options, message) => {
    expect(() => generateWorld(options)).toThrow(ConfigError);
    expect(() => generateWorld(options)).toThrow(message);
  });
});

describe('generateWorld for the generator (skip feedback, tastes at a cut-off, a retrained space)', () => {
  const base = generateWorld({ seed: 6, ...SMALL });

  it('reports a share of skips as feedback SKIP and changes nothing else', () => {
    const w = generateWorld({ seed: 6, ...SMALL, skipFeedback: 0.5 });
    expect(w.events.length).toBe(base.events.length);
    const changed = base.events.map((e, i) => [e, w.events[i]!] as const).filter(([a, b]) => JSON.stringify(a) !== JSON.stringify(b));
    const skips = base.events.filter((e) => kindOf(e) === 'skip').length;
    expect(changed.length).toBeGreaterThan(skips * 0.3);
    expect(changed.length).toBeLessThan(skips * 0.7);
    for (const [a, b] of changed) {
      expect(kindOf(a)).toBe('skip');
      expect(b).toEqual({ eventId: a.eventId, userId: a.userId, entityId: a.entityId, kind: 'SKIP', surface: 'synthetic', timestamp: a.timestamp });
      expect(interactionOf(b)!.weight).toBe(interactionOf(a)!.weight);
    }
  });

  it('records the tastes at a time without changing the events: unit vectors for the users who played by then', () => {
    const at = base.events[Math.floor(base.events.length / 2)]!.timestamp;
    const w = generateWorld({ seed: 6, ...SMALL, tastesAt: at });
    expect(w.events).toEqual(base.events);
    const active = new Set(base.events.filter((e) => e.timestamp <= at).map((e) => e.userId));
    w.userIds.forEach((u, i) => {
      expect(w.tastes!.known[i] === 1).toBe(active.has(u));
      const v = w.tastes!.vectors.subarray(i * w.dims, (i + 1) * w.dims);
      expect(norm(v)).toBeCloseTo(active.has(u) ? 1 : 0, 5);
    });
  });

  it('places the entities of a retrained space elsewhere, keeping inner products up to the noise', () => {
    const space = retrainedSpace(base, { seed: 2, noise: 0 });
    const d = base.dims;
    const a = base.vectors.subarray(0, d);
    const b = base.vectors.subarray(d, 2 * d);
    const dot = (x: ArrayLike<number>, y: ArrayLike<number>) => Array.from(x).reduce((s, v, i) => s + v * y[i]!, 0);
    expect(dot(space.vectors.subarray(0, d), space.vectors.subarray(d, 2 * d))).toBeCloseTo(dot(a, b), 5);
    expect(dot(space.map(a), space.vectors.subarray(d, 2 * d))).toBeCloseTo(dot(a, b), 5);
    expect(Math.abs(dot(a, space.vectors.subarray(0, d)))).toBeLessThan(0.99);
    expect(retrainedSpace(base, { seed: 2 }).vectors).toEqual(retrainedSpace(base, { seed: 2 }).vectors);
  });
});
