// A float64 reference for CRPS at ±Inf inputs and for the NaN/Inf rules of the mean and the
// gradients, written from the definitions and independent of the kernels' case analysis
// (native/math/crps_math.h scoreLimit).  An infinite input is replaced by offset + slope·L with
// L → ∞ along several fixed paths; the pairwise definition S − c·H/… is evaluated exactly as a
// pair (finite part, coefficient of L) per path.  The limit is +∞ when the coefficient is > 0 on
// every path, the common finite part when it is 0 on every path and the finite parts agree, and
// undefined (NaN) otherwise.  Points with finite inputs are exact (exactPoint).
import type { CrpsArgs } from './api';
import {
  memberIndex,
  pairStats,
  type PairStats,
  type Policy,
  type RefInput,
  type RefOptions,
  type RefResult,
} from './crps-reference';

/** x = a + b·L. */
type Dual = [number, number];

const dualAbs = ([a, b]: Dual): Dual => (b > 0 || (b === 0 && a >= 0) ? [a, b] : [-a, -b]);

/** The paths: slope and offset of the i-th of n infinite inputs (slopes ≥ 1, so the sign holds). */
const PATHS: ((i: number, n: number) => Dual)[] = [
  () => [0, 1],
  (i) => [i + 1, 1],
  (i) => [-2 * (i + 1), 1],
  (i) => [0, i + 1],
  (i, n) => [0, n - i],
  (i) => [(i % 2) * 5, 1],
];

export interface Limit {
  score: number;
  skill: number;
  spread: number;
}

/**
 * Limits of score, skill and spread for one point with members xs (no NaN) and observation y,
 * α ∈ {0, 0.5, 1} (so that the scaled coefficients of L are exact in float64).
 */
export function limitOfPoint(xs: readonly number[], y: number, alpha: number): Limit {
  const key = `${alpha}|${y}|${xs.join(',')}`;
  let limit = limitCache.get(key);
  if (!limit) {
    if (limitCache.size > 10000) limitCache.clear();
    limit = pathLimit(xs, y, alpha);
    limitCache.set(key, limit);
  }
  return limit;
}
const limitCache = new Map<string, Limit>();

function pathLimit(xs: readonly number[], y: number, alpha: number): Limit {
  const m = xs.length;
  const inputs = [...xs, y];
  const infinite = inputs.map((v, i) => (Number.isFinite(v) ? -1 : i)).filter((i) => i >= 0);
  const perPath = PATHS.map((path) => {
    const dual = inputs.map((v): Dual => (Number.isFinite(v) ? [v, 0] : [0, 0]));
    infinite.forEach((index, j) => {
      const [offset, slope] = path(j, infinite.length);
      dual[index] = [offset, inputs[index] > 0 ? slope : -slope];
    });
    const yd = dual[m];
    let s: Dual = [0, 0];
    let q: Dual = [0, 0];
    for (let i = 0; i < m; i++) {
      const e = dualAbs([dual[i][0] - yd[0], dual[i][1] - yd[1]]);
      s = [s[0] + e[0], s[1] + e[1]];
      for (let j = 0; j < m; j++) {
        const d = dualAbs([dual[i][0] - dual[j][0], dual[i][1] - dual[j][1]]);
        q = [q[0] + d[0], q[1] + d[1]];
      }
    }
    // The L part scaled by 2m²(m − 1), an exact integer (or half-integer) for α ∈ {0, 0.5, 1}; m = 1: score = S.
    const scoreSlope = m === 1 ? s[1] : 2 * m * (m - 1) * s[1] - (m - 1 + alpha) * q[1];
    const scoreFinite = m === 1 ? s[0] : s[0] / m - (q[0] * (m - 1 + alpha)) / (2 * m * m * (m - 1));
    return { score: [scoreFinite, scoreSlope] as Dual, skill: [s[0] / m, s[1]] as Dual, spread: [q[0] / (2 * m * m), q[1]] as Dual, scale: s[0] / m };
  });
  const classify = (pick: (p: (typeof perPath)[number]) => Dual): number => {
    const values = perPath.map(pick);
    if (values.every(([, b]) => b > 0)) return Infinity;
    if (values.every(([, b]) => b < 0)) return -Infinity;
    if (!values.every(([, b]) => b === 0)) return NaN;
    const first = values[0][0];
    const tolerance = 1e-9 * (1 + Math.max(...perPath.map((p) => Math.abs(p.scale))));
    return values.every(([a]) => Math.abs(a - first) <= tolerance) ? first : NaN;
  };
  return { score: classify((p) => p.score), skill: classify((p) => p.skill), spread: classify((p) => p.spread) };
}

// --- Finite inputs, exactly --------------------------------------------------------------------
// Every finite float32 is an integer multiple of 2^-149 and every float64 α a dyadic rational, so
// the pairwise definition S − c·H can be evaluated in integers without any rounding, then divided
// once: the reference that S − c·H in float64 is not where it cancels (one member far out).

const FLOAT32_SCALE = 2n ** 149n;

/** v·2^149 as an integer (v a finite float32). */
const scaled = (v: number): bigint => BigInt(v * 2 ** 149);

/** A float64 in [0, 1] as numerator / 2^exponent. */
function dyadic(v: number): { numerator: bigint; denominator: bigint } {
  let numerator = v;
  let exponent = 0n;
  while (!Number.isInteger(numerator)) {
    numerator *= 2; // exact: a power of two
    exponent++;
  }
  return { numerator: BigInt(numerator), denominator: 1n << exponent };
}

/** numerator / denominator (≥ 0) as the nearest float64, to well within a float32 ulp. */
function ratio(numerator: bigint, denominator: bigint): number {
  if (numerator === 0n) return 0;
  // A quotient of ≥ 80 bits: truncating it moves the float64 rounding only at an exact tie.
  const shift = Math.max(0, 80 + denominator.toString(2).length - numerator.toString(2).length);
  return Number((numerator << BigInt(shift)) / denominator) / 2 ** shift;
}

export interface ExactPoint {
  score: number;
  skill: number;
  spread: number;
}

/**
 * Score, skill and spread of finite float32 members xs and observation y for any α ∈ [0, 1], from
 * the pairwise definition in exact arithmetic (H = Σ_{i<j} |x_i − x_j| = Σ_k (2k − M − 1)·x_(k),
 * an identity in integers), rounded once to float64.
 */
export function exactPoint(xs: readonly number[], y: number, alpha: number): ExactPoint {
  const m = BigInt(xs.length);
  const yScaled = scaled(y);
  const sorted = xs.map(scaled).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let errors = 0n; // Σ |x − y|·2^149
  let halfPairs = 0n; // H·2^149
  sorted.forEach((x, k) => {
    errors += x > yScaled ? x - yScaled : yScaled - x;
    halfPairs += (2n * BigInt(k + 1) - m - 1n) * x;
  });
  const skill = ratio(errors, m * FLOAT32_SCALE);
  const spread = ratio(halfPairs, m * m * FLOAT32_SCALE);
  if (m === 1n) return { score: skill, skill, spread };
  // s = S − c·H, c = (M − 1 + α)/(M²(M − 1)), α = a/d:  s·d·M²(M − 1)·2^149 = d·M(M − 1)·Σ|x − y| − ((M − 1)·d + a)·H
  const { numerator: a, denominator: d } = dyadic(alpha);
  const score = ratio(d * m * (m - 1n) * errors - ((m - 1n) * d + a) * halfPairs, d * m * m * (m - 1n) * FLOAT32_SCALE);
  return { score, skill, spread };
}

/** The float64 reference's options, with the NaN policy spelled out. */
export type LimitRefOptions = RefOptions & { nanPolicy: Policy };

export interface LimitRef extends Pick<RefResult, 'scores' | 'skill' | 'spread' | 'mean'> {
  /** Σ w·(a bound of |s|) / Σ w over the finite counted points: the mean's tolerance scale. */
  meanScale: number;
  /** Per point: the bound that scales the tolerance of skill and spread (S over finite members). */
  bound: Float64Array;
  /** Per point: the bound that scales the score's tolerance besides |s| (0 where the score is exact). */
  scoreBound: Float64Array;
  gradEnsemble: Float64Array;
  gradObservations: Float64Array;
}

/** Everything crps() returns, by the NaN policies and the NaN/Inf rules of the mean and gradients. */
export function limitReference(input: RefInput, options: LimitRefOptions, stats: PairStats = pairStats(input)): LimitRef {
  const { points, members } = stats;
  const { alpha, nanPolicy } = options;
  const minMembers = alpha > 0 ? 2 : 1;
  const w = (p: number) => (options.weights ? options.weights[p] : 1);
  const ref: LimitRef = {
    scores: new Float64Array(points),
    skill: new Float64Array(points),
    spread: new Float64Array(points),
    mean: NaN,
    meanScale: 0,
    bound: new Float64Array(points),
    scoreBound: new Float64Array(points),
    gradEnsemble: new Float64Array(stats.rankSign.length),
    gradObservations: new Float64Array(points),
  };
  // state: 0 scored, 1 NaN by 'propagate', 2 zeroed, 3 excluded by 'omit'
  const state = new Uint8Array(points);
  const undefinedDerivative = new Uint8Array(points);
  let weightSum = 0;
  let weighted = 0;
  let scale = 0;
  for (let p = 0; p < points; p++) {
    if (stats.anyNaN[p]) {
      if (nanPolicy === 'propagate') state[p] = 1;
      else if (nanPolicy === 'zero') state[p] = 2;
      else if (stats.obsNaN[p] || stats.used[p] < minMembers) state[p] = 3;
    }
    if (state[p] === 3) {
      ref.scores[p] = ref.skill[p] = ref.spread[p] = NaN;
      continue;
    }
    weightSum += w(p);
    if (state[p] === 1) {
      ref.scores[p] = ref.skill[p] = ref.spread[p] = NaN;
      undefinedDerivative[p] = 1;
      if (w(p) !== 0) weighted = NaN;
      continue;
    }
    if (state[p] === 2) continue;
    const xs: number[] = [];
    for (let k = 0; k < members; k++) {
      const v = input.ensemble[memberIndex(stats, p, k)];
      if (!Number.isNaN(v)) xs.push(v);
    }
    const y = input.observations[p];
    const m = xs.length;
    if (xs.every(Number.isFinite) && Number.isFinite(y)) {
      const exact = exactPoint(xs, y, alpha);
      ref.skill[p] = exact.skill;
      ref.spread[p] = exact.spread;
      ref.scores[p] = exact.score;
      ref.bound[p] = exact.skill;
    } else {
      const limit = limitOfPoint(xs, y, alpha);
      ref.scores[p] = limit.score;
      ref.skill[p] = limit.skill;
      ref.spread[p] = limit.spread;
      // The finite limit's own scale: |x − y| over the finite members.
      const finite = xs.filter(Number.isFinite);
      ref.bound[p] = Number.isFinite(y) && finite.length > 0 ? finite.reduce((t, x) => t + Math.abs(x - y), 0) / m : 0;
      ref.scoreBound[p] = ref.bound[p]; // the path limit is S − c·H in float64
      if (Number.isNaN(limit.score)) undefinedDerivative[p] = 1;
    }
    if (w(p) !== 0) {
      weighted += w(p) * ref.scores[p];
      if (Number.isFinite(ref.scores[p])) scale += w(p) * Math.max(Math.abs(ref.scores[p]), ref.bound[p]);
    }
  }
  ref.mean = weighted / weightSum;
  ref.meanScale = scale / weightSum;
  const factorOf = (p: number) => (options.gradOutput ? options.gradOutput[p] : w(p) / weightSum);
  for (let p = 0; p < points; p++) {
    const factor = factorOf(p);
    if (undefinedDerivative[p]) {
      const fill = factor === 0 ? 0 : NaN;
      ref.gradObservations[p] = fill;
      for (let k = 0; k < members; k++) ref.gradEnsemble[memberIndex(stats, p, k)] = fill;
      continue;
    }
    if (state[p] !== 0) continue; // zeroed or excluded: 0
    const m = stats.used[p];
    const c = m === 1 ? 0 : (m - 1 + alpha) / (m * m * (m - 1));
    let dy = 0;
    for (let k = 0; k < members; k++) {
      const index = memberIndex(stats, p, k);
      if (Number.isNaN(input.ensemble[index])) continue; // dropped by 'omit': 0
      // pairStats' signs are of differences: ∞ − ∞ = NaN counts as 0, the tie of equal infinities.
      ref.gradEnsemble[index] = factor * (stats.obsSign[index] / m - c * stats.rankSign[index]);
      dy -= stats.obsSign[index] / m;
    }
    ref.gradObservations[p] = factor * dy;
  }
  if (!options.gradOutput && !(weightSum > 0)) {
    ref.gradEnsemble.fill(NaN);
    ref.gradObservations.fill(NaN);
  }
  return ref;
}

// --- Calls shared by the NaN/Inf and extremes tests ---------------------------------------------

/** Points per call: two 16-point lane blocks and a scalar tail. */
export const LIMIT_POINTS = 35;

/** Member axis last (16×16 tiles), first (contiguous rows) and in the middle (strided gather). */
export const LIMIT_LAYOUTS = [
  { name: 'member-last', outer: LIMIT_POINTS, inner: 1, shape: (m: number) => [LIMIT_POINTS, m], memberAxis: -1 },
  { name: 'member-first', outer: 1, inner: LIMIT_POINTS, shape: (m: number) => [m, LIMIT_POINTS], memberAxis: 0 },
  { name: 'member-middle', outer: 5, inner: 7, shape: (m: number) => [5, m, 7], memberAxis: 1 },
] as const;

/** The crps() arguments of a case in a layout, with an estimator's arguments and the options. */
export function limitCallArgs(
  c: { ensemble: Float32Array; observations: Float32Array; members: number },
  layout: (typeof LIMIT_LAYOUTS)[number],
  estimatorArgs: object,
  options: { nanPolicy: Policy; gradients: boolean; components: boolean; weights?: Float32Array; gradOutput?: Float32Array },
  backend: string,
): CrpsArgs {
  const { weights, gradOutput, ...flags } = options;
  return {
    ensemble: { data: c.ensemble, shape: layout.shape(c.members) },
    memberAxis: layout.memberAxis,
    observations: c.observations,
    ...estimatorArgs,
    ...flags,
    ...(weights ? { weights } : {}),
    ...(gradOutput ? { gradOutput } : {}),
    backend,
  } as CrpsArgs;
}
