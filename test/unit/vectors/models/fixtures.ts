/** Shared by the model tests: generators and an independent reference for the fold-in normal equations. */
import fc from 'fast-check';

/**
 * `n` random vectors of `d` dims, row-major, with values uniform in [-1, 1].
 * (`fc.double` is uniform over representable doubles, so mostly tiny values,
 * and biased towards 0: most rows would be near-zero vectors.) `degenerate`
 * uses it on purpose, for tests that want such catalogues.
 */
export const entityMatrixArb = (n: number, d: number, options: { degenerate?: boolean } = {}): fc.Arbitrary<Float32Array> => {
  const values = options.degenerate
    ? fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: n * d, maxLength: n * d })
    : fc.noBias(
        fc.array(
          fc.integer({ min: -1_000_000, max: 1_000_000 }).map((i) => i / 1_000_000),
          { minLength: n * d, maxLength: n * d },
        ),
      );
  return values.map((xs) => Float32Array.from(xs));
};

export const rowOf = (m: Float32Array, d: number, i: number): Float32Array => m.subarray(i * d, (i + 1) * d);

/** Solves A·x = b by Gaussian elimination with partial pivoting: deliberately not the Cholesky under test. */
export function gaussSolve(a: ArrayLike<number>, b: ArrayLike<number>, d: number): number[] {
  const m = Array.from({ length: d }, (_, i) => [...Array.from({ length: d }, (_, j) => a[i * d + j]!), b[i]!]);
  for (let col = 0; col < d; col++) {
    let pivot = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    for (let r = col + 1; r < d; r++) {
      const f = m[r]![col]! / m[col]![col]!;
      for (let c = col; c <= d; c++) m[r]![c]! -= f * m[col]![c]!;
    }
  }
  const x = new Array<number>(d).fill(0);
  for (let r = d - 1; r >= 0; r--) {
    let s = m[r]![d]!;
    for (let c = r + 1; c < d; c++) s -= m[r]![c]! * x[c]!;
    x[r] = s / m[r]![r]!;
  }
  return x;
}

export interface NormalEquations {
  /** Σⱼ cⱼ·yⱼyⱼᵀ + λI over ALL n entities, d × d row-major. */
  a: number[];
  /** Σⱼ cⱼ·pⱼ·yⱼ. */
  b: number[];
  c: number[];
  p: number[];
}

/**
 * The implicit-ALS normal equations built the long way: one confidence and one
 * preference per entity of the catalogue (c = 1, p = 0 where the user did
 * nothing), no Gram matrix, no shortcut.
 */
export function normalEquations(y: Float32Array, n: number, d: number, netWeight: (row: number) => number, lambda: number, alpha: number): NormalEquations {
  const a = new Array<number>(d * d).fill(0);
  const b = new Array<number>(d).fill(0);
  const c: number[] = [];
  const p: number[] = [];
  for (let j = 0; j < n; j++) {
    const w = netWeight(j);
    c.push(1 + alpha * Math.abs(w));
    p.push(w > 0 ? 1 : 0);
    for (let r = 0; r < d; r++) {
      b[r]! += c[j]! * p[j]! * y[j * d + r]!;
      for (let s = 0; s < d; s++) a[r * d + s]! += c[j]! * y[j * d + r]! * y[j * d + s]!;
    }
  }
  for (let r = 0; r < d; r++) a[r * d + r]! += lambda;
  return { a, b, c, p };
}

/** The weighted ridge objective Σⱼ cⱼ(pⱼ − yⱼᵀx)² + λ|x|² and its gradient. */
export function objective(
  y: Float32Array,
  n: number,
  d: number,
  eq: NormalEquations,
  lambda: number,
  x: ArrayLike<number>,
): { value: number; gradient: number[] } {
  let value = 0;
  const gradient = new Array<number>(d).fill(0);
  for (let j = 0; j < n; j++) {
    let score = 0;
    for (let r = 0; r < d; r++) score += y[j * d + r]! * x[r]!;
    const residual = score - eq.p[j]!;
    value += eq.c[j]! * residual * residual;
    for (let r = 0; r < d; r++) gradient[r]! += 2 * eq.c[j]! * residual * y[j * d + r]!;
  }
  for (let r = 0; r < d; r++) {
    value += lambda * x[r]! * x[r]!;
    gradient[r]! += 2 * lambda * x[r]!;
  }
  return { value, gradient };
}
