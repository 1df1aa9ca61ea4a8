// CRPS in plain TypeScript: the backend that serves when no native addon loads, and an
// independent implementation the tests hold the native ones against.  Same formulas as
// native/math/crps_math.h (see there for the derivation): per point, sort the members,
// score = Σ g(n)·gap over the gaps between y and the sorted members (S − c·H without the
// cancellation), H = Σ_k k(M−k)·gap_k for the spread, ∂s/∂x_k = sign(x_k − y)/M − c·(L_k − G_k).
import { outputArray, type OutArrays } from '../outputs';
import type { CrpsOutputs, CrpsPlan } from './plan';

/** Elements of ascending `sorted[0, n)` strictly below v. */
function countBelow(sorted: Float64Array, n: number, v: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Elements of ascending `sorted[0, n)` at most v. */
function countAtMost(sorted: Float64Array, n: number, v: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** sign(a − b) by comparison: equal infinities tie (0), as native/math/crps_math.h compareSign. */
function compareSign(a: number, b: number): number {
  return (a > b ? 1 : 0) - (a < b ? 1 : 0);
}

/** Half pair sum Σ_k k(m−k)·gap_k of ascending sorted[from, from + n). */
function halfPairSum(sorted: Float64Array, from: number, n: number): number {
  let total = 0;
  for (let k = 1; k < n; k++) total += k * (n - k) * (sorted[from + k] - sorted[from + k - 1]);
  return total;
}

// ±Inf inputs: the limit rule of native/math/crps_math.h (scoreLimit and its helpers, where the
// derivation is); the same cases, in the same order.
const FINITE = 0;
const PLUS_INFINITY = 1;
const UNDEFINED = 2;
const FINITE_LIMIT = 3;

function scoreLimit(used: number, minus: number, plus: number, y: number, alpha: number): number {
  const fair = alpha === 1;
  if (Number.isFinite(y)) {
    if (minus === 0 && plus === 0) return FINITE;
    return fair && minus <= 1 && plus <= 1 ? FINITE_LIMIT : PLUS_INFINITY;
  }
  const same = y > 0 ? plus : minus;
  if (same === 0) return PLUS_INFINITY;
  const rest = used - same;
  return rest === 0 || (fair && rest === 1) ? UNDEFINED : PLUS_INFINITY;
}

function skillLimit(used: number, minus: number, plus: number, y: number): number {
  if (Number.isFinite(y)) return Infinity;
  return (y > 0 ? plus : minus) === used ? NaN : Infinity;
}

function spreadLimit(sorted: Float64Array, used: number, minus: number, plus: number): number {
  if (minus === 0 && plus === 0) return halfPairSum(sorted, 0, used) / (used * used);
  const kinds = (minus > 0 ? 1 : 0) + (plus > 0 ? 1 : 0) + (used - minus - plus > 0 ? 1 : 0);
  if (kinds >= 2) return Infinity;
  return used === 1 ? 0 : NaN;
}

/** g(n) of the gap form (native/math/crps_math.h gapWeight, the same expression). */
function gapWeight(n: number, m: number, alpha: number): number {
  if (m < 2) return 1;
  return n * ((m - 1) * (n - alpha) + alpha * (n - 1)) * (1 / (m * m * (m - 1)));
}

const lesser = (a: number, b: number): number => (a < b ? a : b);
const greater = (a: number, b: number): number => (a < b ? b : a);

/**
 * The score as Σ g(n)·gap over the gaps between y and the sorted members (crps_math.h
 * scoreFromGaps, the same terms in the same order): every term ≥ 0, so nothing cancels; a
 * weight-0 term counts 0 even across an infinite gap (the fair estimator's finite limit).
 */
function scoreFromGaps(sorted: Float64Array, m: number, y: number, alpha: number): number {
  let below = lesser(sorted[0], y);
  let above = greater(sorted[0], y);
  let score = above - y + (y - lesser(sorted[m - 1], y));
  for (let k = 1; k < m; k++) {
    const nextBelow = lesser(sorted[k], y);
    const nextAbove = greater(sorted[k], y);
    const weightBelow = gapWeight(k, m, alpha);
    const weightAbove = gapWeight(m - k, m, alpha);
    score += (weightBelow === 0 ? 0 : weightBelow * (nextBelow - below)) + (weightAbove === 0 ? 0 : weightAbove * (nextAbove - above));
    below = nextBelow;
    above = nextAbove;
  }
  return score;
}

/** Σw over the points the mean counts (only 'omit' drops points). */
function countedWeightSum(plan: CrpsPlan): number {
  const { outer, members, inner, ensemble, observations, weights } = plan;
  const minMembers = plan.alpha > 0 ? 2 : 1;
  let sum = 0;
  for (let p = 0; p < outer * inner; p++) {
    if (plan.nanPolicy === 'omit') {
      if (Number.isNaN(observations[p])) continue;
      const base = Math.floor(p / inner) * members * inner + (p % inner);
      let used = 0;
      for (let k = 0; k < members; k++) if (!Number.isNaN(ensemble[base + k * inner])) used++;
      if (used < minMembers) continue;
    }
    sum += weights ? weights[p] : 1;
  }
  return sum;
}

export function crpsFallback(plan: CrpsPlan, out: OutArrays = {}): CrpsOutputs {
  const { outer, members, inner, ensemble, observations, weights, gradOutput, alpha, nanPolicy, gradients, components } = plan;
  const points = outer * inner;
  const minMembers = alpha > 0 ? 2 : 1;
  const scores = outputArray(out, 'scores', points, Float32Array);
  const gradEnsemble = gradients ? outputArray(out, 'gradEnsemble', ensemble.length, Float32Array) : undefined;
  const gradObservations = gradients ? outputArray(out, 'gradObservations', points, Float32Array) : undefined;
  const skillOut = components ? outputArray(out, 'skill', points, Float32Array) : undefined;
  const spreadOut = components ? outputArray(out, 'spread', points, Float32Array) : undefined;
  const weightSum = gradients && !gradOutput ? countedWeightSum(plan) : 0;
  const values = new Float64Array(members);
  const sorted = new Float64Array(members);
  let weightedScores = 0;
  let countedWeights = 0;

  // A factor of exactly 0 (weight 0, gradOutput 0) leaves the point out: gradient 0 whatever it holds.
  const undefinedGradient = (p: number, w: number) => ((gradOutput ? gradOutput[p] : w / weightSum) === 0 ? 0 : NaN);
  const fillPoint = (p: number, base: number, fill: number, gradFill: number) => {
    scores[p] = fill;
    if (skillOut && spreadOut) {
      skillOut[p] = fill;
      spreadOut[p] = fill;
    }
    if (gradEnsemble && gradObservations) {
      for (let k = 0; k < members; k++) gradEnsemble[base + k * inner] = gradFill;
      gradObservations[p] = gradFill;
    }
  };

  for (let p = 0; p < points; p++) {
    const base = Math.floor(p / inner) * members * inner + (p % inner);
    const y = observations[p];
    const w = weights ? weights[p] : 1;
    let anyNaN = Number.isNaN(y);
    let used = 0;
    for (let k = 0; k < members; k++) {
      const v = ensemble[base + k * inner];
      values[k] = v;
      if (Number.isNaN(v)) anyNaN = true;
      else sorted[used++] = v;
    }
    if (anyNaN) {
      if (nanPolicy === 'propagate') {
        fillPoint(p, base, NaN, gradients ? undefinedGradient(p, w) : NaN);
        countedWeights += w;
        if (w !== 0) weightedScores = NaN; // weight 0 leaves the point out of the mean
        continue;
      }
      if (nanPolicy !== 'omit') {
        fillPoint(p, base, 0, 0);
        countedWeights += w;
        continue;
      }
      if (Number.isNaN(y) || used < minMembers) {
        fillPoint(p, base, NaN, 0);
        continue;
      }
    }
    const view = sorted.subarray(0, used);
    view.sort();
    let minus = 0;
    while (minus < used && sorted[minus] === -Infinity) minus++;
    let plus = 0;
    while (plus < used - minus && sorted[used - 1 - plus] === Infinity) plus++;
    const limit = scoreLimit(used, minus, plus, y, alpha);
    let skill: number;
    let spread: number;
    let score: number;
    if (limit === FINITE) {
      let absoluteErrors = 0; // over the sorted members, as the native kernels (same bits)
      for (let k = 0; k < used; k++) absoluteErrors += Math.abs(sorted[k] - y);
      const halfPairs = halfPairSum(sorted, 0, used);
      skill = absoluteErrors / used;
      spread = halfPairs / (used * used);
      score = scoreFromGaps(sorted, used, y, alpha);
    } else {
      skill = skillLimit(used, minus, plus, y);
      spread = spreadLimit(sorted, used, minus, plus);
      score = limit === PLUS_INFINITY ? Infinity : limit === UNDEFINED ? NaN : scoreFromGaps(sorted, used, y, 1);
    }
    scores[p] = score;
    if (skillOut && spreadOut) {
      skillOut[p] = skill;
      spreadOut[p] = spread;
    }
    if (gradEnsemble && gradObservations && limit === UNDEFINED) {
      const fill = undefinedGradient(p, w);
      for (let k = 0; k < members; k++) gradEnsemble[base + k * inner] = fill;
      gradObservations[p] = fill;
    } else if (gradEnsemble && gradObservations) {
      const factor = gradOutput ? gradOutput[p] : w / weightSum;
      // sign/M − c·(L − G) over one denominator, as native/math/crps_math.h gradientWeights.
      const signWeight = used < 2 ? 1 : used * (used - 1);
      const rankWeight = used < 2 ? 0 : used - 1 + alpha;
      const gradScale = used < 2 ? 1 : 1 / (used * used * (used - 1));
      let signSum = 0;
      for (let k = 0; k < members; k++) {
        const v = values[k];
        let grad = 0;
        if (!Number.isNaN(v)) {
          const sign = compareSign(v, y);
          const below = countBelow(sorted, used, v);
          const above = used - countAtMost(sorted, used, v);
          // ∂s first (|∂s| ≤ 2), then the factor, as the native kernels.
          grad = factor * ((sign * signWeight - (below - above) * rankWeight) * gradScale);
          signSum += sign;
        }
        gradEnsemble[base + k * inner] = grad;
      }
      gradObservations[p] = -factor * (signSum / used);
    }
    countedWeights += w;
    if (w !== 0) weightedScores += w * score;
  }
  // Σw = 0: the mean is undefined, and so is every entry of its gradient (native: runCrpsCpu).
  if (gradEnsemble && gradObservations && !gradOutput && !(weightSum > 0)) {
    gradEnsemble.fill(NaN);
    gradObservations.fill(NaN);
  }
  const result: CrpsOutputs = { scores, mean: weightedScores / countedWeights };
  if (gradEnsemble && gradObservations) {
    result.gradEnsemble = gradEnsemble;
    result.gradObservations = gradObservations;
  }
  if (skillOut && spreadOut) {
    result.skill = skillOut;
    result.spread = spreadOut;
  }
  return result;
}
