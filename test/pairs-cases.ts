// Random pair cases for the tests, the arguments they become, and the checks of a backend's
// results against the float64 reference (pairs-reference.ts).
import type { MinerSpec, PairDistance, PairLossSpec } from '../lib/pairs/types';
import { checkGradientNorm, type Rng } from './helpers';
import { refPairLoss, type LossRef, type MinedRef, type PairCase } from './pairs-reference';

// ---------------------------------------------------------------------------------------------
// Calls and checks

export function pairArgs(c: PairCase, backend: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    embeddings: { data: c.embeddings, shape: [c.N, c.D] },
    labels: c.labels,
    ...(c.ref ? { ref: { data: c.ref, shape: [c.M, c.D] }, refLabels: c.refLabels } : {}),
    ...(c.selfIndex ? { selfIndex: c.selfIndex } : {}),
    ...(c.distance ? { distance: c.distance } : {}),
    ...(c.normalize !== undefined ? { normalize: c.normalize } : {}),
    ...(c.miner ? { miner: c.miner } : {}),
    ...(c.loss ? { loss: c.loss } : {}),
    backend,
    ...extra,
  };
}

interface AnyMined {
  backend?: string;
  positiveAnchors?: Int32Array;
  positives?: Int32Array;
  negativeAnchors?: Int32Array;
  negatives?: Int32Array;
  anchors?: Int32Array;
}

const PAIR_LISTS = ['positiveAnchors', 'positives', 'negativeAnchors', 'negatives'] as const;
const TRIPLET_LISTS = ['anchors', 'positives', 'negatives'] as const;

/** A mined result's elements as keys (see MinedRef.keys), with failures for wrong types, lengths or order. */
export function minedKeys(result: AnyMined, kind: 'pairs' | 'triplets', label: string): { keys: string[]; failures: string[] } {
  const failures: string[] = [];
  const r = result as Record<string, unknown>;
  const lists = kind === 'pairs' ? PAIR_LISTS : TRIPLET_LISTS;
  for (const key of lists) if (!(r[key] instanceof Int32Array)) failures.push(`${label}: ${key} is not an Int32Array`);
  for (const key of kind === 'pairs' ? ['anchors'] : ['positiveAnchors', 'negativeAnchors']) if (key in r) failures.push(`${label}: ${key} in a ${kind} result`);
  if (failures.length) return { keys: [], failures };
  const keys: string[] = [];
  const groups: [string, Int32Array[]][] =
    kind === 'pairs'
      ? [['p', [result.positiveAnchors!, result.positives!]], ['n', [result.negativeAnchors!, result.negatives!]]]
      : [['t', [result.anchors!, result.positives!, result.negatives!]]];
  for (const [prefix, cols] of groups) {
    if (cols.some((col) => col.length !== cols[0].length)) failures.push(`${label}: ${prefix} lists of different lengths`);
    for (let k = 0; k < cols[0].length; k++) {
      keys.push(`${prefix} ${cols.map((col) => col[k]).join(' ')}`);
      if (k === 0) continue;
      const at = cols.findIndex((col) => col[k - 1] !== col[k]);
      if ((at < 0 || cols[at][k - 1] > cols[at][k]) && !failures.some((f) => f.includes('canonical'))) {
        failures.push(`${label}: ${prefix} not in canonical order at ${k} (${cols.map((col) => col[k - 1])} then ${cols.map((col) => col[k])})`);
      }
    }
  }
  return { keys, failures };
}

/** Mined sets equal except for the elements the reference marks ambiguous (returned in `near`). */
export function checkMined(result: AnyMined, ref: MinedRef, backend: string | null, label: string): { failures: string[]; near: string[] } {
  const { keys: got, failures } = minedKeys(result, ref.kind, label);
  if (backend && result.backend !== backend) failures.push(`${label}: ran on ${result.backend}, asked ${backend}`);
  const gotSet = new Set(got);
  const wantSet = new Set(ref.keys);
  const missing = ref.keys.filter((k) => !gotSet.has(k) && !ref.ambiguous.has(k));
  const extra = got.filter((k) => !wantSet.has(k) && !ref.ambiguous.has(k));
  if (missing.length) failures.push(`${label}: ${missing.length} missing (${missing.slice(0, 5).join(', ')})`);
  if (extra.length) failures.push(`${label}: ${extra.length} extra (${extra.slice(0, 5).join(', ')})`);
  if (ref.anchors && result.anchors && Array.from(result.anchors).join() !== ref.anchors.join()) failures.push(`${label}: batch-hard anchors differ`);
  const near = [...got.filter((k) => !wantSet.has(k)), ...ref.keys.filter((k) => !gotSet.has(k))].filter((k) => ref.ambiguous.has(k));
  return { failures, near };
}

interface AnyLossResult {
  loss: number;
  gradEmbeddings?: Float32Array;
  gradRef?: Float32Array;
  backend?: string;
}

/** Loss |a − r| ≤ 1e-5·|r| (+1e-12), gradients ‖g − r‖ ≤ tol·‖r‖; presence and types of every field. */
export function checkLoss(
  result: AnyLossResult,
  ref: { loss: number; gradEmbeddings?: ArrayLike<number>; gradRef?: ArrayLike<number> },
  want: { gradients: boolean; hasRef: boolean; backend: string | null; lossTol?: number; gradTol?: number },
  label: string,
): string[] {
  const failures: string[] = [];
  if (want.backend && result.backend !== want.backend) failures.push(`${label}: ran on ${result.backend}, asked ${want.backend}`);
  const lossTol = (want.lossTol ?? 1e-5) * Math.abs(ref.loss) + 1e-12;
  if (typeof result.loss !== 'number' || !(Math.abs(result.loss - ref.loss) <= lossTol)) failures.push(`${label}: loss ${result.loss}, expected ${ref.loss}`);
  if (!want.gradients) {
    if (result.gradEmbeddings !== undefined || result.gradRef !== undefined) failures.push(`${label}: gradients returned with gradients: false`);
    return failures;
  }
  if (!(result.gradEmbeddings instanceof Float32Array)) failures.push(`${label}: gradEmbeddings is not a Float32Array`);
  failures.push(...checkGradientNorm(result.gradEmbeddings, ref.gradEmbeddings!, `${label} gradEmbeddings`, want.gradTol ?? 1e-4));
  if (want.hasRef) {
    if (!(result.gradRef instanceof Float32Array)) failures.push(`${label}: gradRef is not a Float32Array`);
    failures.push(...checkGradientNorm(result.gradRef, ref.gradRef!, `${label} gradRef`, want.gradTol ?? 1e-4));
  } else if (result.gradRef !== undefined) failures.push(`${label}: gradRef without a reference set`);
  return failures;
}

// ---------------------------------------------------------------------------------------------
// Random cases

/** A named random case: what drawCase draws and the call's options. */
export interface CaseSpec {
  name: string;
  draw: DrawSpec;
  distance?: PairDistance;
  normalize?: boolean;
  miner?: MinerSpec;
  loss?: PairLossSpec;
}

/** Shapes that match no tile (N 33, M 70, D 130), with a reference set, and with selfIndex (D 17). */
export const SHAPES = {
  big: { N: 33, D: 130 },
  withRef: { N: 33, M: 70, D: 130 },
  selfRef: { N: 33, M: 70, D: 17, selfIndex: true },
} as const satisfies Record<string, DrawSpec>;

export interface DrawSpec {
  N: number;
  D: number;
  /** A reference set of M rows. */
  M?: number;
  /** Labels in [0, classes) (default 5). */
  classes?: number;
  /** 'same': one class; 'distinct': every row (and reference row) its own; 'singletons': a third of the rows alone in their class. */
  labels?: 'random' | 'same' | 'distinct' | 'singletons';
  /** The reference set holds exact copies of most queries, named by selfIndex (−1 for the rest). */
  selfIndex?: boolean;
  /** Rows are exact copies of a few base vectors. */
  duplicates?: boolean;
  /** Rows of norm 0.5…2 (for normalize false). */
  raw?: boolean;
}

export function drawCase(rng: Rng, s: DrawSpec, extra: Partial<PairCase> = {}): PairCase {
  const { N, D } = s;
  const classes = s.classes ?? 5;
  const centers = new Map<number, Float64Array>();
  const center = (label: number) => {
    let c = centers.get(label);
    if (!c) centers.set(label, (c = Float64Array.from({ length: D }, () => rng.normal())));
    return c;
  };
  const labelOf = (k: number, refRow: boolean) => {
    switch (s.labels ?? 'random') {
      case 'same':
        return 7;
      case 'distinct':
        return refRow ? 1000 + k : k;
      case 'singletons':
        return !refRow && k % 3 === 0 ? 100 + k : rng.int(Math.max(1, classes));
      default:
        return rng.int(classes);
    }
  };
  const bases: Float32Array[] = [];
  // At most N/3 distinct rows, whatever the seed: the repeated-vector cases must hold exact ties
  // (the 70 % coin alone left 17 of 33 rows distinct under seed 3059691810).
  const maxBases = Math.max(3, Math.floor(N / 3));
  const vector = (label: number) => {
    if (s.duplicates && bases.length >= 3 && (bases.length >= maxBases || rng.next() < 0.7)) return bases[rng.int(bases.length)];
    const c = center(label);
    const rowScale = s.raw ? rng.uniform(0.5, 2) / Math.sqrt(D) : 1;
    const v = Float32Array.from({ length: D }, (_, d) => Math.fround((0.8 * c[d] + rng.normal()) * rowScale));
    if (s.duplicates) bases.push(v);
    return v;
  };
  const labels = Int32Array.from({ length: N }, (_, i) => labelOf(i, false));
  const embeddings = new Float32Array(N * D);
  for (let i = 0; i < N; i++) embeddings.set(vector(labels[i]), i * D);
  const out: PairCase = { N, D, embeddings, labels, ...extra };
  if (s.M !== undefined) {
    const M = s.M;
    const refLabels = Int32Array.from({ length: M }, (_, j) => labelOf(j, true));
    const ref = new Float32Array(M * D);
    for (let j = 0; j < M; j++) ref.set(vector(refLabels[j]), j * D);
    if (s.selfIndex) {
      const slots = Array.from({ length: M }, (_, j) => j);
      for (let j = M - 1; j > 0; j--) {
        const k = rng.int(j + 1);
        [slots[j], slots[k]] = [slots[k], slots[j]];
      }
      // Queries without a slot have no copy in the set (a copy would be an exact duplicate pair).
      out.selfIndex = Int32Array.from({ length: N }, (_, i) => (i < M && rng.next() < 0.85 ? slots[i] : -1));
      out.selfIndex.forEach((slot, i) => {
        if (slot < 0) return;
        ref.set(embeddings.subarray(i * D, (i + 1) * D), slot * D);
        refLabels[slot] = labels[i];
      });
    }
    Object.assign(out, { M, ref, refLabels });
  }
  return out;
}

/** Draws until no decision is within the float32 ambiguity margin, or within `clearance` (finite differences). */
export function drawClearLoss(rng: Rng, s: DrawSpec, extra: Partial<PairCase>, tries = 40, clearance = 0): { c: PairCase; ref: LossRef } {
  for (let t = 0; t < tries; t++) {
    const c = drawCase(rng, s, extra);
    const ref = refPairLoss(c);
    if (!ref.ambiguous && !(ref.nearest < clearance)) return { c, ref };
  }
  throw new Error(`no draw without a near-tie decision in ${tries} tries (${JSON.stringify({ ...s, ...extra })})`);
}
