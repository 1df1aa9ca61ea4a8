// The float64 CRPS reference of the tests, written from the pairwise definition (docs/spec/crps.md):
// O(M²) per point, no sorting, every NaN policy; shares no code with the kernels.

export type Policy = 'propagate' | 'omit' | 'zero';

export interface RefInput {
  ensemble: ArrayLike<number>;
  outer: number;
  members: number;
  inner: number;
  observations: ArrayLike<number>;
}

/** Per point, over the non-NaN members: S, Q and each member's Σ_j sign(x_k − x_j), sign(x_k − y). */
export interface PairStats extends RefInput {
  points: number;
  anyNaN: Uint8Array; // a NaN member or observation
  obsNaN: Uint8Array;
  used: Int32Array; // non-NaN members
  skill: Float64Array; // S = (1/m) Σ |x_i − y|
  pairSum: Float64Array; // Q = Σ_i Σ_j |x_i − x_j|, ordered pairs
  rankSign: Float64Array; // ensemble layout: Σ_j sign(x_k − x_j) (0 for NaN members)
  obsSign: Float64Array; // ensemble layout: sign(x_k − y)
}

const sign = (v: number): number => (v > 0 ? 1 : v < 0 ? -1 : 0);

export function memberIndex(input: { members: number; inner: number }, point: number, k: number): number {
  const o = Math.floor(point / input.inner);
  const i = point % input.inner;
  return (o * input.members + k) * input.inner + i;
}

export function pairStats(input: RefInput): PairStats {
  const { outer, members, inner, ensemble, observations } = input;
  const points = outer * inner;
  const stats: PairStats = {
    ...input,
    points,
    anyNaN: new Uint8Array(points),
    obsNaN: new Uint8Array(points),
    used: new Int32Array(points),
    skill: new Float64Array(points),
    pairSum: new Float64Array(points),
    rankSign: new Float64Array(outer * members * inner),
    obsSign: new Float64Array(outer * members * inner),
  };
  const x = new Float64Array(members);
  const at = new Int32Array(members);
  for (let p = 0; p < points; p++) {
    const y = observations[p];
    let m = 0;
    let nan = Number.isNaN(y);
    stats.obsNaN[p] = nan ? 1 : 0;
    for (let k = 0; k < members; k++) {
      const index = memberIndex(input, p, k);
      const v = ensemble[index];
      if (Number.isNaN(v)) {
        nan = true;
      } else {
        x[m] = v;
        at[m] = index;
        m++;
      }
    }
    stats.anyNaN[p] = nan ? 1 : 0;
    stats.used[p] = m;
    let absErrors = 0;
    let q = 0;
    for (let i = 0; i < m; i++) {
      absErrors += Math.abs(x[i] - y);
      let r = 0;
      for (let j = 0; j < m; j++) {
        q += Math.abs(x[i] - x[j]);
        r += sign(x[i] - x[j]);
      }
      stats.rankSign[at[i]] = r;
      stats.obsSign[at[i]] = sign(x[i] - y);
    }
    stats.skill[p] = m > 0 ? absErrors / m : NaN;
    stats.pairSum[p] = q;
  }
  return stats;
}

export interface RefOptions {
  alpha: number; // 0 standard, 1 fair
  nanPolicy?: Policy;
  weights?: ArrayLike<number> | null;
  gradOutput?: ArrayLike<number> | null;
}

export interface RefResult {
  scores: Float64Array;
  skill: Float64Array;
  spread: Float64Array;
  mean: number;
  /** Σ w·S / Σ w over the counted points: the scale of the mean's tolerance. */
  meanScale: number;
  gradEnsemble: Float64Array;
  gradObservations: Float64Array;
  /** Points the mean counts. */
  counted: Uint8Array;
}

/** Scores, components, mean and gradients of the spec from the pairwise stats. */
export function refFinish(stats: PairStats, options: RefOptions): RefResult {
  const { points, members } = stats;
  const alpha = options.alpha;
  const policy = options.nanPolicy ?? 'propagate';
  const minMembers = alpha > 0 ? 2 : 1;
  const w = (p: number) => (options.weights ? options.weights[p] : 1);
  const out: RefResult = {
    scores: new Float64Array(points),
    skill: new Float64Array(points),
    spread: new Float64Array(points),
    mean: 0,
    meanScale: 0,
    gradEnsemble: new Float64Array(stats.rankSign.length),
    gradObservations: new Float64Array(points),
    counted: new Uint8Array(points),
  };
  // 0 = scored, 1 = NaN (propagate), 2 = zeroed, 3 = excluded (omit)
  const state = new Uint8Array(points);
  for (let p = 0; p < points; p++) {
    if (!stats.anyNaN[p]) continue;
    if (policy === 'propagate') state[p] = 1;
    else if (policy === 'zero') state[p] = 2;
    else if (stats.obsNaN[p] || stats.used[p] < minMembers) state[p] = 3;
  }
  let weightSum = 0;
  let weighted = 0;
  let weightedSkill = 0;
  for (let p = 0; p < points; p++) {
    if (state[p] === 3) {
      out.scores[p] = out.skill[p] = out.spread[p] = NaN;
      continue;
    }
    out.counted[p] = 1;
    weightSum += w(p);
    if (state[p] === 1) {
      out.scores[p] = out.skill[p] = out.spread[p] = NaN;
      weighted = NaN;
      continue;
    }
    if (state[p] === 2) continue; // zeros
    const m = stats.used[p];
    const S = stats.skill[p];
    const Q = stats.pairSum[p];
    const score = m === 1 ? S : S - (Q * (m - 1 + alpha)) / (2 * m * m * (m - 1));
    out.scores[p] = score;
    out.skill[p] = S;
    out.spread[p] = Q / (2 * m * m);
    weighted += w(p) * score;
    weightedSkill += w(p) * S;
  }
  out.mean = weighted / weightSum;
  out.meanScale = weightedSkill / weightSum;
  for (let p = 0; p < points; p++) {
    const factor = options.gradOutput ? options.gradOutput[p] : w(p) / weightSum;
    if (state[p] === 1) {
      out.gradObservations[p] = NaN;
      for (let k = 0; k < members; k++) out.gradEnsemble[memberIndex(stats, p, k)] = NaN;
      continue;
    }
    if (state[p] !== 0) continue; // zeroed or excluded: gradients 0
    const m = stats.used[p];
    const c = m === 1 ? 0 : (m - 1 + alpha) / (m * m * (m - 1));
    let dy = 0;
    for (let k = 0; k < members; k++) {
      const index = memberIndex(stats, p, k);
      if (Number.isNaN(stats.ensemble[index])) continue; // dropped member: 0
      out.gradEnsemble[index] = factor * (stats.obsSign[index] / m - c * stats.rankSign[index]);
      dy -= stats.obsSign[index] / m;
    }
    out.gradObservations[p] = factor * dy;
  }
  return out;
}

export function refCrps(input: RefInput, options: RefOptions): RefResult {
  return refFinish(pairStats(input), options);
}

/** One point's score straight from the definition (for finite differences). */
export function pointScore(x: ArrayLike<number>, y: number, alpha: number): number {
  const m = x.length;
  let s = 0;
  let q = 0;
  for (let i = 0; i < m; i++) {
    s += Math.abs(x[i] - y);
    for (let j = 0; j < m; j++) q += Math.abs(x[i] - x[j]);
  }
  s /= m;
  return m === 1 ? s : s - (q * (m - 1 + alpha)) / (2 * m * m * (m - 1));
}
