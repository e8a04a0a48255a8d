import fc from 'fast-check';
import { ConfigError } from '../../../../src/errors';
import { cosine, normalize } from '../../../../src/vectors/math';
import { FoldInModel, gramMatrix } from '../../../../src/vectors/models/fold-in';
import { LifetimeModel, type LifetimeVariant } from '../../../../src/vectors/models/lifetime';
import type { Interaction } from '../../../../src/vectors/signals';
import { entityMatrixArb, gaussSolve, rowOf } from './fixtures';

const N = 40;
const D = 6;
const T0 = 1_700_000_000_000;

const interactionArb = fc.record({
  row: fc.integer({ min: 0, max: N - 1 }),
  weight: fc.constantFrom(1, 0.25, -0.5, 2, -2),
  timestamp: fc.integer({ min: T0, max: T0 + 1e6 }),
});

const scenarioArb = fc.record({
  y: entityMatrixArb(N, D),
  x0: fc.array(
    fc.integer({ min: -1000, max: 1000 }).map((i) => i / 500),
    { minLength: D, maxLength: D },
  ),
  history: fc.array(interactionArb, { minLength: 0, maxLength: 25 }),
  priorWeight: fc.constantFrom(0.01, 0.1, 1, 10),
  alpha: fc.constantFrom(0, 1, 10, 40),
  variant: fc.constantFrom<LifetimeVariant>('anchored', 'ridge'),
});

const toInteraction = (h: { row: number; weight: number; timestamp: number }): Interaction => ({
  entityId: `e${h.row}`,
  weight: h.weight,
  timestamp: h.timestamp,
});

/**
 * The system the model must solve, built the long way, over every entity of
 * the catalogue: (Σⱼ cⱼyⱼyⱼᵀ + λₚI)·u = prior + Σⱼ cⱼpⱼyⱼ, with c = 1, p = 0
 * for an entity without events after the cut-off.
 */
function reference(
  y: Float32Array,
  x0: number[],
  history: { row: number; weight: number }[],
  priorWeight: number,
  alpha: number,
  variant: LifetimeVariant,
): number[] {
  const net = new Array<number>(N).fill(0);
  for (const h of history) net[h.row]! += h.weight;
  const a = new Array<number>(D * D).fill(0);
  const b = new Array<number>(D).fill(0);
  const a0x0 = new Array<number>(D).fill(0);
  for (let j = 0; j < N; j++) {
    const c = 1 + alpha * Math.abs(net[j]!);
    const yj = rowOf(y, D, j);
    let score0 = 0;
    for (let r = 0; r < D; r++) score0 += yj[r]! * x0[r]!;
    for (let r = 0; r < D; r++) {
      if (net[j]! > 0) b[r]! += c * yj[r]!;
      a0x0[r]! += yj[r]! * score0;
      for (let s = 0; s < D; s++) a[r * D + s]! += c * yj[r]! * yj[s]!;
    }
  }
  for (let r = 0; r < D; r++) {
    a[r * D + r]! += priorWeight;
    b[r]! += priorWeight * x0[r]! + (variant === 'anchored' ? a0x0[r]! : 0);
  }
  return gaussSolve(a, b, D);
}

describe('LifetimeModel', () => {
  it('solves (A₀ + Σ(cᵢ−1)yᵢyᵢᵀ)·u = prior + Σcᵢpᵢyᵢ over the events after the cut-off, both variants', () => {
    fc.assert(
      fc.property(scenarioArb, ({ y, x0, history, priorWeight, alpha, variant }) => {
        const model = new LifetimeModel({ gram: gramMatrix(y, N, D), priorWeight, alpha, variant, maxEntities: N });
        const state = model.fromHistoryAround(x0, null, history.map(toInteraction), (id) => rowOf(y, D, Number(id.slice(1))));
        const u = model.solve(state);
        // No entity with a net weight: x₀ itself (see the next test).
        fc.pre(state.recent.entries.length > 0);
        const want = reference(y, Array.from(Float32Array.from(x0)), history, priorWeight, alpha, variant);
        const scale = Math.max(1e-9, ...want.map(Math.abs));
        want.forEach((w, i) => expect(Math.abs(u[i]! - w) / scale).toBeLessThan(1e-5));
      }),
      { numRuns: 80 },
    );
  });

  it('answers x₀ exactly, unnormalised, for a user without events after the cut-off (both variants)', () => {
    fc.assert(
      fc.property(scenarioArb, ({ y, x0, history, priorWeight, alpha, variant }) => {
        const model = new LifetimeModel({ gram: gramMatrix(y, N, D), priorWeight, alpha, variant });
        // Every interaction at or before the cut-off is already in x₀.
        const cutoff = T0 + 1e6;
        const state = model.fromHistoryAround(x0, cutoff, history.map(toInteraction), (id) => rowOf(y, D, Number(id.slice(1))));
        expect(state.recent.entries).toEqual([]);
        expect(Array.from(model.solve(state))).toEqual(Array.from(Float32Array.from(x0)));
        expect(model.vector(state)).toEqual(normalize(Float32Array.from(x0)));
      }),
      { numRuns: 30 },
    );
  });

  // Two clusters of entities: 'a*' along the first axis, 'b*' along the second; the user's lifetime taste is cluster a.
  const catalogue: Record<string, Float32Array> = {};
  for (let i = 0; i < 10; i++) {
    catalogue[`a${i}`] = Float32Array.from([1, 0.1 * (i % 3), 0.05 * i]);
    catalogue[`b${i}`] = Float32Array.from([0.1 * (i % 3), 1, -0.05 * i]);
  }
  const y = Float32Array.from(Object.values(catalogue).flatMap((v) => [...v]));
  const gram = gramMatrix(y, 20, 3);
  // x₀: the fold-in of four listens in cluster a, as a batch trainer would give it.
  const batch = new FoldInModel({ gram, lambda: 0.1 });
  const x0 = batch.solve(
    batch.fromHistory(
      ['a0', 'a1', 'a2', 'a3'].map((id, t) => ({ entityId: id, weight: 1, timestamp: T0 + t })),
      (id) => catalogue[id],
    ),
  );
  const listen = (id: string, t: number): Interaction => ({ entityId: id, weight: 1, timestamp: T0 + 100 + t });

  it.each<LifetimeVariant>(['anchored', 'ridge'])('moves towards the entities of new events, the further the more there are (%s)', (variant) => {
    const model = new LifetimeModel({ gram, priorWeight: 1, alpha: 10, variant });
    // Events cycle over b0, b1, b2: their centre is where the user is heading.
    const centre = [0, 1, 2].map((i) => catalogue.b0![i]! + catalogue.b1![i]! + catalogue.b2![i]!);
    const towardsB = (events: number) => {
      const state = model.fromHistoryAround(
        x0,
        T0 + 50,
        Array.from({ length: events }, (_, i) => listen(`b${i % 3}`, i)),
        (id) => catalogue[id],
      );
      return cosine(model.solve(state), centre);
    };
    const base = cosine(x0, centre);
    expect(towardsB(1)).toBeGreaterThan(variant === 'anchored' ? base : -1);
    expect(towardsB(3)).toBeGreaterThan(towardsB(1));
    expect(towardsB(8)).toBeGreaterThan(towardsB(3));
  });

  it('keeps the lifetime taste after a new event, the ridge variant less than the anchored one', () => {
    const afterOne = (variant: LifetimeVariant) => {
      const model = new LifetimeModel({ gram, priorWeight: 1, alpha: 10, variant });
      return cosine(model.solve(model.fromHistoryAround(x0, null, [listen('b0', 0)], (id) => catalogue[id])), catalogue.a1!);
    };
    expect(afterOne('anchored')).toBeGreaterThan(0.5);
    expect(afterOne('ridge')).toBeGreaterThan(0);
    expect(afterOne('ridge')).toBeLessThan(afterOne('anchored'));
  });

  it('weighs the lifetime taste more with a larger prior weight', () => {
    const moved = (priorWeight: number) => {
      const model = new LifetimeModel({ gram, priorWeight, alpha: 10, variant: 'ridge' });
      return cosine(model.solve(model.fromHistoryAround(x0, null, [listen('b1', 0), listen('b2', 1)], (id) => catalogue[id])), x0);
    };
    expect(moved(100)).toBeGreaterThan(moved(1));
    expect(moved(1)).toBeGreaterThan(moved(0.01));
  });

  it('moves away from an entity of x₀ on negative feedback', () => {
    const model = new LifetimeModel({ gram, priorWeight: 1, alpha: 10 });
    const after = model.solve(model.fromHistoryAround(x0, null, [{ entityId: 'a2', weight: -2, timestamp: T0 + 200 }], (id) => catalogue[id]));
    let before = 0;
    let now = 0;
    for (let i = 0; i < 3; i++) {
      before += x0[i]! * catalogue.a2![i]!;
      now += after[i]! * catalogue.a2![i]!;
    }
    expect(now).toBeLessThan(before);
  });

  it('is the plain fold-in with λ = λₚ for a user the batch did not know', () => {
    const model = new LifetimeModel({ gram, priorWeight: 0.3, alpha: 10 });
    const foldIn = new FoldInModel({ gram, lambda: 0.3, alpha: 10 });
    const history = [listen('a1', 0), listen('b3', 1), { entityId: 'b4', weight: -0.5, timestamp: T0 + 300 }];
    expect(model.solve(model.fromHistory(history, (id) => catalogue[id]))).toEqual(foldIn.solve(foldIn.fromHistory(history, (id) => catalogue[id])));
  });

  it('keeps the UserModel contract: fromHistory and fromHistoryAround equal folding update, unknown entities skipped', () => {
    const model = new LifetimeModel({ gram, priorWeight: 1 });
    const history: Interaction[] = [
      listen('a1', 0),
      { entityId: 'gone', weight: 1, timestamp: T0 + 101 },
      listen('b2', 2),
      { entityId: 'a1', weight: -0.5, timestamp: T0 + 103 },
    ];
    const known = history.filter((h) => h.entityId !== 'gone');
    expect(model.fromHistory(history, (id) => catalogue[id])).toEqual(known.reduce((s, h) => model.update(s, h, catalogue[h.entityId]!), model.empty()));
    expect(model.fromHistoryAround(x0, T0 + 101, history, (id) => catalogue[id])).toEqual(
      known.reduce((s, h) => model.update(s, h, catalogue[h.entityId]!), model.around(x0, T0 + 101)),
    );
    // Only the two interactions after the cut-off were folded in.
    expect(model.fromHistoryAround(x0, T0 + 101, history, (id) => catalogue[id]).recent.count).toBe(2);
  });

  it('answers x₀ again when the new events cancel out (a LIKE, then an UNLIKE)', () => {
    const model = new LifetimeModel({ gram, variant: 'ridge' });
    const state = model.fromHistoryAround(
      x0,
      null,
      [
        { entityId: 'b1', weight: 2, timestamp: T0 + 1 },
        { entityId: 'b1', weight: -2, timestamp: T0 + 2 },
      ],
      (id) => catalogue[id],
    );
    expect(Array.from(model.solve(state))).toEqual(Array.from(Float32Array.from(x0)));
  });

  it('copies x₀ into the state and returns unit vectors from vector()', () => {
    const model = new LifetimeModel({ gram });
    const mine = Float32Array.from([3, 4, 0]);
    const state = model.around(mine);
    mine[0] = 100;
    expect(Array.from(model.solve(state))).toEqual([3, 4, 0]);
    expect(Array.from(model.vector(state))).toEqual([Math.fround(0.6), Math.fround(0.8), 0]);
  });

  it.each<[string, object, RegExp]>([
    ['priorWeight 0', { gram: gramMatrix(y, 20, 3), priorWeight: 0 }, /'priorWeight' must be a finite number > 0, got 0/],
    ['an unknown variant', { gram: gramMatrix(y, 20, 3), variant: 'loose' }, /'variant' must be 'anchored' or 'ridge', got 'loose'/],
    ['a gram that is not square', { gram: new Float64Array(3) }, /'gram' must be a d×d matrix/],
  ])('refuses %s', (_label, options, message) => {
    expect(() => new LifetimeModel(options as never)).toThrow(ConfigError);
    expect(() => new LifetimeModel(options as never)).toThrow(message);
  });

  it('refuses a lifetime factor of the wrong dims', () => {
    expect(() => new LifetimeModel({ gram }).around([1, 2])).toThrow(/3 dims: lifetime factor has 2 values/);
  });
});

describe('FoldInModel.solve with a prior term', () => {
  it('adds the prior to the right-hand side, and solves even without positive signal', () => {
    const gram = gramMatrix(Float32Array.from([1, 0, 0, 1, 1, 1]), 3, 2);
    const model = new FoldInModel({ gram, lambda: 0.5, alpha: 2 });
    const state = model.update(model.empty(), { entityId: 'x', weight: -1, timestamp: T0 }, Float32Array.from([1, 0]));
    // A = YᵀY + λI + 2·(1,0)(1,0)ᵀ = [[4.5, 1], [1, 2.5]]; b = (1, 2).
    const u = model.solve(state, [1, 2]);
    const want = gaussSolve([4.5, 1, 1, 2.5], [1, 2], 2);
    want.forEach((w, i) => expect(u[i]!).toBeCloseTo(w, 12));
    expect(Array.from(model.solve(state))).toEqual([0, 0]);
    expect(() => model.solve(state, [1])).toThrow(/prior term has 1 values/);
  });
});
