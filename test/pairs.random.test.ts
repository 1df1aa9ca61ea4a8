// Fresh random inputs (seed logged; FUSEDLOSS_TEST_SEED reproduces a run) against the float64
// reference of pairs-reference.ts (itself checked against the golden vectors), on every backend,
// sync and async: every miner and triplet selection, every loss, each distance where allowed (raw
// rows with normalize false for dot / euclidean), with and without a reference set, selfIndex,
// miners feeding losses, N 1, D 1, odd sizes, singleton classes, one class, all-distinct labels,
// exactly repeated vectors; the backends' gradients against central differences; inputs untouched.
//
// A float32 kernel may decide a comparison that float64 puts within ~1e-5 of its threshold either
// way: mined sets are compared exactly except for such elements (logged), and loss inputs are
// redrawn until no decision is that close.
import { describe, expect, it } from 'vitest';

import { mine, mineAsync, pairLoss, pairLossAsync, type MinerSpec, type PairDistance, type PairLossArgs, type PairLossSpec } from './api';
import { backendCases, checkGradientNorm, Rng, testSeed } from './helpers';
import { checkLoss, checkMined, drawCase, drawClearLoss, pairArgs, SHAPES, type CaseSpec } from './pairs-cases';
import { refFiniteDifferences, refMine, refPairLoss, type MinedRef, type PairCase } from './pairs-reference';

const SEED = testSeed('pairs.random');
const BACKENDS = backendCases();

interface Spec extends CaseSpec {
  gradients?: boolean;
  /** Redraw (up to 50 times) until the reference mines at least this many elements. */
  atLeast?: number;
}

// Shapes: odd sizes that match no tile (N 33, M 70, D 130), small D, and the degenerate ones.
const { big, withRef, selfRef } = SHAPES;
const raw = { raw: true };

const MS: MinerSpec = { type: 'multi-similarity' };
const TM = (triplets: 'all' | 'hard' | 'semihard' | 'easy', margin?: number): MinerSpec => ({ type: 'triplet-margin', triplets, ...(margin !== undefined ? { margin } : {}) });
const BH: MinerSpec = { type: 'batch-hard' };
const PM = (posMargin?: number, negMargin?: number): MinerSpec => ({ type: 'pair-margin', ...(posMargin !== undefined ? { posMargin, negMargin } : {}) });

const MINE_SPECS: Spec[] = [
  { name: 'multi-similarity cosine (default)', draw: big, miner: MS, atLeast: 1 },
  { name: 'multi-similarity cosine, ref + selfIndex', draw: selfRef, miner: { type: 'multi-similarity', epsilon: 0.05 } },
  { name: 'multi-similarity euclidean, ref', draw: withRef, distance: 'euclidean', miner: MS },
  { name: 'multi-similarity squared-euclidean', draw: { N: 33, D: 17 }, distance: 'squared-euclidean', miner: { type: 'multi-similarity', epsilon: 0.3 } },
  { name: 'multi-similarity dot raw, ref', draw: { ...withRef, ...raw }, distance: 'dot', miner: { type: 'multi-similarity', epsilon: 0.2 } },
  { name: 'multi-similarity euclidean normalize false', draw: { ...big, ...raw }, distance: 'euclidean', normalize: false, miner: MS },
  { name: 'multi-similarity ε 0, repeated vectors', draw: { N: 33, D: 9, classes: 3, duplicates: true }, miner: { type: 'multi-similarity', epsilon: 0 } },
  { name: 'triplet all euclidean (default)', draw: big, miner: { type: 'triplet-margin' }, atLeast: 51 },
  { name: 'triplet all euclidean normalize false, ref', draw: { ...withRef, ...raw }, normalize: false, miner: TM('all', 0.1) },
  { name: 'triplet hard cosine, ref + selfIndex', draw: selfRef, distance: 'cosine', miner: TM('hard') },
  { name: 'triplet semihard squared-euclidean, ref', draw: withRef, distance: 'squared-euclidean', miner: TM('semihard', 0.4) },
  { name: 'triplet semihard euclidean', draw: { N: 33, D: 17, classes: 3 }, miner: TM('semihard') },
  // Two classes: each row's positives and negatives both outnumber the sweep's counted keys
  // (kCountedTripletKeys, 16), so its search path runs; the other cases count.
  { name: 'triplet semihard cosine, two classes (the searched sweep)', draw: { N: 70, D: 9, classes: 2 }, distance: 'cosine', miner: TM('semihard', 0.2) },
  { name: 'triplet easy dot raw', draw: { ...big, ...raw }, distance: 'dot', miner: TM('easy', 0.05) },
  { name: 'triplet hard euclidean, negative margin', draw: { N: 33, D: 17 }, miner: TM('hard', -0.1) },
  { name: 'triplet easy cosine, repeated vectors (t = 0 ties)', draw: { N: 24, D: 5, classes: 3, duplicates: true }, distance: 'cosine', miner: TM('easy', 0) },
  { name: 'batch-hard euclidean (default)', draw: big, miner: BH },
  { name: 'batch-hard cosine, ref', draw: withRef, distance: 'cosine', miner: BH },
  { name: 'batch-hard squared-euclidean, ref + selfIndex', draw: selfRef, distance: 'squared-euclidean', miner: BH },
  { name: 'batch-hard dot raw', draw: { ...big, ...raw }, distance: 'dot', miner: BH },
  { name: 'batch-hard euclidean normalize false, ref', draw: { ...withRef, ...raw }, normalize: false, miner: BH },
  { name: 'batch-hard, repeated vectors (ties → lowest index)', draw: { N: 33, D: 7, classes: 3, duplicates: true }, miner: BH },
  { name: 'batch-hard cosine, repeated vectors, ref', draw: { N: 20, M: 40, D: 6, classes: 4, duplicates: true }, distance: 'cosine', miner: BH },
  { name: 'pair-margin euclidean (default)', draw: big, miner: { type: 'pair-margin' } },
  { name: 'pair-margin cosine, ref', draw: withRef, distance: 'cosine', miner: PM(0.6, 0.2) },
  { name: 'pair-margin squared-euclidean, ref + selfIndex', draw: selfRef, distance: 'squared-euclidean', miner: PM(0.9, 1.2) },
  { name: 'pair-margin posMargin −1 (every positive but the excluded copy), ref + selfIndex', draw: selfRef, miner: PM(-1, 0.5) },
  { name: 'triplet easy cosine (the copies would be easy positives), ref + selfIndex', draw: selfRef, distance: 'cosine', miner: TM('easy', 0.3) },
  { name: 'pair-margin dot raw', draw: { ...big, ...raw }, distance: 'dot', miner: PM(0.5, 0.1) },
  { name: 'pair-margin euclidean normalize false', draw: { ...big, ...raw }, normalize: false, miner: PM(1, 1.5) },
  // degenerate shapes and labels
  { name: 'N 1 (no pairs at all): multi-similarity', draw: { N: 1, D: 8 }, miner: MS },
  { name: 'N 1 (no pairs at all): batch-hard', draw: { N: 1, D: 8 }, miner: BH },
  { name: 'N 1 with a reference set: triplet all', draw: { N: 1, M: 9, D: 8, classes: 3 }, miner: TM('all') },
  { name: 'D 1 normalized (values ±1): multi-similarity', draw: { N: 17, D: 1 }, miner: MS },
  { name: 'D 1 normalized: triplet hard', draw: { N: 17, D: 1 }, miner: TM('hard') },
  { name: 'D 1 normalized: batch-hard cosine', draw: { N: 17, D: 1 }, distance: 'cosine', miner: BH },
  { name: 'D 1 raw: pair-margin euclidean', draw: { N: 17, M: 11, D: 1, ...raw }, normalize: false, miner: PM(0.3, 0.5) },
  { name: 'one class (no negatives): multi-similarity', draw: { N: 12, D: 5, labels: 'same' }, miner: MS },
  { name: 'one class: batch-hard', draw: { N: 12, D: 5, labels: 'same' }, miner: BH },
  { name: 'one class: triplet all, ref', draw: { N: 12, M: 7, D: 5, labels: 'same' }, miner: TM('all') },
  { name: 'all distinct (no positives): pair-margin', draw: { N: 12, M: 9, D: 5, labels: 'distinct' }, miner: PM() },
  { name: 'all distinct: multi-similarity', draw: { N: 12, D: 5, labels: 'distinct' }, miner: MS },
  { name: 'all distinct: batch-hard', draw: { N: 12, D: 5, labels: 'distinct' }, miner: BH },
  { name: 'singleton classes: batch-hard', draw: { N: 33, D: 17, labels: 'singletons', classes: 3 }, miner: BH },
  { name: 'singleton classes: triplet semihard', draw: { N: 33, D: 17, labels: 'singletons', classes: 3 }, miner: TM('semihard', 0.3) },
];

/** The call's options of a spec (everything but the data). */
function optionsOf(s: Spec): Partial<PairCase> {
  return {
    ...(s.distance ? { distance: s.distance } : {}),
    ...(s.normalize !== undefined ? { normalize: s.normalize } : {}),
    ...(s.miner ? { miner: s.miner } : {}),
    ...(s.loss ? { loss: s.loss } : {}),
  };
}

const mineRng = new Rng(SEED);
const MINE_CASES = MINE_SPECS.map((s) => {
  let c = drawCase(mineRng, s.draw, optionsOf(s));
  let ref = refMine(c);
  for (let tries = 1; tries < 50 && ref.keys.length < (s.atLeast ?? 0); tries++) {
    c = drawCase(mineRng, s.draw, optionsOf(s));
    ref = refMine(c);
  }
  return { s, c, ref };
});

function minedFailures(result: unknown, ref: MinedRef, backend: string, label: string): string[] {
  const { failures, near } = checkMined(result as Parameters<typeof checkMined>[0], ref, backend, label);
  if (near.length) console.log(`${label}: ${near.length} element(s) within ${ref.tol.toExponential(1)} of a threshold decided differently from float64: ${near.slice(0, 6).join(', ')}`);
  return failures;
}

describe('the random mining cases exercise what they are named for', () => {
  it('non-trivial outputs, ties and empty outputs where designed', () => {
    const count = (name: string) => MINE_CASES.find((k) => k.s.name === name)!.ref.keys.length;
    expect(count('multi-similarity cosine (default)')).toBeGreaterThan(0);
    expect(count('triplet all euclidean (default)')).toBeGreaterThan(50);
    expect(count('N 1 (no pairs at all): multi-similarity')).toBe(0);
    expect(count('one class: batch-hard')).toBe(0);
    expect(count('all distinct: batch-hard')).toBe(0);
    expect(MINE_CASES.find((k) => k.s.name.startsWith('one class (no negatives): multi'))!.ref.keys.every((k) => !k.startsWith('n'))).toBe(true);
    expect(MINE_CASES.find((k) => k.s.name.startsWith('all distinct: multi'))!.ref.keys.every((k) => !k.startsWith('p'))).toBe(true);
    // the repeated-vector case really has exact ties among a batch-hard anchor's candidates
    const ties = MINE_CASES.find((k) => k.s.name.startsWith('batch-hard, repeated'))!.c;
    const rows = new Set<string>();
    for (let i = 0; i < ties.N; i++) rows.add(Array.from(ties.embeddings as Float32Array).slice(i * ties.D, (i + 1) * ties.D).join());
    expect(rows.size).toBeLessThan(ties.N / 2);
  });
});

describe.each(BACKENDS)('random mining on backend $name', ({ name, available }) => {
  it.skipIf(!available).each(MINE_CASES.map((k) => [k.s.name, k] as const))('%s', async (_name, { s, c, ref }) => {
    const label = `${name} ${s.name}`;
    const failures = minedFailures(mine(pairArgs(c, name) as never), ref, name, label);
    failures.push(...minedFailures(await mineAsync(pairArgs(c, name) as never), ref, name, `${label} async`));
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('maxOutputs equal to the count succeeds', () => {
    const { c, ref } = MINE_CASES[0];
    expect(ref.keys.length).toBeGreaterThan(0);
    expect(minedFailures(mine(pairArgs(c, name, { maxOutputs: ref.keys.length }) as never), ref, name, `${name} maxOutputs = count`)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Losses

const LOSS_SPECS: Spec[] = [
  { name: 'multi-similarity cosine (defaults)', draw: big, loss: { type: 'multi-similarity' } },
  { name: 'multi-similarity cosine, ref + selfIndex', draw: selfRef, loss: { type: 'multi-similarity', alpha: 1, beta: 20, base: 0.3 } },
  { name: 'multi-similarity euclidean, ref', draw: withRef, distance: 'euclidean', loss: { type: 'multi-similarity', base: 1.2 } },
  { name: 'multi-similarity dot raw', draw: { ...big, ...raw }, distance: 'dot', loss: { type: 'multi-similarity', beta: 10 } },
  { name: 'multi-similarity squared-euclidean normalize false, singletons', draw: { N: 33, D: 17, labels: 'singletons', classes: 4, ...raw }, distance: 'squared-euclidean', normalize: false, loss: { type: 'multi-similarity', alpha: 3, beta: 8, base: 1 } },
  { name: 'contrastive euclidean (defaults)', draw: big, loss: { type: 'contrastive' } },
  { name: 'contrastive cosine (1, 0), ref', draw: withRef, distance: 'cosine', loss: { type: 'contrastive', posMargin: 1, negMargin: 0 } },
  { name: 'contrastive squared-euclidean, ref + selfIndex', draw: selfRef, distance: 'squared-euclidean', loss: { type: 'contrastive', posMargin: 0.5, negMargin: 1.6 } },
  { name: 'contrastive dot raw', draw: { ...big, ...raw }, distance: 'dot', loss: { type: 'contrastive', posMargin: 0.6, negMargin: 0.1 } },
  { name: 'contrastive euclidean normalize false', draw: { ...big, ...raw }, normalize: false, loss: { type: 'contrastive', posMargin: 0.3, negMargin: 1.5 } },
  { name: 'triplet euclidean (defaults, all triplets)', draw: { N: 33, D: 17 }, loss: { type: 'triplet-margin' } },
  { name: 'triplet cosine, ref + selfIndex', draw: selfRef, distance: 'cosine', loss: { type: 'triplet-margin', margin: 0.3 } },
  { name: 'triplet squared-euclidean, ref', draw: withRef, distance: 'squared-euclidean', loss: { type: 'triplet-margin', margin: 0.2 } },
  { name: 'triplet dot raw', draw: { ...big, ...raw }, distance: 'dot', loss: { type: 'triplet-margin', margin: 0.1 } },
  { name: 'triplet euclidean normalize false, ref', draw: { ...withRef, ...raw }, normalize: false, loss: { type: 'triplet-margin', margin: 0.2 } },
  { name: 'triplet euclidean, two classes (the searched sweep)', draw: { N: 70, D: 9, classes: 2 }, loss: { type: 'triplet-margin', margin: 0.2 } },
  { name: 'circle (defaults)', draw: big, loss: { type: 'circle' } },
  { name: 'circle m 0.25 γ 256, ref + selfIndex', draw: selfRef, loss: { type: 'circle', m: 0.25, gamma: 256 } },
  { name: 'circle, singleton classes', draw: { N: 33, D: 17, labels: 'singletons', classes: 3 }, distance: 'cosine', loss: { type: 'circle', gamma: 32 } },
  { name: 'ntxent cosine (defaults)', draw: big, loss: { type: 'ntxent' } },
  { name: 'ntxent τ 0.5, ref + selfIndex', draw: selfRef, loss: { type: 'ntxent', temperature: 0.5 } },
  { name: 'ntxent euclidean (s = −d), ref', draw: withRef, distance: 'euclidean', loss: { type: 'ntxent', temperature: 0.2 } },
  { name: 'ntxent dot raw', draw: { ...big, ...raw }, distance: 'dot', loss: { type: 'ntxent', temperature: 0.3 } },
  { name: 'ntxent squared-euclidean normalize false', draw: { N: 33, D: 17, ...raw }, distance: 'squared-euclidean', normalize: false, loss: { type: 'ntxent', temperature: 1 } },
  { name: 'threshold-consistent (defaults)', draw: big, loss: { type: 'threshold-consistent' } },
  { name: 'threshold-consistent, ref, own parameters', draw: withRef, distance: 'cosine', loss: { type: 'threshold-consistent', lambdaPlus: 0.5, lambdaMinus: 2, marginPlus: 0.6, marginMinus: 0.1 } },
  { name: 'threshold-consistent, ref + selfIndex', draw: selfRef, loss: { type: 'threshold-consistent', marginPlus: 0.7, marginMinus: 0.2 } },
  // a triplet miner into each pair loss (multiplicities), a pair miner into the triplet loss
  { name: 'batch-hard (euclidean) → multi-similarity (cosine)', draw: big, miner: BH, loss: { type: 'multi-similarity' } },
  { name: 'batch-hard → contrastive', draw: withRef, miner: BH, loss: { type: 'contrastive', posMargin: 0.2, negMargin: 1.2 } },
  { name: 'batch-hard (euclidean) → circle (cosine)', draw: selfRef, miner: BH, loss: { type: 'circle', gamma: 64 } },
  { name: 'batch-hard → ntxent', draw: big, miner: BH, loss: { type: 'ntxent', temperature: 0.2 } },
  { name: 'batch-hard → threshold-consistent', draw: big, miner: BH, loss: { type: 'threshold-consistent', marginPlus: 0.7, marginMinus: 0.2 } },
  { name: 'batch-hard → triplet', draw: withRef, miner: BH, loss: { type: 'triplet-margin', margin: 0.2 } },
  { name: 'triplet semihard → multi-similarity', draw: { N: 33, D: 17 }, miner: TM('semihard', 0.3), loss: { type: 'multi-similarity' } },
  { name: 'triplet semihard → contrastive (repeated pairs counted)', draw: { N: 33, D: 17 }, miner: TM('semihard', 0.3), loss: { type: 'contrastive' } },
  { name: 'triplet all → circle', draw: { N: 33, D: 17 }, miner: TM('all', 0.1), loss: { type: 'circle' } },
  { name: 'triplet all → ntxent (weighted negatives), ref', draw: { N: 20, M: 40, D: 17 }, miner: TM('all', 0.3), loss: { type: 'ntxent', temperature: 0.1 } },
  { name: 'triplet hard → threshold-consistent', draw: { N: 33, D: 17 }, miner: TM('hard'), loss: { type: 'threshold-consistent', marginPlus: 0.8, marginMinus: 0.3 } },
  { name: 'triplet easy → triplet', draw: { N: 33, D: 17 }, miner: TM('easy', 0.1), loss: { type: 'triplet-margin', margin: 0.5 } },
  { name: 'multi-similarity miner → triplet (every a, p, n of kept pairs)', draw: { N: 33, D: 17 }, miner: MS, loss: { type: 'triplet-margin', margin: 0.1 } },
  { name: 'pair-margin miner → triplet, ref + selfIndex', draw: selfRef, miner: PM(0.6, 1.1), loss: { type: 'triplet-margin', margin: 0.2 } },
  { name: 'multi-similarity miner → multi-similarity', draw: withRef, miner: MS, loss: { type: 'multi-similarity' } },
  // exponents from −800 to 200: the CPU rows' lane exp through its subnormal range and to 0
  { name: 'multi-similarity miner → multi-similarity, α 40, β 400', draw: big, miner: { type: 'multi-similarity', epsilon: 0.3 }, loss: { type: 'multi-similarity', alpha: 40, beta: 400 } },
  { name: 'pair-margin miner → ntxent, distance cosine for both', draw: big, distance: 'cosine', miner: PM(0.5, 0.1), loss: { type: 'ntxent' } },
  { name: 'pair-margin miner → circle, distance cosine', draw: big, distance: 'cosine', miner: PM(0.6, 0.2), loss: { type: 'circle' } },
  { name: 'triplet miner → contrastive, distance squared-euclidean for both', draw: withRef, distance: 'squared-euclidean', miner: TM('semihard', 0.5), loss: { type: 'contrastive', posMargin: 0.3, negMargin: 2 } },
  { name: 'multi-similarity miner dot raw → triplet dot raw', draw: { ...big, ...raw }, distance: 'dot', miner: { type: 'multi-similarity', epsilon: 0.2 }, loss: { type: 'triplet-margin', margin: 0.1 } },
  // gradients false
  { name: 'gradients false: triplet with a ref', draw: withRef, loss: { type: 'triplet-margin' }, gradients: false },
  { name: 'gradients false: circle', draw: big, loss: { type: 'circle' }, gradients: false },
  { name: 'gradients false: multi-similarity with its miner, ref', draw: withRef, miner: MS, loss: { type: 'multi-similarity' }, gradients: false },
  // degenerate shapes and labels
  { name: 'N 1: multi-similarity (no pairs, loss 0)', draw: { N: 1, D: 8 }, loss: { type: 'multi-similarity' } },
  { name: 'N 1: triplet', draw: { N: 1, D: 8 }, loss: { type: 'triplet-margin' } },
  { name: 'N 1 with a ref: ntxent', draw: { N: 1, M: 9, D: 8, classes: 3 }, loss: { type: 'ntxent', temperature: 0.5 } },
  { name: 'N 1 with a ref: contrastive', draw: { N: 1, M: 9, D: 8, classes: 3 }, loss: { type: 'contrastive' } },
  { name: 'D 1 normalized (zero gradients): multi-similarity', draw: { N: 17, D: 1 }, loss: { type: 'multi-similarity' } },
  { name: 'D 1 normalized: triplet', draw: { N: 17, D: 1 }, loss: { type: 'triplet-margin' } },
  { name: 'D 1 raw: contrastive euclidean', draw: { N: 17, M: 11, D: 1, ...raw }, normalize: false, loss: { type: 'contrastive', posMargin: 0.1, negMargin: 0.6 } },
  { name: 'D 1 raw: ntxent dot', draw: { N: 17, D: 1, ...raw }, distance: 'dot', loss: { type: 'ntxent', temperature: 0.5 } },
  { name: 'one class (no negatives): multi-similarity', draw: { N: 12, D: 5, labels: 'same' }, loss: { type: 'multi-similarity' } },
  { name: 'one class: contrastive', draw: { N: 12, D: 5, labels: 'same' }, loss: { type: 'contrastive' } },
  { name: 'one class: ntxent (loss 0)', draw: { N: 12, M: 6, D: 5, labels: 'same' }, loss: { type: 'ntxent' } },
  { name: 'one class: circle (loss 0)', draw: { N: 12, D: 5, labels: 'same' }, loss: { type: 'circle' } },
  { name: 'all distinct (no positives): multi-similarity', draw: { N: 12, D: 5, labels: 'distinct' }, loss: { type: 'multi-similarity' } },
  { name: 'all distinct: contrastive, ref', draw: { N: 12, M: 9, D: 5, labels: 'distinct' }, loss: { type: 'contrastive', negMargin: 1.5 } },
  { name: 'all distinct: threshold-consistent', draw: { N: 12, D: 5, labels: 'distinct' }, loss: { type: 'threshold-consistent', marginMinus: 0 } },
  { name: 'all distinct: triplet (loss 0)', draw: { N: 12, D: 5, labels: 'distinct' }, loss: { type: 'triplet-margin' } },
  { name: 'repeated vectors: multi-similarity', draw: { N: 33, D: 9, classes: 3, duplicates: true }, loss: { type: 'multi-similarity' } },
  { name: 'repeated vectors: ntxent', draw: { N: 33, D: 9, classes: 3, duplicates: true }, loss: { type: 'ntxent', temperature: 0.2 } },
  { name: 'repeated vectors: circle, ref', draw: { N: 20, M: 30, D: 9, classes: 3, duplicates: true }, loss: { type: 'circle', gamma: 32 } },
  { name: 'repeated vectors: batch-hard cosine → triplet cosine', draw: { N: 33, D: 9, classes: 3, duplicates: true }, distance: 'cosine', miner: BH, loss: { type: 'triplet-margin', margin: 0.3 } },
];

const lossRng = new Rng(SEED + 1);
const LOSS_CASES = LOSS_SPECS.map((s) => ({ s, ...drawClearLoss(lossRng, s.draw, optionsOf(s)) }));

function lossCall(c: PairCase, backend: string, gradients: boolean) {
  return pairArgs(c, backend, gradients ? {} : { gradients: false }) as never;
}

describe('the random loss cases exercise what they are named for', () => {
  it('loss 0 where no pair contributes, nonzero elsewhere', () => {
    const loss = (name: string) => LOSS_CASES.find((k) => k.s.name === name)!.ref.loss;
    for (const name of ['N 1: multi-similarity (no pairs, loss 0)', 'N 1: triplet', 'one class: ntxent (loss 0)', 'one class: circle (loss 0)', 'all distinct: triplet (loss 0)']) expect(loss(name)).toBe(0);
    for (const name of ['multi-similarity cosine (defaults)', 'contrastive euclidean (defaults)', 'triplet euclidean (defaults, all triplets)', 'circle (defaults)', 'ntxent cosine (defaults)', 'threshold-consistent (defaults)']) {
      expect(loss(name), name).toBeGreaterThan(0);
    }
  });
});

// Exact duplicates are at euclidean distance exactly 0 (what the float64 reference and PML give):
// ‖x‖² + ‖y‖² − 2x·y alone would leave ~1e-4 of rounding, which a 0 margin turns into kept
// pairs and loss terms.  The kernels recompute such near distances from the difference.
const DUPLICATE_CASE = drawCase(new Rng(SEED + 2), { N: 30, M: 45, D: 33, classes: 3, duplicates: true }, {});

describe.each(BACKENDS)('exact duplicates on backend $name', ({ name, available }) => {
  it.skipIf(!available)('pair-margin with posMargin 0 keeps no duplicate positive; euclidean losses match the reference', () => {
    const c = { ...DUPLICATE_CASE, distance: 'euclidean' as const };
    const mined = { ...c, miner: PM(0, 0.5) };
    const ref = refMine(mined);
    expect(minedFailures(mine(pairArgs(mined, name) as never), ref, name, `${name} duplicates pair-margin`)).toEqual([]);
    for (const loss of [{ type: 'contrastive' as const }, { type: 'triplet-margin' as const, margin: 0 }]) {
      const lossCase = { ...c, loss };
      const label = `${name} duplicates ${loss.type}`;
      expect(checkLoss(pairLoss(pairArgs(lossCase, name) as never), refPairLoss(lossCase), { gradients: true, hasRef: true, backend: name }, label)).toEqual([]);
    }
  });
});

describe.each(BACKENDS)('random losses on backend $name', ({ name, available }) => {
  it.skipIf(!available).each(LOSS_CASES.map((k) => [k.s.name, k] as const))('%s', async (_name, { s, c, ref }) => {
    const gradients = s.gradients !== false;
    const want = { gradients, hasRef: c.ref !== undefined, backend: name };
    const label = `${name} ${s.name} [N ${c.N}, M ${c.M ?? c.N}, D ${c.D}]`;
    const failures = checkLoss(pairLoss(lossCall(c, name, gradients)), ref, want, label);
    failures.push(...checkLoss(await pairLossAsync(lossCall(c, name, gradients)), ref, want, `${label} async`));
    expect(failures).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Gradients against central differences (N 6, M 8, D 5; decisions kept 0.05 clear of a flip)

const FD_SPECS: Spec[] = [
  { name: 'multi-similarity cosine', draw: { N: 6, D: 5, classes: 2 }, loss: { type: 'multi-similarity', beta: 10 } },
  { name: 'multi-similarity euclidean, ref', draw: { N: 6, M: 8, D: 5, classes: 2 }, distance: 'euclidean', loss: { type: 'multi-similarity', beta: 10 } },
  { name: 'contrastive euclidean, ref', draw: { N: 6, M: 8, D: 5, classes: 2 }, loss: { type: 'contrastive', posMargin: 0.3, negMargin: 1.5 } },
  { name: 'contrastive dot raw', draw: { N: 6, D: 5, classes: 2, raw: true }, distance: 'dot', loss: { type: 'contrastive', posMargin: 1, negMargin: 0 } },
  { name: 'triplet squared-euclidean, ref + selfIndex', draw: { N: 6, M: 8, D: 5, classes: 2, selfIndex: true }, distance: 'squared-euclidean', loss: { type: 'triplet-margin', margin: 0.5 } },
  { name: 'triplet euclidean normalize false', draw: { N: 6, D: 5, classes: 2, raw: true }, normalize: false, loss: { type: 'triplet-margin', margin: 0.3 } },
  { name: 'ntxent cosine, ref', draw: { N: 6, M: 8, D: 5, classes: 2 }, loss: { type: 'ntxent', temperature: 0.5 } },
  { name: 'threshold-consistent, ref', draw: { N: 6, M: 8, D: 5, classes: 2 }, loss: { type: 'threshold-consistent', marginPlus: 0.6, marginMinus: 0 } },
  { name: 'batch-hard → contrastive', draw: { N: 6, D: 5, classes: 2 }, miner: BH, loss: { type: 'contrastive', posMargin: 0.2, negMargin: 1.5 } },
  { name: 'pair-margin miner → triplet, ref', draw: { N: 6, M: 8, D: 5, classes: 2 }, miner: PM(0.5, 1.3), loss: { type: 'triplet-margin', margin: 0.4 } },
];
// circle's gradient holds its relu weights fixed (PML), so it is not the derivative of the loss:
// the fixtures and the random cases check it instead.

const fdRng = new Rng(SEED + 2);
const FD_CASES = FD_SPECS.map((s) => {
  const { c, ref } = drawClearLoss(fdRng, s.draw, optionsOf(s), 400, 0.05);
  return { s, c, ref, fd: refFiniteDifferences(c) };
});

/** Central differences of a backend's own float32 loss, step ~3e-3 on the float32 inputs. */
function backendFiniteDifferences(c: PairCase, backend: string): { gradEmbeddings: Float64Array; gradRef?: Float64Array } {
  const e = Float32Array.from(c.embeddings);
  const r = c.ref ? Float32Array.from(c.ref) : undefined;
  const at = () => pairLoss(pairArgs({ ...c, embeddings: e, ref: r }, backend, { gradients: false }) as unknown as PairLossArgs).loss;
  const diff = (v: Float32Array) =>
    Float64Array.from(v, (keep, k) => {
      const h = 3e-3 * Math.max(1, Math.abs(keep));
      v[k] = keep + h;
      const up = v[k];
      const fUp = at();
      v[k] = keep - h;
      const down = v[k];
      const fDown = at();
      v[k] = keep;
      return (fUp - fDown) / (up - down);
    });
  return { gradEmbeddings: diff(e), gradRef: r ? diff(r) : undefined };
}

describe.each(BACKENDS)('gradients vs central differences on backend $name', ({ name, available }) => {
  it.skipIf(!available).each(FD_CASES.map((k) => [k.s.name, k] as const))('%s', (_name, { s, c, ref, fd }) => {
    const result = pairLoss(lossCall(c, name, true)) as { gradEmbeddings?: Float32Array; gradRef?: Float32Array };
    const failures = [
      // the reference's chain rule against its own derivative (h = 1e-6)…
      ...checkGradientNorm(ref.gradEmbeddings, fd.gradEmbeddings, `${s.name} reference gradEmbeddings vs FD`, 1e-6),
      // …and the backend against central differences of the float64 loss (the spec's 1e-4)
      ...checkGradientNorm(result.gradEmbeddings, fd.gradEmbeddings, `${name} ${s.name} gradEmbeddings vs FD(reference)`),
    ];
    const own = backendFiniteDifferences(c, name);
    failures.push(...checkGradientNorm(result.gradEmbeddings, own.gradEmbeddings, `${name} ${s.name} gradEmbeddings vs FD(own loss)`, 1e-2));
    if (c.ref) {
      failures.push(...checkGradientNorm(ref.gradRef, fd.gradRef!, `${s.name} reference gradRef vs FD`, 1e-6));
      failures.push(...checkGradientNorm(result.gradRef, fd.gradRef!, `${name} ${s.name} gradRef vs FD(reference)`));
      failures.push(...checkGradientNorm(result.gradRef, own.gradRef!, `${name} ${s.name} gradRef vs FD(own loss)`, 1e-2));
    }
    expect(failures).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Inputs are never modified; outputs are new arrays of the right lengths

function snapshot(value: unknown): unknown {
  if (ArrayBuffer.isView(value)) return { type: value.constructor.name, bytes: Array.from(new Uint8Array(value.buffer.slice(0))) };
  if (Array.isArray(value)) return value.map(snapshot);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, snapshot(v)]));
  return value;
}

describe.each(BACKENDS)('inputs and outputs on backend $name', ({ name, available }) => {
  const c = drawCase(new Rng(SEED + 3), { N: 9, M: 12, D: 6, classes: 3, selfIndex: true });
  const inputs = [c.embeddings, c.ref, c.labels, c.refLabels, c.selfIndex].map((a) => (a as unknown as ArrayBufferView).buffer);
  const fresh = (out: Record<string, unknown>, keys: string[], label: string) =>
    keys.flatMap((key) => {
      const a = out[key] as ArrayBufferView | undefined;
      if (!a) return [`${label}: ${key} missing`];
      return inputs.includes(a.buffer) ? [`${label}: ${key} shares an input's buffer`] : [];
    });

  it.skipIf(!available)('mine: inputs untouched, sync and async, every miner; outputs fresh Int32Arrays', async () => {
    const failures: string[] = [];
    for (const miner of [MS, TM('all'), BH, PM()]) {
      const args = pairArgs({ ...c, miner }, name);
      const before = snapshot(args);
      const results = [mine(args as never), await mineAsync(args as never)] as unknown as Record<string, unknown>[];
      if (JSON.stringify(snapshot(args)) !== JSON.stringify(before)) failures.push(`${miner.type}: inputs modified`);
      const keys = miner.type === 'triplet-margin' || miner.type === 'batch-hard' ? ['anchors', 'positives', 'negatives'] : ['positiveAnchors', 'positives', 'negativeAnchors', 'negatives'];
      results.forEach((r, k) => failures.push(...fresh(r, keys, `${miner.type} ${k ? 'async' : 'sync'}`)));
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('pairLoss: inputs untouched, sync and async, every loss; gradients fresh Float32Arrays [N, D] and [M, D]', async () => {
    const failures: string[] = [];
    const losses: PairLossSpec[] = [{ type: 'multi-similarity' }, { type: 'contrastive' }, { type: 'triplet-margin' }, { type: 'circle' }, { type: 'ntxent' }, { type: 'threshold-consistent' }];
    for (const loss of losses) {
      for (const miner of [undefined, BH]) {
        const args = pairArgs({ ...c, loss, ...(miner ? { miner } : {}) }, name);
        const before = snapshot(args);
        const results = [pairLoss(args as never), await pairLossAsync(args as never)] as unknown as Record<string, Float32Array>[];
        const label = `${loss.type}${miner ? ' + batch-hard' : ''}`;
        if (JSON.stringify(snapshot(args)) !== JSON.stringify(before)) failures.push(`${label}: inputs modified`);
        for (const r of results) {
          failures.push(...fresh(r, ['gradEmbeddings', 'gradRef'], label));
          if (r.gradEmbeddings?.length !== c.N * c.D || r.gradRef?.length !== c.M! * c.D) failures.push(`${label}: gradient lengths ${r.gradEmbeddings?.length}, ${r.gradRef?.length}`);
          if (r.gradEmbeddings?.buffer === r.gradRef?.buffer) failures.push(`${label}: gradEmbeddings and gradRef share a buffer`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});

