// Pair mining and pair losses (docs/spec/pairs.md; semantics in native/kernels/pairs.h)
// in plain TypeScript: the backend that serves when no native addon loads, and an independent
// float64 implementation the tests hold the native ones against.
//
// Like the native kernels it never stores the N×M values: one query row at a time, its M values
// go into a reused buffer (./pair-row.ts), and everything is done twice —
//  • mine: count every row's pairs / triplets, check the total against maxOutputs, then
//    recompute the rows and fill exactly-sized outputs in canonical order;
//  • pairLoss: per-row partials (./pair-loss-row.ts) summed in row order into the normalizers,
//    then each row recomputed into ∂loss/∂v_ij and pushed straight into ∂loss/∂x̂_i and ∂loss/∂ŷ_j.
// Triplets are ranges over each row's sorted negatives; only mine() ever lists them.
import { ErrorCode, fusedLossError, tooLarge } from '../errors';
import { enumeratedTriplets, lossCoefficients, lossPartials, PARTIALS, reduceLoss } from './fallback-loss-rows';
import {
  activeRanges,
  collectTriplets,
  directGradientPair,
  excludedColumn,
  hardestPair,
  isSimilarity,
  preparePairs,
  rangeSize,
  RowScratch,
  rowDots,
  rowValues,
  selectPairs,
  tripletMarginRanges,
  zeroUnreadNonFiniteRows,
  type PairProblem,
  type PairVectors,
} from './fallback-rows';
import { outputArray, type OutArrays } from '../outputs';
import { operandRounding } from '../precision';
import { minesTriplets } from './plan';
import type { MineOutputs, MinePlan, PairLossOutputs, PairLossPlan } from './types';

/** Fails before anything output-sized is allocated, naming the count (never truncates). */
function checkOutputCount(count: number, plan: MinePlan, what: string): void {
  if (count > plan.maxOutputs) {
    throw tooLarge(`miner '${plan.minerType}' finds ${count} ${what}, more than maxOutputs = ${plan.maxOutputs}`);
  }
}

/**
 * The filling pass recomputes what the counting pass counted; typed arrays drop writes past their
 * end silently, so a disagreement is checked before each write and reported, never truncated.
 */
function checkRoom(needed: number, room: number, i: number): void {
  if (needed > room) {
    throw fusedLossError(ErrorCode.BACKEND, `mine: internal error: the filling pass found more than the counting pass in row ${i}; please report it`);
  }
}

/** Row i's dots and its values under the miner's distance. */
function minerRow(problem: PairProblem, plan: MinePlan, i: number, scratch: RowScratch): void {
  rowDots(problem, i, scratch.dots);
  rowValues(problem, i, scratch.dots, plan.minerDistance, scratch.minerValues);
}

// ---- mine ----

function minePairs(plan: MinePlan, problem: PairProblem, scratch: RowScratch): MineOutputs {
  const { rows, refs } = problem;
  const { positiveWeight, negativeWeight } = scratch;
  let positiveCount = 0;
  let negativeCount = 0;
  for (let i = 0; i < rows; i++) {
    minerRow(problem, plan, i, scratch);
    selectPairs(problem, plan, i, scratch);
    for (let j = 0; j < refs; j++) {
      if (positiveWeight[j] > 0) positiveCount++;
      if (negativeWeight[j] > 0) negativeCount++;
    }
  }
  checkOutputCount(positiveCount + negativeCount, plan, 'pairs (positives + negatives)');

  const outputs = {
    positiveAnchors: new Int32Array(positiveCount),
    positives: new Int32Array(positiveCount),
    negativeAnchors: new Int32Array(negativeCount),
    negatives: new Int32Array(negativeCount),
  };
  let p = 0;
  let n = 0;
  for (let i = 0; i < rows; i++) {
    minerRow(problem, plan, i, scratch);
    selectPairs(problem, plan, i, scratch);
    // Ascending j: the canonical order within the anchor.
    for (let j = 0; j < refs; j++) {
      checkRoom(p + (positiveWeight[j] > 0 ? 1 : 0), positiveCount, i);
      checkRoom(n + (negativeWeight[j] > 0 ? 1 : 0), negativeCount, i);
      if (positiveWeight[j] > 0) {
        outputs.positiveAnchors[p] = i;
        outputs.positives[p++] = j;
      }
      if (negativeWeight[j] > 0) {
        outputs.negativeAnchors[n] = i;
        outputs.negatives[n++] = j;
      }
    }
  }
  checkRoom(positiveCount + negativeCount, p + n, rows - 1);
  return outputs;
}

/** Row i's triplets: batch-hard's one (or none) as a pair, triplet-margin's as ranges in scratch. */
function rowTriplets(plan: MinePlan, problem: PairProblem, i: number, scratch: RowScratch): [number, number] | null {
  minerRow(problem, plan, i, scratch);
  if (plan.minerType === 'batch-hard') return hardestPair(problem, i, scratch.minerValues, isSimilarity(plan.minerDistance));
  tripletMarginRanges(problem, plan, i, scratch, scratch.minerValues);
  return null;
}

function mineTriplets(plan: MinePlan, problem: PairProblem, scratch: RowScratch): MineOutputs {
  const { rows } = problem;
  const batchHard = plan.minerType === 'batch-hard';
  let count = 0;
  for (let i = 0; i < rows; i++) {
    const hardest = rowTriplets(plan, problem, i, scratch);
    if (batchHard) count += hardest ? 1 : 0;
    else for (let q = 0; q < scratch.positiveCount; q++) count += rangeSize(scratch, q);
  }
  checkOutputCount(count, plan, 'triplets');

  const anchors = new Int32Array(count);
  const positives = new Int32Array(count);
  const negatives = new Int32Array(count);
  let t = 0;
  for (let i = 0; i < rows; i++) {
    const hardest = rowTriplets(plan, problem, i, scratch);
    if (batchHard) {
      if (hardest) {
        checkRoom(t + 1, count, i);
        anchors[t] = i;
        positives[t] = hardest[0];
        negatives[t++] = hardest[1];
      }
      continue;
    }
    // Positives are in ascending index; each range is in value order, so sort its indices.
    for (let q = 0; q < scratch.positiveCount; q++) {
      const size = rangeSize(scratch, q);
      if (size === 0) continue;
      checkRoom(t + size, count, i);
      anchors.fill(i, t, t + size);
      positives.fill(scratch.positives[q], t, t + size);
      const slice = negatives.subarray(t, t + size);
      slice.set(scratch.order.subarray(scratch.rangeStart[q], scratch.rangeEnd[q]));
      slice.sort();
      t += size;
    }
  }
  checkRoom(count, t, rows - 1);
  return { anchors, positives, negatives };
}

export function mineFallback(plan: MinePlan): MineOutputs {
  const problem = preparePairs(plan);
  const scratch = new RowScratch(problem.refs);
  return minesTriplets(plan.minerType) ? mineTriplets(plan, problem, scratch) : minePairs(plan, problem, scratch);
}

// ---- pairLoss ----

/**
 * Prepares row i for the loss: its values under both distances and what the miner gives it —
 * pair multiplicities for a pair loss, triplet ranges (loss-active) for the triplet loss.
 * Returns true when the triplets must be visited one by one (see enumeratedTriplets).
 */
function prepareLossRow(plan: PairLossPlan, problem: PairProblem, i: number, scratch: RowScratch): boolean {
  rowDots(problem, i, scratch.dots);
  if (plan.minerType !== 'none') rowValues(problem, i, scratch.dots, plan.minerDistance, scratch.minerValues);
  rowValues(problem, i, scratch.dots, plan.lossDistance, scratch.lossValues);
  if (plan.lossType !== 'triplet-margin') {
    selectPairs(problem, plan, i, scratch);
    return false;
  }
  const sim = isSimilarity(plan.lossDistance);
  if (plan.minerType === 'triplet-margin') {
    if (plan.minerDistance !== plan.lossDistance) {
      tripletMarginRanges(problem, plan, i, scratch, scratch.minerValues);
      return true;
    }
    // Same values, same order: mined ∩ active is again one range per positive.
    tripletMarginRanges(problem, plan, i, scratch, scratch.lossValues);
    activeRanges(scratch, scratch.lossValues, sim, plan.margin);
    scratch.hasNaN = false; // a NaN value is never mined
    return false;
  }
  // No miner, a pair miner (every (a, p, n) of its kept pairs) or batch-hard (its one pair of each).
  selectPairs(problem, plan, i, scratch);
  collectTriplets(scratch, scratch.lossValues, problem.refs);
  activeRanges(scratch, scratch.lossValues, sim, plan.margin);
  return false;
}

/**
 * Adds row i's share of ∂loss/∂x̂ and ∂loss/∂ŷ given coef_j = ∂loss/∂v_ij.  Every value's
 * gradient is ∂v/∂x̂_i = G ŷ_j + H x̂_i and ∂v/∂ŷ_j = G x̂_i + H ŷ_j (times coef): similarities
 * G = 1, H = 0; squared euclidean G = −2, H = 2; euclidean G = −1/d, H = 1/d.  The H ŷ_j terms
 * are summed per column in columnH and applied once at the end.  A near-duplicate pair
 * (directGradientPair) adds coef·H·(x̂_i − ŷ_j) and its negative from the difference instead.
 */
function accumulateRow(
  problem: PairProblem, plan: PairLossPlan, i: number, coef: Float64Array, values: Float64Array,
  gradQuery: Float64Array, gradRef: Float64Array, columnH: Float64Array,
): void {
  const { refs, dim } = problem;
  const x = problem.queries.operand;
  const y = problem.refRows.operand;
  const roundG = plan.precision === 'fp32' ? null : operandRounding(plan.precision);
  const distance = plan.lossDistance;
  const sim = isSimilarity(distance);
  const xBase = i * dim;
  const xSquare = problem.queries.squares[i];
  const ySquares = problem.refRows.squares;
  let rowH = 0;
  for (let j = 0; j < refs; j++) {
    const c = coef[j];
    if (c === 0) continue;
    let g: number;
    let h: number;
    if (sim) {
      g = c;
      h = 0;
    } else if (distance === 'squared-euclidean') {
      g = -2 * c;
      h = 2 * c;
    } else {
      // d = sqrt(squared): ∂d/∂squared = 1/(2d); at d = 0 no gradient, as torch.cdist.
      const v = values[j];
      if (v === 0) continue;
      g = -c / v;
      h = c / v;
    }
    // G is an operand of the gradient products; H = −G stays the pair's one coefficient.
    if (roundG) {
      g = roundG(g);
      if (h !== 0) h = -g;
    }
    const yBase = j * dim;
    if (directGradientPair(distance, values[j], h, xSquare, ySquares[j])) {
      for (let d = 0; d < dim; d++) {
        const term = h * (x[xBase + d] - y[yBase + d]);
        gradQuery[xBase + d] += term;
        gradRef[yBase + d] -= term;
      }
      continue;
    }
    for (let d = 0; d < dim; d++) {
      gradQuery[xBase + d] += g * y[yBase + d];
      gradRef[yBase + d] += g * x[xBase + d];
    }
    rowH += h;
    columnH[j] += h;
  }
  if (rowH !== 0) for (let d = 0; d < dim; d++) gradQuery[xBase + d] += rowH * x[xBase + d];
}

/** Chain rule through x̂ = x / max(‖x‖, floor): (g − (g·x̂)x̂)/‖x‖, or g/floor below the floor; into `out` (count·dim). */
function throughNormalization(vectors: PairVectors, grad: Float64Array, count: number, dim: number, normalize: boolean, out: Float32Array): Float32Array {
  if (!normalize) {
    out.set(grad);
    return out;
  }
  const { unit, norms, floored } = vectors;
  for (let r = 0; r < count; r++) {
    const base = r * dim;
    let radial = 0;
    if (!floored[r]) for (let d = 0; d < dim; d++) radial += grad[base + d] * unit[base + d];
    for (let d = 0; d < dim; d++) out[base + d] = (grad[base + d] - radial * unit[base + d]) / norms[r];
  }
  return out;
}

/** Does row i (prepared) form a pair whose loss or miner value is NaN or ±Inf? */
function formsNonFinitePair(problem: PairProblem, plan: PairLossPlan, i: number, scratch: RowScratch): boolean {
  const excluded = excludedColumn(problem, i);
  const withMiner = plan.minerType !== 'none';
  for (let j = 0; j < problem.refs; j++) {
    if (j === excluded) continue;
    if (!Number.isFinite(scratch.lossValues[j]) || (withMiner && !Number.isFinite(scratch.minerValues[j]))) return true;
  }
  return false;
}

/** The NaN contract's answer: loss and every gradient entry NaN. */
function allNaN(plan: PairLossPlan, problem: PairProblem, out: OutArrays): PairLossOutputs {
  if (!plan.gradients) return { loss: NaN };
  const outputs: PairLossOutputs = { loss: NaN, gradEmbeddings: outputArray(out, 'gradEmbeddings', problem.rows * problem.dim, Float32Array).fill(NaN) };
  if (problem.hasRef) outputs.gradRef = outputArray(out, 'gradRef', problem.refs * problem.dim, Float32Array).fill(NaN);
  return outputs;
}

export function pairLossFallback(plan: PairLossPlan, out: OutArrays = {}): PairLossOutputs {
  // Rows that form no pair contribute nothing, whatever they hold (native: zeroUnreadNonFiniteRows).
  const problem = preparePairs(zeroUnreadNonFiniteRows(plan));
  const { rows, refs, dim } = problem;
  const scratch = new RowScratch(refs);

  // Pass 1: per-row partials, then the totals in row order.  A formed pair with a NaN or infinite
  // value makes everything NaN (docs/spec/nan-inf.md, as on every backend).
  const partials = new Float64Array(rows * PARTIALS);
  for (let i = 0; i < rows; i++) {
    const enumerated = prepareLossRow(plan, problem, i, scratch);
    if (formsNonFinitePair(problem, plan, i, scratch)) return allNaN(plan, problem, out);
    if (enumerated) enumeratedTriplets(plan, scratch, partials, i * PARTIALS, null, null);
    else lossPartials(plan, scratch, refs, partials, i * PARTIALS);
  }
  const totals = new Float64Array(PARTIALS);
  for (let i = 0; i < rows; i++) for (let k = 0; k < PARTIALS; k++) totals[k] += partials[i * PARTIALS + k];
  const loss = reduceLoss(plan, totals, rows);
  if (!plan.gradients) return { loss };

  // Pass 2: each row's coefficients pushed into the gradients of both roles.
  const gradQuery = new Float64Array(rows * dim);
  // Without a reference set both roles are the embeddings, and autograd sums them.
  const gradRef = problem.hasRef ? new Float64Array(refs * dim) : gradQuery;
  const columnH = new Float64Array(refs);
  const coef = new Float64Array(refs);
  for (let i = 0; i < rows; i++) {
    const enumerated = prepareLossRow(plan, problem, i, scratch);
    coef.fill(0);
    if (enumerated) enumeratedTriplets(plan, scratch, partials, 0, totals, coef);
    else lossCoefficients(plan, scratch, refs, totals, rows, coef);
    accumulateRow(problem, plan, i, coef, scratch.lossValues, gradQuery, gradRef, columnH);
  }
  const y = problem.refRows.operand;
  for (let j = 0; j < refs; j++) {
    const h = columnH[j];
    if (h !== 0) for (let d = 0; d < dim; d++) gradRef[j * dim + d] += h * y[j * dim + d];
  }

  const outputs: PairLossOutputs = {
    loss,
    gradEmbeddings: throughNormalization(problem.queries, gradQuery, rows, dim, problem.normalize, outputArray(out, 'gradEmbeddings', rows * dim, Float32Array)),
  };
  if (problem.hasRef) {
    outputs.gradRef = throughNormalization(problem.refRows, gradRef, refs, dim, problem.normalize, outputArray(out, 'gradRef', refs * dim, Float32Array));
  }
  return outputs;
}
