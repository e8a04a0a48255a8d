/**
 * Dense vector and small-matrix arithmetic for the user-vector models.
 *
 * Vectors are stored as `Float32Array` (entity and user vectors) or
 * `Float64Array` (accumulators); every reduction here sums in double precision
 * whatever the storage. Matrices are row-major `Float64Array`s of `d × d`.
 *
 * These are primitives: a length mismatch or a matrix that is not positive
 * definite is a bug in the caller, reported with a `RangeError` (as the
 * built-ins do), not a typed domain error.
 */

/** A dense vector in either storage precision. */
export type DenseVector = Float32Array | Float64Array;

function sameLength(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new RangeError(`${what}: vectors of different lengths (${a.length} and ${b.length})`);
}

/** The inner product `a·b`, summed in double precision. Throws `RangeError` when the lengths differ. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  sameLength(a, b, 'dot');
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** The Euclidean length `|a|`. */
/**
 * ⟨q, row⟩ for the row of a row-major matrix that starts at `off`: the inner
 * loop of every search over a snapshot's matrix (exact and HNSW).
 */
export function dotRow(q: Float32Array, m: Float32Array, off: number, dims: number): number {
  // Four accumulators break the add dependency chain.
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const tail = dims & ~3;
  let j = 0;
  for (; j < tail; j += 4) {
    s0 += q[j]! * m[off + j]!;
    s1 += q[j + 1]! * m[off + j + 1]!;
    s2 += q[j + 2]! * m[off + j + 2]!;
    s3 += q[j + 3]! * m[off + j + 3]!;
  }
  for (; j < dims; j++) s0 += q[j]! * m[off + j]!;
  return s0 + s1 + (s2 + s3);
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

/**
 * A new `Float32Array` of unit length in the direction of `a`. The zero vector
 * (and only it) maps to a zero vector: "no signal" stays distinguishable from
 * every direction. `a` is not modified; its values must be finite.
 */
export function normalize(a: ArrayLike<number>): Float32Array {
  const out = new Float32Array(a.length);
  const n = norm(a);
  if (n === 0) return out;
  for (let i = 0; i < a.length; i++) out[i] = a[i]! / n;
  return out;
}

/** Multiplies every element of `v` by `s` in place and returns `v`. */
export function scaleInPlace<V extends DenseVector>(v: V, s: number): V {
  for (let i = 0; i < v.length; i++) v[i] = v[i]! * s;
  return v;
}

/** `y ← y + a·x` in place (BLAS axpy) and returns `y`. Throws `RangeError` when the lengths differ. */
export function axpyInPlace<V extends DenseVector>(y: V, a: number, x: ArrayLike<number>): V {
  sameLength(y, x, 'axpy');
  for (let i = 0; i < y.length; i++) y[i] = y[i]! + a * x[i]!;
  return y;
}

/**
 * The cosine of the angle between `a` and `b`, in `[-1, 1]`; `0` when either is
 * the zero vector (no direction, so no similarity). Throws `RangeError` when the
 * lengths differ.
 */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ab = dot(a, b);
  const na = norm(a);
  const nb = norm(b);
  if (na === 0 || nb === 0) return 0;
  // Rounding can push |cos| a hair past 1 for parallel vectors.
  return Math.max(-1, Math.min(1, ab / (na * nb)));
}

function checkSquare(a: ArrayLike<number>, d: number, what: string): void {
  if (!Number.isInteger(d) || d < 1) throw new RangeError(`${what}: dimension must be a positive integer, got ${d}`);
  if (a.length !== d * d) throw new RangeError(`${what}: expected a ${d}×${d} matrix (${d * d} values), got ${a.length} values`);
}

/**
 * The Cholesky factor of a symmetric positive-definite `d × d` matrix: the
 * lower-triangular `L` with `A = L·Lᵀ`, returned as a new row-major
 * `Float64Array` (upper triangle zero). Only the lower triangle of `a` is read.
 *
 * Throws `RangeError` when `a` is not `d × d`, or when it is not (numerically)
 * positive definite: a pivot that is not a positive finite number.
 */
export function choleskyFactor(a: ArrayLike<number>, d: number): Float64Array {
  checkSquare(a, d, 'choleskyFactor');
  const l = new Float64Array(d * d);
  for (let j = 0; j < d; j++) {
    let diag = a[j * d + j]!;
    for (let k = 0; k < j; k++) diag -= l[j * d + k]! * l[j * d + k]!;
    if (!(diag > 0) || !Number.isFinite(diag)) {
      throw new RangeError(`choleskyFactor: matrix is not positive definite (pivot ${j} is ${diag})`);
    }
    const ljj = Math.sqrt(diag);
    l[j * d + j] = ljj;
    for (let i = j + 1; i < d; i++) {
      let s = a[i * d + j]!;
      for (let k = 0; k < j; k++) s -= l[i * d + k]! * l[j * d + k]!;
      l[i * d + j] = s / ljj;
    }
  }
  return l;
}

/**
 * Solves `L·Lᵀ·x = b` given the factor from {@link choleskyFactor}; returns a
 * new `x`. Throws `RangeError` on mismatched sizes.
 */
export function choleskySolve(l: ArrayLike<number>, b: ArrayLike<number>, d: number): Float64Array {
  checkSquare(l, d, 'choleskySolve');
  if (b.length !== d) throw new RangeError(`choleskySolve: right-hand side has ${b.length} values, expected ${d}`);
  const x = Float64Array.from(b);
  for (let i = 0; i < d; i++) {
    let s = x[i]!;
    for (let k = 0; k < i; k++) s -= l[i * d + k]! * x[k]!;
    x[i] = s / l[i * d + i]!;
  }
  for (let i = d - 1; i >= 0; i--) {
    let s = x[i]!;
    for (let k = i + 1; k < d; k++) s -= l[k * d + i]! * x[k]!;
    x[i] = s / l[i * d + i]!;
  }
  return x;
}

/**
 * Solves `A·x = b` for a symmetric positive-definite `d × d` matrix `A`
 * (row-major) by Cholesky factorisation, in O(d³). Returns a new `x`; neither
 * input is modified. Throws `RangeError` when the sizes do not match or `A` is
 * not positive definite.
 */
export function solveSpd(a: ArrayLike<number>, b: ArrayLike<number>, d: number): Float64Array {
  return choleskySolve(choleskyFactor(a, d), b, d);
}
