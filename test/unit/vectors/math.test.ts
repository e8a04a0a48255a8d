import { axpyInPlace, choleskyFactor, choleskySolve, cosine, dot, norm, normalize, scaleInPlace, solveSpd } from '../../../src/vectors/math';

const f32 = (...xs: number[]) => Float32Array.from(xs);
const f64 = (...xs: number[]) => Float64Array.from(xs);

describe('dot, norm, cosine', () => {
  it.each<[string, Float32Array, Float32Array, number, number]>([
    ['orthogonal', f32(1, 0), f32(0, 2), 0, 0],
    ['parallel', f32(1, 2, 2), f32(2, 4, 4), 18, 1],
    ['opposite', f32(3, 4), f32(-6, -8), -50, -1],
    ['at 60 degrees', f32(1, 0), f32(0.5, Math.sqrt(3) / 2), 0.5, 0.5],
    ['with a zero vector', f32(0, 0, 0), f32(1, 2, 3), 0, 0],
  ])('%s', (_label, a, b, expectedDot, expectedCos) => {
    expect(dot(a, b)).toBeCloseTo(expectedDot, 5);
    expect(cosine(a, b)).toBeCloseTo(expectedCos, 6);
    expect(cosine(b, a)).toBeCloseTo(expectedCos, 6);
  });

  it.each<[Float32Array, number]>([
    [f32(3, 4), 5],
    [f32(0, 0), 0],
    [f32(-2), 2],
    [f32(1, 2, 2), 3],
  ])('norm(%p) is %p', (v, expected) => {
    expect(norm(v)).toBeCloseTo(expected, 6);
  });

  it('refuses vectors of different lengths', () => {
    expect(() => dot(f32(1, 2), f32(1))).toThrow(RangeError);
    expect(() => cosine(f32(1, 2), f32(1, 2, 3))).toThrow(/different lengths \(2 and 3\)/);
  });
});

describe('normalize', () => {
  it.each<[string, Float64Array | Float32Array, number[]]>([
    ['3-4-5', f64(3, 4), [0.6, 0.8]],
    ['negative', f32(0, -2, 0), [0, -1, 0]],
    ['already unit', f32(1, 0), [1, 0]],
    ['zero stays zero', f32(0, 0, 0), [0, 0, 0]],
    ['tiny but non-zero', f64(1e-30, 0), [1, 0]],
  ])('%s', (_label, input, expected) => {
    const before = Array.from(input);
    const out = normalize(input);
    expect(out).toBeInstanceOf(Float32Array);
    expect(out).not.toBe(input);
    expect(Array.from(input)).toEqual(before);
    expected.forEach((x, i) => expect(out[i]).toBeCloseTo(x, 6));
  });
});

describe('in-place updates', () => {
  it('scaleInPlace scales and returns the same array', () => {
    const v = f64(1, -2, 3);
    expect(scaleInPlace(v, -0.5)).toBe(v);
    expect(Array.from(v)).toEqual([-0.5, 1, -1.5]);
  });

  it.each<[number[], number, number[], number[]]>([
    [[1, 1], 2, [3, -1], [7, -1]],
    [[0, 0, 0], -1, [1, 2, 3], [-1, -2, -3]],
    [[5], 0, [100], [5]],
  ])('axpyInPlace(%p, %p, %p) = %p', (y, a, x, expected) => {
    const target = Float64Array.from(y);
    expect(axpyInPlace(target, a, Float32Array.from(x))).toBe(target);
    expect(Array.from(target)).toEqual(expected);
  });

  it('axpyInPlace refuses mismatched lengths without touching y', () => {
    const y = f64(1, 2);
    expect(() => axpyInPlace(y, 1, f32(1))).toThrow(RangeError);
    expect(Array.from(y)).toEqual([1, 2]);
  });
});

describe('Cholesky', () => {
  // prettier-ignore
  const classic = f64(
      4,  12, -16,
     12,  37, -43,
    -16, -43,  98,
  );

  it('factors a known matrix into its known L', () => {
    // prettier-ignore
    expect(Array.from(choleskyFactor(classic, 3))).toEqual([
       2, 0, 0,
       6, 1, 0,
      -8, 5, 3,
    ]);
  });

  it.each<[string, Float64Array, number, number[]]>([
    ['1×1', f64(4), 1, [2]],
    ['identity', f64(1, 0, 0, 1), 2, [3, -7]],
    ['2×2', f64(2, 1, 1, 3), 2, [1, -1]],
    ['3×3 classic', classic, 3, [1, 2, 3]],
    ['3×3 with a negative solution', classic, 3, [-0.5, 4, 0.25]],
  ])('solveSpd solves the %s system with a known solution', (_label, a, d, x) => {
    const b = new Float64Array(d);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) b[i] = b[i]! + a[i * d + j]! * x[j]!;
    const solved = solveSpd(a, b, d);
    x.forEach((xi, i) => expect(solved[i]).toBeCloseTo(xi, 10));
  });

  it('choleskySolve reuses a factor for several right-hand sides', () => {
    const l = choleskyFactor(classic, 3);
    expect(Array.from(choleskySolve(l, f64(-20, -43, 192), 3)).map((v) => Math.round(v * 1e9) / 1e9)).toEqual([1, 2, 3]);
    expect(Array.from(choleskySolve(l, f64(4, 12, -16), 3)).map((v) => Math.round(v * 1e9) / 1e9)).toEqual([1, 0, 0]);
  });

  it.each<[string, () => unknown, RegExp]>([
    ['an indefinite matrix', () => choleskyFactor(f64(1, 2, 2, 1), 2), /not positive definite \(pivot 1/],
    ['a singular matrix', () => choleskyFactor(f64(1, 1, 1, 1), 2), /not positive definite/],
    ['a negative diagonal', () => choleskyFactor(f64(-1), 1), /pivot 0 is -1/],
    ['a NaN', () => choleskyFactor(f64(NaN), 1), /not positive definite/],
    ['a matrix of the wrong size', () => choleskyFactor(f64(1, 0, 0), 2), /expected a 2×2 matrix \(4 values\), got 3/],
    ['a right-hand side of the wrong size', () => solveSpd(f64(1, 0, 0, 1), f64(1), 2), /right-hand side has 1 values, expected 2/],
    ['dimension 0', () => solveSpd(f64(), f64(), 0), /positive integer/],
  ])('refuses %s', (_label, run, message) => {
    expect(run).toThrow(RangeError);
    expect(run).toThrow(message);
  });
});
