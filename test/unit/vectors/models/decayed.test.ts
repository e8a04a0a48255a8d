import fc from 'fast-check';
import { ConfigError } from '../../../../src/errors';
import { DecayedModel, DEFAULT_TAU_MS } from '../../../../src/vectors/models/decayed';
import type { Interaction } from '../../../../src/vectors/signals';

const TAU = DEFAULT_TAU_MS;
const T0 = 1_700_000_000_000;
const f32 = (...xs: number[]) => Float32Array.from(xs);

/** normalise(Σ wᵢ·exp(−(T−tᵢ)/τ)·vᵢ) in double precision, T the latest time: the closed form of the design. */
function closedForm(events: readonly { weight: number; timestamp: number; vector: Float32Array }[], d: number, tau = TAU): number[] {
  const latest = Math.max(...events.map((e) => e.timestamp));
  const sum = new Array<number>(d).fill(0);
  for (const e of events) {
    const f = e.weight * Math.exp(-(latest - e.timestamp) / tau);
    for (let i = 0; i < d; i++) sum[i] += f * e.vector[i]!;
  }
  const n = Math.hypot(...sum);
  return n === 0 ? sum : sum.map((x) => x / n);
}

const apply = (model: DecayedModel, events: readonly { entityId?: string; weight: number; timestamp: number; vector: Float32Array }[]) =>
  model.vector(events.reduce((s, e) => model.update(s, { entityId: e.entityId ?? 'e', weight: e.weight, timestamp: e.timestamp }, e.vector), model.empty()));

const expectVector = (actual: Float32Array, expected: readonly number[], digits = 6) => {
  expect(actual.length).toBe(expected.length);
  expected.forEach((x, i) => expect(actual[i]).toBeCloseTo(x, digits));
};

describe('DecayedModel', () => {
  const model = new DecayedModel({ dims: 3 });

  it('has no direction without signal', () => {
    expect(Array.from(model.vector(model.empty()))).toEqual([0, 0, 0]);
  });

  it.each<[string, number, number[]]>([
    ['a positive event points at the entity', 2, [0.6, 0.8, 0]],
    ['a negative event points away from it', -0.5, [-0.6, -0.8, 0]],
  ])('%s', (_label, weight, expected) => {
    expectVector(apply(model, [{ weight, timestamp: T0, vector: f32(3, 4, 0) }]), expected);
  });

  it('two events of equal weight at the same time give the normalised sum', () => {
    expectVector(
      apply(model, [
        { weight: 1, timestamp: T0, vector: f32(1, 0, 0) },
        { weight: 1, timestamp: T0, vector: f32(0, 2, 2) },
      ]),
      [1 / Math.sqrt(9), 2 / 3, 2 / 3],
    );
  });

  // The older event's influence is exactly exp(−Δt/τ) of its weight.
  it.each<[string, number, number, number]>([
    ['one τ apart', TAU, 1, 1],
    ['half a τ apart', TAU / 2, 1, 1],
    ['three τ apart, the old one heavier', 3 * TAU, 4, 1],
    ['a day apart, the new one negative', 24 * 3600 * 1000, 2, -0.5],
  ])('the older of two events decays by exp(−Δt/τ): %s', (_label, dt, wOld, wNew) => {
    const oldPart = wOld * Math.exp(-dt / TAU);
    const n = Math.hypot(oldPart, wNew);
    const expected = [oldPart / n, wNew / n, 0];
    const old = { weight: wOld, timestamp: T0, vector: f32(1, 0, 0) };
    const recent = { weight: wNew, timestamp: T0 + dt, vector: f32(0, 1, 0) };
    expectVector(apply(model, [old, recent]), expected);
    // Arriving late changes nothing: the old event is added with its own factor.
    expectVector(apply(model, [recent, old]), expected);
  });

  it('keeps the sum at the latest time when an older event arrives late', () => {
    const s = model.update(model.empty(), { entityId: 'b', weight: 1, timestamp: T0 + TAU }, f32(0, 1, 0));
    model.update(s, { entityId: 'a', weight: 1, timestamp: T0 }, f32(1, 0, 0));
    expect(s.refTime).toBe(T0 + TAU);
    expect(s.count).toBe(2);
    expect(s.sum[0]).toBeCloseTo(Math.exp(-1), 12);
    expect(s.sum[1]).toBe(1);
  });

  it('incremental updates, in any arrival order, equal the closed-form sum', () => {
    const event = (d: number) =>
      fc.record({
        weight: fc.oneof(fc.double({ min: 0.05, max: 3, noNaN: true }), fc.double({ min: -3, max: -0.05, noNaN: true })),
        // Sixty days of activity, several τ.
        timestamp: fc.integer({ min: T0, max: T0 + 60 * 24 * 3600 * 1000 }),
        vector: fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: d, maxLength: d }).map((xs) => Float32Array.from(xs)),
      });
    const scenario = fc.integer({ min: 1, max: 8 }).chain((d) => fc.tuple(fc.constant(d), fc.array(event(d), { minLength: 1, maxLength: 40 })));
    fc.assert(
      fc.property(scenario, ([d, events]) => {
        const m = new DecayedModel({ dims: d });
        const expected = closedForm(events, d);
        // Where likes and dislikes cancel almost exactly the direction is noise; that is no test of the update.
        const latest = Math.max(...events.map((e) => e.timestamp));
        const magnitude = events.reduce((a, e) => a + Math.abs(e.weight) * Math.exp(-(latest - e.timestamp) / TAU) * Math.hypot(...e.vector), 0);
        const sumNorm = (() => {
          const s = new Array<number>(d).fill(0);
          for (const e of events) for (let i = 0; i < d; i++) s[i] += e.weight * Math.exp(-(latest - e.timestamp) / TAU) * e.vector[i]!;
          return Math.hypot(...s);
        })();
        fc.pre(sumNorm > 1e-6 * magnitude);
        const actual = apply(m, events);
        for (let i = 0; i < d; i++) expect(Math.abs(actual[i]! - expected[i]!)).toBeLessThan(1e-5);
      }),
      { numRuns: 300 },
    );
  });

  it('fromHistory equals replaying the history, skipping entities the snapshot lacks', () => {
    const vectors: Record<string, Float32Array> = { a: f32(1, 0, 0), b: f32(0, 1, 0), c: f32(0, 0, 1) };
    const history: Interaction[] = [
      { entityId: 'a', weight: 1, timestamp: T0 },
      { entityId: 'gone', weight: 5, timestamp: T0 + 1000 },
      { entityId: 'b', weight: -0.5, timestamp: T0 + TAU },
      { entityId: 'c', weight: 2, timestamp: T0 + 2 * TAU },
    ];
    const rebuilt = model.fromHistory(history, (id) => vectors[id]);
    const replayed = history.filter((i) => i.entityId !== 'gone').reduce((s, i) => model.update(s, i, vectors[i.entityId]!), model.empty());
    expect(rebuilt).toEqual(replayed);
    expect(rebuilt.count).toBe(3);
    expectVector(
      model.vector(rebuilt),
      closedForm(
        history.filter((i) => i.entityId !== 'gone').map((i) => ({ ...i, vector: vectors[i.entityId]! })),
        3,
      ),
    );
  });

  it('stays finite across decades and forgets what lies far beyond double precision', () => {
    const year = 365 * 24 * 3600 * 1000;
    const s = model.empty();
    model.update(s, { entityId: 'a', weight: 2, timestamp: 0 }, f32(1, 0, 0));
    model.update(s, { entityId: 'b', weight: 1, timestamp: 30 * year }, f32(0, 1, 0));
    // Fifteen hundred τ later: a factor of e^-1500, far under the smallest double.
    model.update(s, { entityId: 'c', weight: -1, timestamp: 10 * year }, f32(0, 0, 1));
    expect(Array.from(s.sum).every(Number.isFinite)).toBe(true);
    expectVector(model.vector(s), [0, 1, 0]);
    // Close in time, the old signal is kept with its exact factor even after a long gap.
    model.update(s, { entityId: 'a', weight: 1, timestamp: 30 * year + TAU }, f32(1, 0, 0));
    const n = Math.hypot(1, Math.exp(-1));
    expectVector(model.vector(s), [1 / n, Math.exp(-1) / n, 0]);
  });

  it('vector() reads the state without changing it', () => {
    const s = model.update(model.empty(), { entityId: 'a', weight: 3, timestamp: T0 }, f32(0, 0, 2));
    const copy = Float64Array.from(s.sum);
    model.vector(s);
    expect(s.sum).toEqual(copy);
  });

  it.each<[string, Interaction, Float32Array, RegExp]>([
    ['a vector of the wrong dims', { entityId: 'x', weight: 1, timestamp: T0 }, f32(1, 0), /entity 'x' has a vector of 2/],
    ['a NaN weight', { entityId: 'x', weight: NaN, timestamp: T0 }, f32(1, 0, 0), /weight NaN .* must be finite/],
    ['an infinite timestamp', { entityId: 'x', weight: 1, timestamp: Infinity }, f32(1, 0, 0), /timestamp Infinity; both must be finite/],
  ])('refuses %s and leaves the state as it was', (_label, interaction, vector, message) => {
    const s = model.update(model.empty(), { entityId: 'a', weight: 1, timestamp: T0 }, f32(1, 0, 0));
    const before = structuredClone(s);
    expect(() => model.update(s, interaction, vector)).toThrow(RangeError);
    expect(() => model.update(s, interaction, vector)).toThrow(message);
    expect(s).toEqual(before);
  });

  it.each<[string, object, RegExp]>([
    ['dims 0', { dims: 0 }, /'dims' must be an integer ≥ 1, got 0/],
    ['fractional dims', { dims: 2.5 }, /'dims' must be an integer/],
    ['tauMs 0', { dims: 2, tauMs: 0 }, /'tauMs' must be a finite number of ms > 0, got 0/],
    ['negative tauMs', { dims: 2, tauMs: -5 }, /'tauMs'.*got -5/],
    ['infinite tauMs', { dims: 2, tauMs: Infinity }, /'tauMs'.*got Infinity/],
  ])('refuses %s', (_label, options, message) => {
    expect(() => new DecayedModel(options as never)).toThrow(ConfigError);
    expect(() => new DecayedModel(options as never)).toThrow(message);
  });
});
