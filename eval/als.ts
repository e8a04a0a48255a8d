/**
 * Implicit-feedback ALS (Hu, Koren, Volinsky 2008), the batch trainer of the
 * evaluation: entity and user factors from net interaction weights. Not on
 * the product's hot path: it makes the snapshots the evaluation serves.
 *
 * For a user u and entity i with net weight w (the sum of the product's
 * signal weights), preference p = 1 if w > 0 else 0 and confidence
 * c = 1 + α·|w|; every other pair has p = 0, c = 1. ALS alternates
 *
 *   x_u = (YᵀY + Σᵢ (c_ui − 1)·yᵢyᵢᵀ + λI)⁻¹ · Σᵢ c_ui·p_ui·yᵢ
 *
 * and the same for the entities given X. Rows are solved by a few
 * conjugate-gradient steps warm-started at the previous value (Takács et al.
 * 2011; what the `implicit` library does) or exactly by Cholesky. After the
 * last sweep the user factors are solved exactly against the final entity
 * factors, so a user factor is the fold-in of that user's data: the product's
 * fold-in model given the same entity factors and interactions returns it.
 *
 * Deterministic: the seed fixes the initial factors; rows are solved in order.
 */
import { choleskyFactor, choleskySolve } from '../src/vectors/math';

export interface AlsOptions {
  /** Latent dimension. */
  factors: number;
  /** Ridge λ on every row. */
  lambda: number;
  /** Confidence slope α. */
  alpha: number;
  /** Sweeps (users then entities). */
  iterations: number;
  seed: number;
  /** Row solver during the sweeps. Default `cg`. */
  solver?: 'cg' | 'exact';
  /** Conjugate-gradient steps per row and sweep. Default 3. */
  cgSteps?: number;
}

/** Net weights per (user, entity), users and entities indexed in first-seen order. */
export interface Interactions {
  readonly users: readonly string[];
  readonly items: readonly string[];
  readonly userIndex: ReadonlyMap<string, number>;
  readonly itemIndex: ReadonlyMap<string, number>;
  /** CSR by user: entries `ptr[u]..ptr[u+1]` of `cols` (entity rows) and `weights` (net weights, never 0). */
  readonly ptr: Int32Array;
  readonly cols: Int32Array;
  readonly weights: Float64Array;
}

/**
 * Aggregates signed weights into net weights per (user, entity). With
 * `negatives` false, pairs whose net weight is negative are dropped (the
 * usual implicit ALS on positive interactions); with true they stay, as
 * p = 0 with extra confidence. Pairs netting to 0 are dropped either way.
 * Users and entities with only dropped pairs are still indexed (a factor of 0
 * signal), so an entity seen only negatively still gets a vector.
 */
export function buildInteractions(events: Iterable<{ userId: string; entityId: string; weight: number }>, options: { negatives: boolean }): Interactions {
  const userIndex = new Map<string, number>();
  const itemIndex = new Map<string, number>();
  const perUser: Map<number, number>[] = [];
  for (const e of events) {
    let u = userIndex.get(e.userId);
    if (u === undefined) {
      u = userIndex.size;
      userIndex.set(e.userId, u);
      perUser.push(new Map());
    }
    let i = itemIndex.get(e.entityId);
    if (i === undefined) {
      i = itemIndex.size;
      itemIndex.set(e.entityId, i);
    }
    if (e.weight === 0) continue;
    const m = perUser[u]!;
    m.set(i, (m.get(i) ?? 0) + e.weight);
  }
  const ptr = new Int32Array(userIndex.size + 1);
  const cols: number[] = [];
  const weights: number[] = [];
  perUser.forEach((m, u) => {
    for (const [i, w] of [...m].sort((a, b) => a[0] - b[0])) {
      if (w > 0 || (w < 0 && options.negatives)) {
        cols.push(i);
        weights.push(w);
      }
    }
    ptr[u + 1] = cols.length;
  });
  return {
    users: [...userIndex.keys()],
    items: [...itemIndex.keys()],
    userIndex,
    itemIndex,
    ptr,
    cols: Int32Array.from(cols),
    weights: Float64Array.from(weights),
  };
}

/** Trained factors: row-major `users × factors` and `items × factors`. */
export interface AlsModel {
  readonly data: Interactions;
  readonly factors: number;
  readonly lambda: number;
  readonly alpha: number;
  readonly userFactors: Float64Array;
  readonly itemFactors: Float64Array;
}

interface Csr {
  ptr: Int32Array;
  cols: Int32Array;
  weights: Float64Array;
}

function transpose(m: Csr, columns: number): Csr {
  const ptr = new Int32Array(columns + 1);
  for (const c of m.cols) ptr[c + 1]!++;
  for (let i = 0; i < columns; i++) ptr[i + 1]! += ptr[i]!;
  const next = Int32Array.from(ptr.subarray(0, columns));
  const cols = new Int32Array(m.cols.length);
  const weights = new Float64Array(m.cols.length);
  for (let r = 0; r + 1 < m.ptr.length; r++) {
    for (let k = m.ptr[r]!; k < m.ptr[r + 1]!; k++) {
      const at = next[m.cols[k]!]!++;
      cols[at] = r;
      weights[at] = m.weights[k]!;
    }
  }
  return { ptr, cols, weights };
}

/** YᵀY of `n` rows of `d` (row-major), full symmetric. */
export function gram(y: Float64Array, n: number, d: number): Float64Array {
  const g = new Float64Array(d * d);
  for (let r = 0; r < n; r++) {
    const o = r * d;
    for (let i = 0; i < d; i++) {
      const yi = y[o + i]!;
      if (yi === 0) continue;
      for (let j = i; j < d; j++) g[i * d + j] = g[i * d + j]! + yi * y[o + j]!;
    }
  }
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) g[j * d + i] = g[i * d + j]!;
  return g;
}

/**
 * Solves one row exactly: (G + λI + Σ (c−1)·yyᵀ)·x = Σ c·p·y over the row's
 * entries (`cols`, net `weights`) in `fixed`, written into `out` at `at`.
 */
export function solveRowExact(
  g: Float64Array,
  fixed: Float64Array,
  d: number,
  cols: ArrayLike<number>,
  weights: ArrayLike<number>,
  from: number,
  to: number,
  lambda: number,
  alpha: number,
  out: Float64Array,
  at: number,
): void {
  const a = Float64Array.from(g);
  for (let i = 0; i < d; i++) a[i * d + i] = a[i * d + i]! + lambda;
  const b = new Float64Array(d);
  let any = false;
  for (let k = from; k < to; k++) {
    const w = weights[k]!;
    const o = cols[k]! * d;
    const extra = alpha * Math.abs(w);
    for (let i = 0; i < d; i++) {
      const s = extra * fixed[o + i]!;
      if (s !== 0) for (let j = 0; j <= i; j++) a[i * d + j] = a[i * d + j]! + s * fixed[o + j]!;
    }
    if (w > 0) {
      any = true;
      for (let i = 0; i < d; i++) b[i] = b[i]! + (1 + extra) * fixed[o + i]!;
    }
  }
  if (!any) {
    out.fill(0, at * d, at * d + d);
    return;
  }
  out.set(choleskySolve(choleskyFactor(a, d), b, d), at * d);
}

/** A few conjugate-gradient steps on the row's normal equations, from its current value in `x` at row `at`. */
function solveRowCg(
  g: Float64Array,
  fixed: Float64Array,
  d: number,
  m: Csr,
  row: number,
  lambda: number,
  alpha: number,
  x: Float64Array,
  steps: number,
  r: Float64Array,
  p: Float64Array,
  ap: Float64Array,
): void {
  const xo = row * d;
  const from = m.ptr[row]!;
  const to = m.ptr[row + 1]!;
  // r = b − A·x
  for (let i = 0; i < d; i++) {
    let s = lambda * x[xo + i]!;
    for (let j = 0; j < d; j++) s += g[i * d + j]! * x[xo + j]!;
    r[i] = -s;
  }
  for (let k = from; k < to; k++) {
    const w = m.weights[k]!;
    const o = m.cols[k]! * d;
    const c = 1 + alpha * Math.abs(w);
    let score = 0;
    for (let i = 0; i < d; i++) score += fixed[o + i]! * x[xo + i]!;
    const f = (w > 0 ? c : 0) - (c - 1) * score;
    for (let i = 0; i < d; i++) r[i] = r[i]! + f * fixed[o + i]!;
  }
  p.set(r);
  let rsOld = 0;
  for (let i = 0; i < d; i++) rsOld += r[i]! * r[i]!;
  for (let step = 0; step < steps && rsOld > 1e-20; step++) {
    for (let i = 0; i < d; i++) {
      let s = lambda * p[i]!;
      for (let j = 0; j < d; j++) s += g[i * d + j]! * p[j]!;
      ap[i] = s;
    }
    for (let k = from; k < to; k++) {
      const o = m.cols[k]! * d;
      const extra = alpha * Math.abs(m.weights[k]!);
      let s = 0;
      for (let i = 0; i < d; i++) s += fixed[o + i]! * p[i]!;
      s *= extra;
      for (let i = 0; i < d; i++) ap[i] = ap[i]! + s * fixed[o + i]!;
    }
    let pap = 0;
    for (let i = 0; i < d; i++) pap += p[i]! * ap[i]!;
    const step_ = rsOld / pap;
    let rsNew = 0;
    for (let i = 0; i < d; i++) {
      x[xo + i] = x[xo + i]! + step_ * p[i]!;
      r[i] = r[i]! - step_ * ap[i]!;
      rsNew += r[i]! * r[i]!;
    }
    const beta = rsNew / rsOld;
    for (let i = 0; i < d; i++) p[i] = r[i]! + beta * p[i]!;
    rsOld = rsNew;
  }
}

function sweep(m: Csr, rows: number, fixed: Float64Array, fixedRows: number, out: Float64Array, d: number, o: Required<AlsOptions>): void {
  const g = gram(fixed, fixedRows, d);
  if (o.solver === 'exact') {
    for (let r = 0; r < rows; r++) solveRowExact(g, fixed, d, m.cols, m.weights, m.ptr[r]!, m.ptr[r + 1]!, o.lambda, o.alpha, out, r);
    return;
  }
  const r_ = new Float64Array(d);
  const p = new Float64Array(d);
  const ap = new Float64Array(d);
  for (let r = 0; r < rows; r++) solveRowCg(g, fixed, d, m, r, o.lambda, o.alpha, out, o.cgSteps, r_, p, ap);
}

/** Trains the factors. @throws RangeError on options out of range. */
export function trainAls(data: Interactions, options: AlsOptions): AlsModel {
  const o: Required<AlsOptions> = { solver: 'cg', cgSteps: 3, ...options };
  const d = o.factors;
  if (!Number.isInteger(d) || d < 1) throw new RangeError(`ALS factors must be an integer ≥ 1, got ${d}`);
  if (!(o.lambda > 0)) throw new RangeError(`ALS lambda must be > 0, got ${o.lambda}`);
  if (!(o.alpha >= 0)) throw new RangeError(`ALS alpha must be ≥ 0, got ${o.alpha}`);
  if (!Number.isInteger(o.iterations) || o.iterations < 1) throw new RangeError(`ALS iterations must be an integer ≥ 1, got ${o.iterations}`);
  const nu = data.users.length;
  const ni = data.items.length;
  const byUser: Csr = { ptr: data.ptr, cols: data.cols, weights: data.weights };
  const byItem = transpose(byUser, ni);
  // Small random start (as `implicit`); a deterministic stream from the seed.
  let s = o.seed >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const x = Float64Array.from({ length: nu * d }, () => (rand() - 0.5) * 0.02);
  const y = Float64Array.from({ length: ni * d }, () => (rand() - 0.5) * 0.02);
  for (let it = 0; it < o.iterations; it++) {
    sweep(byUser, nu, y, ni, x, d, o);
    sweep(byItem, ni, x, nu, y, d, o);
  }
  sweep(byUser, nu, y, ni, x, d, { ...o, solver: 'exact' });
  return { data, factors: d, lambda: o.lambda, alpha: o.alpha, userFactors: x, itemFactors: y };
}

/**
 * The implicit-ALS loss Σ_all c(p − xᵀy)² + λ(|X|² + |Y|²), computed the
 * cheap way (every pair at c = 1, p = 0 through the Gram matrices, then the
 * observed pairs corrected). For tests and diagnostics.
 */
export function alsLoss(m: AlsModel): number {
  const d = m.factors;
  const { data, userFactors: x, itemFactors: y } = m;
  const nu = data.users.length;
  const gy = gram(y, data.items.length, d);
  let loss = 0;
  for (let u = 0; u < nu; u++) {
    const xo = u * d;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) loss += x[xo + i]! * gy[i * d + j]! * x[xo + j]!;
    for (let k = data.ptr[u]!; k < data.ptr[u + 1]!; k++) {
      const w = data.weights[k]!;
      const o = data.cols[k]! * d;
      let score = 0;
      for (let i = 0; i < d; i++) score += x[xo + i]! * y[o + i]!;
      const c = 1 + m.alpha * Math.abs(w);
      const p = w > 0 ? 1 : 0;
      loss += c * (p - score) ** 2 - score * score;
    }
  }
  for (const v of x) loss += m.lambda * v * v;
  for (const v of y) loss += m.lambda * v * v;
  return loss;
}
