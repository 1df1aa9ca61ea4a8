// Per-row margins for marginSoftmax's `rowMargins` the way the papers compute them: ElasticFace
// (random, seeded), AdaFace (from feature norms and running statistics), MagFace (linear in the
// clamped norm, plus its norm regularizer and that regularizer's gradient).  Every helper is a pure
// function: state (PRNG seed, running statistics) goes in and comes out explicitly.  Arithmetic is
// float64; the returned vectors are Float32Arrays.
import { invalidArg, labelError, optionError, shapeError } from '../errors';
import { toLabels, type LabelsLike } from '../labels';
import { perRowError, stillAttached, toMatrix, toRowVector, toTensor, toVector, type TensorLike, type VectorLike } from '../tensor';
import { checkArgsObject, enumOption, FINITE, NON_NEGATIVE, numberOption, numberRule, POSITIVE, POSITIVE_INTEGER, readOptions, requiredOption, UNIT_INTERVAL, type NumberRule } from '../validate';
import { angleRule, weightsShapeMessage } from './plan';

// ---------------------------------------------------------------------------------------------
// Shared checks

/** ‖x_i‖ of each row of an [N, D] matrix, in float64. */
function rowNorms(data: Float32Array, rows: number, dim: number): Float64Array {
  const norms = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let sum = 0;
    for (let k = i * dim; k < (i + 1) * dim; k++) sum += data[k] * data[k];
    norms[i] = Math.sqrt(sum);
  }
  return norms;
}

const clip = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v); // keeps NaN

/**
 * Which rows count in a helper's batch statistics: those whose label is not −1, as marginSoftmax
 * counts them (an ignored row, whatever its features hold, must not reach the other rows' margins
 * through a batch mean); every row when no labels are given.
 */
function countedRows(value: unknown, rows: number): Uint8Array {
  const counted = new Uint8Array(rows).fill(1);
  if (value === undefined) return counted;
  const labels = toLabels(value, 'labels');
  if (labels.length !== rows) throw perRowError('labels', labels.length, rows);
  labels.forEach((label, i) => {
    if (label < -1) throw labelError(`labels[${i}] = ${label} is negative (only −1, which ignores a row, is allowed)`);
    counted[i] = label === -1 ? 0 : 1;
  });
  return counted;
}

// ---------------------------------------------------------------------------------------------
// Seeded normal draws: mulberry32 (32-bit state, period 2^32) feeding Box–Muller.

/** A uint32 seed: the whole state of the generator. */
/** Angular margins: radians in (−π, π). */
const SIGNED_ANGLE = angleRule(true);

const SEED: NumberRule = {
  accepts: (v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff,
  refusal: (name, value) => `${name} = ${value} is not an integer in [0, 2^32)`,
  unit: 'an integer in [0, 2^32)',
};

/** One mulberry32 step: the uniform in [0, 1) it yields and the next state. */
function mulberry32(state: number): { uniform: number; state: number } {
  const next = (state + 0x6d2b79f5) >>> 0;
  let t = Math.imul(next ^ (next >>> 15), next | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return { uniform: ((t ^ (t >>> 14)) >>> 0) / 4294967296, state: next };
}

/**
 * `count` draws of N(mean, std): each uses two uniforms u1, u2 (in that order) and
 * z = sqrt(−2·ln(1 − u1))·cos(2π·u2) (the sine half is discarded). Returns the draws and the state after them.
 */
function normalDraws(count: number, mean: number, std: number, seed: number): { draws: Float64Array; nextSeed: number } {
  const draws = new Float64Array(count);
  let state = seed;
  for (let i = 0; i < count; i++) {
    const a = mulberry32(state);
    const b = mulberry32(a.state);
    state = b.state;
    draws[i] = mean + std * Math.sqrt(-2 * Math.log(1 - a.uniform)) * Math.cos(2 * Math.PI * b.uniform);
  }
  return { draws, nextSeed: state };
}

// ---------------------------------------------------------------------------------------------
// Target cosines (for ElasticFace+)

/** Arguments of targetCosines(). */
export interface TargetCosinesArgs {
  /** Raw features [N, D]. */
  embeddings: TensorLike;
  /** Class centers [C·K, D] (row c·K + k), or [D, C·K] with weightsLayout 'columns'. */
  weights: TensorLike;
  /** Default 'rows'; 'columns' as in marginSoftmax (pytorch-metric-learning's [D, C] storage). */
  weightsLayout?: 'rows' | 'columns';
  /** Class of each row in [0, C); −1 marks an ignored row (its cosine is NaN). */
  labels: LabelsLike;
  /** K ≥ 1 sub-centers per class; the cosine is the max over the class's K centers. Default 1. */
  subCenters?: number;
}

/**
 * cos θ_{i,y_i} = x̂_i·ŵ_{y_i} clamped to [−1, 1] (norms floored at 1e-12), the max over sub-centers;
 * NaN for ignored rows. Plain TypeScript, O(N·K·D).
 */
export function targetCosines(args: TargetCosinesArgs): Float32Array {
  const options = readOptions(checkArgsObject(args, 'targetCosines'), ['embeddings', 'weights', 'weightsLayout', 'labels', 'subCenters'], 'targetCosines');
  const embeddings = toMatrix(requiredOption(options, 'embeddings', 'targetCosines: '), 'embeddings');
  const weights = toTensor(requiredOption(options, 'weights', 'targetCosines: '), 'weights');
  const labels = toLabels(requiredOption(options, 'labels', 'targetCosines: '), 'labels');
  // Read in place: a getter of the labels may have detached them.
  stillAttached(embeddings.data, 'embeddings');
  stillAttached(weights.data, 'weights');
  const columns = enumOption(options.weightsLayout, 'weightsLayout', ['rows', 'columns'] as const, 'rows') === 'columns';
  const subCenters = numberOption(options.subCenters, 'subCenters', 1, POSITIVE_INTEGER);
  const [rows, dim] = embeddings.shape;
  if (weights.shape.length !== 2) throw shapeError(`weights must be rank 2, got shape [${weights.shape.join(', ')}]`);
  const [centers, weightDim] = columns ? [weights.shape[1], weights.shape[0]] : weights.shape;
  if (weightDim !== dim) throw shapeError(weightsShapeMessage(weights.shape, columns, rows, dim));
  if (centers % subCenters !== 0) throw shapeError(`weights has ${centers} centers, not a multiple of subCenters = ${subCenters}`);
  if (labels.length !== rows) throw perRowError('labels', labels.length, rows, 'embeddings row');
  const classes = centers / subCenters;
  const out = new Float32Array(rows);
  const weightAt = columns ? (center: number, k: number) => weights.data[k * centers + center] : (center: number, k: number) => weights.data[center * dim + k];
  for (let i = 0; i < rows; i++) {
    const label = labels[i];
    if (label < -1 || label >= classes) throw labelError(`labels[${i}] = ${label} is outside [0, ${classes}) (−1 ignores a row)`);
    if (label === -1) {
      out[i] = NaN;
      continue;
    }
    let best = -Infinity;
    for (let s = 0; s < subCenters; s++) {
      const center = label * subCenters + s;
      let dot = 0, xx = 0, ww = 0;
      for (let k = 0; k < dim; k++) {
        const x = embeddings.data[i * dim + k], w = weightAt(center, k);
        dot += x * w;
        xx += x * x;
        ww += w * w;
      }
      const cosine = clip(dot / (Math.max(Math.sqrt(xx), 1e-12) * Math.max(Math.sqrt(ww), 1e-12)), -1, 1);
      if (Number.isNaN(cosine)) {
        best = NaN; // NaN inputs propagate
        break;
      }
      if (cosine > best) best = cosine;
    }
    out[i] = best;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// ElasticFace (Boutros et al., CVPRW 2022)

/** Options of elasticFaceMargins(). */
export interface ElasticFaceOptions {
  /** Labels of the batch, as given to marginSoftmax; rows labelled −1 draw nothing and get `mean`. */
  labels: LabelsLike;
  /** 'arc' (default): ElasticFace-Arc, margins for rowMargins.angular (radians, margin arcface). 'cos': ElasticFace-Cos, rowMargins.additive (margin cosface). */
  variant?: 'arc' | 'cos';
  /** Mean m of the normal. Default 0.5 ('arc', radians in (−π, π)) or 0.35 ('cos'). */
  mean?: number;
  /** Standard deviation σ ≥ 0. Default 0.05; with targetCosines (ElasticFace+) 0.0175 ('arc') or 0.02 ('cos'), the official config.py values. */
  std?: number;
  /** Generator state, an integer in [0, 2^32): pass the previous call's nextSeed to continue the stream. */
  seed: number;
  /** ElasticFace+: cos θ_{i,y_i} per row (see targetCosines()); the sorted draws are assigned by rank, the highest cosine getting the smallest margin. NaN here gives a NaN margin. */
  targetCosines?: VectorLike;
}

/** Result of elasticFaceMargins(). */
export interface ElasticFaceResult {
  /** One margin per row, Float32Array(N) (radians for 'arc'). */
  margins: Float32Array;
  /** `{ angular: margins }` ('arc') or `{ additive: margins }` ('cos'), ready for marginSoftmax. */
  rowMargins:
    | {
        /** The margins (radians), for rowMargins.angular with margin arcface ('arc'). */
        angular: Float32Array;
      }
    | {
        /** The margins, for rowMargins.additive with margin cosface ('cos'). */
        additive: Float32Array;
      };
  /** Generator state after the draws: the seed of the next call. */
  nextSeed: number;
}

/**
 * ElasticFace margins m_i ~ N(mean, std), one draw per non-ignored row in row order (the official
 * utils/losses.py draws torch.normal(m, std) per non-ignored row). With `targetCosines`
 * (ElasticFace+) the draws are sorted ascending and the rows by descending target cosine, and the
 * k-th row gets the k-th smallest draw: the pairing set up by the official sorts (losses.py lines
 * 47–48). Its line 49 indexes the sorted draws by that argsort rather than its inverse, which
 * equals this rank pairing only when the permutation is an involution; that is not reproduced.
 */
export function elasticFaceMargins(options: ElasticFaceOptions): ElasticFaceResult {
  const args = readOptions(checkArgsObject(options, 'elasticFaceMargins'), ['labels', 'variant', 'mean', 'std', 'seed', 'targetCosines'], 'elasticFaceMargins');
  const labels = toLabels(requiredOption(args, 'labels', 'elasticFaceMargins: '), 'labels');
  const seed = numberOption(requiredOption(args, 'seed', 'elasticFaceMargins: '), 'seed', 0, SEED);
  const variant = enumOption(args.variant, 'variant', ['arc', 'cos'] as const, 'arc');
  const plus = args.targetCosines !== undefined;
  const mean = variant === 'arc' ? numberOption(args.mean, 'mean', 0.5, SIGNED_ANGLE) : numberOption(args.mean, 'mean', 0.35, FINITE);
  const defaultStd = plus ? (variant === 'arc' ? 0.0175 : 0.02) : 0.05;
  const std = numberOption(args.std, 'std', defaultStd, NON_NEGATIVE);
  const cosines = plus ? toRowVector(args.targetCosines, 'targetCosines', labels.length) : null;
  labels.forEach((label, i) => {
    if (label < -1) throw labelError(`labels[${i}] = ${label} is negative (only −1, which ignores a row, is allowed)`);
  });

  const active: number[] = [];
  labels.forEach((label, i) => label !== -1 && active.push(i));
  const { draws, nextSeed } = normalDraws(active.length, mean, std, seed);
  const margins = new Float32Array(labels.length).fill(mean);
  if (!cosines) {
    active.forEach((row, k) => (margins[row] = draws[k]));
  } else {
    const ranked = active.filter((row) => !Number.isNaN(cosines[row]));
    const pool = Array.from(draws).filter((_, k) => !Number.isNaN(cosines[active[k]])).sort((a, b) => a - b);
    ranked.sort((a, b) => cosines[b] - cosines[a] || a - b); // descending cosine, ties by row
    ranked.forEach((row, k) => (margins[row] = pool[k]));
    active.forEach((row) => Number.isNaN(cosines[row]) && (margins[row] = NaN));
  }
  return { margins, rowMargins: variant === 'arc' ? { angular: margins } : { additive: margins }, nextSeed };
}

// ---------------------------------------------------------------------------------------------
// AdaFace (Kim et al., CVPR 2022)

/** AdaFace's running statistics of the clipped feature norms. */
export interface AdaFaceState {
  /** Running mean μ of the clipped norms, finite. Initial value 20 (official head.py). */
  mean: number;
  /** Running standard deviation σ, finite and ≥ 0. Initial value 100 (official head.py). */
  std: number;
}

/** Options of adaFaceMargins(). */
export interface AdaFaceOptions {
  /** Raw features [N, D] (N ≥ 2); their L2 norms are the quality proxy. Give this or `norms`. */
  embeddings?: TensorLike;
  /** Precomputed ‖x_i‖ [N] instead of `embeddings`. */
  norms?: VectorLike;
  /** The batch's labels as given to marginSoftmax: rows labelled −1 are left out of the batch statistics (their margins are still computed, and ignored there). Default: every row counts. */
  labels?: LabelsLike;
  /** Running statistics from the previous call. Default { mean: 20, std: 100 } (the official initial buffers). */
  state?: AdaFaceState;
  /** Margin m, radians in (−π, π) (it is g_angle's bound). Default 0.4 (the official training scripts). */
  m?: number;
  /** Concentration h > 0: the scaler is h·(‖x‖ − μ)/(σ + eps). Default 0.333. */
  h?: number;
  /** EMA weight t_alpha of the batch statistics, in [0, 1]. Default 0.01 (official config.py). */
  momentum?: number;
  /** eps added to σ, > 0. Default 1e-3 (official head.py). */
  eps?: number;
}

/** Result of adaFaceMargins(). */
export interface AdaFaceResult {
  /** g_angle = −m·ĝ_i per row, Float32Array(N), radians: rowMargins.angular with margin arcface. */
  angular: Float32Array;
  /** g_add = m + m·ĝ_i per row, Float32Array(N): rowMargins.additive with margin arcface. */
  additive: Float32Array;
  /** `{ angular, additive }`, ready for marginSoftmax({ margin: { type: 'arcface' }, rowMargins }). */
  rowMargins: {
    /** The same array as `angular` (radians). */
    angular: Float32Array;
    /** The same array as `additive`. */
    additive: Float32Array;
  };
  /** ĝ_i = clip(h·(n_i − μ)/(σ + eps), −1, 1), n_i the clipped norm: the image-quality proxy. */
  marginScaler: Float32Array;
  /** The updated running statistics (already used for this batch): pass them to the next call. */
  state: AdaFaceState;
  /** This batch's mean and unbiased (N − 1) standard deviation of the clipped norms (of the counted rows when labels are given). */
  batch: AdaFaceState;
}

function adaFaceState(value: unknown): AdaFaceState {
  if (value === undefined) return { mean: 20, std: 100 };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidArg('state must be an object { mean, std }');
  const state = readOptions(value as Record<string, unknown>, ['mean', 'std'], 'state');
  const mean = numberOption(requiredOption(state, 'mean', 'state: '), 'state.mean', 0, FINITE);
  const std = numberOption(requiredOption(state, 'std', 'state: '), 'state.std', 0, NON_NEGATIVE);
  return { mean, std };
}

/**
 * AdaFace margins, as the official head.py computes them: norms clipped to [0.001, 100]; the
 * running statistics are updated first (μ ← α·mean + (1 − α)·μ, σ ← α·std + (1 − α)·σ, std
 * unbiased) and the updated ones scale this batch: ĝ = clip(h·(n − μ)/(σ + eps), −1, 1),
 * g_angle = −m·ĝ, g_add = m + m·ĝ; the target logit is cos(θ + g_angle) − g_add.
 */
export function adaFaceMargins(options: AdaFaceOptions): AdaFaceResult {
  const args = readOptions(checkArgsObject(options, 'adaFaceMargins'), ['embeddings', 'norms', 'labels', 'state', 'm', 'h', 'momentum', 'eps'], 'adaFaceMargins');
  if (args.embeddings === undefined && args.norms === undefined) throw invalidArg('adaFaceMargins: embeddings or norms is required');
  if (args.embeddings !== undefined && args.norms !== undefined) throw optionError('adaFaceMargins: give embeddings or norms, not both');
  const state = adaFaceState(args.state);
  const m = numberOption(args.m, 'm', 0.4, SIGNED_ANGLE);
  const h = numberOption(args.h, 'h', 0.333, POSITIVE);
  const momentum = numberOption(args.momentum, 'momentum', 0.01, UNIT_INTERVAL);
  const eps = numberOption(args.eps, 'eps', 1e-3, POSITIVE);
  let norms: ArrayLike<number>;
  if (args.embeddings !== undefined) {
    const embeddings = toMatrix(args.embeddings, 'embeddings');
    norms = rowNorms(embeddings.data, embeddings.shape[0], embeddings.shape[1]);
  } else {
    norms = toVector(args.norms, 'norms').data;
  }
  const rows = norms.length;
  const counted = countedRows(args.labels, rows);
  if (args.norms !== undefined) stillAttached(norms as Float32Array, 'norms'); // read in place; a getter of the labels may have detached it
  const count = counted.reduce((s, c) => s + c, 0);
  if (count < 2) throw shapeError(`adaFaceMargins needs at least 2 counted rows for the batch standard deviation, got ${count}`);

  const clipped = Float64Array.from(norms, (n) => clip(n, 0.001, 100));
  const batchMean = clipped.reduce((s, n, i) => (counted[i] ? s + n : s), 0) / count;
  const batchStd = Math.sqrt(clipped.reduce((s, n, i) => (counted[i] ? s + (n - batchMean) ** 2 : s), 0) / (count - 1));
  const next = {
    mean: batchMean * momentum + (1 - momentum) * state.mean,
    std: batchStd * momentum + (1 - momentum) * state.std,
  };
  const marginScaler = new Float32Array(rows);
  const angular = new Float32Array(rows);
  const additive = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    const scaler = clip(((clipped[i] - next.mean) / (next.std + eps)) * h, -1, 1);
    marginScaler[i] = scaler;
    angular[i] = -m * scaler;
    additive[i] = m + m * scaler;
  }
  return { angular, additive, rowMargins: { angular, additive }, marginScaler, state: next, batch: { mean: batchMean, std: batchStd } };
}

// ---------------------------------------------------------------------------------------------
// MagFace (Meng et al., CVPR 2021)

/** Options of magFaceMargins(). */
export interface MagFaceOptions {
  /** Raw features [N, D]. */
  embeddings: TensorLike;
  /** The batch's labels as given to marginSoftmax: rows labelled −1 are left out of lossG (and its mean's count) and get a zero gradEmbeddings row. Default: every row counts. */
  labels?: LabelsLike;
  /** l_a > 0: lower clamp of the norm. Default 10. */
  lowerNorm?: number;
  /** u_a > l_a: upper clamp of the norm. Default 110. */
  upperNorm?: number;
  /** l_m: the margin (radians, in (−π, π)) at a = l_a. Default 0.45. */
  lowerMargin?: number;
  /** u_m: the margin (radians, in (−π, π)) at a = u_a. Default 0.8. */
  upperMargin?: number;
  /** λ_g ≥ 0 multiplying the regularizer. Default 35 (the official run.sh; trainer.py's flag default is 20). */
  lambdaG?: number;
  /** 'mean' (default, as the official torch.mean) or 'sum' over rows. */
  reduction?: 'mean' | 'sum';
  /** Return gradEmbeddings. Default true. */
  gradients?: boolean;
}

/** Result of magFaceMargins(). */
export interface MagFaceResult {
  /** m(a_i) = (u_m − l_m)/(u_a − l_a)·(a_i − l_a) + l_m with a_i = clamp(‖x_i‖, l_a, u_a): rowMargins.angular. */
  angular: Float32Array;
  /** `{ angular }`, for marginSoftmax({ margin: { type: 'arcface', easyMargin: true }, rowMargins }). */
  rowMargins: {
    /** The same array as `angular` (radians). */
    angular: Float32Array;
  };
  /** Mean (or with reduction 'sum', sum) over rows of g(a_i) = a_i/u_a² + 1/a_i, unscaled: the official loss_g. */
  lossG: number;
  /** λ_g·lossG: the term the official total loss adds (loss = loss_id + λ_g·loss_g). */
  regularizer: number;
  /** ∂regularizer/∂x [N, D]: λ_g/N·(1/u_a² − 1/‖x_i‖²)·x_i/‖x_i‖ inside [l_a, u_a], 0 where the clamp is active. */
  gradEmbeddings?: Float32Array;
}

/**
 * MagFace: margins linear in the clamped norm and the norm regularizer g with its gradient, to add
 * to marginSoftmax's gradEmbeddings. As in the official models/magface.py, g is computed on the
 * clamped norm, so its gradient is 0 outside [l_a, u_a]. Note: the official code does not detach
 * the norm inside m(a), so its cross-entropy gradient also flows through the margin; marginSoftmax
 * treats rowMargins as constants and does not include that path.
 */
export function magFaceMargins(options: MagFaceOptions): MagFaceResult {
  const args = readOptions(checkArgsObject(options, 'magFaceMargins'), ['embeddings', 'labels', 'lowerNorm', 'upperNorm', 'lowerMargin', 'upperMargin', 'lambdaG', 'reduction', 'gradients'], 'magFaceMargins');
  const embeddings = toMatrix(requiredOption(args, 'embeddings', 'magFaceMargins: '), 'embeddings');
  const lowerNorm = numberOption(args.lowerNorm, 'lowerNorm', 10, POSITIVE);
  const upperNorm = numberOption(args.upperNorm, 'upperNorm', 110, numberRule((v) => v > lowerNorm, `finite and > lowerNorm (${lowerNorm})`));
  const lowerMargin = numberOption(args.lowerMargin, 'lowerMargin', 0.45, SIGNED_ANGLE);
  const upperMargin = numberOption(args.upperMargin, 'upperMargin', 0.8, SIGNED_ANGLE);
  const lambdaG = numberOption(args.lambdaG, 'lambdaG', 35, NON_NEGATIVE);
  const reduction = enumOption(args.reduction, 'reduction', ['mean', 'sum'] as const, 'mean');
  if (args.gradients !== undefined && typeof args.gradients !== 'boolean') throw invalidArg('gradients must be a boolean');
  const gradients = args.gradients !== false;

  const [rows, dim] = embeddings.shape;
  const counted = countedRows(args.labels, rows);
  const x = stillAttached(embeddings.data, 'embeddings'); // read in place; a getter of the labels may have detached it
  const norms = rowNorms(x, rows, dim);
  const slope = (upperMargin - lowerMargin) / (upperNorm - lowerNorm);
  // With every row ignored lossG is 0, as marginSoftmax's mean loss is then.
  const divisor = reduction === 'mean' ? Math.max(1, counted.reduce((s, c) => s + c, 0)) : 1;
  const angular = new Float32Array(rows);
  const gradEmbeddings = gradients ? new Float32Array(rows * dim) : undefined;
  let sumG = 0;
  for (let i = 0; i < rows; i++) {
    const a = clip(norms[i], lowerNorm, upperNorm);
    angular[i] = slope * (a - lowerNorm) + lowerMargin;
    if (!counted[i]) continue;
    sumG += a / (upperNorm * upperNorm) + 1 / a;
    // torch.clamp passes the gradient for l_a ≤ ‖x‖ ≤ u_a (bounds included) and blocks it outside.
    // A NaN norm takes this branch too, so the NaN reaches its gradient row.
    if (gradEmbeddings && !(norms[i] < lowerNorm || norms[i] > upperNorm)) {
      const dg = 1 / (upperNorm * upperNorm) - 1 / (norms[i] * norms[i]);
      const factor = (lambdaG * dg) / (divisor * norms[i]);
      for (let k = 0; k < dim; k++) gradEmbeddings[i * dim + k] = factor * x[i * dim + k];
    }
  }
  const lossG = sumG / divisor;
  const result: MagFaceResult = { angular, rowMargins: { angular }, lossG, regularizer: lambdaG * lossG };
  if (gradEmbeddings) result.gradEmbeddings = gradEmbeddings;
  return result;
}
