// An independent float64 reference for marginSoftmax() (docs/spec/margin.md), written
// straight from the spec's formulas: it MATERIALIZES the cosines and logits (N×C doubles, which
// tests may do) and differentiates them by hand.  It shares no code with lib/fallback or
// native/math.  It is itself held against the golden vectors (margin.fixtures.test.ts) and against
// central differences of its own loss, so the random tests rest on a checked reference.
//
// Also here: the test cases' description (MarginCase), the public call a case becomes, and random
// cases drawn clear of float32-sensitive decisions.  The comparisons are in margin-checks.ts.
import type { MarginSoftmaxArgs, MarginSpec, ScaleMode } from './api';
import { transpose, type Rng } from './helpers';

// ---------------------------------------------------------------------------------------------
// Cases

/** One problem: the weights are always stored here as rows [C·K, D], class-major. */
export interface MarginCase {
  N: number;
  D: number;
  /** All classes (rows of weights / K). */
  C: number;
  K: number;
  embeddings: Float32Array;
  weights: Float32Array;
  labels: Int32Array;
  margin?: MarginSpec;
  scale?: number;
  scaleMode?: ScaleMode;
  labelSmoothing?: number;
  interclassFilter?: number;
  curricular?: { t: number; momentum?: number };
  classIndices?: Int32Array;
  rowWeights?: Float32Array;
  rowAngular?: Float32Array;
  rowAdditive?: Float32Array;
  reduction?: 'mean' | 'sum';
  /** Pass the weights as [D, C·K] with weightsLayout 'columns'. */
  columns?: boolean;
  /** Pass subCenters even when it is 1. */
  passSubCenters?: boolean;
}

/** What the reference reads: a case whose float data may be float64 (finite differences). */
export type RefInput = Omit<MarginCase, 'embeddings' | 'weights'> & {
  embeddings: ArrayLike<number>;
  weights: ArrayLike<number>;
  /**
   * The precision option's rounding of GEMM operands (test/precision-reference.ts): applied to x̂
   * and ŵ where they are multiplied and to G = ∂loss/∂c before it multiplies them; the
   * normalization's backward keeps the exact unit vectors (docs/spec/precision.md).
   */
  operandRounding?: (x: number) => number;
};

/** The public call for a case (weights transposed for 'columns'). */
export function marginArgs(c: MarginCase, backend: string, extra: Record<string, unknown> = {}): MarginSoftmaxArgs {
  const R = c.C * c.K;
  const args: Record<string, unknown> = {
    embeddings: { data: c.embeddings, shape: [c.N, c.D] },
    weights: c.columns ? { data: transpose(c.weights, R, c.D), shape: [c.D, R] } : { data: c.weights, shape: [R, c.D] },
    labels: c.labels,
    backend,
  };
  if (c.columns) args.weightsLayout = 'columns';
  if (c.K !== 1 || c.passSubCenters) args.subCenters = c.K;
  if (c.margin !== undefined) args.margin = c.margin;
  if (c.scale !== undefined) args.scale = c.scale;
  if (c.scaleMode !== undefined) args.scaleMode = c.scaleMode;
  if (c.labelSmoothing !== undefined) args.labelSmoothing = c.labelSmoothing;
  if (c.interclassFilter !== undefined) args.interclassFilter = c.interclassFilter;
  if (c.curricular !== undefined) args.curricular = { ...c.curricular };
  if (c.classIndices !== undefined) args.classIndices = c.classIndices;
  if (c.rowWeights !== undefined) args.rowWeights = c.rowWeights;
  if (c.rowAngular || c.rowAdditive) {
    const rowMargins: Record<string, unknown> = {};
    if (c.rowAngular) rowMargins.angular = c.rowAngular;
    if (c.rowAdditive) rowMargins.additive = c.rowAdditive;
    args.rowMargins = rowMargins;
  }
  if (c.reduction !== undefined) args.reduction = c.reduction;
  return { ...args, ...extra } as unknown as MarginSoftmaxArgs;
}

// ---------------------------------------------------------------------------------------------
// The reference

export interface MarginRef {
  loss: number;
  losses: Float64Array;
  logSumExp: Float64Array;
  predictions: Int32Array;
  /** Per row: the class ids a float32 kernel may report (a near-tie within 1e-5), or null (exact). */
  predictionChoices: (number[] | null)[];
  gradEmbeddings: Float64Array;
  /** Rows layout, computed classes only, in order (K rows each). */
  gradWeights: Float64Array;
  curricularT?: number;
  /** Decisions within float32 noise of a discontinuity (test data is redrawn when not empty). */
  ambiguous: string[];
  /** Per (row, computed class): the unmargined cosine (max over the sub-centers). */
  cosines: Float64Array;
  /** Per row: what the margin adds to the loss tolerance by amplifying the cosine's float32 rounding. */
  lossSlack: Float64Array;
  /** The same for the reduced loss (Σ of the rows' slack times their weight in the reduction). */
  reducedSlack: number;
  /** G = ∂loss/∂c per (row, computed class) before operandRounding, at the arg-max center. */
  gradCosine: Float64Array;
  /** The operands of the products: x̂ [N, D] and ŵ [all C·K, D], rounded when operandRounding is given. */
  embeddingOperands: Float64Array;
  centerOperands: Float64Array;
}

const NORM_FLOOR = 1e-12;
const SIN2_FLOOR = 1e-12;
/** Distance to a discontinuity (or a near-tie) that float32 rounding could cross. */
export const NEAR = 1e-5;

interface Margin {
  kind: 'none' | 'cosface' | 'combined' | 'sphereface';
  m1: number;
  m2: number;
  m3: number;
  easy: boolean;
  straight: boolean;
}

/** The spec's defaults; arcface = combined(1, m, 0). */
export function resolveMargin(spec: MarginSpec | undefined): Margin {
  const m = (spec ?? { type: 'arcface' }) as MarginSpec & Record<string, unknown>;
  const base = { m1: 1, m2: 0, m3: 0, easy: false, straight: false };
  const easy = m.easyMargin === true;
  const straight = m.gradient === 'straight-through';
  switch (m.type) {
    case 'none':
      return { ...base, kind: 'none' };
    case 'cosface':
      return { ...base, kind: 'cosface', m3: (m.m as number | undefined) ?? 0.35 };
    case 'arcface':
      return { ...base, kind: 'combined', m2: (m.m as number | undefined) ?? 0.5, easy, straight };
    case 'combined':
      return { kind: 'combined', m1: (m.m1 as number | undefined) ?? 1, m2: (m.m2 as number | undefined) ?? 0.3, m3: (m.m3 as number | undefined) ?? 0.2, easy, straight };
    case 'sphereface':
      return { ...base, kind: 'sphereface', m1: (m.m as number | undefined) ?? 4 };
  }
}

interface TargetValue {
  psi: number;
  dpsi: number;
  /** CurricularFace's threshold: cos(m1·θ + m2) − m3 before any fallback. */
  threshold: number;
  /** Distance of c from the branch switch (easy margin at 0, the past-π fallback). */
  boundary: number;
}

/** ψ(c), ψ'(c) of the spec's margin table with this row's m2 and m3. */
export function targetValue(c: number, mg: Margin, m2: number, m3: number): TargetValue {
  const sinTheta = Math.sqrt(Math.max(1 - c * c, SIN2_FLOOR));
  const theta = Math.acos(c);
  switch (mg.kind) {
    case 'none':
      return { psi: c, dpsi: 1, threshold: c, boundary: Infinity };
    case 'cosface':
      return { psi: c - m3, dpsi: 1, threshold: c - m3, boundary: Infinity };
    case 'sphereface': {
      const m = mg.m1;
      const k = Math.floor((m * theta) / Math.PI);
      const sign = k % 2 === 0 ? 1 : -1;
      return { psi: sign * Math.cos(m * theta) - 2 * k, dpsi: (sign * m * Math.sin(m * theta)) / sinTheta, threshold: NaN, boundary: Infinity };
    }
    default: {
      const a = mg.m1 * theta + m2;
      const margined = Math.cos(a) - m3;
      const dMargined = mg.straight ? 1 : (mg.m1 * Math.sin(a)) / sinTheta;
      const onMargin = { psi: margined, dpsi: dMargined, threshold: margined };
      if (mg.easy) {
        return c > 0 ? { ...onMargin, boundary: Math.abs(c) } : { psi: c - m3, dpsi: 1, threshold: margined, boundary: Math.abs(c) };
      }
      const switchAngle = (Math.PI - m2) / mg.m1; // m1·θ + m2 = π
      const boundary = switchAngle >= 0 && switchAngle <= Math.PI ? Math.abs(c - Math.cos(switchAngle)) : Infinity;
      return a <= Math.PI ? { ...onMargin, boundary } : { psi: c - m2 * Math.sin(m2) - m3, dpsi: 1, threshold: margined, boundary };
    }
  }
}

function unitRows(data: ArrayLike<number>, rows: number, D: number): { unit: Float64Array; norm: Float64Array } {
  const unit = new Float64Array(rows * D);
  const norm = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let d = 0; d < D; d++) s += data[r * D + d] * data[r * D + d];
    const n = Math.max(Math.sqrt(s), NORM_FLOOR);
    norm[r] = n;
    for (let d = 0; d < D; d++) unit[r * D + d] = data[r * D + d] / n;
  }
  return { unit, norm };
}

/**
 * Loss, per-row outputs and gradients of the spec, in float64, logits materialized.  `near`: how
 * close to a discontinuity (filter, curricular threshold, margin branch, sub-center tie) a cosine
 * may come before the decision is listed in `ambiguous`.
 */
export function refMarginSoftmax(input: RefInput, near = NEAR): MarginRef {
  const { N, D, C, K } = input;
  const scale = input.scale ?? 64;
  const mode = input.scaleMode ?? 'fixed';
  const eps = input.labelSmoothing ?? 0;
  const mg = resolveMargin(input.margin);
  if (input.curricular && mg.kind === 'sphereface') throw new Error('reference: curricular with sphereface is not defined by the spec');
  const ids = input.classIndices ? Array.from(input.classIndices) : Array.from({ length: C }, (_, j) => j);
  const Cc = ids.length;
  const position = new Int32Array(C).fill(-1);
  ids.forEach((id, j) => (position[id] = j));
  const x = unitRows(input.embeddings, N, D);
  const w = unitRows(input.weights, C * K, D);
  const round = input.operandRounding;
  const xo = round ? x.unit.map(round) : x.unit;
  const wo = round ? w.unit.map(round) : w.unit;
  const ambiguous: string[] = [];

  // Cosines (max over sub-centers, first arg-max) and predictions.
  const cos = new Float64Array(N * Cc);
  const arg = new Int32Array(N * Cc); // weight row of the arg-max center
  const predictions = new Int32Array(N);
  const predictionChoices: (number[] | null)[] = [];
  for (let i = 0; i < N; i++) {
    const xi = i * D;
    let best = -Infinity;
    let bestJ = 0;
    for (let j = 0; j < Cc; j++) {
      let top = -Infinity;
      let second = -Infinity;
      let topRow = 0;
      for (let k = 0; k < K; k++) {
        const row = ids[j] * K + k;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += xo[xi + d] * wo[row * D + d];
        const c = Math.min(1, Math.max(-1, dot));
        if (c > top) {
          second = top;
          top = c;
          topRow = row;
        } else if (c > second) {
          second = c;
        }
      }
      if (K > 1 && top - second > 0 && top - second < near) ambiguous.push(`row ${i} class ${ids[j]}: sub-centers within ${top - second}`);
      cos[i * Cc + j] = top;
      arg[i * Cc + j] = topRow;
      if (top > best) {
        best = top;
        bestJ = j;
      }
    }
    predictions[i] = ids[bestJ];
    const tied: number[] = [];
    let inexact = false;
    for (let j = 0; j < Cc; j++) {
      const gap = best - cos[i * Cc + j];
      if (gap < NEAR) tied.push(ids[j]);
      if (gap > 0 && gap < NEAR) inexact = true;
    }
    predictionChoices.push(inexact ? tied : null);
  }

  const target = new Int32Array(N);
  let counted = 0;
  for (let i = 0; i < N; i++) {
    const label = input.labels[i];
    target[i] = label < 0 ? -1 : position[label];
    if (label >= 0 && target[i] < 0) throw new Error(`reference: label ${label} not among classIndices`);
    if (label >= 0) counted++;
  }

  // CurricularFace: t updated (over the non-ignored rows' target cosines) before use.
  let t = 0;
  if (input.curricular) {
    const momentum = input.curricular.momentum ?? 0.01;
    t = input.curricular.t;
    if (counted > 0) {
      let sum = 0;
      for (let i = 0; i < N; i++) if (target[i] >= 0) sum += cos[i * Cc + target[i]];
      t = momentum * (sum / counted) + (1 - momentum) * t;
    }
  }

  // Logits z and dz/dc.
  const z = new Float64Array(N * Cc);
  const lossSlack = new Float64Array(N);
  const COSINE_ROUNDING = 4 * 2 ** -24;
  const dzdc = new Float64Array(N * Cc);
  const filter = input.interclassFilter;
  for (let i = 0; i < N; i++) {
    const y = target[i];
    let m2 = mg.m2;
    let m3 = mg.m3;
    if (input.rowAngular) m2 = input.rowAngular[i];
    if (input.rowAdditive) m3 = input.rowAdditive[i];
    const tv = y >= 0 ? targetValue(cos[i * Cc + y], mg, m2, m3) : null;
    // A float32 cosine is off by a few units of 2^-24; the spec's 1e-5 covers that on plain logits
    // (ψ' = 1), but near θ = 0 arcface's ψ' = m1·sin(m1θ + m2)/sin θ grows like 1/θ and carries it
    // into the loss amplified (seed 654258313: D = 3, ψ' ≈ 30 at s = 64, 1.1e-4 on a loss of 8.7).
    // lossSlack: how far ψ moves, beyond that rounding itself, when c does.
    if (tv) {
      const c = cos[i * Cc + y];
      const moved = (to: number) => Math.abs(targetValue(Math.min(1, Math.max(-1, to)), mg, m2, m3).psi - tv.psi);
      const targetScale = scale * (mode === 'fixed' ? 1 : x.norm[i]) * (mode === 'product-norm' ? w.norm[arg[i * Cc + y]] : 1);
      lossSlack[i] = targetScale * Math.max(0, Math.max(moved(c + COSINE_ROUNDING), moved(c - COSINE_ROUNDING)) - COSINE_ROUNDING);
    }
    // The rounding itself, times the row's largest logit scale, where it passes the spec's 1e-5
    // (s·‖x‖·‖w‖ over ~40): a feature-norm row at ‖x‖ ≈ 8, s = 64 has logits scaled by ~500, and a
    // float32 backend is then 2e-5 off on a loss of 1 (seed 769123963, wasm, margin.nan-inf).
    let rowScale = scale * (mode === 'fixed' ? 1 : x.norm[i]);
    if (mode === 'product-norm') {
      let widest = 0;
      for (let j = 0; j < Cc; j++) widest = Math.max(widest, w.norm[arg[i * Cc + j]]);
      rowScale *= widest;
    }
    lossSlack[i] += Math.max(0, rowScale * COSINE_ROUNDING - 1e-5);
    if (tv && tv.boundary < near) ambiguous.push(`row ${i}: target cosine ${cos[i * Cc + y]} at a margin branch switch`);
    for (let j = 0; j < Cc; j++) {
      const at = i * Cc + j;
      const c = cos[at];
      let S = scale;
      if (mode !== 'fixed') S *= x.norm[i];
      if (mode === 'product-norm') S *= w.norm[arg[at]];
      if (!tv) {
        z[at] = S * c; // ignored row: plain logits
      } else if (j === y) {
        z[at] = S * tv.psi;
        dzdc[at] = S * tv.dpsi;
      } else if (filter !== undefined && c > filter) {
        if (c - filter < near) ambiguous.push(`row ${i} class ${ids[j]}: cosine at the interclass filter`);
        z[at] = 0;
        dzdc[at] = 0;
      } else if (input.curricular && c > tv.threshold) {
        if (c - tv.threshold < near) ambiguous.push(`row ${i} class ${ids[j]}: cosine at the curricular threshold`);
        z[at] = S * c * (t + c);
        dzdc[at] = S * (t + 2 * c);
      } else {
        if (filter !== undefined && filter - c < near) ambiguous.push(`row ${i} class ${ids[j]}: cosine at the interclass filter`);
        if (input.curricular && tv.threshold - c < near) ambiguous.push(`row ${i} class ${ids[j]}: cosine at the curricular threshold`);
        z[at] = S * c;
        dzdc[at] = S;
      }
    }
  }

  // Softmax, losses, reduction.  LSE − z_y = log1p(Σ_{j≠y} e^{z_j − z_y}) and 1 − p_y from the same
  // sum, so rows that are confidently right (loss ≪ 1e-10) keep their relative precision.
  const losses = new Float64Array(N);
  const logSumExp = new Float64Array(N);
  const rowFactor = new Float64Array(N);
  const others = new Float64Array(N).fill(NaN); // Σ_{j≠y} e^{z_j − z_y}, when it cannot overflow
  let loss = 0;
  let reducedSlack = 0;
  for (let i = 0; i < N; i++) {
    let max = -Infinity;
    for (let j = 0; j < Cc; j++) max = Math.max(max, z[i * Cc + j]);
    let sum = 0;
    let zSum = 0;
    for (let j = 0; j < Cc; j++) {
      sum += Math.exp(z[i * Cc + j] - max);
      zSum += z[i * Cc + j];
    }
    const lse = max + Math.log(sum);
    logSumExp[i] = lse;
    if (target[i] < 0) continue;
    const zy = z[i * Cc + target[i]];
    let margin = lse - zy;
    if (max - zy < 700) {
      let rest = 0;
      for (let j = 0; j < Cc; j++) if (j !== target[i]) rest += Math.exp(z[i * Cc + j] - zy);
      others[i] = rest;
      margin = Math.log1p(rest);
    }
    losses[i] = (1 - eps) * margin + eps * (margin + zy - zSum / Cc);
    const wi = input.rowWeights ? input.rowWeights[i] : 1;
    rowFactor[i] = input.reduction === 'sum' ? wi : wi / counted;
    loss += rowFactor[i] * losses[i];
    reducedSlack += Math.abs(rowFactor[i]) * lossSlack[i];
  }

  // Gradients: G = ∂loss/∂c, then through the normalization (and the norm-based scales).
  const gx = new Float64Array(N * D); // ∂/∂x̂
  const gw = new Float64Array(C * K * D); // ∂/∂ŵ, all weight rows
  const normX = new Float64Array(N); // Σ_j ∂loss/∂z·z per row
  const normW = new Float64Array(C * K); // Σ_i ∂loss/∂z·z per center
  const gradCosine = new Float64Array(N * Cc);
  for (let i = 0; i < N; i++) {
    if (target[i] < 0) continue;
    const lse = logSumExp[i];
    for (let j = 0; j < Cc; j++) {
      const at = i * Cc + j;
      const p = Math.exp(z[at] - lse);
      // on the target p − 1 = −Σ_{j≠y} p_j
      const pMinusOne = Number.isNaN(others[i]) ? p - 1 : -others[i] / (1 + others[i]);
      const dz = rowFactor[i] * ((j === target[i] ? pMinusOne + eps : p) - eps / Cc);
      normX[i] += dz * z[at];
      normW[arg[at]] += dz * z[at];
      gradCosine[at] = dz * dzdc[at];
      const G = round ? round(gradCosine[at]) : gradCosine[at];
      if (G === 0) continue;
      const row = arg[at];
      for (let d = 0; d < D; d++) {
        gx[i * D + d] += G * wo[row * D + d];
        gw[row * D + d] += G * xo[i * D + d];
      }
    }
  }
  const throughNorm = (g: Float64Array, unit: Float64Array, norm: Float64Array, extra: Float64Array | null, r: number, out: Float64Array, o: number) => {
    let dot = 0;
    for (let d = 0; d < D; d++) dot += g[r * D + d] * unit[r * D + d];
    const e = extra ? extra[r] : 0;
    for (let d = 0; d < D; d++) out[o * D + d] = (g[r * D + d] - dot * unit[r * D + d] + e * unit[r * D + d]) / norm[r];
  };
  const gradEmbeddings = new Float64Array(N * D);
  for (let i = 0; i < N; i++) throughNorm(gx, x.unit, x.norm, mode === 'fixed' ? null : normX, i, gradEmbeddings, i);
  const gradWeights = new Float64Array(Cc * K * D);
  for (let j = 0; j < Cc; j++) {
    for (let k = 0; k < K; k++) throughNorm(gw, w.unit, w.norm, mode === 'product-norm' ? normW : null, ids[j] * K + k, gradWeights, j * K + k);
  }
  const result: MarginRef = {
    loss, losses, logSumExp, predictions, predictionChoices, gradEmbeddings, gradWeights, ambiguous, cosines: cos, lossSlack, reducedSlack,
    gradCosine, embeddingOperands: xo, centerOperands: wo,
  };
  if (input.curricular) result.curricularT = t;
  return result;
}

/** The reference's gradients against central differences of its own loss (float64, step h). */
export function refFiniteDifferences(input: RefInput, h = 1e-6): { gradEmbeddings: Float64Array; gradWeights: Float64Array } {
  const lossWith = (embeddings: Float64Array, weights: Float64Array) => refMarginSoftmax({ ...input, embeddings, weights }).loss;
  const e = Float64Array.from(input.embeddings);
  const wts = Float64Array.from(input.weights);
  const diff = (v: Float64Array, k: number) => {
    const keep = v[k];
    v[k] = keep + h;
    const up = lossWith(e, wts);
    v[k] = keep - h;
    const down = lossWith(e, wts);
    v[k] = keep;
    return (up - down) / (2 * h);
  };
  const gradEmbeddings = Float64Array.from(e, (_, k) => diff(e, k));
  const full = Float64Array.from(wts, (_, k) => diff(wts, k));
  // Only the computed classes' rows, in order.
  const ids = input.classIndices ? Array.from(input.classIndices) : Array.from({ length: input.C }, (_, j) => j);
  const rowLen = input.K * input.D;
  const gradWeights = new Float64Array(ids.length * rowLen);
  ids.forEach((id, j) => gradWeights.set(full.subarray(id * rowLen, (id + 1) * rowLen), j * rowLen));
  return { gradEmbeddings, gradWeights };
}

// ---------------------------------------------------------------------------------------------
// Random cases

export interface Spec {
  name: string;
  N: number;
  D: number;
  C: number;
  K?: number;
  opts?: Partial<MarginCase>;
  /** Fraction of rows with label −1. */
  ignored?: number;
  rowWeights?: boolean;
  rowAngular?: [number, number];
  rowAdditive?: [number, number];
  /** classIndices: a shuffled subset of the classes holding every label. */
  subset?: boolean;
  gradients?: boolean;
}

export function uniformVector(rng: Rng, n: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.fround(rng.uniform(lo, hi)));
}

/**
 * Class centers with varied norms; each embedding a multiple a ∈ [−4, 4] of one of its class's
 * centers plus noise, so target cosines span (−1, 1): easy-margin's c ≤ 0 and θ + m past π included.
 * Row 0 is never ignored.
 */
export function drawCase(rng: Rng, s: Spec): MarginCase {
  const { N, D, C } = s;
  const K = s.K ?? 1;
  const weights = new Float32Array(C * K * D);
  for (let r = 0; r < C * K; r++) {
    const norm = rng.uniform(0.5, 2);
    for (let d = 0; d < D; d++) weights[r * D + d] = Math.fround((rng.normal() * norm) / Math.sqrt(D));
  }
  const labels = new Int32Array(N);
  const embeddings = new Float32Array(N * D);
  for (let i = 0; i < N; i++) {
    labels[i] = i > 0 && s.ignored && rng.next() < s.ignored ? -1 : rng.int(C);
    const center = (labels[i] < 0 ? rng.int(C) : labels[i]) * K + rng.int(K);
    let cn = 0;
    for (let d = 0; d < D; d++) cn += weights[center * D + d] ** 2;
    // Row 0 is a hard row (|a| ≤ 1), so no batch is confidently right everywhere (loss ~1e-9,
    // which margin.random.test.ts tests on purpose, not by chance).
    const a = (i === 0 ? rng.uniform(-1, 1) : rng.uniform(-4, 4)) / Math.sqrt(cn);
    const norm = rng.uniform(0.5, 2);
    for (let d = 0; d < D; d++) embeddings[i * D + d] = Math.fround(norm * (a * weights[center * D + d] + rng.normal() / Math.sqrt(D)));
  }
  const c: MarginCase = { N, D, C, K, embeddings, weights, labels, ...s.opts };
  if (s.rowWeights) c.rowWeights = Float32Array.from({ length: N }, () => (rng.next() < 0.15 ? 0 : Math.fround(rng.uniform(0.1, 2))));
  if (s.rowAngular) c.rowAngular = uniformVector(rng, N, ...s.rowAngular);
  if (s.rowAdditive) c.rowAdditive = uniformVector(rng, N, ...s.rowAdditive);
  if (s.subset) {
    const keep = new Set<number>(Array.from(labels).filter((l) => l >= 0));
    for (let j = 0; j < C; j++) if (rng.next() < 0.4) keep.add(j);
    const ids = [...keep];
    for (let j = ids.length - 1; j > 0; j--) {
      const k = rng.int(j + 1);
      [ids[j], ids[k]] = [ids[k], ids[j]];
    }
    c.classIndices = Int32Array.from(ids);
  }
  return c;
}

/** A case whose reference decisions are all clear of float32 noise (redrawn otherwise). */
export function makeCase(rng: Rng, s: Spec, near?: number): { c: MarginCase; ref: MarginRef } {
  for (let attempt = 0; attempt < 200; attempt++) {
    const c = drawCase(rng, s);
    const ref = refMarginSoftmax(c, near);
    if (ref.ambiguous.length === 0) return { c, ref };
  }
  throw new Error(`${s.name}: could not draw a case without near-ties`);
}
