// The float64 reference's inputs and geometry (pairs-reference.ts, which re-exports the public
// part): the case, each kind's default distance, x̂, ŷ and the value matrices materialized,
// each pair's relation, and the record of decisions that came near a flip.
import type { MinerSpec, PairDistance, PairLossSpec } from '../lib/pairs/types';
export interface PairCase {
  N: number;
  D: number;
  embeddings: ArrayLike<number>;
  labels: Int32Array;
  /** Rows of `ref` (with a reference set). */
  M?: number;
  ref?: ArrayLike<number>;
  refLabels?: Int32Array;
  selfIndex?: Int32Array;
  distance?: PairDistance;
  normalize?: boolean;
  miner?: MinerSpec;
  loss?: PairLossSpec;
  /**
   * The precision option's rounding of the product operands (test/precision-reference.ts): applied
   * to x̂, ŷ (the values, distances included, are then those of the rounded vectors) and to
   * G = ∂loss/∂dot; the normalization's backward keeps the unrounded unit vectors
   * (docs/spec/precision.md).
   */
  operandRounding?: (x: number) => number;
  /** The relative ambiguity margin of a decision (default 1e-5, float32's noise). */
  decisionTolerance?: number;
}

export const MINER_DISTANCE: Record<MinerSpec['type'], PairDistance> = {
  'multi-similarity': 'cosine',
  'triplet-margin': 'euclidean',
  'batch-hard': 'euclidean',
  'pair-margin': 'euclidean',
};
export const LOSS_DISTANCE: Record<PairLossSpec['type'], PairDistance> = {
  'multi-similarity': 'cosine',
  contrastive: 'euclidean',
  'triplet-margin': 'euclidean',
  circle: 'cosine',
  ntxent: 'cosine',
  'threshold-consistent': 'cosine',
};
export const isSimilarity = (d: PairDistance): boolean => d === 'cosine' || d === 'dot';
export const isTripletMiner = (m: MinerSpec): boolean => m.type === 'triplet-margin' || m.type === 'batch-hard';

// ---------------------------------------------------------------------------------------------
// Geometry: x̂, ŷ and the value matrices

export interface Geometry {
  N: number;
  M: number;
  D: number;
  hasRef: boolean;
  normalize: boolean;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** The product operands: the unit rows (or raw rows), rounded with operandRounding. */
  xh: Float64Array;
  yh: Float64Array;
  /** The unrounded unit rows (the normalization's backward). */
  xu: Float64Array;
  yu: Float64Array;
  /** G's rounding (the identity without operandRounding). */
  round: (x: number) => number;
  tol: number;
  labels: Int32Array;
  refLabels: Int32Array;
  /** Column never paired with row i (−1: none). */
  excluded: Int32Array;
  cache: Map<PairDistance, Float64Array>;
}

function unitRows(data: ArrayLike<number>, rows: number, D: number, normalize: boolean): Float64Array {
  const out = new Float64Array(rows * D);
  for (let r = 0; r < rows; r++) {
    let n2 = 0;
    for (let d = 0; d < D; d++) n2 += data[r * D + d] * data[r * D + d];
    const norm = normalize ? Math.max(Math.sqrt(n2), 1e-12) : 1;
    for (let d = 0; d < D; d++) out[r * D + d] = data[r * D + d] / norm;
  }
  return out;
}

export function geometry(c: PairCase): Geometry {
  const hasRef = c.ref !== undefined;
  const M = hasRef ? (c.M ?? 0) : c.N;
  const normalize = c.normalize ?? c.distance !== 'dot';
  const xu = unitRows(c.embeddings, c.N, c.D, normalize);
  const yu = hasRef ? unitRows(c.ref!, M, c.D, normalize) : xu;
  const round = c.operandRounding ?? ((x: number) => x);
  const xh = c.operandRounding ? xu.map(round) : xu;
  const excluded = new Int32Array(c.N).fill(-1);
  for (let i = 0; i < c.N; i++) excluded[i] = hasRef ? (c.selfIndex ? c.selfIndex[i] : -1) : i;
  return {
    N: c.N,
    M,
    D: c.D,
    hasRef,
    normalize,
    x: c.embeddings,
    y: hasRef ? c.ref! : c.embeddings,
    xh,
    yh: !hasRef ? xh : c.operandRounding ? yu.map(round) : yu,
    xu,
    yu,
    round,
    tol: c.decisionTolerance ?? TOLERANCE,
    labels: c.labels,
    refLabels: hasRef ? c.refLabels! : c.labels,
    excluded,
    cache: new Map(),
  };
}

/** dot (cosine/dot), Σ(x̂ − ŷ)² or its square root: the literal definitions, N×M row-major. */
export function values(g: Geometry, distance: PairDistance): Float64Array {
  const hit = g.cache.get(distance);
  if (hit) return hit;
  const v = new Float64Array(g.N * g.M);
  const { N, M, D, xh, yh } = g;
  const sim = isSimilarity(distance);
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < M; j++) {
      let s = 0;
      for (let d = 0; d < D; d++) {
        const a = xh[i * D + d];
        const b = yh[j * D + d];
        s += sim ? a * b : (a - b) * (a - b);
      }
      // Values are float32 in every backend (docs/spec/pairs.md): beyond its range they
      // are ±Inf.  Within it the float64 value is kept (finite differences need it).
      const value = distance === 'euclidean' ? Math.sqrt(s) : s;
      v[i * M + j] = Number.isFinite(Math.fround(value)) ? value : Math.fround(value);
    }
  }
  g.cache.set(distance, v);
  return v;
}

/** 1 positive, −1 negative, 0 the excluded column. */
export function relation(g: Geometry, i: number, j: number): number {
  if (j === g.excluded[i]) return 0;
  return g.refLabels[j] === g.labels[i] ? 1 : -1;
}

// ---------------------------------------------------------------------------------------------
// Decisions near a flip.  A comparison of a value with a constant is ambiguous in float32 when
// it is within `tol` of it (an exact hit included); a comparison of two values (plus a nonzero
// offset) likewise, but two exactly equal values with no offset are a real tie (exactly repeated
// vectors give identical float32 values too) and resolve the same way in every precision.

export class Decisions {
  nearest = Infinity;
  /** Some decision was within the ambiguity margin. */
  near = false;
  constructor(readonly tol: number) {}
  constant(v: number, threshold: number): boolean {
    return this.note(Math.abs(v - threshold), Math.max(Math.abs(v), Math.abs(threshold)));
  }
  /** a + offset against b. */
  values(a: number, b: number, offset = 0): boolean {
    if (offset === 0 && a === b) return false;
    return this.note(Math.abs(a + offset - b), Math.max(Math.abs(a), Math.abs(b), Math.abs(offset)));
  }
  /** Ambiguous within tol of the compared numbers' scale (at least 1): float32 values are good to ~1e-6 of it. */
  private note(margin: number, scale: number): boolean {
    if (!Number.isFinite(margin)) return false;
    this.nearest = Math.min(this.nearest, margin);
    const near = margin < this.tol * Math.max(1, scale);
    this.near ||= near;
    return near;
  }
}

/** Relative ambiguity margin of a decision. */
const TOLERANCE = 1e-5;

