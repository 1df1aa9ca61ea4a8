// The NaN / ±Inf / huge-value contract of mine() and pairLoss(), every row of it on every backend
// (cuda skipped without a GPU), against the float64 reference of pairs-reference.ts:
//  • values are float32 (beyond its range ±Inf), computed without intermediate overflow;
//  • a miner never keeps a pair or triplet whose deciding value (or t = ∞ − ∞) is NaN, and NaN
//    values take no part in multi-similarity's extremes or batch-hard's choice; ±Inf compare as
//    numbers;
//  • a loss with a formed pair valued NaN or ±Inf (a row holding NaN or ±Inf that forms a pair,
//    or a value beyond float32 with normalize: false) is NaN, and so is every gradient entry;
//    rows that form no pair contribute nothing and get a zero gradient; huge finite rows with
//    normalize: true give the reference's finite answer.
// The mining matrix (every miner × distance × normalize, batch and ref + selfIndex) also guards
// the count/fill agreement of issue 10: main's native miner wrote past its output here.
import { describe, expect, it } from 'vitest';

import { mine, pairLoss, type MinerSpec, type PairDistance, type PairLossSpec } from './api';
import { backendCases, Rng, testSeed } from './helpers';
import { checkLoss, checkMined, drawCase, pairArgs } from './pairs-cases';
import { refMine, refPairLoss, type PairCase } from './pairs-reference';

const SEED = testSeed('pairs.nan-inf');
const BACKENDS = backendCases();

const MINERS: MinerSpec[] = [
  { type: 'multi-similarity', epsilon: 0.1 },
  { type: 'triplet-margin', triplets: 'all', margin: 0.2 },
  { type: 'triplet-margin', triplets: 'hard', margin: 0.2 },
  { type: 'triplet-margin', triplets: 'semihard', margin: 0.4 },
  { type: 'triplet-margin', triplets: 'easy', margin: 0.1 },
  { type: 'batch-hard' },
  { type: 'pair-margin', posMargin: 0.3, negMargin: 0.9 },
];
const GEOMETRIES: { distance: PairDistance; normalize: boolean }[] = [
  { distance: 'cosine', normalize: true },
  { distance: 'dot', normalize: true },
  { distance: 'dot', normalize: false },
  { distance: 'euclidean', normalize: true },
  { distance: 'euclidean', normalize: false },
  { distance: 'squared-euclidean', normalize: true },
  { distance: 'squared-euclidean', normalize: false },
];
/** Entries planted into the inputs, by kind. */
const PLANTED: Record<string, number[]> = {
  inf: [Infinity, -Infinity],
  nan: [NaN],
  huge: [3.4e38, -3.4e38, 1e30, -1e30],
  mixed: [Infinity, -Infinity, NaN, 3.4e38, -3.4e38, 1e30],
};
const minerName = (m: MinerSpec) => (m.type === 'triplet-margin' ? `triplet ${m.triplets}` : m.type);

/** A small case (ref + selfIndex or the batch) with 2–4 planted entries of `kind`, rows or single entries. */
function plantedCase(rng: Rng, kind: string, withRef: boolean, options: Partial<PairCase>): PairCase {
  const c = drawCase(rng, withRef ? { N: 7, M: 9, D: 3, classes: 2, selfIndex: true } : { N: 9, D: 3, classes: 3 }, options);
  const targets = [c.embeddings as Float32Array, ...(c.ref ? [c.ref as Float32Array] : [])];
  const plants = 2 + rng.int(3);
  for (let k = 0; k < plants; k++) {
    const data = targets[rng.int(targets.length)];
    const value = PLANTED[kind][rng.int(PLANTED[kind].length)];
    const at = rng.int(data.length);
    // Sometimes a whole row (a huge row keeps its direction), else one entry.
    if (rng.next() < 0.3) for (let d = at - (at % c.D); d < at - (at % c.D) + c.D; d++) data[d] = value * (d === at ? 1 : rng.uniform(0.1, 1));
    else data[at] = value;
  }
  return c;
}

interface MineCase {
  name: string;
  c: PairCase;
}

const mineRng = new Rng(SEED);
const MINE_CASES: MineCase[] = [];
for (const kind of Object.keys(PLANTED)) {
  for (const miner of MINERS) {
    for (const g of GEOMETRIES) {
      for (const withRef of [true, false]) {
        const c = plantedCase(mineRng, kind, withRef, { miner, distance: g.distance, normalize: g.normalize });
        MINE_CASES.push({ name: `${kind}: ${minerName(miner)} ${g.distance}${g.normalize ? '' : ' normalize false'}${withRef ? ', ref + selfIndex' : ''}`, c });
      }
    }
  }
}

// The issue's two reports, as written: Inf and 3.4e38 in ref with selfIndex ('hard', euclidean,
// raw rows), and one Infinity in the embeddings ('easy', dot).
function issueCases(): MineCase[] {
  const N = 6, M = 8, D = 3;
  const embeddings = Float32Array.from({ length: N * D }, (_, k) => Math.sin(k * 1.3));
  const ref = Float32Array.from({ length: M * D }, (_, k) => Math.cos(k * 0.7));
  ref[0] = Infinity, ref[4] = 3.4e38, ref[10] = -3.4e38, ref[13] = Infinity;
  const labels = Int32Array.from({ length: N }, (_, i) => i % 2);
  const refLabels = Int32Array.from({ length: M }, (_, j) => j % 2);
  const selfIndex = Int32Array.from({ length: N }, (_, i) => i);
  const hard: PairCase = { N, D, M, embeddings, labels, ref, refLabels, selfIndex, miner: { type: 'triplet-margin', triplets: 'hard' }, distance: 'euclidean', normalize: false };
  const withInf = Float32Array.from(embeddings);
  withInf[4] = Infinity;
  const easy: PairCase = { N, D, embeddings: withInf, labels, miner: { type: 'triplet-margin', triplets: 'easy' }, distance: 'dot' };
  return [
    { name: "issue: 'hard' euclidean raw, Inf and 3.4e38 in ref, selfIndex", c: hard },
    { name: "issue: 'easy' dot, one Infinity in the embeddings", c: easy },
  ];
}

describe('the NaN/Inf mining cases exercise what they are named for', () => {
  it('the issue cases mine something, decided without float32 ambiguity', () => {
    for (const { c } of issueCases()) {
      const ref = refMine(c);
      expect(ref.keys.length).toBeGreaterThan(0);
      expect(ref.ambiguous.size).toBe(0);
    }
  });
  it('most planted cases are decided without float32 ambiguity, and many mine something', () => {
    const refs = MINE_CASES.map(({ c }) => refMine(c));
    expect(refs.filter((r) => r.keys.length > 0).length).toBeGreaterThan(MINE_CASES.length / 2);
    expect(refs.filter((r) => r.ambiguous.size === 0).length).toBeGreaterThan(MINE_CASES.length * 0.8);
  });
});

describe.each(BACKENDS)('mining with NaN, ±Inf and ±3.4e38 on backend $name', ({ name, available }) => {
  it.skipIf(!available).each([...issueCases(), ...MINE_CASES].map((k) => [k.name, k] as const))('%s', (_name, { c }) => {
    const { failures } = checkMined(mine(pairArgs(c, name) as never), refMine(c), name, `${name} ${_name}`);
    expect(failures).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Losses: one row of the table each

const LOSSES: { loss: PairLossSpec; distance?: PairDistance }[] = [
  { loss: { type: 'multi-similarity' } },
  { loss: { type: 'contrastive', posMargin: 0.2, negMargin: 1.2 } },
  { loss: { type: 'triplet-margin', margin: 0.2 } },
  { loss: { type: 'circle', gamma: 32 } },
  { loss: { type: 'ntxent', temperature: 0.3 } },
  { loss: { type: 'threshold-consistent', marginPlus: 0.7, marginMinus: 0.2 } },
];

interface LossRow {
  name: string;
  /** NaN: the contract's all-NaN answer; 'finite': the reference's finite answer. */
  expect: 'nan' | 'finite';
  /** Plants into a drawn ref + selfIndex case (N 6, M 8, D 4; selfIndex[i] = i). */
  plant: (c: PairCase) => void;
  normalize?: boolean;
  distance?: PairDistance;
  miner?: MinerSpec;
}

const setRow = (data: ArrayLike<number>, D: number, row: number, f: (d: number) => number) => {
  for (let d = 0; d < D; d++) (data as Float32Array)[row * D + d] = f(d);
};

const LOSS_ROWS: LossRow[] = [
  { name: 'NaN in one ref entry (the row forms pairs)', expect: 'nan', plant: (c) => ((c.ref as Float32Array)[5 * c.D + 1] = NaN) },
  { name: 'NaN in one embeddings entry', expect: 'nan', plant: (c) => ((c.embeddings as Float32Array)[2 * c.D] = NaN) },
  { name: 'NaN in a ref row only its own query excludes (others pair with it)', expect: 'nan', plant: (c) => setRow(c.ref!, c.D, 0, () => NaN) },
  { name: '+Inf in one ref entry', expect: 'nan', plant: (c) => ((c.ref as Float32Array)[3 * c.D + 2] = Infinity) },
  { name: '−Inf in one embeddings entry', expect: 'nan', plant: (c) => ((c.embeddings as Float32Array)[c.D + 1] = -Infinity) },
  { name: 'a miner on the same rows: NaN in ref', expect: 'nan', miner: { type: 'batch-hard' }, plant: (c) => ((c.ref as Float32Array)[4 * c.D] = NaN) },
  {
    name: 'NaN and Inf in a ref row every query excludes: nothing read, zero gradient there',
    expect: 'finite',
    plant: (c) => {
      c.selfIndex!.fill(7);
      setRow(c.ref!, c.D, 7, (d) => (d % 2 ? NaN : Infinity));
    },
  },
  { name: 'rows of magnitude 3.4e38, normalized', expect: 'finite', plant: (c) => {
    setRow(c.ref!, c.D, 2, (d) => (d % 2 ? 3.4e38 : -3.4e38));
    setRow(c.embeddings, c.D, 1, (d) => 3.4e38 / (d + 1));
  } },
  { name: 'entries of 1e30 among ordinary ones, normalized', expect: 'finite', plant: (c) => {
    (c.ref as Float32Array)[3 * c.D] = 1e30;
    (c.embeddings as Float32Array)[4 * c.D + 2] = -1e30;
  } },
];

// Raw rows whose values leave float32 (only possible with normalize: false): NaN by the same rule;
// and raw rows of 1e15 whose values stay in range: the reference's finite answer.
const RAW_ROWS: LossRow[] = [
  { name: 'raw rows of 1e20: dot products beyond float32', expect: 'nan', normalize: false, distance: 'dot', plant: (c) => {
    setRow(c.ref!, c.D, 1, () => 1e20);
    setRow(c.embeddings, c.D, 3, () => 1e20);
  } },
  { name: 'raw rows of 3.4e38: euclidean distances beyond float32', expect: 'nan', normalize: false, distance: 'euclidean', plant: (c) => {
    setRow(c.ref!, c.D, 1, () => 3.4e38);
    setRow(c.embeddings, c.D, 3, () => -3.4e38);
  } },
  { name: 'raw rows of 1e15 (values in range): finite', expect: 'finite', normalize: false, distance: 'euclidean', plant: (c) => setRow(c.ref!, c.D, 1, (d) => 1e15 * (d + 1)) },
  // The triplet loss sums ranges of sorted values by prefix sums: a far value outside every range
  // must not cancel the others' digits (it did: loss 1.35 or 1.15 for 1.33 at 1e20).
  ...[1e20, 1e30].map((far): LossRow => ({
    name: `a negative at similarity −${far} that no triplet uses (dot, raw)`, expect: 'finite', normalize: false, distance: 'dot', plant: (c) => {
      (c.embeddings as Float32Array).forEach((x, k, e) => (e[k] = Math.abs(x)));
      setRow(c.ref!, c.D, 0, () => -far);
      c.refLabels![0] = 99;
    },
  })),
];

const lossRng = new Rng(SEED ^ 0x5eed);
interface LossCase {
  name: string;
  row: LossRow;
  c: PairCase;
}
const LOSS_CASES: LossCase[] = [];
for (const row of [...LOSS_ROWS, ...RAW_ROWS]) {
  for (const { loss } of LOSSES) {
    const cosineOnly = loss.type === 'circle' || loss.type === 'threshold-consistent';
    if (row.normalize === false && cosineOnly) continue;
    // Redrawn until the reference decides every threshold clearly (finite rows only).
    for (let tries = 0; ; tries++) {
      const c = drawCase(lossRng, { N: 6, M: 8, D: 4, classes: 2 }, {
        loss,
        ...(row.distance ? { distance: row.distance } : {}),
        ...(row.normalize !== undefined ? { normalize: row.normalize } : {}),
        ...(row.miner ? { miner: row.miner } : {}),
      });
      c.selfIndex = Int32Array.from({ length: c.N }, (_, i) => i);
      row.plant(c);
      const ref = refPairLoss(c);
      if (row.expect === 'nan' || !ref.ambiguous || tries > 40) {
        LOSS_CASES.push({ name: `${row.name}: ${loss.type}`, row, c });
        break;
      }
    }
  }
}

describe('the loss table rows are what they claim', () => {
  it.each(LOSS_CASES.map((k) => [k.name, k] as const))('reference: %s', (_name, { row, c }) => {
    const ref = refPairLoss(c);
    if (row.expect === 'nan') {
      expect(ref.loss).toBeNaN();
      return;
    }
    expect(Number.isFinite(ref.loss)).toBe(true);
    expect(ref.ambiguous).toBe(false);
    expect([...ref.gradEmbeddings, ...(ref.gradRef ?? [])].every(Number.isFinite)).toBe(true);
  });
});

describe.each(BACKENDS)('pairLoss with NaN, ±Inf and huge values on backend $name', ({ name, available }) => {
  it.skipIf(!available).each(LOSS_CASES.map((k) => [k.name, k] as const))('%s', (_name, { row, c }) => {
    const result = pairLoss(pairArgs(c, name) as never) as { loss: number; gradEmbeddings: Float32Array; gradRef: Float32Array; backend: string };
    expect(result.backend).toBe(name);
    if (row.expect === 'nan') {
      expect(result.loss).toBeNaN();
      expect(result.gradEmbeddings.length).toBe(c.N * c.D);
      expect(result.gradRef.length).toBe(c.M! * c.D);
      expect([...result.gradEmbeddings, ...result.gradRef].every(Number.isNaN)).toBe(true);
      return;
    }
    const ref = refPairLoss(c);
    expect(checkLoss(result, ref, { gradients: true, hasRef: true, backend: name }, `${name} ${_name}`)).toEqual([]);
    if (row.name.includes('every query excludes')) {
      // The unread row's gradient is exactly zero, and nothing else is NaN.
      expect(Array.from(result.gradRef.subarray(7 * c.D, 8 * c.D))).toEqual(new Array(c.D).fill(0));
    }
  });
});
