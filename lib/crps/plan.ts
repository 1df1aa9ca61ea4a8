// The arguments, results and plan of crps() / crpsAsync() (docs/spec/crps.md), and
// planCrps: the validation every backend shares, done once, ending in a CrpsPlan.
import type { EnumName } from '../enum-codes';
import { optionError, shapeError } from '../errors';
import type { ResolvedBackend } from '../native';
import { readOut, type OutputSpec } from '../outputs';
import { stillAttached, toTensor, toVector, type TensorLike, type VectorLike } from '../tensor';
import { axisOption, backendOption, booleanOption, checkArgsObject, closedRange, enumOption, numberOption, readOptions, requireKeys, type Backend, type Planned } from '../validate';
import { CRPS_ENUMS } from './codes';

/**
 * CRPS estimator: 'standard' (empirical CDF, S − Q/(2M²)), 'fair' (S − Q/(2M(M−1)), needs M ≥ 2),
 * 'almost-fair' (α·fair + (1 − α)·standard). Aliases: 'nrg', 'ecdf', 'qd', 'int' → standard; 'pwm' → fair.
 */
export type CrpsEstimator = 'standard' | 'fair' | 'almost-fair' | 'nrg' | 'ecdf' | 'qd' | 'int' | 'pwm';
/**
 * NaN handling: 'propagate' (a NaN member or observation makes its score and the mean NaN), 'omit'
 * (NaN members dropped per point; a point left unscorable gets NaN and leaves the mean), 'zero' (a
 * point with any NaN scores 0 with gradient 0 and still counts in the mean's denominator).
 */
export type NanPolicy = EnumName<typeof CRPS_ENUMS, 'nanPolicy'>;

/** Arguments of crps() / crpsAsync() (docs/spec/crps.md). P is the number of points, M of members. */
export interface CrpsArgs {
  /** Forecasts, any rank ≥ 1, row-major; one axis (memberAxis) holds the M members. */
  ensemble: TensorLike;
  /** One value per point: a flat vector of P, or a tensor shaped like the ensemble without its member axis. */
  observations: VectorLike;
  /** Axis of `ensemble` that holds the members; negative counts from the end. Default -1. */
  memberAxis?: number;
  /** Default 'standard'. Aliases: nrg, ecdf, qd, int → standard; pwm → fair. */
  estimator?: CrpsEstimator;
  /** Weight of the fair part, in [0, 1]; for 'almost-fair' only (an error with other estimators). Default 0.95. */
  alpha?: number;
  /** Point weights (≥ 0, finite) for the mean: P values, or a shape that broadcasts against the points as NumPy does (e.g. [lat, 1] for points [lat, lon]); weight 0 leaves a point out of the mean. Default all 1. */
  weights?: VectorLike;
  /** How NaN members or observations are handled (see NanPolicy). Default 'propagate'. */
  nanPolicy?: NanPolicy;
  /** Also return gradients of `mean` (or of Σ gradOutput·scores). Default false. */
  gradients?: boolean;
  /** With gradients: return the vector–Jacobian product Σ_p gradOutput_p·∂s_p/∂x instead (P values; weights then unused). */
  gradOutput?: VectorLike;
  /** Also return skill and spread per point. Default false. */
  components?: boolean;
  /** Backend to run on. Default 'auto'. */
  backend?: Backend;
  /**
   * Arrays to write the results into instead of new ones, each of the result's exact type and
   * length; the result returns these very arrays, with the same bits. Recommended in loops: a
   * dropped result's memory is reused only when the event loop turns, so a synchronous loop
   * without `out` maps fresh pages on every call. An async call writes them until its promise
   * settles: do not read, write or transfer them before (see the guide's "Caller-owned outputs").
   */
  out?: CrpsOut;
}

/** Caller-owned outputs of crps() (CrpsArgs.out): any subset of the arrays the call returns. */
export interface CrpsOut {
  /** Float32Array(P) for the scores. */
  scores?: Float32Array;
  /** Float32Array of the ensemble's length for gradEnsemble (with `gradients: true`). */
  gradEnsemble?: Float32Array;
  /** Float32Array(P) for gradObservations (with `gradients: true`). */
  gradObservations?: Float32Array;
  /** Float32Array(P) for skill (with `components: true`). */
  skill?: Float32Array;
  /** Float32Array(P) for spread (with `components: true`). */
  spread?: Float32Array;
}

/** Result of crps() / crpsAsync(). Per-point arrays have P values in the order of `observations`. */
export interface CrpsResult {
  /** CRPS per point, Float32Array(P), in the unit of the observations (see nanPolicy for NaN inputs). */
  scores: Float32Array;
  /** Σ w_p·s_p / Σ w_p over the counted points (float64 accumulation); NaN when Σw = 0. */
  mean: number;
  /** ∂mean/∂ensemble (or the gradOutput product), in the shape and layout of `ensemble`; with `gradients: true`. */
  gradEnsemble?: Float32Array;
  /** ∂mean/∂observations (or the gradOutput product), Float32Array(P); with `gradients: true`. */
  gradObservations?: Float32Array;
  /** Skill S = (1/M)·Σ_i |x_i − y| per point, Float32Array(P); with `components: true`. */
  skill?: Float32Array;
  /** Spread Q/(2M²) per point (standard CRPS = skill − spread), Float32Array(P); with `components: true`. */
  spread?: Float32Array;
  /** The backend that ran: 'cuda', 'cpu' or 'js'. */
  backend: ResolvedBackend;
}

/** A validated call: the ensemble seen as [outer, members, inner] (see native/kernels/crps.h). */
export interface CrpsPlan {
  ensemble: Float32Array;
  outer: number;
  members: number;
  inner: number;
  observations: Float32Array;
  weights: Float32Array | null;
  gradOutput: Float32Array | null;
  /** 0 standard, 1 fair, in between almost-fair. */
  alpha: number;
  nanPolicy: NanPolicy;
  gradients: boolean;
  components: boolean;
}

export type CrpsOutputs = Omit<CrpsResult, 'backend'>;

/** The result for given arguments: gradients and components are typed as present when requested with `true`. */
export type CrpsResultOf<A extends CrpsArgs> = CrpsResult &
  (A extends { gradients: true } ? { gradEnsemble: Float32Array; gradObservations: Float32Array } : unknown) &
  (A extends { components: true } ? { skill: Float32Array; spread: Float32Array } : unknown);

export const CRPS_KEYS = ['ensemble', 'observations', 'memberAxis', 'estimator', 'alpha', 'weights', 'nanPolicy', 'gradients', 'gradOutput', 'components', 'backend', 'out'] as const;

const points = (plan: CrpsPlan) => plan.outer * plan.inner;
const withGradients = (plan: CrpsPlan) => plan.gradients;
const withComponents = (plan: CrpsPlan) => plan.components;
/** The result arrays of crps(), for `out`. */
export const CRPS_OUTPUTS: readonly OutputSpec<CrpsPlan>[] = [
  { name: 'scores', type: 'Float32Array', length: points },
  { name: 'gradEnsemble', type: 'Float32Array', length: (plan) => plan.ensemble.length, returned: withGradients, requires: 'gradients: true' },
  { name: 'gradObservations', type: 'Float32Array', length: points, returned: withGradients, requires: 'gradients: true' },
  { name: 'skill', type: 'Float32Array', length: points, returned: withComponents, requires: 'components: true' },
  { name: 'spread', type: 'Float32Array', length: points, returned: withComponents, requires: 'components: true' },
];
const ESTIMATORS: readonly CrpsEstimator[] = ['standard', 'fair', 'almost-fair', 'nrg', 'ecdf', 'qd', 'int', 'pwm'];
const NAN_POLICIES: readonly NanPolicy[] = CRPS_ENUMS.nanPolicy.names;

function estimatorAlpha(estimator: CrpsEstimator, alphaOption: unknown): number {
  if (estimator === 'almost-fair') return numberOption(alphaOption, 'alpha', 0.95, closedRange(0, 1));
  if (alphaOption !== undefined) throw optionError(`alpha applies only to estimator 'almost-fair', not '${estimator}'`);
  return estimator === 'fair' || estimator === 'pwm' ? 1 : 0;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * The likely cause when a per-point vector of shape `shape` does not fit: it fits the ensemble
 * without another axis than memberAxis (the members are on that axis), said as the fix.
 */
function memberAxisHint(shape: readonly number[], ensembleShape: readonly number[], memberAxis: number): string {
  const length = shape.reduce((a, b) => a * b, 1);
  for (let axis = 0; axis < ensembleShape.length; axis++) {
    if (axis === memberAxis) continue;
    const without = ensembleShape.filter((_, i) => i !== axis);
    const points = without.reduce((a, b) => a * b, 1);
    if (sameShape(shape, without) || (shape.length === 1 && length === points)) {
      return `; it fits the ensemble ${shapeText(ensembleShape)} without axis ${axis}: if the members are on axis ${axis}, pass memberAxis: ${axis} (the members are now taken from axis ${memberAxis})`;
    }
  }
  return '';
}

/** A vector with one value per point: P values flat, or shaped like the points. */
function pointVector(value: unknown, name: string, pointShape: number[], points: number, ensembleShape: number[], memberAxis: number): Float32Array {
  const vector = toVector(value, name);
  const flat = vector.shape.length === 1 && vector.shape[0] === points;
  if (!flat && !sameShape(vector.shape, pointShape)) {
    throw shapeError(
      `${name} has shape ${shapeText(vector.shape)}, expected ${points} value${points === 1 ? '' : 's'} or shape ${shapeText(pointShape)}` +
        memberAxisHint(vector.shape, ensembleShape, memberAxis),
    );
  }
  return vector.data;
}

/**
 * Point weights: P values flat, or any shape that broadcasts against the points as NumPy
 * broadcasts (trailing axes aligned, each 1 or equal; extra leading axes only of size 1), e.g.
 * [lat, 1] latitude weights for points [lat, lon].  Expanded to P values (the kernels read one
 * weight per point); checked finite and ≥ 0 before expanding.
 */
function pointWeights(value: unknown, pointShape: number[], points: number, ensembleShape: number[], memberAxis: number): Float32Array {
  const vector = toVector(value, 'weights');
  const shape = vector.shape;
  const checked = () => {
    for (let i = 0; i < vector.data.length; i++) {
      const w = vector.data[i];
      if (!(w >= 0 && w < Infinity)) throw optionError(`weights[${i}] = ${w} must be finite and >= 0`);
    }
    return vector.data;
  };
  if (shape.length === 1 && shape[0] === points) return checked();
  const offset = shape.length - pointShape.length; // weight axis i + offset ↔ point axis i
  const fits = shape.every((d, i) => (i < offset ? d === 1 : d === 1 || d === pointShape[i - offset]));
  if (!fits) {
    const latitudeHint =
      shape.length === 1 && pointShape.length >= 2 && shape[0] === pointShape[0]
        ? `; weights along the first point axis (e.g. latitude) need shape [${pointShape[0]}${', 1'.repeat(pointShape.length - 1)}]`
        : '';
    throw shapeError(
      `weights has shape ${shapeText(shape)}, which does not broadcast against the points ${shapeText(pointShape)}: ` +
        `give ${points} value${points === 1 ? '' : 's'} or a shape whose trailing axes are each 1 or the point axis` +
        (latitudeHint || memberAxisHint(shape, ensembleShape, memberAxis)),
    );
  }
  checked();
  if (offset >= 0 && sameShape(shape.slice(offset), pointShape)) return vector.data;
  // Strides of the weights over the point axes (0 where broadcast).
  const strides = new Array<number>(pointShape.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= Math.max(offset, 0); i--) {
    if (shape[i] !== 1) strides[i - offset] = stride;
    stride *= shape[i];
  }
  const expanded = new Float32Array(points);
  const index = new Array<number>(pointShape.length).fill(0);
  let source = 0;
  for (let p = 0; p < points; p++) {
    expanded[p] = vector.data[source];
    for (let axis = pointShape.length - 1; axis >= 0; axis--) {
      index[axis]++;
      source += strides[axis];
      if (index[axis] < pointShape[axis]) break;
      source -= strides[axis] * index[axis];
      index[axis] = 0;
    }
  }
  return expanded;
}

export function planCrps(rawArgs: unknown): Planned<CrpsPlan> {
  const args = readOptions(checkArgsObject(rawArgs, 'crps'), CRPS_KEYS, 'crps');
  const out = readOut(args.out, CRPS_OUTPUTS);
  requireKeys(args, ['ensemble', 'observations']);
  const ensemble = toTensor(args.ensemble, 'ensemble');
  const rank = ensemble.shape.length;
  const memberAxis = axisOption(args.memberAxis, 'memberAxis', -1, rank);
  const estimator = enumOption(args.estimator, 'estimator', ESTIMATORS, 'standard');
  const alpha = estimatorAlpha(estimator, args.alpha);
  const nanPolicy = enumOption(args.nanPolicy, 'nanPolicy', NAN_POLICIES, 'propagate');
  const gradients = booleanOption(args.gradients, 'gradients', false);
  const components = booleanOption(args.components, 'components', false);
  const backend = backendOption(args.backend);
  if (args.gradOutput !== undefined && !gradients) throw optionError('gradOutput requires gradients: true');

  const members = ensemble.shape[memberAxis];
  const outer = ensemble.shape.slice(0, memberAxis).reduce((a, b) => a * b, 1);
  const inner = ensemble.shape.slice(memberAxis + 1).reduce((a, b) => a * b, 1);
  const points = outer * inner;
  if (members < 2 && alpha > 0) {
    throw shapeError(`ensemble has ${members} member along memberAxis ${memberAxis}; estimator '${estimator}' needs at least 2`);
  }
  const pointShape = ensemble.shape.filter((_, axis) => axis !== memberAxis);
  const observations = pointVector(args.observations, 'observations', pointShape, points, ensemble.shape, memberAxis);
  const weights = args.weights === undefined ? null : pointWeights(args.weights, pointShape, points, ensemble.shape, memberAxis);
  const gradOutput = args.gradOutput === undefined ? null : pointVector(args.gradOutput, 'gradOutput', pointShape, points, ensemble.shape, memberAxis);
  return {
    plan: {
      // Checked once every argument has been read: a later getter may have detached one.
      ensemble: stillAttached(ensemble.data, 'ensemble'),
      outer,
      members,
      inner,
      observations: stillAttached(observations, 'observations'),
      weights: weights && stillAttached(weights, 'weights'),
      gradOutput: gradOutput && stillAttached(gradOutput, 'gradOutput'),
      alpha,
      nanPolicy,
      gradients,
      components,
    },
    backend,
    out,
  };
}
