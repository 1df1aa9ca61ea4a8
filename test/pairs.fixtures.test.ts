// Golden vectors (test/data/pair-mining.json and pair-losses.json, copied from shared/fixtures:
// pytorch-metric-learning 2.8.1 in float64, and a numpy version of the spec's selfIndex rule) on
// every backend, sync and async: mined sets equal exactly (in canonical order), loss within 1e-5
// relative, gradients within 1e-4 (‖g − g_ref‖/‖g_ref‖).  The in-test float64 reference
// (pairs-reference.ts) is held against the same vectors and against central differences of its own
// loss first, so the random tests (pairs.random.test.ts) rest on a reference that is checked.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { mine, mineAsync, pairLoss, pairLossAsync, type MineArgs, type MinerSpec, type PairDistance, type PairLossArgs, type PairLossSpec } from './api';
import { backendCases, checkGradientNorm } from './helpers';
import { checkLoss, minedKeys, pairArgs } from './pairs-cases';
import { refFiniteDifferences, refMine, refPairLoss, type PairCase } from './pairs-reference';

interface FixtureInputs {
  name: string;
  source: string;
  distance: PairDistance;
  normalize: boolean;
  N: number;
  D: number;
  embeddings: number[];
  labels: number[];
  M?: number;
  ref?: number[];
  refLabels?: number[];
  selfIndex?: number[];
  miner?: MinerSpec;
}
interface MiningFixture extends FixtureInputs {
  miner: MinerSpec;
  positivePairs?: [number, number][];
  negativePairs?: [number, number][];
  triplets?: [number, number, number][];
}
interface LossFixture extends FixtureInputs {
  loss: PairLossSpec;
  value: number;
  gradEmbeddings: number[];
  gradRef?: number[];
}

function load<T>(file: string): T[] {
  return (JSON.parse(fs.readFileSync(path.join(__dirname, 'data', file), 'utf8')) as { cases: T[] }).cases;
}
const MINING = load<MiningFixture>('pair-mining.json');
const LOSSES = load<LossFixture>('pair-losses.json');

function fixtureCase(f: FixtureInputs & { loss?: PairLossSpec }): PairCase {
  return {
    N: f.N,
    D: f.D,
    embeddings: Float32Array.from(f.embeddings),
    labels: Int32Array.from(f.labels),
    ...(f.ref ? { M: f.M, ref: Float32Array.from(f.ref), refLabels: Int32Array.from(f.refLabels!) } : {}),
    ...(f.selfIndex ? { selfIndex: Int32Array.from(f.selfIndex) } : {}),
    distance: f.distance,
    normalize: f.normalize,
    ...(f.miner ? { miner: f.miner } : {}),
    ...(f.loss ? { loss: f.loss } : {}),
  };
}

/** The fixture's expected elements as keys ('p a j', 'n a j', 't a p n'), positives first. */
function expectedKeys(f: MiningFixture): string[] {
  if (f.triplets) return f.triplets.map((t) => `t ${t.join(' ')}`);
  return [...f.positivePairs!.map((p) => `p ${p.join(' ')}`), ...f.negativePairs!.map((p) => `n ${p.join(' ')}`)];
}

const kindOf = (f: MiningFixture): 'pairs' | 'triplets' => (f.triplets ? 'triplets' : 'pairs');

function exactMined(result: unknown, f: MiningFixture, backend: string | null, label: string): string[] {
  const { keys, failures } = minedKeys(result as Parameters<typeof minedKeys>[0], kindOf(f), label);
  if (backend && (result as { backend?: string }).backend !== backend) failures.push(`${label}: ran on ${(result as { backend?: string }).backend}`);
  const want = expectedKeys(f);
  if (keys.join('|') !== want.join('|')) {
    const got = new Set(keys);
    const exp = new Set(want);
    const missing = want.filter((k) => !got.has(k));
    const extra = keys.filter((k) => !exp.has(k));
    failures.push(`${label}: ${keys.length} elements, expected ${want.length}; missing ${missing.slice(0, 4).join(', ') || 'none'}; extra ${extra.slice(0, 4).join(', ') || 'none'}`);
  }
  return failures;
}

const miningNamed = MINING.map((f) => [f.name, f] as const);
const lossNamed = LOSSES.map((f) => [f.name, f] as const);

describe('pair fixtures', () => {
  it('cover every miner, triplet selection, loss, distance and the reference-set forms', () => {
    expect(new Set(MINING.map((f) => f.miner.type))).toEqual(new Set(['multi-similarity', 'pair-margin', 'triplet-margin', 'batch-hard']));
    const selects = new Set(MINING.filter((f) => f.miner.type === 'triplet-margin').map((f) => (f.miner as { triplets: string }).triplets));
    expect(selects).toEqual(new Set(['all', 'hard', 'semihard', 'easy']));
    expect(new Set(LOSSES.map((f) => f.loss.type))).toEqual(new Set(['multi-similarity', 'contrastive', 'triplet-margin', 'circle', 'ntxent', 'threshold-consistent']));
    expect(new Set(MINING.map((f) => f.distance))).toEqual(new Set(['cosine', 'dot', 'euclidean', 'squared-euclidean']));
    for (const set of [MINING, LOSSES] as FixtureInputs[][]) {
      expect(set.some((f) => f.ref)).toBe(true);
      expect(set.some((f) => f.selfIndex)).toBe(true);
    }
    expect(LOSSES.filter((f) => f.miner).length).toBeGreaterThanOrEqual(5);
    expect(MINING.some((f) => f.name.includes('ties'))).toBe(true);
  });

  it('inputs are exactly representable in float32 and sized as declared', () => {
    const failures: string[] = [];
    for (const f of [...MINING, ...LOSSES] as FixtureInputs[]) {
      for (const key of ['embeddings', 'ref'] as const) if (f[key]?.some((v) => Math.fround(v) !== v)) failures.push(`${f.name} ${key}`);
      if (f.embeddings.length !== f.N * f.D || f.labels.length !== f.N) failures.push(`${f.name}: sizes`);
      if (f.ref && (f.ref.length !== f.M! * f.D || f.refLabels!.length !== f.M)) failures.push(`${f.name}: ref sizes`);
    }
    expect(failures).toEqual([]);
  });

  it.each(miningNamed)('in-test float64 reference mines %s exactly', (_name, f) => {
    const ref = refMine(fixtureCase(f));
    expect(ref.kind).toBe(kindOf(f));
    expect(ref.keys).toEqual(expectedKeys(f));
  });

  it.each(lossNamed)('in-test float64 reference reproduces %s', (_name, f) => {
    const ref = refPairLoss(fixtureCase(f));
    const failures = checkLoss({ ...ref, gradEmbeddings: undefined, gradRef: undefined }, { loss: f.value }, { gradients: false, hasRef: false, backend: null, lossTol: 1e-10 }, `reference ${f.name}`);
    failures.push(...checkGradientNorm(ref.gradEmbeddings, f.gradEmbeddings, `reference ${f.name} gradEmbeddings`, 1e-8));
    if (f.gradRef) failures.push(...checkGradientNorm(ref.gradRef, f.gradRef, `reference ${f.name} gradRef`, 1e-8));
    else if (ref.gradRef) failures.push('reference gradRef without ref');
    expect(failures).toEqual([]);
  });

  // Its hand-written chain rule is the derivative of its own loss (the fixtures keep every
  // decision clear of 1e-6 input noise, so h = 1e-7 flips none).
  it.each(lossNamed)('in-test reference gradients = central differences of its loss on %s', (_name, f) => {
    const c = fixtureCase(f);
    const ref = refPairLoss(c);
    const fd = refFiniteDifferences(c, 1e-7);
    const failures = checkGradientNorm(ref.gradEmbeddings, fd.gradEmbeddings, `${f.name} gradEmbeddings vs FD`, 1e-6);
    if (c.ref) failures.push(...checkGradientNorm(ref.gradRef, fd.gradRef!, `${f.name} gradRef vs FD`, 1e-6));
    expect(failures).toEqual([]);
  });
});

describe.each(backendCases())('pair fixtures on backend $name', ({ name, available }) => {
  it.skipIf(!available).each(miningNamed)('mine %s', async (_name, f) => {
    const args = pairArgs(fixtureCase(f), name) as unknown as MineArgs;
    const failures = exactMined(mine(args), f, name, `${name} ${f.name}`);
    const promise = mineAsync(args);
    expect(promise).toBeInstanceOf(Promise);
    failures.push(...exactMined(await promise, f, name, `${name} ${f.name} async`));
    expect(failures).toEqual([]);
  });

  it.skipIf(!available).each(lossNamed)('pairLoss %s', async (_name, f) => {
    const c = fixtureCase(f);
    const expected = { loss: f.value, gradEmbeddings: f.gradEmbeddings, gradRef: f.gradRef };
    const want = { gradients: true, hasRef: Boolean(f.ref), backend: name };
    const failures = checkLoss(pairLoss(pairArgs(c, name) as unknown as PairLossArgs), expected, want, `${name} ${f.name}`);
    const promise = pairLossAsync(pairArgs(c, name) as unknown as PairLossArgs);
    expect(promise).toBeInstanceOf(Promise);
    failures.push(...checkLoss(await promise, expected, want, `${name} ${f.name} async`));
    const noGrad = { ...want, gradients: false };
    failures.push(...checkLoss(pairLoss(pairArgs(c, name, { gradients: false }) as unknown as PairLossArgs), expected, noGrad, `${name} ${f.name} gradients false`));
    failures.push(...checkLoss(await pairLossAsync(pairArgs(c, name, { gradients: false }) as unknown as PairLossArgs), expected, noGrad, `${name} ${f.name} async gradients false`));
    expect(failures).toEqual([]);
  });
});
