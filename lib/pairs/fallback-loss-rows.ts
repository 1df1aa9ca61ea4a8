// The per-row math of the pair losses in the pure-TypeScript backend (./pair-mining.ts), in
// float64.  Each loss splits into
//  • partials: up to PARTIALS numbers per row (sums and counts), added up in row order into the
//    global totals that normalize the loss (a mean over rows, over active pairs, …);
//  • coefficients: ∂loss/∂v_ij for one row, already divided by those totals.
// A row arrives prepared in a RowScratch: its loss values, and either the pair multiplicities the
// miner gives (pair losses) or the triplet ranges over sorted negatives (the triplet loss).
import { coverCounts, isSimilarity, rangeSize, type RowScratch } from './fallback-rows';
import type { PairLossPlan } from './types';

export const PARTIALS = 4;


/** sum / count, 0 without terms — but NaN stays NaN, so a NaN input reaches the loss. */
function meanOrZero(sum: number, count: number): number {
  if (count > 0) return sum / count;
  return sum === sum ? 0 : NaN;
}

function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** `if (!(x <= max)) max = x`: a NaN becomes the max and sticks, so it propagates. */
function nanMax(max: number, x: number): number {
  return x <= max ? max : max !== max ? max : x;
}

// ---- multi-similarity: (1/α)·log(1 + Σ_P e^{x_p}) + (1/β)·log(1 + Σ_N e^{x_n}) ----

/** Shift and sum with log(1 + Σ e^{x}) = shift + log(sum), x = scale·sign·(v − base); the implicit 0 is included. */
function onePlusSumExp(values: Float64Array, weights: Float64Array, refs: number, scale: number, sign: number, base: number): [number, number] {
  let shift = 0;
  for (let j = 0; j < refs; j++) if (weights[j] > 0) shift = nanMax(shift, scale * sign * (values[j] - base));
  let sum = Math.exp(-shift);
  for (let j = 0; j < refs; j++) if (weights[j] > 0) sum += Math.exp(scale * sign * (values[j] - base) - shift);
  return [shift, sum];
}

/** Signs of x = scale·sign·(v − λ): positives α(λ − s) or α(d − λ), negatives β(s − λ) or β(λ − d). */
function msSigns(sim: boolean): [number, number] {
  return sim ? [-1, 1] : [1, -1];
}

function msPartials(plan: PairLossPlan, scratch: RowScratch, refs: number, sim: boolean, out: Float64Array, offset: number): void {
  const [positiveSign, negativeSign] = msSigns(sim);
  const values = scratch.lossValues;
  const [pShift, pSum] = onePlusSumExp(values, scratch.positiveWeight, refs, plan.alpha, positiveSign, plan.base);
  const [nShift, nSum] = onePlusSumExp(values, scratch.negativeWeight, refs, plan.beta, negativeSign, plan.base);
  // An empty set leaves sum = e^0 = 1 and shift 0: log 1 = 0, the term PML drops.
  out[offset] = (pShift + Math.log(pSum)) / plan.alpha + (nShift + Math.log(nSum)) / plan.beta;
}

function msCoefficients(plan: PairLossPlan, scratch: RowScratch, refs: number, sim: boolean, rows: number, coef: Float64Array): void {
  const [positiveSign, negativeSign] = msSigns(sim);
  const values = scratch.lossValues;
  const parts: [Float64Array, number, number][] = [
    [scratch.positiveWeight, plan.alpha, positiveSign],
    [scratch.negativeWeight, plan.beta, negativeSign],
  ];
  for (const [weights, scale, sign] of parts) {
    const [shift, sum] = onePlusSumExp(values, weights, refs, scale, sign, plan.base);
    // ∂/∂v (1/scale)·log(1 + Σ e^x) = softmax weight σ_j times dx/dv / scale = sign.
    for (let j = 0; j < refs; j++) {
      if (weights[j] > 0) coef[j] = (sign * Math.exp(scale * sign * (values[j] - plan.base) - shift)) / sum / rows;
    }
  }
}

// ---- contrastive: relu(d − m⁺) per positive, relu(m⁻ − d) per negative, mean of the > 0 per part ----

/** The hinge argument of a contrastive pair: positive sim ? m⁺ − s : d − m⁺, negative sim ? s − m⁻ : m⁻ − d. */
function contrastiveArgument(v: number, positive: boolean, sim: boolean, plan: PairLossPlan): number {
  if (positive) return sim ? plan.posMargin - v : v - plan.posMargin;
  return sim ? v - plan.negMargin : plan.negMargin - v;
}

function contrastivePartials(plan: PairLossPlan, scratch: RowScratch, refs: number, sim: boolean, out: Float64Array, offset: number): void {
  const values = scratch.lossValues;
  let positiveSum = 0, positiveCount = 0, negativeSum = 0, negativeCount = 0;
  for (let j = 0; j < refs; j++) {
    const wp = scratch.positiveWeight[j];
    const wn = scratch.negativeWeight[j];
    if (wp > 0) {
      const term = Math.max(contrastiveArgument(values[j], true, sim, plan), 0);
      positiveSum += wp * term;
      if (term > 0) positiveCount += wp;
    } else if (wn > 0) {
      const term = Math.max(contrastiveArgument(values[j], false, sim, plan), 0);
      negativeSum += wn * term;
      if (term > 0) negativeCount += wn;
    }
  }
  out[offset] = positiveSum;
  out[offset + 1] = positiveCount;
  out[offset + 2] = negativeSum;
  out[offset + 3] = negativeCount;
}

function contrastiveCoefficients(plan: PairLossPlan, scratch: RowScratch, refs: number, sim: boolean, totals: Float64Array, coef: Float64Array): void {
  const values = scratch.lossValues;
  for (let j = 0; j < refs; j++) {
    const wp = scratch.positiveWeight[j];
    const wn = scratch.negativeWeight[j];
    if (wp > 0 && contrastiveArgument(values[j], true, sim, plan) > 0) coef[j] = (wp * (sim ? -1 : 1)) / totals[1];
    else if (wn > 0 && contrastiveArgument(values[j], false, sim, plan) > 0) coef[j] = (wn * (sim ? 1 : -1)) / totals[3];
  }
}

// ---- circle (cosine): softplus(LSE_P + LSE_N), the relu factors held constant ----

function circleLogit(s: number, positive: boolean, plan: PairLossPlan): number {
  const m = plan.circleM;
  if (positive) return -plan.gamma * Math.max(1 + m - s, 0) * (s - (1 - m));
  return plan.gamma * Math.max(s + m, 0) * (s - m);
}

/** log Σ e^{logit} over the set (−∞ when empty). */
function circleLogSumExp(values: Float64Array, weights: Float64Array, refs: number, positive: boolean, plan: PairLossPlan): number {
  let max = -Infinity;
  for (let j = 0; j < refs; j++) if (weights[j] > 0) max = nanMax(max, circleLogit(values[j], positive, plan));
  if (max === -Infinity) return max;
  let sum = 0;
  for (let j = 0; j < refs; j++) if (weights[j] > 0) sum += Math.exp(circleLogit(values[j], positive, plan) - max);
  return max + Math.log(sum);
}

/** LSE_P + LSE_N of the row, or null when the row lacks positives or negatives (its loss is 0). */
function circleExponent(plan: PairLossPlan, scratch: RowScratch, refs: number): [number, number] | null {
  const lseP = circleLogSumExp(scratch.lossValues, scratch.positiveWeight, refs, true, plan);
  const lseN = circleLogSumExp(scratch.lossValues, scratch.negativeWeight, refs, false, plan);
  return lseP === -Infinity || lseN === -Infinity ? null : [lseP, lseN];
}

function circlePartials(plan: PairLossPlan, scratch: RowScratch, refs: number, out: Float64Array, offset: number): void {
  const lse = circleExponent(plan, scratch, refs);
  const loss = lse ? softplus(lse[0] + lse[1]) : 0;
  out[offset] = loss;
  // The mean is over the rows whose loss is > 0 (a NaN row counts, so NaN reaches the loss).
  out[offset + 1] = loss > 0 || loss !== loss ? 1 : 0;
}

function circleCoefficients(plan: PairLossPlan, scratch: RowScratch, refs: number, totals: Float64Array, coef: Float64Array): void {
  const lse = circleExponent(plan, scratch, refs);
  // totals[1] = 0: every row's loss underflowed to 0, and so do the gradients.
  if (!lse || totals[1] === 0) return;
  const outer = sigmoid(lse[0] + lse[1]) / totals[1];
  const values = scratch.lossValues;
  const m = plan.circleM;
  for (let j = 0; j < refs; j++) {
    const s = values[j];
    if (scratch.positiveWeight[j] > 0) {
      coef[j] = outer * Math.exp(circleLogit(s, true, plan) - lse[0]) * -plan.gamma * Math.max(1 + m - s, 0);
    } else if (scratch.negativeWeight[j] > 0) {
      coef[j] = outer * Math.exp(circleLogit(s, false, plan) - lse[1]) * plan.gamma * Math.max(s + m, 0);
    }
  }
}

// ---- NT-Xent: per positive pair softplus(Z_a − s_ap/τ), Z_a = LSE_n (s_an/τ + log w⁻) ----

/** Z_a over the weighted negatives (−∞ without any); s = sim ? v : −v. */
function ntxentNormalizer(scratch: RowScratch, refs: number, sign: number, tau: number): number {
  const values = scratch.lossValues;
  const weights = scratch.negativeWeight;
  let max = -Infinity;
  for (let j = 0; j < refs; j++) if (weights[j] > 0) max = nanMax(max, (sign * values[j]) / tau + Math.log(weights[j]));
  if (max === -Infinity) return max;
  let sum = 0;
  for (let j = 0; j < refs; j++) if (weights[j] > 0) sum += Math.exp((sign * values[j]) / tau + Math.log(weights[j]) - max);
  return max + Math.log(sum);
}

function ntxentPartials(plan: PairLossPlan, scratch: RowScratch, refs: number, sim: boolean, out: Float64Array, offset: number): void {
  const sign = sim ? 1 : -1;
  const tau = plan.temperature;
  const z = ntxentNormalizer(scratch, refs, sign, tau);
  let sum = 0, count = 0;
  for (let j = 0; j < refs; j++) {
    const w = scratch.positiveWeight[j];
    if (w > 0) {
      sum += w * softplus(z - (sign * scratch.lossValues[j]) / tau);
      count += w;
    }
  }
  out[offset] = sum;
  out[offset + 1] = count;
}

function ntxentCoefficients(plan: PairLossPlan, scratch: RowScratch, refs: number, sim: boolean, totals: Float64Array, coef: Float64Array): void {
  const sign = sim ? 1 : -1;
  const tau = plan.temperature;
  const values = scratch.lossValues;
  const z = ntxentNormalizer(scratch, refs, sign, tau);
  // Sweep 1: the positives' own coefficients and Σ_p w⁺ sigmoid(r_ap), which every negative shares.
  let shared = 0;
  for (let j = 0; j < refs; j++) {
    const w = scratch.positiveWeight[j];
    if (w > 0) {
      const gate = w * sigmoid(z - (sign * values[j]) / tau);
      shared += gate;
      coef[j] = (-sign * gate) / tau / totals[1];
    }
  }
  if (shared === 0) return;
  // Sweep 2: each negative's share of Z_a, w⁻ e^{s/τ − Z_a}.
  for (let j = 0; j < refs; j++) {
    const w = scratch.negativeWeight[j];
    if (w > 0) coef[j] = (sign * w * Math.exp((sign * values[j]) / tau - z) * shared) / tau / totals[1];
  }
}

// ---- threshold-consistent (cosine): λ⁺·mean(m⁺ − s | s ≤ m⁺) + λ⁻·mean(s − m⁻ | s ≥ m⁻) ----

function thresholdPartials(plan: PairLossPlan, scratch: RowScratch, refs: number, out: Float64Array, offset: number): void {
  const values = scratch.lossValues;
  let positiveSum = 0, positiveCount = 0, negativeSum = 0, negativeCount = 0;
  for (let j = 0; j < refs; j++) {
    const s = values[j];
    const wp = scratch.positiveWeight[j];
    const wn = scratch.negativeWeight[j];
    if (wp > 0 && s <= plan.marginPlus) {
      positiveSum += wp * (plan.marginPlus - s);
      positiveCount += wp;
    } else if (wn > 0 && s >= plan.marginMinus) {
      negativeSum += wn * (s - plan.marginMinus);
      negativeCount += wn;
    } else if ((wp > 0 || wn > 0) && s !== s) {
      // Outside both masks, yet NaN·0 still reaches PML's sums: the loss becomes NaN.
      positiveSum = NaN;
    }
  }
  out[offset] = positiveSum;
  out[offset + 1] = positiveCount;
  out[offset + 2] = negativeSum;
  out[offset + 3] = negativeCount;
}

function thresholdCoefficients(plan: PairLossPlan, scratch: RowScratch, refs: number, totals: Float64Array, coef: Float64Array): void {
  const values = scratch.lossValues;
  for (let j = 0; j < refs; j++) {
    const s = values[j];
    const wp = scratch.positiveWeight[j];
    const wn = scratch.negativeWeight[j];
    if (wp > 0 && s <= plan.marginPlus) coef[j] = (-plan.lambdaPlus * wp) / totals[1];
    else if (wn > 0 && s >= plan.marginMinus) coef[j] = (plan.lambdaMinus * wn) / totals[3];
  }
}

// ---- triplet margin: relu(m − t) per triplet, t = sim ? s_ap − s_an : d_an − d_ap ----

/**
 * Σ (m − t) and the count over the active triplets, from the ranges (activeRanges already
 * applied): per positive, Σ_n t = ±(count·v_p − Σ_range v_n) by prefix sums.
 */
function tripletPartials(plan: PairLossPlan, scratch: RowScratch, sim: boolean, out: Float64Array, offset: number): void {
  const { positives, prefix, rangeStart, rangeEnd } = scratch;
  const values = scratch.lossValues;
  let sum = 0, count = 0;
  for (let q = 0; q < scratch.positiveCount; q++) {
    const size = rangeSize(scratch, q);
    if (size === 0) continue;
    const vp = values[positives[q]];
    const negatives = prefix[rangeEnd[q]] - prefix[rangeStart[q]];
    const gapSum = sim ? size * vp - negatives : negatives - size * vp;
    sum += size * plan.margin - gapSum;
    count += size;
  }
  out[offset] = scratch.hasNaN ? NaN : sum;
  out[offset + 1] = count;
}

/** ∂/∂v_p = ±count_p/K, ∂/∂v_n = ∓(#positives whose range holds n)/K. */
function tripletCoefficients(scratch: RowScratch, sim: boolean, totals: Float64Array, coef: Float64Array): void {
  const positiveSign = sim ? -1 : 1;
  for (let q = 0; q < scratch.positiveCount; q++) {
    const size = rangeSize(scratch, q);
    if (size > 0) coef[scratch.positives[q]] = (positiveSign * size) / totals[1];
  }
  coverCounts(scratch);
  for (let k = 0; k < scratch.negativeCount; k++) {
    if (scratch.cover[k] > 0) coef[scratch.order[k]] = (-positiveSign * scratch.cover[k]) / totals[1];
  }
}

/**
 * The triplet loss on mined ranges whose order is the miner's, not the loss's (a triplet-margin
 * miner with another distance than the loss — the public API never builds one, as the call's
 * distance applies to both): the mined triplets are visited one by one.  With `coef` null it
 * writes the partials, else the coefficients.
 */
export function enumeratedTriplets(plan: PairLossPlan, scratch: RowScratch, out: Float64Array, offset: number, totals: Float64Array | null, coef: Float64Array | null): void {
  const sim = isSimilarity(plan.lossDistance);
  const values = scratch.lossValues;
  const positiveSign = sim ? -1 : 1;
  let sum = 0, count = 0;
  for (let q = 0; q < scratch.positiveCount; q++) {
    const p = scratch.positives[q];
    for (let k = scratch.rangeStart[q]; k < scratch.rangeEnd[q]; k++) {
      const n = scratch.order[k];
      const t = sim ? values[p] - values[n] : values[n] - values[p];
      if (t !== t) sum = NaN;
      if (!(t < plan.margin)) continue;
      sum += plan.margin - t;
      count++;
      if (coef && totals) {
        coef[p] += positiveSign / totals[1];
        coef[n] -= positiveSign / totals[1];
      }
    }
  }
  if (!coef) {
    out[offset] = sum;
    out[offset + 1] = count;
  }
}

// ---- dispatch ----

/** Row i's partials (scratch prepared) into out[offset, offset + PARTIALS). */
export function lossPartials(plan: PairLossPlan, scratch: RowScratch, refs: number, out: Float64Array, offset: number): void {
  const sim = isSimilarity(plan.lossDistance);
  switch (plan.lossType) {
    case 'multi-similarity': return msPartials(plan, scratch, refs, sim, out, offset);
    case 'contrastive': return contrastivePartials(plan, scratch, refs, sim, out, offset);
    case 'triplet-margin': return tripletPartials(plan, scratch, sim, out, offset);
    case 'circle': return circlePartials(plan, scratch, refs, out, offset);
    case 'ntxent': return ntxentPartials(plan, scratch, refs, sim, out, offset);
    default: return thresholdPartials(plan, scratch, refs, out, offset);
  }
}

/** The loss from the totals of the partials over all rows. */
export function reduceLoss(plan: PairLossPlan, totals: Float64Array, rows: number): number {
  switch (plan.lossType) {
    case 'multi-similarity': return totals[0] / rows;
    case 'contrastive': return meanOrZero(totals[0], totals[1]) + meanOrZero(totals[2], totals[3]);
    case 'threshold-consistent':
      return plan.lambdaPlus * meanOrZero(totals[0], totals[1]) + plan.lambdaMinus * meanOrZero(totals[2], totals[3]);
    default: return meanOrZero(totals[0], totals[1]); // triplet, circle, NT-Xent
  }
}

/** ∂loss/∂v_ij of row i into coef (zeroed by the caller). */
export function lossCoefficients(plan: PairLossPlan, scratch: RowScratch, refs: number, totals: Float64Array, rows: number, coef: Float64Array): void {
  const sim = isSimilarity(plan.lossDistance);
  switch (plan.lossType) {
    case 'multi-similarity': return msCoefficients(plan, scratch, refs, sim, rows, coef);
    case 'contrastive': return contrastiveCoefficients(plan, scratch, refs, sim, totals, coef);
    case 'triplet-margin': return tripletCoefficients(scratch, sim, totals, coef);
    case 'circle': return circleCoefficients(plan, scratch, refs, totals, coef);
    case 'ntxent': return ntxentCoefficients(plan, scratch, refs, sim, totals, coef);
    default: return thresholdCoefficients(plan, scratch, refs, totals, coef);
  }
}
