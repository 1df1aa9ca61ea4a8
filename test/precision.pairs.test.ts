// mine() / pairLoss() with the `precision` option ('tf32', 'bf16'; docs/spec/precision.md) on
// every backend, sync and async, outputs poisoned first, fresh random inputs per seed:
//  1. against a float64 reference of the ROUNDED problem (pairs-reference.ts with
//     precision-reference.ts's independent rounding of x̂, ŷ and G): mined sets exactly but for
//     the decisions within float32 noise of their flip (logged); the loss within 1e-5 and the
//     gradients within 1e-4 normwise plus, where a backend's float32 G may round the other way
//     than the reference's float64 G (G within a relative 2e-4 of a rounding boundary), that one
//     ulp's contribution (every backend: the values are float32 in all).  Loss inputs are redrawn
//     until the rounded reference decides nothing within float32 noise.
//  2. against a float64 reference of the UNROUNDED problem, within the bounds the spec derives:
//     every value moves by at most Δv (cosine/dot (2u + u²)·Σ_d|x̂_d ŷ_d|, euclidean u·(‖x̂‖ + ‖ŷ‖),
//     squared u·(‖x̂‖ + ‖ŷ‖)·(2d + u·(‖x̂‖ + ‖ŷ‖))), so a mined element that differs is one whose
//     unrounded decision is within 2·Δv of its flip; the smooth losses (multi-similarity, NT-Xent,
//     no miner) move by at most L·Δv (2, 2/τ); their cosine gradients as the spec's G bound says.
//  3. validation: a bad value is OPTION / INVALID_ARG; 'fp32' is the default, bit for bit.
import { describe, expect, it } from 'vitest';

import { mine, mineAsync, pairLoss, pairLossAsync, type PairDistance } from './api';
import { backendCases, checkNormwise, norm, Rng, testSeed } from './helpers';
import { checkLoss, checkMined, drawCase, pairArgs, SHAPES, type CaseSpec } from './pairs-cases';
import { LOSS_DISTANCE, MINER_DISTANCE, refMine, refPairLoss, type LossRef, type PairCase } from './pairs-reference';
import { referenceRounding, unitRoundoff, type ReducedPrecision } from './precision-reference';

const SEED = testSeed('precision.pairs');
const BACKENDS = backendCases();
const PRECISIONS: readonly ReducedPrecision[] = ['tf32', 'bf16'];

// Odd sizes that match no tile; a reference set with and without selfIndex; raw rows.
const { big, withRef, selfRef } = SHAPES;
const raw = { N: 33, D: 40, raw: true };

const MINE_SPECS: CaseSpec[] = [
  { name: 'multi-similarity cosine', draw: big, miner: { type: 'multi-similarity' } },
  { name: 'multi-similarity euclidean, ref', draw: withRef, distance: 'euclidean', miner: { type: 'multi-similarity' } },
  { name: 'triplet all euclidean', draw: { N: 33, D: 17 }, miner: { type: 'triplet-margin' } },
  { name: 'triplet semihard squared-euclidean, ref', draw: withRef, distance: 'squared-euclidean', miner: { type: 'triplet-margin', triplets: 'semihard', margin: 0.4 } },
  { name: 'batch-hard euclidean, ref + selfIndex', draw: selfRef, miner: { type: 'batch-hard' } },
  { name: 'batch-hard cosine, repeated vectors', draw: { N: 33, D: 7, classes: 3, duplicates: true }, distance: 'cosine', miner: { type: 'batch-hard' } },
  { name: 'pair-margin dot raw', draw: raw, distance: 'dot', miner: { type: 'pair-margin', posMargin: 0.5, negMargin: 0.1 } },
  { name: 'pair-margin euclidean normalize false', draw: raw, normalize: false, miner: { type: 'pair-margin', posMargin: 1, negMargin: 1.5 } },
];

const LOSS_SPECS: CaseSpec[] = [
  { name: 'multi-similarity cosine', draw: big, loss: { type: 'multi-similarity' } },
  { name: 'multi-similarity euclidean, ref', draw: withRef, distance: 'euclidean', loss: { type: 'multi-similarity', alpha: 2, beta: 10, base: 1 } },
  { name: 'ntxent cosine, ref + selfIndex', draw: selfRef, loss: { type: 'ntxent', temperature: 0.2 } },
  { name: 'contrastive euclidean, multi-similarity miner, ref', draw: withRef, miner: { type: 'multi-similarity' }, loss: { type: 'contrastive', negMargin: 1.2 } },
  { name: 'triplet-margin euclidean, semihard miner', draw: { N: 33, D: 17 }, miner: { type: 'triplet-margin', triplets: 'semihard' }, loss: { type: 'triplet-margin', margin: 0.1 } },
  { name: 'circle cosine, ref', draw: withRef, loss: { type: 'circle' } },
  { name: 'threshold-consistent cosine', draw: big, loss: { type: 'threshold-consistent' } },
  { name: 'contrastive squared-euclidean normalize false', draw: raw, distance: 'squared-euclidean', normalize: false, loss: { type: 'contrastive', negMargin: 2 } },
  { name: 'triplet-margin dot raw, batch-hard miner, ref', draw: { N: 33, M: 70, D: 40, raw: true }, distance: 'dot', miner: { type: 'batch-hard' }, loss: { type: 'triplet-margin', margin: 0.3 } },
];
/** Losses with an unrounded bound: smooth in the values (no miner), Lipschitz constant L in the max norm. */
const LIPSCHITZ: Record<string, (s: CaseSpec) => number> = {
  'multi-similarity cosine': () => 2,
  'multi-similarity euclidean, ref': () => 2,
  'ntxent cosine, ref + selfIndex': (s) => 2 / ((s.loss as { temperature: number }).temperature),
};

function caseOf(rng: Rng, s: CaseSpec): PairCase {
  return drawCase(rng, s.draw, { distance: s.distance, normalize: s.normalize, miner: s.miner, loss: s.loss });
}

function args(c: PairCase, backend: string, precision: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return pairArgs(c, backend, { precision, ...extra });
}

/** A loss case whose ROUNDED reference decides nothing within float32 noise (redrawn otherwise). */
function roundedLossCase(rng: Rng, s: CaseSpec, precision: ReducedPrecision): { c: PairCase; ref: LossRef } {
  for (let attempt = 0; attempt < 40; attempt++) {
    const c = caseOf(rng, s);
    const ref = refPairLoss({ ...c, operandRounding: referenceRounding(precision) });
    if (!ref.ambiguous) return { c, ref };
  }
  throw new Error(`${s.name}: no draw without a near-tie decision`);
}

/** NaN-filled `out` arrays: an element a backend does not write fails every check. */
function poisonedOut(c: PairCase): Record<string, Float32Array> {
  return {
    gradEmbeddings: new Float32Array(c.N * c.D).fill(NaN),
    ...(c.ref ? { gradRef: new Float32Array(c.M! * c.D).fill(NaN) } : {}),
  };
}

function rowNorms(data: ArrayLike<number>, rows: number, D: number, normalize: boolean): Float64Array {
  return Float64Array.from({ length: rows }, (_, r) => {
    if (!normalize) return 1;
    let s = 0;
    for (let d = 0; d < D; d++) s += data[r * D + d] ** 2;
    return Math.max(Math.sqrt(s), 1e-12);
  });
}

/**
 * Per element of the unit-vector gradients ∂/∂x̂ [N, D] (both roles without a reference set) and
 * ∂/∂ŷ [M, D], Σ weight(i, j)·|∂(x̂_i·ŷ_j)/∂x̂| (and /∂ŷ) over the pairs — the terms' magnitudes
 * the products' errors scale with; then through the normalization (÷‖v‖), normwise.
 */
function termBound(c: PairCase, ref: LossRef, weight: (i: number, j: number) => number): { embeddings: number; refs: number } {
  const { N, D } = c;
  const M = c.ref ? c.M! : N;
  const distance = c.distance ?? LOSS_DISTANCE[c.loss!.type];
  const sim = distance === 'cosine' || distance === 'dot';
  const x = ref.xOperands;
  const y = ref.yOperands;
  const gx = new Float64Array(N * D);
  const gy = c.ref ? new Float64Array(M * D) : gx;
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < M; j++) {
      const w = weight(i, j);
      if (w === 0) continue;
      for (let d = 0; d < D; d++) {
        const a = x[i * D + d];
        const b = y[j * D + d];
        gx[i * D + d] += w * Math.abs(sim ? b : a - b);
        gy[j * D + d] += w * Math.abs(sim ? a : a - b);
      }
    }
  }
  const normalize = c.normalize ?? c.distance !== 'dot';
  const through = (g: Float64Array, data: ArrayLike<number>, rows: number) => {
    const norms = rowNorms(data, rows, D, normalize);
    let sum = 0;
    for (let r = 0; r < rows; r++) for (let d = 0; d < D; d++) sum += (g[r * D + d] / norms[r]) ** 2;
    return Math.sqrt(sum);
  };
  return { embeddings: through(gx, c.embeddings, N), refs: c.ref ? through(gy, c.ref, M) : 0 };
}

interface LossResult {
  loss: number;
  gradEmbeddings?: Float32Array;
  gradRef?: Float32Array;
  backend?: string;
}

/** Against the rounded problem's reference: loss at the fp32 tolerance, gradients as the header says. */
function checkRounded(result: LossResult, c: PairCase, ref: LossRef, precision: ReducedPrecision, backend: string, label: string): string[] {
  const failures = checkLoss({ ...result, gradEmbeddings: undefined, gradRef: undefined }, ref, { gradients: false, hasRef: !!c.ref, backend }, label);
  const round = referenceRounding(precision);
  const M = c.ref ? c.M! : c.N;
  // Every backend's G carries float32 noise (the values are float32 on all of them, the TypeScript one too).
  const window = 2e-4;
  const flips = termBound(c, ref, (i, j) => {
    const g = ref.gradDot![i * M + j];
    return Math.abs(round(g * (1 + window)) - round(g * (1 - window)));
  });
  const tol = 1e-4;
  failures.push(...checkNormwise(result.gradEmbeddings, ref.gradEmbeddings, tol * norm(ref.gradEmbeddings) + flips.embeddings + 1e-12, `${label} gradEmbeddings`));
  if (c.ref) failures.push(...checkNormwise(result.gradRef, ref.gradRef!, tol * norm(ref.gradRef!) + flips.refs + 1e-12, `${label} gradRef`));
  return failures;
}

/** Δv: the largest change of any pair's value when x̂ and ŷ are rounded with unit roundoff u (the spec's bound). */
function valueBound(c: PairCase, distance: PairDistance, u: number): number {
  const ref = refPairLoss({ ...c, loss: { type: 'multi-similarity' }, miner: undefined, distance: c.distance });
  const { N, D } = c;
  const M = c.ref ? c.M! : N;
  const x = ref.xOperands;
  const y = ref.yOperands;
  let bound = 0;
  for (let i = 0; i < N; i++) {
    for (let j = 0; j < M; j++) {
      let abs = 0;
      let xx = 0;
      let yy = 0;
      let dd = 0;
      for (let d = 0; d < D; d++) {
        const a = x[i * D + d];
        const b = y[j * D + d];
        abs += Math.abs(a * b);
        xx += a * a;
        yy += b * b;
        dd += (a - b) ** 2;
      }
      const lengths = Math.sqrt(xx) + Math.sqrt(yy);
      const b =
        distance === 'cosine' || distance === 'dot' ? (2 * u + u * u) * abs
        : distance === 'euclidean' ? u * lengths
        : u * lengths * (2 * Math.sqrt(dd) + u * lengths);
      bound = Math.max(bound, b);
    }
  }
  return bound;
}

/** Against the unrounded problem, within the spec's bounds (LIPSCHITZ specs; gradients for cosine). */
function checkUnrounded(result: LossResult, c: PairCase, s: CaseSpec, precision: ReducedPrecision, label: string): string[] {
  const exact = refPairLoss(c);
  const u = unitRoundoff(precision);
  const distance = c.distance ?? LOSS_DISTANCE[c.loss!.type];
  const dv = valueBound(c, distance, u);
  const failures: string[] = [];
  const lossBound = LIPSCHITZ[s.name](s) * dv + 1e-5 * Math.abs(exact.loss) + 1e-12;
  if (!(Math.abs(result.loss - exact.loss) <= lossBound)) failures.push(`${label}: loss ${result.loss}, unrounded ${exact.loss}: over the bound ${lossBound}`);
  if (distance !== 'cosine') return failures;
  // G moves by at most η|G| (each weight a ratio of sums of exponentials of values, each moved by
  // at most κ·Δv: η = e^{2κΔv} − 1, κ = max(α, β) or 1/τ), then by its own rounding u.
  const spec = c.loss as { type: string; alpha?: number; beta?: number; temperature?: number };
  const kappa = spec.type === 'ntxent' ? 1 / (spec.temperature ?? 0.07) : Math.max(spec.alpha ?? 2, spec.beta ?? 50);
  const eta = Math.expm1(2 * kappa * dv);
  const gamma = eta + u * (1 + eta);
  const growth = (1 + gamma) * (1 + u) - 1;
  const M = c.ref ? c.M! : c.N;
  const bound = termBound(c, exact, (i, j) => growth * Math.abs(exact.gradDot![i * M + j]));
  failures.push(...checkNormwise(result.gradEmbeddings, exact.gradEmbeddings, bound.embeddings + 1e-4 * norm(exact.gradEmbeddings), `${label} gradEmbeddings (unrounded)`));
  if (c.ref) failures.push(...checkNormwise(result.gradRef, exact.gradRef!, bound.refs + 1e-4 * norm(exact.gradRef!), `${label} gradRef (unrounded)`));
  return failures;
}

describe.each(BACKENDS)('pairs precision on $name', ({ name: backend, available, reason }) => {
  const skip = available ? '' : ` (${reason})`;

  it.skipIf(!available)(`mine: tf32 and bf16 against the rounded and the unrounded float64 references${skip}`, () => {
    const rng = new Rng(SEED);
    const failures: string[] = [];
    const near: string[] = [];
    for (const s of MINE_SPECS) {
      for (const precision of PRECISIONS) {
        const c = caseOf(rng, s);
        const label = `${s.name} ${precision}`;
        const result = mine(args(c, backend, precision) as never);
        const rounded = checkMined(result, refMine({ ...c, operandRounding: referenceRounding(precision) }), backend, label);
        failures.push(...rounded.failures);
        near.push(...rounded.near.map((k) => `${label}: ${k}`));
        // Unrounded: a differing element's decision is within 2·Δv of its flip (values of scale ≥ 1: relative).
        const dv = valueBound(c, c.distance ?? MINER_DISTANCE[s.miner!.type], unitRoundoff(precision));
        failures.push(...checkMined(result, refMine({ ...c, decisionTolerance: 2 * dv }), backend, `${label} (unrounded)`).failures);
      }
    }
    if (near.length) console.log(`pairs precision ${backend}: ${near.length} near-tie elements decided either way (seed ${SEED}): ${near.slice(0, 5).join('; ')}`);
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)(`pairLoss: tf32 and bf16 against the rounded and the unrounded float64 references${skip}`, () => {
    const rng = new Rng(SEED ^ 0x2545f491);
    const failures: string[] = [];
    for (const s of LOSS_SPECS) {
      for (const precision of PRECISIONS) {
        const { c, ref } = roundedLossCase(rng, s, precision);
        const label = `${s.name} ${precision}`;
        const result = pairLoss(args(c, backend, precision, { out: poisonedOut(c) }) as never) as LossResult;
        failures.push(...checkRounded(result, c, ref, precision, backend, label));
        if (LIPSCHITZ[s.name]) failures.push(...checkUnrounded(result, c, s, precision, label));
      }
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)(`async gives the sync bits; fp32 is the default, bit for bit${skip}`, async () => {
    const rng = new Rng(SEED ^ 0x5bd1e995);
    const lossCase = caseOf(rng, LOSS_SPECS[3]);
    const mineCase = caseOf(rng, MINE_SPECS[1]);
    const bits = (r: LossResult) => [r.loss, ...Array.from(r.gradEmbeddings!), ...Array.from(r.gradRef ?? [])].map((v) => Object.is(v, -0) ? '-0' : String(v));
    const mined = (r: object) => JSON.stringify(Object.entries(r).filter(([k]) => k !== 'backend').map(([k, v]) => [k, Array.from(v as Int32Array)]));
    for (const precision of PRECISIONS) {
      const sync = pairLoss(args(lossCase, backend, precision) as never) as LossResult;
      const async = (await pairLossAsync(args(lossCase, backend, precision, { out: poisonedOut(lossCase) }) as never)) as LossResult;
      expect(bits(async)).toEqual(bits(sync));
      expect(mined(await mineAsync(args(mineCase, backend, precision) as never))).toEqual(mined(mine(args(mineCase, backend, precision) as never)));
    }
    const plain = pairLoss(pairArgs(lossCase, backend) as never) as LossResult;
    expect(bits(pairLoss(args(lossCase, backend, 'fp32') as never) as LossResult)).toEqual(bits(plain));
    expect(mined(mine(args(mineCase, backend, 'fp32') as never))).toEqual(mined(mine(pairArgs(mineCase, backend) as never)));
    // And the option does something: bf16's loss is not fp32's.
    expect((pairLoss(args(lossCase, backend, 'bf16') as never) as LossResult).loss).not.toBe(plain.loss);
  });
});

describe('pairs precision validation', () => {
  const rng = new Rng(SEED);
  const lossCase = caseOf(rng, LOSS_SPECS[0]);
  const mineCase = caseOf(rng, MINE_SPECS[0]);
  it('an unknown name is ERR_FUSEDLOSS_OPTION, a non-string ERR_FUSEDLOSS_INVALID_ARG, on every backend (mine and pairLoss)', () => {
    for (const { name, available } of BACKENDS) {
      if (!available) continue;
      for (const call of [() => pairLoss(args(lossCase, name, 'fp16') as never), () => mine(args(mineCase, name, 'fp16') as never)]) {
        expect(call).toThrow(expect.objectContaining({ code: 'ERR_FUSEDLOSS_OPTION', name: 'RangeError' }));
      }
      for (const call of [() => pairLoss(args(lossCase, name, 16 as never) as never), () => mine(args(mineCase, name, 16 as never) as never)]) {
        expect(call).toThrow(expect.objectContaining({ code: 'ERR_FUSEDLOSS_INVALID_ARG', name: 'TypeError' }));
      }
    }
  });
});
