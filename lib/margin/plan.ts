// The arguments, results and plan of marginSoftmax() / marginSoftmaxAsync(): the fused normalized
// softmax with margin (ArcFace family; docs/spec/margin.md), and
// planMarginSoftmax: the validation every backend shares, done once, ending in a MarginSoftmaxPlan
// (the fields of native/kernels/margin.h and margin_types.h, enums by name).
import type { EnumName } from '../enum-codes';
import { invalidArg, labelError, optionError, shapeError, tooLarge } from '../errors';
import { toLabels, toRowLabels, type LabelsLike } from '../labels';
import type { ResolvedBackend } from '../native';
import { readOut, type OutputSpec } from '../outputs';
import { precisionOption, type Precision } from '../precision';
import { stillAttached, toMatrix, toRowVector, type TensorLike, type VectorLike } from '../tensor';
import {
  backendOption,
  booleanOption,
  checkArgsObject,
  checkKnownKeys,
  enumOption,
  FINITE,
  NON_NEGATIVE,
  numberOption,
  numberRule,
  objectOption,
  POSITIVE,
  POSITIVE_INTEGER,
  readOptions,
  requireKeys,
  UNIT_INTERVAL,
  type Backend,
  type NumberRule,
  type Planned,
} from '../validate';
import { MARGIN_ENUMS } from './codes';

/** workMemory: whole bytes, at least 1 MiB (the native plan's own floor), at most what a double counts exactly. */
const WORK_MEMORY: NumberRule = {
  ...numberRule((v) => Number.isSafeInteger(v) && v >= 2 ** 20, 'an integer number of bytes >= 1048576 (1 MiB)'),
  unit: 'bytes',
};

/**
 * The margin ψ(c) on each row's target cosine c = cos θ (non-targets keep c); angles in radians.
 * Default `{ type: 'arcface' }` (m 0.5). Parameters must be finite. See docs/spec/margin.md.
 */
export type MarginSpec =
  | {
      /** NormFace: no margin, ψ = c. */
      type: 'none';
    }
  | {
      /** CosFace / AM-Softmax: ψ = c − m. */
      type: 'cosface';
      /** Additive cosine margin, ≥ 0. Default 0.35. */
      m?: number;
    }
  | {
      /** ArcFace: ψ = cos(θ + m), or c − m·sin m where θ + m > π. */
      type: 'arcface';
      /** Additive angular margin in radians, in [0, π) (PML's degrees ÷ 57.2958; 28.6 is refused as degrees). Default 0.5. */
      m?: number;
      /** Apply the margin only where c > 0 (else ψ = c), instead of the θ + m > π fallback. Default false. */
      easyMargin?: boolean;
      /** ψ'(c) used in the gradient: 'exact' (default; PML, classic insightface) or 'straight-through' (ψ' = 1, insightface arcface_torch). */
      gradient?: 'exact' | 'straight-through';
    }
  | {
      /** Combined margin (insightface): ψ = cos(m1·θ + m2) − m3, or c − m2·sin m2 − m3 where m1·θ + m2 > π. */
      type: 'combined';
      /** Multiplicative angular margin m1. Default 1. */
      m1?: number;
      /** Additive angular margin m2, radians, in (−π, π). Default 0.3. */
      m2?: number;
      /** Additive cosine margin m3. Default 0.2. */
      m3?: number;
      /** Apply the angular margin only where c > 0 (else ψ = c − m3), instead of the π fallback. Default false. */
      easyMargin?: boolean;
      /** ψ'(c) used in the gradient: 'exact' (default) or 'straight-through' (ψ' = 1). */
      gradient?: 'exact' | 'straight-through';
    }
  | {
      /** SphereFace / A-Softmax / L-Softmax: ψ = (−1)^k cos(mθ) − 2k, k = ⌊mθ/π⌋. */
      type: 'sphereface';
      /** Multiplicative angular margin, an integer in [1, 1000]. Default 4. */
      m?: number;
    };

/** The `type` of a MarginSpec: 'none', 'cosface', 'arcface', 'combined' or 'sphereface'. */
export type MarginType = MarginSpec['type'];
/** Logit multiplier: 'fixed' s, 'feature-norm' s·‖x_i‖ (SphereFace), 'product-norm' s·‖x_i‖·‖w_j‖ (L-Softmax). */
export type ScaleMode = EnumName<typeof MARGIN_ENUMS, 'scaleMode'>;
/** The formula a margin runs as (native MarginType): 'arcface' runs as 'combined' (m1 = 1, m3 = 0). */
export type MarginFormula = EnumName<typeof MARGIN_ENUMS, 'marginType'>;
/** Arguments of marginSoftmax() / marginSoftmaxAsync() (docs/spec/margin.md). N rows, D features, C classes, K sub-centers. */
export interface MarginSoftmaxArgs {
  /** Raw features [N, D] (normalized inside). */
  embeddings: TensorLike;
  /** Class centers [C·K, D] (row c·K + k is sub-center k of class c), or [D, C·K] with weightsLayout 'columns'. */
  weights: TensorLike;
  /** Default 'rows'. 'columns': weights are [D, C·K] (pytorch-metric-learning); gradWeights come back alike. */
  weightsLayout?: 'rows' | 'columns';
  /** Class of each row in [0, C); −1 ignores the row. */
  labels: LabelsLike;
  /** Default { type: 'arcface' } (m 0.5 rad). */
  margin?: MarginSpec;
  /** Per-row m2 (angular: arcface, combined) and m3 (additive: cosface, arcface, combined) replacing the margin's own. */
  rowMargins?: {
    /** N per-row angular margins in radians, each in (−π, π) or NaN: m (arcface) or m2 (combined); arcface and combined only. */
    angular?: VectorLike;
    /** N per-row additive margins: m (cosface), m3 (combined; arcface then acts as combined(1, m, m3_i)). ±Inf counts as NaN. */
    additive?: VectorLike;
  };
  /** s > 0. Default 64. */
  scale?: number;
  /** Logit multiplier: s (default 'fixed'), s·‖x_i‖ ('feature-norm', SphereFace), s·‖x_i‖·‖w_j‖ ('product-norm', L-Softmax). */
  scaleMode?: ScaleMode;
  /** K ≥ 1 sub-centers per class; a class's cosine is the max over them. Default 1. */
  subCenters?: number;
  /** ε in [0, 1), as PyTorch cross_entropy(label_smoothing). Default 0. */
  labelSmoothing?: number;
  /** τ in (−1, 1]: negatives with cosine > τ count as cosine 0 (insightface). Default none. */
  interclassFilter?: number;
  /** CurricularFace: t in, updated t out (result.curricularT). momentum in [0, 1], default 0.01. */
  curricular?: {
    /** The running t (the previous result's curricularT; finite, required). */
    t: number;
    /** EMA weight of this batch's mean target cosine in t's update, in [0, 1]. Default 0.01. */
    momentum?: number;
  };
  /** Partial FC: compute over these distinct class ids only; every non-ignored label must be among them. */
  classIndices?: Int32Array | readonly number[] | TensorLike;
  /** N per-row multipliers before the reduction (e.g. the upstream gradient with reduction 'sum'). Default all 1. ±Inf counts as NaN. */
  rowWeights?: VectorLike;
  /** 'mean' (default): Σ w_i·loss_i / (non-ignored rows); 'sum': Σ w_i·loss_i. */
  reduction?: 'mean' | 'sum';
  /** Return gradEmbeddings and gradWeights. Default true. */
  gradients?: boolean;
  /**
   * Operand precision of the three GEMM products (cosines, ∂/∂x̂, ∂/∂ŵ): 'fp32' (default), or
   * 'tf32' / 'bf16' (PyTorch autocast's operands), where x̂, ŵ and the logit gradient are rounded
   * to TensorFloat-32 / bfloat16 before they are multiplied; products and sums stay float32 and
   * the margin, log-sum-exp and normalization stay as in 'fp32'. Every backend gives the same
   * rounding. Error bounds: docs/spec/precision.md.
   */
  precision?: Precision;
  /**
   * Bound on the native CPU kernel's work buffers in bytes (an integer ≥ 1 MiB), beyond the
   * normalized copies: larger row blocks stream the weights fewer times. Default: the size of the
   * weights, at least 64 MiB and at most 1 GiB (docs/spec/margin.md#memory). CUDA bounds its work
   * buffers by it too (default 64 MiB there); 'wasm' and 'js' ignore it. The loss is the same
   * bits whatever the bound; gradWeights may differ in the last bits (the rows are summed in
   * blocks).
   */
  workMemory?: number;
  /** Backend to run on. Default 'auto'. */
  backend?: Backend;
  /**
   * Arrays to write the results into instead of new ones, each of the result's exact type and
   * length; the result returns these very arrays, with the same bits. Recommended in loops: a
   * dropped result's memory is reused only when the event loop turns, so a synchronous loop
   * without `out` maps fresh pages on every call. An async call writes them until its promise
   * settles: do not read, write or transfer them before (see the guide's "Caller-owned outputs").
   */
  out?: MarginSoftmaxOut;
}

/** Caller-owned outputs of marginSoftmax() (MarginSoftmaxArgs.out): any subset of the arrays the call returns. */
export interface MarginSoftmaxOut {
  /** Float32Array(N) for losses. */
  losses?: Float32Array;
  /** Float32Array(N) for logSumExp. */
  logSumExp?: Float32Array;
  /** Int32Array(N) for predictions. */
  predictions?: Int32Array;
  /** Float32Array(N·D) for gradEmbeddings (unless `gradients: false`). */
  gradEmbeddings?: Float32Array;
  /** Float32Array of the computed classes' centers × D for gradWeights (unless `gradients: false`). */
  gradWeights?: Float32Array;
}

/** The option objects of MarginSoftmaxArgs whose keys are checked at compile time too (see Exact). */
export type MarginSoftmaxNested = 'margin' | 'rowMargins' | 'curricular';

/** Result of marginSoftmax() / marginSoftmaxAsync(). */
export interface MarginSoftmaxResult {
  /** The reduced loss (nats); the gradients are of this number. */
  loss: number;
  /** Per-row loss before rowWeights, Float32Array(N), in nats (0 for ignored rows). */
  losses: Float32Array;
  /** LSE_i = log Σ_j exp z_ij over the computed classes, Float32Array(N) (ignored rows: over plain s·c). */
  logSumExp: Float32Array;
  /** Class id (not position in classIndices) of each row's largest unmargined cosine, first on ties; Int32Array(N). */
  predictions: Int32Array;
  /** ∂loss/∂embeddings [N, D]. */
  gradEmbeddings?: Float32Array;
  /** ∂loss/∂weights in the layout of `weights`; with classIndices only their rows, in that order. */
  gradWeights?: Float32Array;
  /** CurricularFace's updated t (when `curricular` is given). */
  curricularT?: number;
  /** The backend that ran: 'cuda', 'cpu' or 'js'. */
  backend: ResolvedBackend;
}

/** The result for given arguments: gradients are typed as present unless `gradients: false`. */
export type MarginSoftmaxResultOf<A extends MarginSoftmaxArgs> = MarginSoftmaxResult &
  (A extends { gradients: false } ? unknown : { gradEmbeddings: Float32Array; gradWeights: Float32Array }) &
  (A extends { curricular: object } ? { curricularT: number } : unknown);

/** A validated call: the fields of native/kernels/margin.h and margin_types.h (see there). */
export interface MarginSoftmaxPlan {
  embeddings: Float32Array;
  weights: Float32Array;
  weightsColumns: boolean;
  rows: number;
  dim: number;
  /** Classes computed: C, or classIds.length. */
  classes: number;
  subCenters: number;
  /** Rows of the full weight matrix (all classes · K). */
  weightRows: number;
  /** Position of each row's class among the computed classes, or −1. */
  targets: Int32Array;
  /** Class id of each computed class, or null for 0..classes−1. */
  classIds: Int32Array | null;
  rowWeights: Float32Array | null;
  rowAngular: Float32Array | null;
  rowAdditive: Float32Array | null;
  /** none, cosface (c − m3), combined (arcface = combined(1, m, 0)), sphereface (m1). */
  marginType: MarginFormula;
  m1: number;
  m2: number;
  m3: number;
  easyMargin: boolean;
  straightThrough: boolean;
  scale: number;
  scaleMode: ScaleMode;
  labelSmoothing: number;
  interclassFilter: boolean;
  filterThreshold: number;
  curricular: boolean;
  curricularT: number;
  curricularMomentum: number;
  reduction: 'mean' | 'sum';
  gradients: boolean;
  precision: Precision;
  /** Work buffer bound in bytes, or 0 for the backend's default (native/napi/margin_binding.cc). */
  workMemory: number;
}

export type MarginSoftmaxOutputs = Omit<MarginSoftmaxResult, 'backend'>;

export const MARGIN_SOFTMAX_KEYS = [
  'embeddings', 'weights', 'weightsLayout', 'labels', 'margin', 'rowMargins', 'scale', 'scaleMode', 'subCenters',
  'labelSmoothing', 'interclassFilter', 'curricular', 'classIndices', 'rowWeights', 'reduction', 'gradients', 'precision', 'workMemory',
  'backend', 'out',
] as const;

const perRow = (plan: MarginSoftmaxPlan) => plan.rows;
const withGradients = (plan: MarginSoftmaxPlan) => plan.gradients;
/** The result arrays of marginSoftmax(), for `out`. */
export const MARGIN_SOFTMAX_OUTPUTS: readonly OutputSpec<MarginSoftmaxPlan>[] = [
  { name: 'losses', type: 'Float32Array', length: perRow },
  { name: 'logSumExp', type: 'Float32Array', length: perRow },
  { name: 'predictions', type: 'Int32Array', length: perRow },
  { name: 'gradEmbeddings', type: 'Float32Array', length: (plan) => plan.rows * plan.dim, returned: withGradients, requires: 'gradients: true' },
  { name: 'gradWeights', type: 'Float32Array', length: (plan) => plan.classes * plan.subCenters * plan.dim, returned: withGradients, requires: 'gradients: true' },
];
const MARGIN_TYPES: readonly MarginType[] = ['none', 'cosface', 'arcface', 'combined', 'sphereface'];
const MARGIN_KEYS: Record<MarginType, readonly string[]> = {
  none: ['type'],
  cosface: ['type', 'm'],
  arcface: ['type', 'm', 'easyMargin', 'gradient'],
  combined: ['type', 'm1', 'm2', 'm3', 'easyMargin', 'gradient'],
  sphereface: ['type', 'm'],
};
const ANY_MARGIN_KEYS = [...new Set(Object.values(MARGIN_KEYS).flat())];
const SCALE_MODES: readonly ScaleMode[] = MARGIN_ENUMS.scaleMode.names;
const REDUCTIONS: readonly MarginSoftmaxPlan['reduction'][] = MARGIN_ENUMS.reduction.names;

/** The largest SphereFace m: float32 cosines resolve m·θ to ~m·1e-7 rad, and published m are 1–4. */
const SPHEREFACE_MAX_M = 1000;
const SPHEREFACE_M = numberRule(
  (v) => Number.isInteger(v) && v >= 1 && v <= SPHEREFACE_MAX_M,
  `an integer in [1, ${SPHEREFACE_MAX_M}] (SphereFace's multiplicative angular margin: published values are 1 to 4)`,
);

/**
 * Why an angular margin was refused: margins are radians below π, and the common mistake is
 * degrees (pytorch-metric-learning's ArcFaceLoss takes margin=28.6).
 */
function angleRangeMessage(name: string, value: number, allowNegative: boolean): string {
  const range = allowNegative ? '(−π, π)' : '[0, π)';
  const degrees = Number.isFinite(value) && Math.abs(value) >= Math.PI
    ? `; if ${value} is in degrees (pytorch-metric-learning's convention), pass ${value} · π / 180 = ${((value * Math.PI) / 180).toPrecision(5)}`
    : '';
  return `${name} = ${value} is not an angle in radians in ${range}: angular margins are radians${degrees}`;
}

/** An angle in radians, |m| < π (and ≥ 0 unless allowNegative): the rule of angular margins. */
export function angleRule(allowNegative: boolean): NumberRule {
  return {
    accepts: (v) => Math.abs(v) < Math.PI && (allowNegative || v >= 0),
    refusal: (name, value) => angleRangeMessage(name, value, allowNegative),
    unit: 'radians',
  };
}
const ANGLE = angleRule(false);
const SIGNED_ANGLE = angleRule(true);

/** Per-row angular margins: each in (−π, π) radians, or NaN (which makes its row NaN). */
export function checkRowAngles(values: ArrayLike<number>, name: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Math.abs(v) >= Math.PI) throw optionError(angleRangeMessage(`${name}[${i}]`, v, true));
  }
}

/**
 * A per-row vector with ±Inf entries made NaN (a copy; the caller's array is never written): an
 * infinite row weight or additive margin has no limit the backends could agree on (Inf·0, Inf − Inf
 * in float32 and float64 alike), so it counts as NaN, which makes its row NaN everywhere.
 */
function infinityAsNaN(values: Float32Array): Float32Array {
  if (values.every((v) => !(Math.abs(v) === Infinity))) return values;
  return values.map((v) => (Math.abs(v) === Infinity ? NaN : v));
}

type MarginFields = Pick<MarginSoftmaxPlan, 'marginType' | 'm1' | 'm2' | 'm3' | 'easyMargin' | 'straightThrough'>;

function planMargin(value: unknown): { fields: MarginFields; type: MarginType } {
  const margin = readOptions(value === undefined ? { type: 'arcface' } : objectOption(value, 'margin'), ANY_MARGIN_KEYS, 'margin');
  if (margin.type === undefined) throw invalidArg('margin.type is required');
  const type = enumOption(margin.type, 'margin.type', MARGIN_TYPES, 'arcface');
  checkKnownKeys(margin, MARGIN_KEYS[type], 'margin');
  const easyMargin = booleanOption(margin.easyMargin, 'margin.easyMargin', false);
  const straightThrough = enumOption(margin.gradient, 'margin.gradient', ['exact', 'straight-through'] as const, 'exact') === 'straight-through';
  const base = { m1: 1, m2: 0, m3: 0, easyMargin: false, straightThrough: false };
  switch (type) {
    case 'none':
      return { type, fields: { ...base, marginType: 'none' } };
    case 'cosface':
      return { type, fields: { ...base, marginType: 'cosface', m3: numberOption(margin.m, 'margin.m', 0.35, NON_NEGATIVE) } };
    case 'arcface':
      return { type, fields: { ...base, marginType: 'combined', m2: numberOption(margin.m, 'margin.m', 0.5, ANGLE), easyMargin, straightThrough } };
    case 'combined':
      return {
        type,
        fields: {
          marginType: 'combined',
          m1: numberOption(margin.m1, 'margin.m1', 1),
          m2: numberOption(margin.m2, 'margin.m2', 0.3, SIGNED_ANGLE),
          m3: numberOption(margin.m3, 'margin.m3', 0.2),
          easyMargin,
          straightThrough,
        },
      };
    default: {
      const m = numberOption(margin.m, 'margin.m', 4, SPHEREFACE_M);
      return { type, fields: { ...base, marginType: 'sphereface', m1: m } };
    }
  }
}

/**
 * The shape error for weights whose feature axis does not match the embeddings, naming
 * weightsLayout: [D, C] storage (pytorch-metric-learning's W, a dense layer's kernel) passed as
 * rows is the usual cause.
 */
export function weightsShapeMessage(shape: readonly number[], columns: boolean, rows: number, dim: number): string {
  const expected = columns ? `[${dim}, C·K] (weightsLayout 'columns')` : `[C·K, ${dim}] (weightsLayout 'rows', the default)`;
  const [first, second] = shape;
  const hint = !columns && first === dim
    ? `: these weights look like [D, C·K]; pass weightsLayout: 'columns'`
    : columns && second === dim
      ? `: these weights look like [C·K, D]; pass weightsLayout: 'rows' or leave it out`
      : `; weightsLayout says which axis holds the ${dim} features ('rows': [C·K, D], 'columns': [D, C·K])`;
  return `weights has shape [${shape.join(', ')}], expected ${expected} to match embeddings [${rows}, ${dim}]${hint}`;
}

function planClassIds(value: unknown, totalClasses: number): Int32Array {
  const ids = toLabels(value, 'classIndices');
  const seen = new Uint8Array(totalClasses);
  for (let j = 0; j < ids.length; j++) {
    const id = ids[j];
    if (id < 0 || id >= totalClasses) throw labelError(`classIndices[${j}] = ${id} is outside [0, ${totalClasses})`);
    if (seen[id]) throw labelError(`classIndices[${j}] = ${id} repeats an earlier id`);
    seen[id] = 1;
  }
  return ids;
}

export function planMarginSoftmax(rawArgs: unknown): Planned<MarginSoftmaxPlan> {
  const args = readOptions(checkArgsObject(rawArgs, 'marginSoftmax'), MARGIN_SOFTMAX_KEYS, 'marginSoftmax');
  const out = readOut(args.out, MARGIN_SOFTMAX_OUTPUTS);
  requireKeys(args, ['embeddings', 'weights', 'labels']);
  const backend = backendOption(args.backend);
  const { fields: marginFields, type: marginType } = planMargin(args.margin);
  const scale = numberOption(args.scale, 'scale', 64, POSITIVE);
  const scaleMode = enumOption(args.scaleMode, 'scaleMode', SCALE_MODES, 'fixed');
  const subCenters = numberOption(args.subCenters, 'subCenters', 1, POSITIVE_INTEGER);
  const labelSmoothing = numberOption(args.labelSmoothing, 'labelSmoothing', 0, numberRule((v) => v >= 0 && v < 1, 'in [0, 1)'));
  const filter = args.interclassFilter;
  const filterThreshold = numberOption(filter, 'interclassFilter', 1, numberRule((v) => v > -1 && v <= 1, 'in (-1, 1]'));
  const reduction = enumOption(args.reduction, 'reduction', REDUCTIONS, 'mean');
  const gradients = booleanOption(args.gradients, 'gradients', true);
  const precision = precisionOption(args.precision);
  const workMemory = numberOption(args.workMemory, 'workMemory', 0, WORK_MEMORY);
  const weightsColumns = enumOption(args.weightsLayout, 'weightsLayout', ['rows', 'columns'] as const, 'rows') === 'columns';

  let curricular = false;
  let curricularT = 0;
  let curricularMomentum = 0.01;
  if (args.curricular !== undefined) {
    const options = readOptions(objectOption(args.curricular, 'curricular'), ['t', 'momentum'], 'curricular');
    if (options.t === undefined) throw invalidArg('curricular.t is required');
    curricular = true;
    curricularT = numberOption(options.t, 'curricular.t', 0, FINITE);
    curricularMomentum = numberOption(options.momentum, 'curricular.momentum', 0.01, UNIT_INTERVAL);
  }

  const embeddings = toMatrix(args.embeddings, 'embeddings');
  const [rows, dim] = embeddings.shape;
  const weights = toMatrix(args.weights, 'weights', 'rank 2');
  const [weightRows, weightDim] = weightsColumns ? [weights.shape[1], weights.shape[0]] : weights.shape;
  if (weightDim !== dim) throw shapeError(weightsShapeMessage(weights.shape, weightsColumns, rows, dim));
  if (weightRows % subCenters !== 0) throw shapeError(`weights has ${weightRows} centers, not a multiple of subCenters = ${subCenters}`);
  const totalClasses = weightRows / subCenters;
  if (totalClasses > 0x7fffffff) throw tooLarge(`weights describe ${totalClasses} classes, more than int32 class ids address`);

  const labels = toRowLabels(args.labels, 'labels', rows, 'embeddings row');
  const classIds = args.classIndices === undefined ? null : planClassIds(args.classIndices, totalClasses);
  const classes = classIds ? classIds.length : totalClasses;
  const position = classIds ? new Int32Array(totalClasses).fill(-1) : null;
  if (classIds && position) classIds.forEach((id, j) => (position[id] = j));
  const targets = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    const label = labels[i];
    if (label < -1 || label >= totalClasses) throw labelError(`labels[${i}] = ${label} is outside [0, ${totalClasses}) (−1 ignores a row)`);
    targets[i] = label === -1 || !position ? label : position[label];
    if (targets[i] === -1 && label !== -1) throw labelError(`labels[${i}] = ${label} is not among classIndices`);
  }

  let rowAngular: Float32Array | null = null;
  let rowAdditive: Float32Array | null = null;
  if (args.rowMargins !== undefined) {
    const options = readOptions(objectOption(args.rowMargins, 'rowMargins'), ['angular', 'additive'], 'rowMargins');
    if (options.angular !== undefined) {
      if (marginType !== 'arcface' && marginType !== 'combined') throw optionError(`rowMargins.angular applies to arcface and combined margins, not '${marginType}'`);
      rowAngular = toRowVector(options.angular, 'rowMargins.angular', rows);
      checkRowAngles(rowAngular, 'rowMargins.angular');
    }
    if (options.additive !== undefined) {
      if (marginType !== 'cosface' && marginType !== 'arcface' && marginType !== 'combined') {
        throw optionError(`rowMargins.additive applies to cosface, arcface and combined margins, not '${marginType}'`);
      }
      rowAdditive = infinityAsNaN(toRowVector(options.additive, 'rowMargins.additive', rows));
    }
  }
  const rowWeights = args.rowWeights === undefined ? null : infinityAsNaN(toRowVector(args.rowWeights, 'rowWeights', rows));

  return {
    plan: {
      // Checked once every argument has been read: a later getter may have detached one.
      embeddings: stillAttached(embeddings.data, 'embeddings'),
      weights: stillAttached(weights.data, 'weights'),
      weightsColumns,
      rows,
      dim,
      classes,
      subCenters,
      weightRows,
      targets,
      classIds,
      rowWeights: rowWeights && stillAttached(rowWeights, 'rowWeights'),
      rowAngular: rowAngular && stillAttached(rowAngular, 'rowMargins.angular'),
      rowAdditive: rowAdditive && stillAttached(rowAdditive, 'rowMargins.additive'),
      ...marginFields,
      scale,
      scaleMode,
      labelSmoothing,
      interclassFilter: filter !== undefined,
      filterThreshold,
      curricular,
      curricularT,
      curricularMomentum,
      reduction,
      gradients,
      precision,
      workMemory,
    },
    backend,
    out,
  };
}
