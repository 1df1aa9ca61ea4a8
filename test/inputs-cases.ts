// Small fixed problems of every kernel family for the input-handling tests (shared memory, hostile
// objects), the outcome of a call (a result or an error), and a bit-for-bit comparison of two
// results of any family.
import { crps, crpsAsync, marginSoftmax, marginSoftmaxAsync, mine, mineAsync, pairLoss, pairLossAsync } from './api';
import type { Rng } from './helpers';

export type Family = 'crps' | 'marginSoftmax' | 'mine' | 'pairLoss';

/** The public entry points by family, sync and async, taking untyped arguments (hostile inputs). */
export const ENTRY: Record<Family, { sync: (args: unknown) => unknown; async: (args: unknown) => Promise<unknown> }> = {
  crps: { sync: (a) => crps(a as never), async: (a) => crpsAsync(a as never) },
  marginSoftmax: { sync: (a) => marginSoftmax(a as never), async: (a) => marginSoftmaxAsync(a as never) },
  mine: { sync: (a) => mine(a as never), async: (a) => mineAsync(a as never) },
  pairLoss: { sync: (a) => pairLoss(a as never), async: (a) => pairLossAsync(a as never) },
};

export function randomFloats(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => rng.normal());
}

/** Sizes of the problems below. */
export const SIZE = { points: 6, members: 5, rows: 12, dim: 6, classes: 8, subset: 4 } as const;

/**
 * One call per family, every option group present (weights, classIndices, rowWeights, ref with
 * refLabels and selfIndex, a miner with the loss), fresh arrays on each call of `make`.
 */
export function familyArgs(rng: Rng): Record<Family, () => Record<string, unknown>> {
  const { points, members, rows, dim, classes, subset } = SIZE;
  const ensemble = randomFloats(rng, points * members);
  const observations = randomFloats(rng, points);
  const pointWeights = Float32Array.from({ length: points }, () => 0.5 + rng.next());
  const embeddings = randomFloats(rng, rows * dim);
  const centers = randomFloats(rng, classes * dim);
  // Labels of the margin problem among the first `subset` classes, so classIndices 0..subset-1 hold them.
  const marginLabels = Int32Array.from({ length: rows }, (_, i) => i % subset);
  const pairLabels = Int32Array.from({ length: rows }, (_, i) => i % 3);
  const ref = randomFloats(rng, rows * dim);
  const pairInputs = () => ({
    embeddings: { data: embeddings.slice(), shape: [rows, dim] },
    labels: pairLabels.slice(),
    ref: { data: ref.slice(), shape: [rows, dim] },
    refLabels: pairLabels.slice(),
    selfIndex: Int32Array.from({ length: rows }, (_, i) => i),
  });
  return {
    crps: () => ({ ensemble: { data: ensemble.slice(), shape: [points, members] }, observations: observations.slice(), weights: pointWeights.slice(), estimator: 'fair', gradients: true }),
    marginSoftmax: () => ({
      embeddings: { data: embeddings.slice(), shape: [rows, dim] },
      weights: { data: centers.slice(), shape: [classes, dim] },
      labels: marginLabels.slice(),
      classIndices: Int32Array.from({ length: subset }, (_, j) => j),
      rowWeights: Float32Array.from({ length: rows }, (_, i) => 1 + i / rows),
      margin: { type: 'arcface', m: 0.3 },
      scale: 16,
    }),
    mine: () => ({ ...pairInputs(), miner: { type: 'multi-similarity', epsilon: 0.2 } }),
    pairLoss: () => ({
      ...pairInputs(),
      loss: { type: 'contrastive', posMargin: 0.1, negMargin: 0.9 },
      miner: { type: 'pair-margin', posMargin: 0.3, negMargin: 0.6 },
    }),
  };
}

export type Outcome = { result: Record<string, unknown> } | { error: unknown };

export function outcomeOf(fn: () => unknown): Outcome {
  try {
    return { result: fn() as Record<string, unknown> };
  } catch (error) {
    return { error };
  }
}

export async function asyncOutcomeOf(fn: () => unknown): Promise<Outcome> {
  try {
    return { result: (await fn()) as Record<string, unknown> };
  } catch (error) {
    return { error };
  }
}

export function errorCode(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : `uncoded ${error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error)}`;
}

/** Every field of two results bit for bit (typed arrays by bits, numbers with NaN equal to NaN); [] when identical. */
export function sameResult(a: Record<string, unknown>, b: Record<string, unknown>, label: string): string[] {
  const failures: string[] = [];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    const x = a[key];
    const y = b[key];
    if (ArrayBuffer.isView(x) && ArrayBuffer.isView(y)) {
      const xs = x as Float32Array | Int32Array;
      const ys = y as Float32Array | Int32Array;
      if (xs.constructor !== ys.constructor || xs.length !== ys.length) {
        failures.push(`${label} ${key}: ${xs.constructor.name}(${xs.length}) vs ${ys.constructor.name}(${ys.length})`);
        continue;
      }
      const ux = new Uint32Array(xs.buffer, xs.byteOffset, xs.length);
      const uy = new Uint32Array(ys.buffer, ys.byteOffset, ys.length);
      const at = ux.findIndex((bits, k) => bits !== uy[k]);
      if (at >= 0) failures.push(`${label} ${key}[${at}]: ${xs[at]} vs ${ys[at]}`);
    } else if (!Object.is(x, y)) {
      failures.push(`${label} ${key}: ${String(x)} vs ${String(y)}`);
    }
  }
  return failures;
}

/** What an outcome was, in a line (for failure messages and outcome-equality checks). */
export function describeOutcome(outcome: Outcome): string {
  return 'error' in outcome ? `error ${errorCode(outcome.error)}` : outcome.result.backend === undefined ? 'a result' : `result on ${String(outcome.result.backend)}`;
}

/** Two outcomes agree: the same result bit for bit, or errors with the same code. */
export function sameOutcome(a: Outcome, b: Outcome, label: string): string[] {
  if ('result' in a && 'result' in b) return sameResult(a.result, b.result, label);
  if ('error' in a && 'error' in b && errorCode(a.error) === errorCode(b.error)) return [];
  return [`${label}: ${describeOutcome(a)} vs ${describeOutcome(b)}`];
}
