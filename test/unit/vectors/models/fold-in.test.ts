import fc from 'fast-check';
import { ConfigError } from '../../../../src/errors';
import { norm, normalize } from '../../../../src/vectors/math';
import { FoldInModel, GramAccumulator, gramMatrix } from '../../../../src/vectors/models/fold-in';
import type { Interaction } from '../../../../src/vectors/signals';
import { entityMatrixArb, gaussSolve, normalEquations, objective, rowOf } from './fixtures';

const N = 50;
const D = 8;
const T0 = 1_700_000_000_000;
const f32 = (...xs: number[]) => Float32Array.from(xs);

const interactionArb = fc.record({
  row: fc.integer({ min: 0, max: N - 1 }),
  weight: fc.constantFrom(1, 0.25, 0.4, -0.5, 2, -2),
  timestamp: fc.integer({ min: T0, max: T0 + 1e9 }),
});

/** A catalogue, a user's interactions with some of it, and the model's parameters. */
const scenarioArb = fc.record({
  // Degenerate catalogues (many near-zero rows) give rank-deficient Gram matrices that only λ keeps solvable.
  y: fc.oneof(entityMatrixArb(N, D), entityMatrixArb(N, D, { degenerate: true })),
  history: fc.array(interactionArb, { minLength: 1, maxLength: 30 }),
  lambda: fc.double({ min: 0.01, max: 5, noNaN: true }),
  alpha: fc.double({ min: 0, max: 40, noNaN: true }),
});

function build(y: Float32Array, history: { row: number; weight: number; timestamp: number }[], lambda: number, alpha: number) {
  const model = new FoldInModel({ gram: gramMatrix(y, N, D), lambda, alpha, maxEntities: N });
  const state = history.reduce(
    (s, h) => model.update(s, { entityId: `e${h.row}`, weight: h.weight, timestamp: h.timestamp }, rowOf(y, D, h.row)),
    model.empty(),
  );
  const net = new Array<number>(N).fill(0);
  for (const h of history) net[h.row]! += h.weight;
  return { model, state, eq: normalEquations(y, N, D, (j) => net[j]!, lambda, alpha) };
}

describe('FoldInModel against the full least-squares problem', () => {
  it('solves the normal equations built explicitly over all entities', () => {
    fc.assert(
      fc.property(scenarioArb, ({ y, history, lambda, alpha }) => {
        const { model, state, eq } = build(y, history, lambda, alpha);
        const direct = gaussSolve(eq.a, eq.b, D);
        const raw = model.solve(state);
        const scale = Math.max(1e-12, ...direct.map(Math.abs));
        direct.forEach((x, i) => expect(Math.abs(raw[i]! - x) / scale).toBeLessThan(1e-4));
        // The direction of x is only defined when Σ cⱼpⱼyⱼ does not cancel to rounding noise
        // (likes of opposite entities); then either sum order may be the better one.
        const bMagnitude = eq.c.reduce((s, c, j) => s + c * eq.p[j]! * Math.hypot(...rowOf(y, D, j)), 0);
        if (Math.hypot(...eq.b) > 1e-9 * bMagnitude) {
          const unit = model.vector(state);
          normalize(direct).forEach((x, i) => expect(Math.abs(unit[i]! - x)).toBeLessThan(1e-4));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('minimises the weighted ridge objective Σ cⱼ(pⱼ − yⱼᵀx)² + λ|x|²: zero gradient, and every nearby point is worse', () => {
    fc.assert(
      fc.property(
        scenarioArb,
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: D, maxLength: D }),
        ({ y, history, lambda, alpha }, direction) => {
          const { model, state, eq } = build(y, history, lambda, alpha);
          const x = model.solve(state);
          const at = objective(y, N, D, eq, lambda, x);
          const bNorm = Math.hypot(...eq.b);
          expect(Math.hypot(...at.gradient)).toBeLessThanOrEqual(1e-8 * Math.max(1, bNorm));
          fc.pre(norm(direction) > 1e-3);
          const step = direction.map((v, i) => x[i]! + 1e-3 * v);
          expect(objective(y, N, D, eq, lambda, step).value).toBeGreaterThan(at.value);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('FoldInModel', () => {
  // Three orthogonal entities and one in between; the Gram is that of the catalogue.
  const catalogue: Record<string, Float32Array> = { a: f32(1, 0, 0), b: f32(0, 1, 0), c: f32(0, 0, 1), ab: f32(1, 1, 0) };
  const gram = Object.values(catalogue)
    .reduce((g, v) => g.add(v), new GramAccumulator(3))
    .result();
  const model = new FoldInModel({ gram, lambda: 0.1, alpha: 2, maxEntities: 3 });
  const act = (state = model.empty(), ...steps: [string, number, number][]) =>
    steps.reduce((s, [id, weight, t]) => model.update(s, { entityId: id, weight, timestamp: T0 + t }, catalogue[id]!), state);

  it('computes the Gram matrix row by row the same as YᵀY at once', () => {
    const y = f32(1, 2, 3, 4, 5, 6);
    // YᵀY of the rows (1,2), (3,4), (5,6).
    expect(Array.from(gramMatrix(y, 3, 2))).toEqual([35, 44, 44, 56]);
    const streamed = new GramAccumulator(2).add(f32(1, 2)).addRows(y.subarray(2), 2);
    expect(streamed.count).toBe(3);
    expect(Array.from(streamed.result())).toEqual([35, 44, 44, 56]);
  });

  it('has no direction without positive signal', () => {
    expect(Array.from(model.vector(model.empty()))).toEqual([0, 0, 0]);
    expect(Array.from(model.vector(act(undefined, ['a', -2, 0], ['b', -0.5, 1])))).toEqual([0, 0, 0]);
  });

  it('points at a single liked entity orthogonal to the rest of the catalogue', () => {
    expect(Array.from(model.vector(act(undefined, ['c', 2, 0])))).toEqual([0, 0, 1]);
  });

  it('aggregates interactions per entity', () => {
    const s = act(undefined, ['a', 1, 0], ['a', 0.5, 5], ['b', -0.5, 3]);
    expect(s.entries.map((e) => [e.entityId, e.weight, e.lastSeen - T0])).toEqual([
      ['a', 1.5, 5],
      ['b', -0.5, 3],
    ]);
    expect(s.count).toBe(3);
  });

  it('treats LIKE then UNLIKE exactly as if the entity was never touched', () => {
    const base = act(undefined, ['a', 1, 0], ['b', 2, 1]);
    const withUnlike = act(structuredClone(base), ['c', 2, 2], ['c', -2, 3]);
    expect(withUnlike.entries).toEqual(base.entries);
    expect(model.vector(withUnlike)).toEqual(model.vector(base));
  });

  it('keeps at most maxEntities, evicting the least recently seen', () => {
    // 'a' is seen again last, so 'b' is the least recent when 'ab' arrives.
    const s = act(undefined, ['a', 1, 0], ['b', 1, 1], ['c', 1, 2], ['a', 1, 3], ['ab', 1, 4]);
    expect(s.entries.map((e) => e.entityId).sort()).toEqual(['a', 'ab', 'c']);
  });

  it('copies entity vectors into its state', () => {
    const v = f32(0, 0, 1);
    const s = model.update(model.empty(), { entityId: 'c', weight: 1, timestamp: T0 }, v);
    v[0] = 9;
    expect(Array.from(s.entries[0]!.vector)).toEqual([0, 0, 1]);
  });

  it('fromHistory equals replaying the history, skipping entities the snapshot lacks', () => {
    const history: Interaction[] = [
      { entityId: 'a', weight: 1, timestamp: T0 },
      { entityId: 'gone', weight: 2, timestamp: T0 + 1 },
      { entityId: 'b', weight: 2, timestamp: T0 + 2 },
      { entityId: 'a', weight: -0.5, timestamp: T0 + 3 },
      { entityId: 'c', weight: 1, timestamp: T0 + 4 },
      { entityId: 'ab', weight: 1, timestamp: T0 + 5 },
    ];
    const rebuilt = model.fromHistory(history, (id) => catalogue[id]);
    const replayed = history.filter((h) => h.entityId !== 'gone').reduce((s, h) => model.update(s, h, catalogue[h.entityId]!), model.empty());
    expect(rebuilt).toEqual(replayed);
    expect(rebuilt.entries).toHaveLength(3);
  });

  it.each<[string, Interaction, Float32Array, RegExp]>([
    ['a vector of the wrong dims', { entityId: 'x', weight: 1, timestamp: T0 }, f32(1, 0), /3 dims: entity 'x' has a vector of 2/],
    ['a NaN weight', { entityId: 'x', weight: NaN, timestamp: T0 }, f32(1, 0, 0), /weight NaN/],
    ['a NaN timestamp', { entityId: 'x', weight: 1, timestamp: NaN }, f32(1, 0, 0), /timestamp NaN; both must be finite/],
  ])('refuses %s and leaves the state as it was', (_label, interaction, vector, message) => {
    const s = act(undefined, ['a', 1, 0]);
    const before = structuredClone(s);
    expect(() => model.update(s, interaction, vector)).toThrow(RangeError);
    expect(() => model.update(s, interaction, vector)).toThrow(message);
    expect(s).toEqual(before);
  });

  const eye2 = Float64Array.from([1, 0, 0, 1]);
  it.each<[string, object, RegExp]>([
    ['a gram that is not square', { gram: new Float64Array(3) }, /'gram' must be a d×d matrix, got 3 values/],
    ['an empty gram', { gram: new Float64Array(0) }, /'gram' must be a d×d matrix, got 0 values/],
    ['a gram of plain numbers', { gram: [1, 0, 0, 1] }, /'gram' must be a Float64Array/],
    ['a non-finite gram', { gram: Float64Array.from([1, NaN, NaN, 1]) }, /'gram' has a non-finite value at \(0, 1\)/],
    ['an asymmetric gram', { gram: Float64Array.from([1, 2, 0, 1]) }, /'gram' is not symmetric at \(0, 1\): 2 vs 0/],
    ['lambda 0', { gram: eye2, lambda: 0 }, /'lambda' must be a finite number > 0, got 0/],
    ['a negative alpha', { gram: eye2, alpha: -1 }, /'alpha' must be a finite number ≥ 0, got -1/],
    ['maxEntities 0', { gram: eye2, maxEntities: 0 }, /'maxEntities' must be an integer ≥ 1, got 0/],
  ])('refuses %s', (_label, options, message) => {
    expect(() => new FoldInModel(options as never)).toThrow(ConfigError);
    expect(() => new FoldInModel(options as never)).toThrow(message);
  });

  it('takes its dims from the Gram matrix', () => {
    expect(new FoldInModel({ gram: eye2 }).dims).toBe(2);
  });
});
