// CRPS in plain TypeScript: the backend that serves when no native addon loads, and an
// independent implementation the tests hold the native ones against.  Same formulas as
// native/math/crps_math.h (see there for the derivation): per point, sort the members,
// H = Σ_k k(M−k)·gap_k, score = S − c·H, ∂s/∂x_k = sign(x_k − y)/M − c·(L_k − G_k).
import type { CrpsOutputs, CrpsPlan } from '../crps';

const PROPAGATE = 0;
const OMIT = 1;

function pairCoefficient(members: number, alpha: number): number {
  if (members < 2) return 1 / (members * members);
  return (members - 1 + alpha) / (members * members * (members - 1));
}

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

/** Σw over the points the mean counts (only 'omit' drops points). */
function countedWeightSum(plan: CrpsPlan): number {
  const { outer, members, inner, ensemble, observations, weights } = plan;
  const minMembers = plan.alpha > 0 ? 2 : 1;
  let sum = 0;
  for (let p = 0; p < outer * inner; p++) {
    if (plan.nanPolicy === OMIT) {
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

export function crpsFallback(plan: CrpsPlan): CrpsOutputs {
  const { outer, members, inner, ensemble, observations, weights, gradOutput, alpha, nanPolicy, gradients, components } = plan;
  const points = outer * inner;
  const minMembers = alpha > 0 ? 2 : 1;
  const scores = new Float32Array(points);
  const gradEnsemble = gradients ? new Float32Array(ensemble.length) : undefined;
  const gradObservations = gradients ? new Float32Array(points) : undefined;
  const skillOut = components ? new Float32Array(points) : undefined;
  const spreadOut = components ? new Float32Array(points) : undefined;
  const weightSum = gradients && !gradOutput ? countedWeightSum(plan) : 0;
  const values = new Float64Array(members);
  const sorted = new Float64Array(members);
  let weightedScores = 0;
  let countedWeights = 0;

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
      if (nanPolicy === PROPAGATE) {
        fillPoint(p, base, NaN, NaN);
        countedWeights += w;
        weightedScores = NaN;
        continue;
      }
      if (nanPolicy !== OMIT) {
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
    let absoluteErrors = 0;
    for (let k = 0; k < members; k++) if (!Number.isNaN(values[k])) absoluteErrors += Math.abs(values[k] - y);
    let halfPairs = 0;
    for (let k = 1; k < used; k++) halfPairs += k * (used - k) * (sorted[k] - sorted[k - 1]);
    const skill = absoluteErrors / used;
    const coefficient = pairCoefficient(used, alpha);
    const score = skill - coefficient * halfPairs;
    scores[p] = score;
    if (skillOut && spreadOut) {
      skillOut[p] = skill;
      spreadOut[p] = halfPairs / (used * used);
    }
    if (gradEnsemble && gradObservations) {
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
          const sign = Math.sign(v - y);
          const below = countBelow(sorted, used, v);
          const above = used - countAtMost(sorted, used, v);
          grad = factor * (sign * signWeight - (below - above) * rankWeight) * gradScale;
          signSum += sign;
        }
        gradEnsemble[base + k * inner] = grad;
      }
      gradObservations[p] = (-factor * signSum) / used;
    }
    countedWeights += w;
    weightedScores += w * score;
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
