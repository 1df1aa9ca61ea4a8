// The fused margin softmax (ArcFace family) in plain TypeScript: the backend that serves when no
// native addon loads, and an independent float64 implementation the tests hold the native ones
// against.  Same per-element math as native/math/margin_math.h (see there for the notation):
// c = x̂·ŵ clamped to [−1, 1], v = ψ(c) on the target or the filtered / curricular cosine
// elsewhere, z = S·v, loss_i = (1 − ε)(LSE_i − z_iy) + ε(LSE_i − mean_j z_ij).
//
// Like the native kernels it never stores the N×C logits: classes are streamed in tiles, twice.
// Pass 1 keeps an online log-sum-exp per row (running max, Σ exp(z − max), Σ z) and the
// predictions; pass 2 recomputes each tile's cosines, now knowing LSE_i, and accumulates the
// gradients with respect to the unit vectors.  Extra memory: float64 unit copies of the
// embeddings and the computed classes' centers, their gradients, and one tile of cosines.
//
// precision 'tf32' / 'bf16' (docs/spec/precision.md): the GEMM operands are rounded as the native
// kernels round them (lib/precision.ts) — x̂ and ŵ to float32 and then to the precision for every
// product, the logit gradient G likewise before it multiplies ŵ and x̂ — while the margin, the
// log-sum-exp and the normalization's backward keep the unrounded unit vectors.  The products of
// rounded operands are exact in float32, so this is the native arithmetic up to summation order.
import { outputArray, type OutArrays } from '../outputs';
import { operandRounding, roundOperands } from '../precision';
import type { MarginFormula, MarginSoftmaxOutputs, MarginSoftmaxPlan } from './plan';

/** Norms are floored here so zero vectors normalize to zero instead of NaN (torch's F.normalize). */
const NORM_FLOOR = 1e-12;
/** Classes per tile: their unit centers (256·K·D doubles) stay in cache while every row visits them. */
const TILE_CLASSES = 256;

// ---- per-element math: a line-by-line mirror of native/math/margin_math.h, in double ----

interface Target {
  value: number;
  derivative: number;
  /** CurricularFace's threshold: the margined cosine before the past-π / easy-margin fallback. */
  threshold: number;
}

/** sin θ floored as the spec says, so the exact derivatives stay finite at |c| = 1. */
function sinTheta(c: number): number {
  return Math.sqrt(Math.max(1 - c * c, 1e-12));
}

/** Clamp to [−1, 1] that keeps NaN, so a NaN input reaches the loss (C's fmin/fmax would make it −1). */
function clampCosine(c: number): number {
  return c > 1 ? 1 : c < -1 ? -1 : c;
}

/** ψ(c), ψ'(c) and the curricular threshold of a target cosine; `type` as MarginSoftmaxPlan.marginType. */
function targetMargin(
  type: MarginFormula, cosine: number, m1: number, m2: number, m3: number, easyMargin: boolean, straightThrough: boolean,
): Target {
  const c = clampCosine(cosine);
  if (type === 'combined') {
    const angle = m1 * Math.acos(c) + m2;
    const margined = Math.cos(angle) - m3;
    const useMargin = easyMargin ? c > 0 : angle <= Math.PI;
    if (useMargin) {
      const exact = (m1 * Math.sin(angle)) / sinTheta(c);
      return { value: margined, derivative: straightThrough ? 1 : exact, threshold: margined };
    }
    // Past π cos(m1θ + m2) would rise again; the references continue with a linear penalty.
    const value = easyMargin ? c - m3 : c - m2 * Math.sin(m2) - m3;
    return { value, derivative: 1, threshold: margined };
  }
  if (type === 'sphereface') {
    const angle = m1 * Math.acos(c);
    // θ = π exactly gives k = m; the k = m − 1 branch has the same value and a finite slope.
    const k = Math.min(Math.floor(angle / Math.PI), m1 - 1);
    const sign = k % 2 === 0 ? 1 : -1;
    const value = sign * Math.cos(angle) - 2 * k;
    return { value, derivative: (sign * m1 * Math.sin(angle)) / sinTheta(c), threshold: value };
  }
  const value = type === 'cosface' ? c - m3 : c;
  return { value, derivative: 1, threshold: value };
}

/** What happens to non-target cosines: insightface's interclass filter, then CurricularFace. */
interface Modulation {
  filter: boolean;
  filterThreshold: number;
  curricular: boolean;
  /** t after this call's update. */
  curricularT: number;
}

/** A non-target's v: 0 when filtered (c > τ), c·(t + c) when harder than the target, else c. */
function nonTargetValue(c: number, modulation: Modulation, curricularThreshold: number): number {
  if (modulation.filter && c > modulation.filterThreshold) return 0;
  if (modulation.curricular && c > curricularThreshold) return c * (modulation.curricularT + c);
  return c;
}

/** dv/dc of nonTargetValue (a filtered entry is a constant; t carries no gradient). */
function nonTargetDerivative(c: number, modulation: Modulation, curricularThreshold: number): number {
  if (modulation.filter && c > modulation.filterThreshold) return 0;
  if (modulation.curricular && c > curricularThreshold) return modulation.curricularT + 2 * c;
  return 1;
}

function curricularUpdate(t: number, momentum: number, meanTargetCosine: number): number {
  return momentum * meanTargetCosine + (1 - momentum) * t;
}

/** log(1 + e^a) without overflow (a cross entropy of 1e5 has e^a far beyond double) and with log1p's digits for tiny results. */
function logOnePlusExp(a: number): number {
  return a > 0 ? a + Math.log1p(Math.exp(-a)) : Math.log1p(Math.exp(a));
}

/**
 * The row's loss from its non-target mass `others` = Σ_{j≠y} e^{z_j − max}: the cross entropy
 * LSE − z_y is log(1 + others·e^{max − z_y}), written as a sum of logs, not as a difference of
 * two logits of ~40 that a confident row's loss of ~1e-8 would vanish into.
 */
function rowLoss(
  logSumExp: number, max: number, others: number, targetLogit: number, sumLogits: number, classes: number, smoothing: number,
): number {
  const crossEntropy = logOnePlusExp(Math.log(others) + (max - targetLogit));
  return (1 - smoothing) * crossEntropy + smoothing * (logSumExp - sumLogits / classes);
}

/**
 * The native kernels hold logits and their scales in float32: one past float32's range is NaN on
 * every backend, so its row is NaN (native/math/margin_math.h, float32OrNaN).
 */
function float32Logit(value: number): number {
  return Math.abs(Math.fround(value)) === Infinity ? NaN : value;
}

// ---- unit vectors ----

/** Row-major unit vectors [count, dim] and the floored norms they were divided by. */
interface UnitRows {
  unit: Float64Array;
  norms: Float64Array;
  /** What the products multiply: `unit`, or (precision ≠ 'fp32') a copy rounded to the precision. */
  operand: Float64Array;
}

/** Divides each of the `count` rows of `vectors` by max(‖row‖, NORM_FLOOR), in place. */
function normalizeRows(vectors: Float64Array, count: number, dim: number): UnitRows {
  const norms = new Float64Array(count);
  for (let r = 0; r < count; r++) {
    const base = r * dim;
    let squares = 0;
    for (let d = 0; d < dim; d++) squares += vectors[base + d] * vectors[base + d];
    // Math.max keeps NaN, so a NaN row stays NaN rather than being divided by the floor.
    const norm = Math.max(Math.sqrt(squares), NORM_FLOOR);
    norms[r] = norm;
    for (let d = 0; d < dim; d++) vectors[base + d] /= norm;
  }
  return { unit: vectors, norms, operand: vectors };
}

/** The unit rows with their product operands rounded to `precision` (a separate copy unless fp32). */
function withOperands(rows: UnitRows, precision: MarginSoftmaxPlan['precision']): UnitRows {
  return precision === 'fp32' ? rows : { ...rows, operand: roundOperands(Float64Array.from(rows.unit), precision) };
}

/** The computed classes' centers, K per class in classIds order, as rows (whatever the input layout). */
function gatherCenters(plan: MarginSoftmaxPlan): Float64Array {
  const { weights, weightsColumns, weightRows, dim, classes, subCenters, classIds } = plan;
  const centers = new Float64Array(classes * subCenters * dim);
  for (let j = 0; j < classes; j++) {
    const classId = classIds ? classIds[j] : j;
    for (let k = 0; k < subCenters; k++) {
      const source = classId * subCenters + k;
      const base = (j * subCenters + k) * dim;
      for (let d = 0; d < dim; d++) {
        centers[base + d] = weightsColumns ? weights[d * weightRows + source] : weights[source * dim + d];
      }
    }
  }
  return centers;
}

// ---- the prepared problem ----

interface Problem {
  plan: MarginSoftmaxPlan;
  embeddings: UnitRows;
  /** Centers of the computed classes: row j·K + k is sub-center k of computed class j. */
  centers: UnitRows;
  modulation: Modulation;
  /** S_ij before the product-norm factor ‖w‖: s, or s·‖x_i‖. */
  rowScale: Float64Array;
  /** ψ, ψ' and the curricular threshold of each non-ignored row's target. */
  targetValue: Float64Array;
  targetDerivative: Float64Array;
  targetThreshold: Float64Array;
  /** Rows with a target (the mean's denominator). */
  counted: number;
}

/**
 * Cosines of `row` with classes [first, first + count): max over each class's centers (first on
 * ties), clamped.  Writes cosines[t] and centers[t] (the arg-max center row) for t < count.
 * The one place cosines are computed, so every pass sees bit-identical values.
 */
function tileCosines(problem: Problem, row: number, first: number, count: number, cosines: Float64Array, centers: Int32Array): void {
  const { dim, subCenters } = problem.plan;
  const x = problem.embeddings.operand;
  const w = problem.centers.operand;
  const xBase = row * dim;
  for (let t = 0; t < count; t++) {
    let best = NaN;
    let bestCenter = (first + t) * subCenters;
    for (let k = 0; k < subCenters; k++) {
      const center = (first + t) * subCenters + k;
      const wBase = center * dim;
      let dot = 0;
      for (let d = 0; d < dim; d++) dot += x[xBase + d] * w[wBase + d];
      // Strictly greater keeps the first of equal centers; a NaN dot wins once and then sticks.
      if (k === 0 || (best === best && !(dot <= best))) {
        best = dot;
        bestCenter = center;
      }
    }
    cosines[t] = clampCosine(best);
    centers[t] = bestCenter;
  }
}

/** S_ij: the row's scale, times the arg-max center's norm under 'product-norm'; NaN past float32's range. */
function logitScale(problem: Problem, row: number, center: number): number {
  const rowScale = float32Logit(problem.rowScale[row]);
  return float32Logit(problem.plan.scaleMode === 'product-norm' ? rowScale * problem.centers.norms[center] : rowScale);
}

/** v_ij: ψ on the target, the modulated cosine elsewhere, the plain cosine for ignored rows. */
function logitCosine(problem: Problem, row: number, position: number, c: number): number {
  const target = problem.plan.targets[row];
  if (target < 0) return c;
  if (position === target) return problem.targetValue[row];
  return nonTargetValue(c, problem.modulation, problem.targetThreshold[row]);
}

/** dv_ij/dc_ij for a non-ignored row. */
function logitDerivative(problem: Problem, row: number, position: number, c: number): number {
  if (position === problem.plan.targets[row]) return problem.targetDerivative[row];
  return nonTargetDerivative(c, problem.modulation, problem.targetThreshold[row]);
}

/** Unit copies, per-row scales, the targets' margins and CurricularFace's updated t. */
function prepare(plan: MarginSoftmaxPlan): Problem {
  const { rows, dim, classes, subCenters, targets } = plan;
  const embeddings = withOperands(normalizeRows(Float64Array.from(plan.embeddings), rows, dim), plan.precision);
  const centers = withOperands(normalizeRows(gatherCenters(plan), classes * subCenters, dim), plan.precision);
  const rowScale = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    rowScale[i] = plan.scaleMode === 'feature-norm' || plan.scaleMode === 'product-norm' ? plan.scale * embeddings.norms[i] : plan.scale;
  }
  const modulation: Modulation = {
    filter: plan.interclassFilter,
    filterThreshold: plan.filterThreshold,
    curricular: plan.curricular,
    curricularT: plan.curricularT,
  };
  const problem: Problem = {
    plan, embeddings, centers, modulation, rowScale,
    targetValue: new Float64Array(rows),
    targetDerivative: new Float64Array(rows),
    targetThreshold: new Float64Array(rows),
    counted: 0,
  };
  const cosine = new Float64Array(1);
  const center = new Int32Array(1);
  let targetCosineSum = 0;
  for (let i = 0; i < rows; i++) {
    if (targets[i] < 0) continue;
    tileCosines(problem, i, targets[i], 1, cosine, center);
    const m2 = plan.rowAngular ? plan.rowAngular[i] : plan.m2;
    const m3 = plan.rowAdditive ? plan.rowAdditive[i] : plan.m3;
    const target = targetMargin(plan.marginType, cosine[0], plan.m1, m2, m3, plan.easyMargin, plan.straightThrough);
    problem.targetValue[i] = target.value;
    problem.targetDerivative[i] = target.derivative;
    problem.targetThreshold[i] = target.threshold;
    targetCosineSum += cosine[0];
    problem.counted++;
  }
  // The reference updates t before using it; with every row ignored there is nothing to average.
  if (plan.curricular && problem.counted > 0) {
    modulation.curricularT = curricularUpdate(plan.curricularT, plan.curricularMomentum, targetCosineSum / problem.counted);
  }
  return problem;
}

// ---- pass 1: online log-sum-exp and predictions ----

interface RowStatistics {
  logSumExp: Float64Array;
  /** Per row: the largest logit and the non-target mass Σ_{j≠y} e^{z_j − max} (all classes for ignored rows). */
  maxLogit: Float64Array;
  others: Float64Array;
  /** Σ_{j≠y} p_j = 1 − p_y without the cancellation of 1 − p_y. */
  otherProbability: Float64Array;
  targetLogit: Float64Array;
  sumLogits: Float64Array;
  /** Computed-class position of the largest unmargined cosine. */
  bestPosition: Int32Array;
}

function rowStatistics(problem: Problem): RowStatistics {
  const { rows, classes } = problem.plan;
  const maxLogit = new Float64Array(rows).fill(-Infinity);
  const others = new Float64Array(rows);
  const sumLogits = new Float64Array(rows);
  const targetLogit = new Float64Array(rows);
  const bestCosine = new Float64Array(rows).fill(-Infinity);
  const bestPosition = new Int32Array(rows);
  const cosines = new Float64Array(TILE_CLASSES);
  const centers = new Int32Array(TILE_CLASSES);
  for (let first = 0; first < classes; first += TILE_CLASSES) {
    const count = Math.min(TILE_CLASSES, classes - first);
    for (let i = 0; i < rows; i++) {
      tileCosines(problem, i, first, count, cosines, centers);
      const target = problem.plan.targets[i];
      for (let t = 0; t < count; t++) {
        const position = first + t;
        const c = cosines[t];
        // Classes arrive in increasing order, so strictly greater keeps the first of ties; a NaN
        // cosine never wins, and a row of NaN cosines predicts the first class.
        if (c > bestCosine[i]) {
          bestCosine[i] = c;
          bestPosition[i] = position;
        }
        const z = float32Logit(logitScale(problem, i, centers[t]) * logitCosine(problem, i, position, c));
        if (z > maxLogit[i]) {
          others[i] *= Math.exp(maxLogit[i] - z);
          maxLogit[i] = z;
        }
        // The target stays out of the sum (see rowLoss).  A NaN z makes the sum (or the target
        // logit), hence LSE and the loss, NaN.
        if (position === target) targetLogit[i] = z;
        else others[i] += Math.exp(z - maxLogit[i]);
        sumLogits[i] += z;
      }
    }
  }
  const logSumExp = new Float64Array(rows);
  const otherProbability = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const total = others[i] + (problem.plan.targets[i] >= 0 ? Math.exp(targetLogit[i] - maxLogit[i]) : 0);
    logSumExp[i] = maxLogit[i] + Math.log(total);
    otherProbability[i] = others[i] / total;
  }
  return { logSumExp, maxLogit, others, otherProbability, targetLogit, sumLogits, bestPosition };
}

// ---- pass 2: gradients with respect to the unit vectors and the norms ----

interface UnitGradients {
  /** ∂loss/∂x̂ [N, D] and ∂loss/∂ŵ [classes·K, D]. */
  embeddings: Float64Array;
  centers: Float64Array;
  /** ∂loss/∂‖x_i‖ and ∂loss/∂‖w_r‖ through the norm-based scales (Σ ∂loss/∂z·z / ‖·‖ once divided). */
  embeddingNorms: Float64Array;
  centerNorms: Float64Array;
}

function unitGradients(problem: Problem, statistics: RowStatistics, rowCoefficient: Float64Array): UnitGradients {
  const { logSumExp, otherProbability } = statistics;
  const { rows, dim, classes, subCenters, targets, labelSmoothing, scaleMode, precision } = problem.plan;
  const x = problem.embeddings.operand;
  const w = problem.centers.operand;
  // G = ∂loss/∂c is an operand of both gradient products: rounded like x̂ and ŵ.
  const roundGradient = precision === 'fp32' ? null : operandRounding(precision);
  const gradients: UnitGradients = {
    embeddings: new Float64Array(rows * dim),
    centers: new Float64Array(classes * subCenters * dim),
    embeddingNorms: new Float64Array(rows),
    centerNorms: new Float64Array(classes * subCenters),
  };
  // Locals rather than property loads in the D-long inner loops.
  const gradX = gradients.embeddings;
  const gradW = gradients.centers;
  const smoothingShare = labelSmoothing / classes;
  const cosines = new Float64Array(TILE_CLASSES);
  const centers = new Int32Array(TILE_CLASSES);
  for (let first = 0; first < classes; first += TILE_CLASSES) {
    const count = Math.min(TILE_CLASSES, classes - first);
    for (let i = 0; i < rows; i++) {
      const target = targets[i];
      if (target < 0) continue;
      tileCosines(problem, i, first, count, cosines, centers);
      const xBase = i * dim;
      for (let t = 0; t < count; t++) {
        const position = first + t;
        const c = cosines[t];
        const center = centers[t];
        const scale = logitScale(problem, i, center);
        const z = float32Logit(scale * logitCosine(problem, i, position, c));
        // On the target p − (1 − ε) = ε − Σ_{j≠y} p_j: no 1 − p cancellation for a confident row.
        const fromProbability = position === target ? labelSmoothing - otherProbability[i] : Math.exp(z - logSumExp[i]);
        const gradLogit = rowCoefficient[i] * (fromProbability - smoothingShare);
        const exactGradCosine = gradLogit * scale * logitDerivative(problem, i, position, c);
        const gradCosine = roundGradient ? roundGradient(exactGradCosine) : exactGradCosine;
        const wBase = center * dim;
        for (let d = 0; d < dim; d++) {
          gradX[xBase + d] += gradCosine * w[wBase + d];
          gradW[wBase + d] += gradCosine * x[xBase + d];
        }
        // z is linear in each norm inside S, so ∂z/∂‖·‖ = z/‖·‖ (the division happens at the end).
        if (scaleMode === 'feature-norm' || scaleMode === 'product-norm') gradients.embeddingNorms[i] += gradLogit * z;
        if (scaleMode === 'product-norm') gradients.centerNorms[center] += gradLogit * z;
      }
    }
  }
  return gradients;
}

/**
 * Chain rule through v ↦ v/max(‖v‖, floor) and through the norm in the scale, for row r:
 * (g − (g·v̂)v̂ + normGrad·v̂)/‖v‖, written to `out` at out[offset(r, d)] (rows or columns).
 */
function throughNormalization(
  units: UnitRows, gradUnit: Float64Array, gradNorm: Float64Array, count: number, dim: number, out: Float32Array,
  columns: boolean,
): void {
  const { unit, norms } = units;
  for (let r = 0; r < count; r++) {
    const base = r * dim;
    let radial = 0;
    for (let d = 0; d < dim; d++) radial += gradUnit[base + d] * unit[base + d];
    const along = gradNorm[r] - radial;
    for (let d = 0; d < dim; d++) {
      const value = (gradUnit[base + d] + along * unit[base + d]) / norms[r];
      out[columns ? d * count + r : base + d] = value;
    }
  }
}

// ---- entry point ----

export function marginSoftmaxFallback(plan: MarginSoftmaxPlan, out: OutArrays = {}): MarginSoftmaxOutputs {
  const { rows, dim, classes, subCenters, targets, rowWeights, labelSmoothing } = plan;
  const problem = prepare(plan);
  const statistics = rowStatistics(problem);

  const losses = outputArray(out, 'losses', rows, Float32Array);
  const logSumExp = outputArray(out, 'logSumExp', rows, Float32Array);
  const predictions = outputArray(out, 'predictions', rows, Int32Array);
  const rowCoefficient = new Float64Array(rows);
  let weightedLoss = 0;
  for (let i = 0; i < rows; i++) {
    const position = statistics.bestPosition[i];
    predictions[i] = plan.classIds ? plan.classIds[position] : position;
    logSumExp[i] = statistics.logSumExp[i];
    if (targets[i] < 0) continue;
    const loss = rowLoss(
      statistics.logSumExp[i], statistics.maxLogit[i], statistics.others[i], statistics.targetLogit[i], statistics.sumLogits[i], classes,
      labelSmoothing,
    );
    const weight = rowWeights ? rowWeights[i] : 1;
    losses[i] = loss;
    weightedLoss += weight * loss;
    rowCoefficient[i] = plan.reduction === 'mean' ? weight / problem.counted : weight;
  }
  const outputs: MarginSoftmaxOutputs = {
    loss: plan.reduction === 'mean' ? (problem.counted > 0 ? weightedLoss / problem.counted : 0) : weightedLoss,
    losses,
    logSumExp,
    predictions,
  };
  if (plan.curricular) outputs.curricularT = problem.modulation.curricularT;
  if (!plan.gradients) return outputs;

  const gradients = unitGradients(problem, statistics, rowCoefficient);
  const gradEmbeddings = outputArray(out, 'gradEmbeddings', rows * dim, Float32Array);
  const gradWeights = outputArray(out, 'gradWeights', classes * subCenters * dim, Float32Array);
  throughNormalization(problem.embeddings, gradients.embeddings, gradients.embeddingNorms, rows, dim, gradEmbeddings, false);
  throughNormalization(problem.centers, gradients.centers, gradients.centerNorms, classes * subCenters, dim, gradWeights, plan.weightsColumns);
  // Ignored rows get exact zeros, even when their features are NaN (0 · NaN would leak in).
  for (let i = 0; i < rows; i++) if (targets[i] < 0) gradEmbeddings.fill(0, i * dim, (i + 1) * dim);
  // A NaN loss makes every gradWeights entry NaN, as on the native backends (whose gŵ product
  // would otherwise decide by accident which centers a NaN reaches).
  if (Number.isNaN(outputs.loss)) gradWeights.fill(NaN);
  outputs.gradEmbeddings = gradEmbeddings;
  outputs.gradWeights = gradWeights;
  return outputs;
}
