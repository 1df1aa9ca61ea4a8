// marginSoftmax's `precision` option ('tf32', 'bf16'; docs/spec/precision.md) on every backend,
// sync and async, outputs poisoned first, fresh random inputs per seed:
//  1. against a float64 reference of the ROUNDED problem (margin-reference.ts with
//     precision-reference.ts's independent rounding of x̂, ŵ and G): the loss, losses and
//     logSumExp within the fp32 tolerance (1e-5), far below what the rounding itself moves them;
//     the gradients within 1e-4 (normwise) plus, where a backend's float32 G may round the other
//     way than the reference's float64 G (G within a relative 2e-4 of a rounding boundary), that
//     one ulp's contribution.  The TypeScript backend (float64 G) is held to 1e-7.
//  2. against a float64 reference of the UNROUNDED problem: within the bounds the spec derives
//     (loss: 2·S·(2u + u²)·max_j Σ_d |x̂_d||ŵ_jd| per row; gradients: through the softmax's
//     sensitivity and the operands' rounding), for margins with ψ' = 1 and no smoothing.
//  3. validation: a bad value is OPTION / INVALID_ARG; 'fp32' is the default, bit for bit.
import { describe, expect, it } from 'vitest';

import { marginSoftmax, marginSoftmaxAsync, type MarginSoftmaxResult } from './api';
import { backendCases, checkNormwise, norm, Rng, testSeed } from './helpers';
import {
  drawCase,
  marginArgs,
  refMarginSoftmax,
  type MarginCase,
  type MarginRef,
  type Spec,
} from './margin-reference';
import {
  checkMargin,
  gradWeightsRows,
  marginBitwiseDiff,
} from './margin-checks';
import { referenceRounding, unitRoundoff, type ReducedPrecision } from './precision-reference';

const SEED = testSeed('precision.margin');
const BACKENDS = backendCases();
const PRECISIONS: readonly ReducedPrecision[] = ['tf32', 'bf16'];

// Fixed scale everywhere (the gradient bounds below are written for it); shapes no multiple of any tile.
const SPECS: Spec[] = [
  { name: 'cosface s 30', N: 33, D: 64, C: 300, opts: { margin: { type: 'cosface', m: 0.35 }, scale: 30 } },
  { name: 'none s 16, columns layout', N: 17, D: 17, C: 129, opts: { margin: { type: 'none' }, scale: 16, columns: true } },
  { name: 'arcface defaults', N: 33, D: 130, C: 7, opts: {} },
  { name: 'arcface subCenters 3, classIndices, ignored rows', N: 33, D: 17, C: 300, K: 3, subset: true, ignored: 0.2, opts: {} },
  { name: 'cosface labelSmoothing 0.1, rowWeights', N: 20, D: 48, C: 65, rowWeights: true, opts: { margin: { type: 'cosface' }, labelSmoothing: 0.1, scale: 32 } },
  // CPU: a 1536-center tile (taller than the bf16 GEMM's 1008-row chunk) and a last tile of 15 (odd: a half-empty bf16 pair).
  { name: 'arcface subCenters 3, 517 classes, D 17', N: 24, D: 17, C: 517, K: 3, opts: {} },
];
/** The specs the unrounded bounds apply to: ψ' = 1, no smoothing, one center per class. */
const BOUNDED = new Set(['cosface s 30', 'none s 16, columns layout']);

/** A case whose ROUNDED reference has no decision within float32 noise (redrawn otherwise). */
function roundedCase(rng: Rng, spec: Spec, precision: ReducedPrecision): { c: MarginCase; ref: MarginRef } {
  for (let attempt = 0; attempt < 200; attempt++) {
    const c = drawCase(rng, spec);
    const ref = refMarginSoftmax({ ...c, operandRounding: referenceRounding(precision) });
    if (ref.ambiguous.length === 0) return { c, ref };
  }
  throw new Error(`${spec.name}: no case without near-ties`);
}

/** `out` arrays filled with NaN, so an element a backend does not write fails every check. */
function poisonedOut(c: MarginCase): Record<string, Float32Array | Int32Array> {
  const R = (c.classIndices ? c.classIndices.length : c.C) * c.K;
  return {
    losses: new Float32Array(c.N).fill(NaN),
    logSumExp: new Float32Array(c.N).fill(NaN),
    predictions: new Int32Array(c.N).fill(-7),
    gradEmbeddings: new Float32Array(c.N * c.D).fill(NaN),
    gradWeights: new Float32Array(R * c.D).fill(NaN),
  };
}

/** Rows of `count` × D: ‖b_r‖/‖v_r‖ combined over the rows (a bound on the normwise error after the normalization). */
function rowsBound(bound: Float64Array, norms: Float64Array, D: number): number {
  let sum = 0;
  for (let r = 0; r < norms.length; r++) {
    let row = 0;
    for (let d = 0; d < D; d++) row += bound[r * D + d] ** 2;
    sum += row / norms[r] ** 2;
  }
  return Math.sqrt(sum);
}

function rowNorms(data: ArrayLike<number>, count: number, D: number): Float64Array {
  return Float64Array.from({ length: count }, (_, r) => Math.max(norm(Array.from({ length: D }, (_, d) => data[r * D + d])), 1e-12));
}

interface GradientBounds {
  /** Per element of the unit gradients ∂/∂x̂ [N, D] and ∂/∂ŵ [all C·K, D]: the sum of |term|·weight. */
  embeddings: Float64Array;
  centers: Float64Array;
}

/**
 * Σ_j weight(i, j)·|ŵ_jd| and Σ_i weight(i, j)·|x̂_id| over the reference's arg-max centers, the
 * magnitudes the products' errors scale with (weight: a per-term error bound of G).
 */
function termBounds(c: MarginCase, ref: MarginRef, weight: (i: number, j: number) => number): GradientBounds {
  const { N, D, K } = c;
  const ids = c.classIndices ? Array.from(c.classIndices) : Array.from({ length: c.C }, (_, j) => j);
  const Cc = ids.length;
  const x = ref.embeddingOperands;
  const w = ref.centerOperands;
  const embeddings = new Float64Array(N * D);
  const centers = new Float64Array(c.C * K * D);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < Cc; j++) {
      const g = weight(i, j);
      if (g === 0) continue;
      // The arg-max center: G lives on it alone (K = 1 in the bounded specs; else the reference's choice).
      let row = ids[j] * K;
      let best = -Infinity;
      for (let k = 0; k < K; k++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += x[i * D + d] * w[(ids[j] * K + k) * D + d];
        if (dot > best) (best = dot), (row = ids[j] * K + k);
      }
      for (let d = 0; d < D; d++) {
        embeddings[i * D + d] += g * Math.abs(w[row * D + d]);
        centers[row * D + d] += g * Math.abs(x[i * D + d]);
      }
    }
  }
  return { embeddings, centers };
}

/** The computed classes' rows of an all-centers matrix, in classIndices order. */
function computedRows(c: MarginCase, all: Float64Array): Float64Array {
  if (!c.classIndices) return all;
  const out = new Float64Array(c.classIndices.length * c.K * c.D);
  c.classIndices.forEach((id, j) => out.set(all.subarray(id * c.K * c.D, (id + 1) * c.K * c.D), j * c.K * c.D));
  return out;
}

function forwardOnly(result: MarginSoftmaxResult): MarginSoftmaxResult {
  const { gradEmbeddings: _e, gradWeights: _w, ...rest } = result;
  return rest as MarginSoftmaxResult;
}

/** Against the rounded problem's reference: forward at the fp32 tolerance, gradients as the header says. */
function checkRounded(result: MarginSoftmaxResult, c: MarginCase, ref: MarginRef, precision: ReducedPrecision, exactG: boolean, label: string): string[] {
  const failures = checkMargin(forwardOnly(result), ref, c, { gradients: false }, label);
  const round = referenceRounding(precision);
  // A G within `window` (relative) of a rounding boundary may round either way on a float32 backend.
  const window = exactG ? 1e-9 : 2e-4;
  const flips = termBounds(c, ref, (i, j) => {
    const g = ref.gradCosine[i * (ref.gradCosine.length / c.N) + j];
    return Math.abs(round(g * (1 + window)) - round(g * (1 - window)));
  });
  const tol = exactG ? 1e-7 : 1e-4;
  const xNorms = rowNorms(c.embeddings, c.N, c.D);
  const wNorms = rowNorms(c.weights, c.C * c.K, c.D);
  const flipRows = computedRows(c, flips.centers);
  const computedNorms = c.classIndices ? Float64Array.from(Array.from(c.classIndices).flatMap((id) => Array.from({ length: c.K }, (_, k) => wNorms[id * c.K + k]))) : wNorms;
  failures.push(...checkNormwise(result.gradEmbeddings, ref.gradEmbeddings, tol * norm(ref.gradEmbeddings) + rowsBound(flips.embeddings, xNorms, c.D) + 1e-12, `${label} gradEmbeddings`));
  failures.push(...checkNormwise(gradWeightsRows(result, c), ref.gradWeights, tol * norm(ref.gradWeights) + rowsBound(flipRows, computedNorms, c.D) + 1e-12, `${label} gradWeights`));
  return failures;
}

/** Against the unrounded problem's reference, within the derived bounds (BOUNDED specs). */
function checkUnrounded(result: MarginSoftmaxResult, c: MarginCase, precision: ReducedPrecision, label: string): string[] {
  const exact = refMarginSoftmax(c);
  const u = unitRoundoff(precision);
  const S = c.scale ?? 64;
  const { N, D, C } = c;
  const x = exact.embeddingOperands;
  const w = exact.centerOperands;
  // Δ_i: a bound on every logit's change in row i (ψ' = 1): S·(2u + u²)·max_j Σ_d |x̂_id||ŵ_jd|.
  const delta = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < C; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += Math.abs(x[i * D + d] * w[j * D + d]);
      delta[i] = Math.max(delta[i], S * (2 * u + u * u) * s);
    }
  }
  const failures: string[] = [];
  for (let i = 0; i < N; i++) {
    if (c.labels[i] < 0) continue;
    const bound = 2 * delta[i] + 1e-5 * Math.max(1, Math.abs(exact.losses[i]));
    if (!(Math.abs(result.losses[i] - exact.losses[i]) <= bound)) {
      failures.push(`${label} losses[${i}] = ${result.losses[i]}, unrounded ${exact.losses[i]}: over the bound ${bound}`);
    }
  }
  // G moves by at most γ_i|G| (softmax: e^{2Δ_i} − 1, then its own rounding u), each operand by u.
  const growth = (i: number) => {
    const eta = Math.expm1(2 * delta[i]);
    const gamma = eta + u * (1 + eta);
    return (1 + gamma) * (1 + u) - 1;
  };
  const bounds = termBounds(c, exact, (i, j) => growth(i) * Math.abs(exact.gradCosine[i * C + j]));
  const xNorms = rowNorms(c.embeddings, N, D);
  const wNorms = rowNorms(c.weights, C, D);
  failures.push(...checkNormwise(result.gradEmbeddings, exact.gradEmbeddings, rowsBound(bounds.embeddings, xNorms, D) + 1e-4 * norm(exact.gradEmbeddings), `${label} gradEmbeddings (unrounded)`));
  failures.push(...checkNormwise(gradWeightsRows(result, c), exact.gradWeights, rowsBound(bounds.centers, wNorms, D) + 1e-4 * norm(exact.gradWeights), `${label} gradWeights (unrounded)`));
  return failures;
}

describe.each(BACKENDS)('marginSoftmax precision on $name', ({ name, available, reason }) => {
  const backend = name;
  it.skipIf(!available)(`tf32 and bf16 against the rounded and the unrounded float64 references${available ? '' : ` (${reason})`}`, () => {
    const rng = new Rng(SEED);
    const failures: string[] = [];
    for (const spec of SPECS) {
      for (const precision of PRECISIONS) {
        const { c, ref } = roundedCase(rng, spec, precision);
        const label = `${spec.name} ${precision}`;
        const result = marginSoftmax(marginArgs(c, backend, { precision, out: poisonedOut(c) }));
        if (result.backend !== backend) failures.push(`${label}: ran on ${result.backend}`);
        failures.push(...checkRounded(result, c, ref, precision, backend === 'js', label));
        if (BOUNDED.has(spec.name)) failures.push(...checkUnrounded(result, c, precision, label));
      }
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('async gives the sync bits; fp32 is the default, bit for bit', async () => {
    const rng = new Rng(SEED ^ 0x5bd1e995);
    const c = drawCase(rng, SPECS[0]);
    for (const precision of PRECISIONS) {
      const sync = marginSoftmax(marginArgs(c, backend, { precision }));
      const async = await marginSoftmaxAsync(marginArgs(c, backend, { precision, out: poisonedOut(c) }));
      expect(marginBitwiseDiff(async, sync, `${precision} async`)).toEqual([]);
    }
    const plain = marginSoftmax(marginArgs(c, backend));
    expect(marginBitwiseDiff(marginSoftmax(marginArgs(c, backend, { precision: 'fp32' })), plain, 'fp32')).toEqual([]);
    // And the option does something: bf16's loss is not fp32's.
    expect(marginSoftmax(marginArgs(c, backend, { precision: 'bf16' })).loss).not.toBe(plain.loss);
  });
});

describe('precision validation', () => {
  const c = drawCase(new Rng(SEED), SPECS[0]);
  it('an unknown name is ERR_FUSEDLOSS_OPTION, a non-string ERR_FUSEDLOSS_INVALID_ARG, on every backend', () => {
    for (const { name, available } of BACKENDS) {
      if (!available) continue;
      expect(() => marginSoftmax(marginArgs(c, name, { precision: 'fp16' }))).toThrow(expect.objectContaining({ code: 'ERR_FUSEDLOSS_OPTION', name: 'RangeError' }));
      expect(() => marginSoftmax(marginArgs(c, name, { precision: 16 }))).toThrow(expect.objectContaining({ code: 'ERR_FUSEDLOSS_INVALID_ARG', name: 'TypeError' }));
    }
  });
});
