import { candidatesAnswer, similarAnswer, userVectorAnswer, userVectorIn } from '../../../src/api/queries';
import { InMemorySnapshotSource, SnapshotCatalog } from '../../../src/vectors/snapshot-catalog';
import type { EntityMatrix } from '../../../src/vectors/snapshot/entity-matrix';
import { applyEvent, newUserState } from '../../../src/vectors/user-state';
import { clusteredSnapshot, manifestOf } from '../topologies/vectors-fixtures';

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + x * b[i]!, 0);

async function spaces() {
  const s1 = clusteredSnapshot('s1', 300, 8, 1);
  const s2 = clusteredSnapshot('s2', 300, 8, 2);
  const catalog = new SnapshotCatalog(
    new InMemorySnapshotSource(
      new Map<string, EntityMatrix>([
        ['s1', s1],
        ['s2', s2],
      ]),
    ),
    { index: 'exact' },
  );
  return { s1: await catalog.ensure(manifestOf(s1)), s2: await catalog.ensure(manifestOf(s2)), m1: s1, m2: s2 };
}

const listen = (n: number, entityId: string) => ({
  eventId: `ev${n}`,
  userId: 'u',
  entityId,
  msPlayed: 200_000,
  durationMs: 200_000,
  context: 'radio',
  timestamp: 1000 + n,
});

describe('query answers', () => {
  it('computes the user vector in the asked snapshot, from the history when the state has none for it, without changing the state', async () => {
    const { s1, s2 } = await spaces();
    const state = newUserState('u');
    for (let i = 0; i < 5; i++) applyEvent(state, listen(i, `e${i * 3}`), [s1]);
    expect(Object.keys(state.spaces)).toEqual(['s1']);
    const in2 = userVectorIn(state, s2);
    expect(Object.keys(state.spaces)).toEqual(['s1']);
    // The same as a state that followed s2 from the start.
    const followed = newUserState('u');
    for (let i = 0; i < 5; i++) applyEvent(followed, listen(i, `e${i * 3}`), [s2]);
    expect(Array.from(in2)).toEqual(Array.from(userVectorIn(followed, s2)));
    expect(Array.from(in2)).not.toEqual(Array.from(userVectorIn(state, s1)));
    expect(userVectorAnswer(state, s2)).toMatchObject({ userId: 'u', snapshotId: 's2', version: 5, eventCount: 5 });
  });

  it('ranks candidates by inner product in one snapshot and leaves out banned and recently consumed entities', async () => {
    const { s1, m1 } = await spaces();
    const state = newUserState('u');
    applyEvent(state, listen(0, 'e0'), [s1]);
    applyEvent(state, { eventId: 'b', userId: 'u', entityId: 'e8', kind: 'BAN', surface: 'home', timestamp: 2000 }, [s1]);
    const u = userVectorIn(state, s1);
    const exact = [...m1]
      .filter((e) => e.entityId !== 'e0' && e.entityId !== 'e8')
      .map((e) => ({ id: e.entityId, s: dot(u, e.vector) }))
      .sort((a, b) => b.s - a.s)
      .slice(0, 20);
    const c = candidatesAnswer(state, s1, 20);
    expect(c).toMatchObject({ userId: 'u', snapshotId: 's1', userVectorVersion: 2 });
    expect(c.items.map((i) => i.entityId)).toEqual(exact.map((e) => e.id));
    for (const [i, item] of c.items.entries()) expect(item.score).toBeCloseTo(exact[i]!.s, 5);
  });

  it('gives an empty list to a user without signal, and none for an unknown entity', async () => {
    const { s1 } = await spaces();
    expect(candidatesAnswer(newUserState('u'), s1, 10).items).toEqual([]);
    expect(similarAnswer(s1, 'no-such-entity', 5)).toBeUndefined();
    const sim = similarAnswer(s1, 'e1', 5)!;
    expect(sim.items).toHaveLength(5);
    expect(sim.items.map((i) => i.entityId)).not.toContain('e1');
  });
});
