// One query row of the pure-TypeScript pair mining / pair losses (./pair-mining.ts): the unit
// vectors, row i's values against every reference row, and what a miner keeps of that row —
// as pair multiplicities, or as one range of sorted negatives per positive (triplets).
//
// Everything is float64.  A row's M values live in a reused Float64Array; nothing N×M exists.
// Triplets are never enumerated here: t = (sim ? v_p − v_n : v_n − v_p) is monotone in v_n, so
// once the row's negatives are sorted by value, the negatives a positive pairs with under any
// bound on t are a contiguous range found by binary search.
import { roundOperands, type Precision } from '../precision';
import type { MinerPlan, PairDistance, PairInputsPlan } from './types';

/** Norms are floored so zero vectors normalize to zero instead of NaN (PML's F.normalize). */
export const NORM_FLOOR = 1e-12;

/** Cosine and dot are similarities (larger = closer); the euclidean ones are distances. */
export function isSimilarity(distance: PairDistance): boolean {
  return distance === 'cosine' || distance === 'dot';
}


// ---- vectors and values ----

/** Row-major vectors as the values use them (x̂ or x), their floored norms and ‖x̂‖². */
export interface PairVectors {
  unit: Float64Array;
  /**
   * What the products and distances use: `unit` itself, or (precision ≠ 'fp32') a copy rounded to
   * the precision (docs/spec/precision.md); the normalization's backward keeps `unit`.
   */
  operand: Float64Array;
  norms: Float64Array;
  /** 1 where ‖x‖ < NORM_FLOOR: x̂ = x / floor is then linear in x. */
  floored: Uint8Array;
  /** ‖operand row‖². */
  squares: Float64Array;
}

export interface PairProblem {
  rows: number;
  refs: number;
  dim: number;
  normalize: boolean;
  queries: PairVectors;
  /** The reference rows: the very same object as `queries` without a reference set. */
  refRows: PairVectors;
  labels: Int32Array;
  refLabels: Int32Array;
  hasRef: boolean;
  selfIndex: Int32Array | null;
}

function prepareVectors(data: Float32Array, count: number, dim: number, normalize: boolean, precision: Precision): PairVectors {
  const unit = Float64Array.from(data);
  const norms = new Float64Array(count);
  const floored = new Uint8Array(count);
  const squares = new Float64Array(count);
  for (let r = 0; r < count; r++) {
    const base = r * dim;
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += unit[base + d] * unit[base + d];
    // Math.max keeps NaN, so a NaN row stays NaN rather than being divided by the floor.
    const norm = Math.max(Math.sqrt(sum), NORM_FLOOR);
    norms[r] = norm;
    floored[r] = Math.sqrt(sum) < NORM_FLOOR ? 1 : 0;
    if (normalize) {
      sum = 0;
      for (let d = 0; d < dim; d++) {
        unit[base + d] /= norm;
        sum += unit[base + d] * unit[base + d];
      }
    }
    squares[r] = sum;
  }
  if (precision === 'fp32') return { unit, operand: unit, norms, floored, squares };
  const operand = roundOperands(Float64Array.from(unit), precision);
  for (let r = 0; r < count; r++) {
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += operand[r * dim + d] * operand[r * dim + d];
    squares[r] = sum;
  }
  return { unit, operand, norms, floored, squares };
}

export function preparePairs(plan: PairInputsPlan): PairProblem {
  const { rows, refs, dim, normalize, precision } = plan;
  const queries = prepareVectors(plan.embeddings, rows, dim, normalize, precision);
  const refRows = plan.ref ? prepareVectors(plan.ref, refs, dim, normalize, precision) : queries;
  return {
    rows, refs, dim, normalize, queries, refRows,
    labels: plan.labels,
    refLabels: plan.refLabels ?? plan.labels,
    hasRef: plan.ref !== null,
    selfIndex: plan.selfIndex,
  };
}

/**
 * The plan with the rows that form no pair (a query whose only column is excluded; a reference
 * row every query excludes) zeroed where they hold NaN or ±Inf: such rows contribute nothing to a
 * loss and get a zero gradient.  A row that forms a pair is left as is.
 */
export function zeroUnreadNonFiniteRows<P extends PairInputsPlan>(plan: P): P {
  const { rows, refs, dim } = plan;
  const excludedOf = (i: number) => (plan.ref ? (plan.selfIndex ? plan.selfIndex[i] : -1) : i);
  const finite = (data: Float32Array, r: number) => {
    for (let d = 0; d < dim; d++) if (!Number.isFinite(data[r * dim + d])) return false;
    return true;
  };
  const zeroed = (data: Float32Array, count: number, unread: (r: number) => boolean): Float32Array => {
    let copy: Float32Array | null = null;
    for (let r = 0; r < count; r++) {
      if (!unread(r) || finite(data, r)) continue;
      copy ??= Float32Array.from(data);
      copy.fill(0, r * dim, (r + 1) * dim);
    }
    return copy ?? data;
  };
  const embeddings = zeroed(plan.embeddings, rows, (i) => {
    const excluded = excludedOf(i);
    return refs - (excluded >= 0 && excluded < refs ? 1 : 0) < 1;
  });
  let ref = plan.ref;
  if (ref) {
    let common = excludedOf(0);
    for (let i = 1; i < rows && common >= 0; i++) if (excludedOf(i) !== common) common = -1;
    ref = zeroed(ref, refs, (j) => j === common);
  }
  return embeddings === plan.embeddings && ref === plan.ref ? plan : { ...plan, embeddings, ref };
}

/** The column never paired with row i: i itself without a reference set, selfIndex[i] (or none) with one. */
export function excludedColumn(problem: PairProblem, i: number): number {
  if (!problem.hasRef) return i;
  return problem.selfIndex ? problem.selfIndex[i] : -1;
}

/** dots[j] = x̂_i·ŷ_j for every reference row j (the same bits wherever a vector repeats). */
export function rowDots(problem: PairProblem, i: number, dots: Float64Array): void {
  const { dim, refs } = problem;
  const x = problem.queries.operand;
  const y = problem.refRows.operand;
  const xBase = i * dim;
  for (let j = 0; j < refs; j++) {
    const yBase = j * dim;
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += x[xBase + d] * y[yBase + d];
    dots[j] = dot;
  }
}

/** Σ_d (x̂_i − ŷ_j)², literally: exact zero for identical rows, IEEE for infinite entries (∞ − ∞ is NaN). */
function directSquared(problem: PairProblem, i: number, j: number): number {
  const { dim } = problem;
  const x = problem.queries.operand;
  const y = problem.refRows.operand;
  let sum = 0;
  for (let d = 0; d < dim; d++) {
    const difference = x[i * dim + d] - y[j * dim + d];
    sum += difference * difference;
  }
  return sum;
}

/**
 * Row i's values under `distance` from its dots: the dot itself, or the (squared) euclidean
 * distance — rounded to float32, as the native kernels hold them (a value beyond float32 is ±Inf).
 * Distances come from ‖x̂‖² + ‖ŷ‖² − 2x̂·ŷ except, as in the native kernels, where that cancels
 * (below 1/16 of ‖x̂‖² + ‖ŷ‖²) or a row holds ±Inf or NaN: then from the difference.
 */
export function rowValues(problem: PairProblem, i: number, dots: Float64Array, distance: PairDistance, values: Float64Array): void {
  const { refs } = problem;
  if (isSimilarity(distance)) {
    for (let j = 0; j < refs; j++) values[j] = Math.fround(dots[j]);
    return;
  }
  const xSquare = problem.queries.squares[i];
  const ySquares = problem.refRows.squares;
  for (let j = 0; j < refs; j++) {
    const lengths = xSquare + ySquares[j];
    let squared = lengths - 2 * dots[j];
    // lengths is finite for finite rows (float64 squares of float32 entries cannot overflow).
    if (!Number.isFinite(lengths) || squared < lengths * 0.0625) squared = directSquared(problem, i, j);
    else squared = Math.max(squared, 0);
    values[j] = Math.fround(distance === 'squared-euclidean' ? squared : Math.sqrt(squared));
  }
}

/**
 * A near-duplicate pair under a distance, whose gradient w·(x̂ − ŷ) (w the weight of the squared
 * norms: 2·coef, or coef/d for 'euclidean') is summed from the difference rather than as w·x̂ and
 * w·ŷ apart, which cancel: d² below (‖x̂‖² + ‖ŷ‖²)/1024, w ≠ 0.  The native engines' rule
 * (native/math/pairs_values.h, directGradientPair), on this backend's float64 squares.
 */
export function directGradientPair(distance: PairDistance, value: number, w: number, xSquare: number, ySquare: number): boolean {
  if (isSimilarity(distance) || w === 0) return false;
  const squared = distance === 'euclidean' ? value * value : value;
  return squared < (xSquare + ySquare) * (1 / 1024);
}

// ---- the row's workspace ----

/** Per-row buffers of length M, allocated once per call and reused by every row. */
export class RowScratch {
  readonly dots: Float64Array;
  readonly minerValues: Float64Array;
  readonly lossValues: Float64Array;
  /** Multiplicity of each pair (i, j) the miner gives (0: not given). */
  readonly positiveWeight: Float64Array;
  readonly negativeWeight: Float64Array;
  /** Triplet form: the positives in ascending index, and per positive slot a range [start, end) of `order`. */
  readonly positives: Int32Array;
  positiveCount = 0;
  readonly rangeStart: Int32Array;
  readonly rangeEnd: Int32Array;
  /** The negatives sorted by (value, index), their values and prefix sums of those. */
  readonly order: Int32Array;
  readonly sortedValues: Float64Array;
  readonly prefix: Float64Array;
  negativeCount = 0;
  /** Some triplet of the included pairs has a NaN value (NaNs are kept out of the sorted lists). */
  hasNaN = false;
  /** Difference array over sorted positions: how many positives' ranges cover each negative. */
  readonly cover: Float64Array;

  constructor(refs: number) {
    this.dots = new Float64Array(refs);
    this.minerValues = new Float64Array(refs);
    this.lossValues = new Float64Array(refs);
    this.positiveWeight = new Float64Array(refs);
    this.negativeWeight = new Float64Array(refs);
    this.positives = new Int32Array(refs);
    this.rangeStart = new Int32Array(refs);
    this.rangeEnd = new Int32Array(refs);
    this.order = new Int32Array(refs);
    this.sortedValues = new Float64Array(refs);
    this.prefix = new Float64Array(refs + 1);
    this.cover = new Float64Array(refs + 1);
  }
}

// ---- pairs ----

/** Marks every positive and negative pair of row i with multiplicity 1 (no miner). */
export function allPairs(problem: PairProblem, i: number, scratch: RowScratch): void {
  const { refs, refLabels } = problem;
  const label = problem.labels[i];
  const excluded = excludedColumn(problem, i);
  const { positiveWeight, negativeWeight } = scratch;
  for (let j = 0; j < refs; j++) {
    const same = j !== excluded && refLabels[j] === label;
    const different = j !== excluded && refLabels[j] !== label;
    positiveWeight[j] = same ? 1 : 0;
    negativeWeight[j] = different ? 1 : 0;
  }
}

/** Multi-similarity miner: positives harder than the easiest negative by ε, and vice versa. */
function multiSimilarityPairs(values: Float64Array, sim: boolean, epsilon: number, scratch: RowScratch, refs: number): void {
  const { positiveWeight, negativeWeight } = scratch;
  // Hardest-side extremes: sim → max negative s, min positive s; distance → min negative d, max positive d.
  let negativeExtreme = sim ? -Infinity : Infinity;
  let positiveExtreme = sim ? Infinity : -Infinity;
  for (let j = 0; j < refs; j++) {
    const v = values[j];
    if (negativeWeight[j] > 0 && (sim ? v > negativeExtreme : v < negativeExtreme)) negativeExtreme = v;
    if (positiveWeight[j] > 0 && (sim ? v < positiveExtreme : v > positiveExtreme)) positiveExtreme = v;
  }
  for (let j = 0; j < refs; j++) {
    const v = values[j];
    if (positiveWeight[j] > 0) positiveWeight[j] = (sim ? v - epsilon < negativeExtreme : v + epsilon > negativeExtreme) ? 1 : 0;
    if (negativeWeight[j] > 0) negativeWeight[j] = (sim ? v + epsilon > positiveExtreme : v - epsilon < positiveExtreme) ? 1 : 0;
  }
}

/** Pair-margin miner: positives beyond posMargin, negatives within negMargin. */
function pairMarginPairs(values: Float64Array, sim: boolean, posMargin: number, negMargin: number, scratch: RowScratch, refs: number): void {
  const { positiveWeight, negativeWeight } = scratch;
  for (let j = 0; j < refs; j++) {
    const v = values[j];
    if (positiveWeight[j] > 0) positiveWeight[j] = (sim ? v < posMargin : v > posMargin) ? 1 : 0;
    if (negativeWeight[j] > 0) negativeWeight[j] = (sim ? v > negMargin : v < negMargin) ? 1 : 0;
  }
}

/**
 * Batch-hard: the hardest positive and negative of row i (ties: the lowest index, by scanning
 * ascending with strict comparisons; NaN values skipped), or null when the row lacks either kind.
 */
export function hardestPair(problem: PairProblem, i: number, values: Float64Array, sim: boolean): [number, number] | null {
  const { refs, refLabels } = problem;
  const label = problem.labels[i];
  const excluded = excludedColumn(problem, i);
  let positive = -1;
  let negative = -1;
  for (let j = 0; j < refs; j++) {
    const v = values[j];
    // A NaN value is never chosen (nor compared against).
    if (j === excluded || v !== v) continue;
    if (refLabels[j] === label) {
      if (positive < 0 || (sim ? v < values[positive] : v > values[positive])) positive = j;
    } else if (negative < 0 || (sim ? v > values[negative] : v < values[negative])) {
      negative = j;
    }
  }
  return positive >= 0 && negative >= 0 ? [positive, negative] : null;
}

/**
 * The pairs of row i the miner gives, with their multiplicities, in scratch.positiveWeight /
 * negativeWeight; scratch.minerValues must hold the row's miner values.  A triplet miner gives
 * (a, p) once per mined triplet (a, p, ·) and (a, n) once per (a, ·, n).
 */
export function selectPairs(problem: PairProblem, miner: MinerPlan, i: number, scratch: RowScratch): void {
  allPairs(problem, i, scratch);
  const values = scratch.minerValues;
  const sim = isSimilarity(miner.minerDistance);
  switch (miner.minerType) {
    case 'multi-similarity':
      multiSimilarityPairs(values, sim, miner.epsilon, scratch, problem.refs);
      break;
    case 'pair-margin':
      pairMarginPairs(values, sim, miner.minerPosMargin, miner.minerNegMargin, scratch, problem.refs);
      break;
    case 'batch-hard': {
      const pair = hardestPair(problem, i, values, sim);
      scratch.positiveWeight.fill(0);
      scratch.negativeWeight.fill(0);
      if (pair) {
        scratch.positiveWeight[pair[0]] = 1;
        scratch.negativeWeight[pair[1]] = 1;
      }
      break;
    }
    case 'triplet-margin':
      tripletMarginRanges(problem, miner, i, scratch, values);
      pairMultiplicities(scratch, problem.refs);
      break;
    default:
      break; // no miner: every pair once
  }
}

// ---- triplets: sorted negatives and per-positive ranges ----

/** A deterministic total order on (value, index): ascending values, NaN last, ties by index. */
function sortByValue(order: Int32Array, values: Float64Array): void {
  order.sort((a, b) => {
    const va = values[a];
    const vb = values[b];
    if (va < vb) return -1;
    if (va > vb) return 1;
    const aNaN = va !== va;
    if (aNaN !== (vb !== vb)) return aNaN ? 1 : -1;
    return a - b;
  });
}

/**
 * Triplet form of the pairs marked in scratch.positiveWeight / negativeWeight (> 0): the
 * positives in ascending index, each with the full range, and the negatives sorted by `values`
 * with prefix sums.  NaN values never satisfy a bound on t, so they stay out of the lists (a NaN
 * positive gets an empty range) and only set scratch.hasNaN.
 */
export function collectTriplets(scratch: RowScratch, values: Float64Array, refs: number): void {
  const { positiveWeight, negativeWeight, positives, order, sortedValues, prefix, rangeStart, rangeEnd } = scratch;
  let positiveCount = 0;
  let negativeCount = 0;
  let positiveNaN = false;
  let negativeNaN = false;
  for (let j = 0; j < refs; j++) {
    const isNaN = values[j] !== values[j];
    if (positiveWeight[j] > 0) {
      positives[positiveCount++] = j;
      positiveNaN ||= isNaN;
    } else if (negativeWeight[j] > 0) {
      if (isNaN) negativeNaN = true;
      else order[negativeCount++] = j;
    }
  }
  // A NaN only matters where it meets a partner of the other kind.
  const hasNaN = (positiveNaN && (negativeCount > 0 || negativeNaN)) || (negativeNaN && positiveCount > 0);
  sortByValue(order.subarray(0, negativeCount), values);
  for (let k = 0; k < negativeCount; k++) sortedValues[k] = values[order[k]];
  // prefix[e] − prefix[b] is the sum over [b, e); anchored at 0 where the values change sign and
  // summed outward, so a far value outside a range cannot cancel the range's digits away.
  let zero = 0;
  while (zero < negativeCount && sortedValues[zero] < 0) zero++;
  prefix[zero] = 0;
  for (let k = zero; k < negativeCount; k++) prefix[k + 1] = prefix[k] + sortedValues[k];
  for (let k = zero - 1; k >= 0; k--) prefix[k] = prefix[k + 1] - sortedValues[k];
  // Each positive starts from the negatives whose t is not NaN: all of them, except the negatives
  // at +∞ (a positive at +∞) or at −∞ (a positive at −∞), where t = ∞ − ∞; those sit at one end.
  let belowInfinity = negativeCount;
  while (belowInfinity > 0 && sortedValues[belowInfinity - 1] === Infinity) belowInfinity--;
  let atMinusInfinity = 0;
  while (atMinusInfinity < negativeCount && sortedValues[atMinusInfinity] === -Infinity) atMinusInfinity++;
  for (let q = 0; q < positiveCount; q++) {
    const vp = values[positives[q]];
    rangeStart[q] = vp === -Infinity ? atMinusInfinity : 0;
    rangeEnd[q] = vp !== vp ? 0 : vp === Infinity ? belowInfinity : negativeCount;
  }
  scratch.positiveCount = positiveCount;
  scratch.negativeCount = negativeCount;
  scratch.hasNaN = hasNaN;
}

/**
 * Where {k : t_k ≤ bound} (< with `strict`) begins or ends among sorted negatives [start, end), for
 * t_k = sim ? vp − v_k : v_k − vp.  t rises with k for a distance (the set is the prefix [0, b))
 * and falls for a similarity (the suffix [b, count)); b is returned.
 */
function gapSplit(sortedValues: Float64Array, start: number, end: number, vp: number, sim: boolean, bound: number, strict: boolean): number {
  // Searched within the positive's range only: there t is monotone and never NaN.
  let lo = start;
  let hi = end;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const t = sim ? vp - sortedValues[mid] : sortedValues[mid] - vp;
    const inside = strict ? t < bound : t <= bound;
    // Distance: the set is a prefix, so inside → split further right; similarity: the reverse.
    if (inside !== sim) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Narrows positive slot q's range to the negatives with t ≤ bound (< when strict). */
function keepGapAtMost(scratch: RowScratch, q: number, vp: number, sim: boolean, bound: number, strict: boolean): void {
  const split = gapSplit(scratch.sortedValues, scratch.rangeStart[q], scratch.rangeEnd[q], vp, sim, bound, strict);
  if (sim) scratch.rangeStart[q] = Math.max(scratch.rangeStart[q], split);
  else scratch.rangeEnd[q] = Math.min(scratch.rangeEnd[q], split);
}

/** Narrows positive slot q's range to the negatives with t > bound (the complement of t ≤ bound). */
function keepGapAbove(scratch: RowScratch, q: number, vp: number, sim: boolean, bound: number): void {
  const split = gapSplit(scratch.sortedValues, scratch.rangeStart[q], scratch.rangeEnd[q], vp, sim, bound, false);
  if (sim) scratch.rangeEnd[q] = Math.min(scratch.rangeEnd[q], split);
  else scratch.rangeStart[q] = Math.max(scratch.rangeStart[q], split);
}

/**
 * Triplet-margin miner on the collected triplets: each positive's range narrowed to the
 * negatives whose t = (sim ? s_ap − s_an : d_an − d_ap) the selection keeps:
 * all t ≤ margin; hard t ≤ 0 and t ≤ margin; semihard 0 < t ≤ margin; easy t > margin.
 */
export function minedRanges(scratch: RowScratch, values: Float64Array, sim: boolean, miner: MinerPlan): void {
  const margin = miner.minerMargin;
  for (let q = 0; q < scratch.positiveCount; q++) {
    if (scratch.rangeStart[q] >= scratch.rangeEnd[q]) continue;
    const vp = values[scratch.positives[q]];
    switch (miner.triplets) {
      case 'hard':
        // t ≤ 0 and t ≤ margin is exactly t ≤ min(0, margin).
        keepGapAtMost(scratch, q, vp, sim, Math.min(0, margin), false);
        break;
      case 'semihard':
        keepGapAtMost(scratch, q, vp, sim, margin, false);
        keepGapAbove(scratch, q, vp, sim, 0);
        break;
      case 'easy':
        keepGapAbove(scratch, q, vp, sim, margin);
        break;
      default:
        keepGapAtMost(scratch, q, vp, sim, margin, false);
        break;
    }
  }
}

/** The triplet-margin miner's triplets of row i as ranges, on `values` (the miner's). */
export function tripletMarginRanges(problem: PairProblem, miner: MinerPlan, i: number, scratch: RowScratch, values: Float64Array): void {
  allPairs(problem, i, scratch);
  collectTriplets(scratch, values, problem.refs);
  minedRanges(scratch, values, isSimilarity(miner.minerDistance), miner);
}

/** The triplet loss's active triplets: each range narrowed to t < margin. */
export function activeRanges(scratch: RowScratch, values: Float64Array, sim: boolean, margin: number): void {
  for (let q = 0; q < scratch.positiveCount; q++) {
    if (scratch.rangeStart[q] >= scratch.rangeEnd[q]) continue;
    keepGapAtMost(scratch, q, values[scratch.positives[q]], sim, margin, true);
  }
}

/** Range size of positive slot q (0 when empty). */
export function rangeSize(scratch: RowScratch, q: number): number {
  return Math.max(scratch.rangeEnd[q] - scratch.rangeStart[q], 0);
}

/**
 * scratch.cover[k] = how many positives' ranges contain sorted negative k (difference array,
 * then a running sum).
 */
export function coverCounts(scratch: RowScratch): void {
  const { cover, negativeCount } = scratch;
  cover.fill(0, 0, negativeCount + 1);
  for (let q = 0; q < scratch.positiveCount; q++) {
    if (scratch.rangeStart[q] >= scratch.rangeEnd[q]) continue;
    cover[scratch.rangeStart[q]] += 1;
    cover[scratch.rangeEnd[q]] -= 1;
  }
  let running = 0;
  for (let k = 0; k < negativeCount; k++) {
    running += cover[k];
    cover[k] = running;
  }
}

/** Multiplicities from the ranges: w⁺_p = #triplets (a, p, ·), w⁻_n = #triplets (a, ·, n). */
function pairMultiplicities(scratch: RowScratch, refs: number): void {
  const { positiveWeight, negativeWeight } = scratch;
  positiveWeight.fill(0, 0, refs);
  negativeWeight.fill(0, 0, refs);
  for (let q = 0; q < scratch.positiveCount; q++) positiveWeight[scratch.positives[q]] = rangeSize(scratch, q);
  coverCounts(scratch);
  for (let k = 0; k < scratch.negativeCount; k++) negativeWeight[scratch.order[k]] = scratch.cover[k];
}
