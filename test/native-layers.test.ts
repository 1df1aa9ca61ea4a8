// The validation layers of docs/architecture.md, seen from a direct caller of the addon: the
// N-API glue checks only memory safety (types, lengths, index ranges, overflow), and the option
// and shape rules of the kernels' check*Call reach such a caller with the codes the TypeScript
// layer uses for the same rules, sync and async.  (crps's rows are in crps.errors.test.ts.)
import { describe, expect, it } from 'vitest';

import { addon } from '../lib/native';
import { backendCases } from './helpers';
import { catchRaw, checkError, INVALID, LABEL, OPTION, SHAPE, type Code } from './error-checks';

type Raw = (plan: Record<string, unknown>) => unknown;

// 3 rows of 2 features, 2 classes.
function marginPlan(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    rows: 3, dim: 2, classes: 2, subCenters: 1, weightRows: 2,
    marginType: 2, m1: 1, m2: 0.5, m3: 0, easyMargin: false, straightThrough: false,
    scale: 16, scaleMode: 0, labelSmoothing: 0, interclassFilter: false, filterThreshold: 1,
    curricular: false, curricularT: 0, curricularMomentum: 0.01, reduction: 0, gradients: true, weightsColumns: false, precision: 0, workMemory: 0,
    device: 0, targets: new Int32Array([0, 1, -1]), classIds: null,
    embeddings: new Float32Array([1, 0, 0, 1, 1, 1]), weights: new Float32Array([1, 0.5, 0.5, 1]),
    rowWeights: null, rowAngular: null, rowAdditive: null,
    ...extra,
  };
}

// 4 rows of 2 features, two classes, no reference set.
function minePlan(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    rows: 4, dim: 2, refs: 4, normalize: true, precision: 0, device: 0,
    minerType: 1, minerDistance: 0, epsilon: 0.1, minerMargin: 0.2, triplets: 0, minerPosMargin: 0.2, minerNegMargin: 0.8,
    embeddings: new Float32Array([1, 0, 0.9, 0.1, 0, 1, 0.1, 0.9]), ref: null,
    labels: new Int32Array([0, 0, 1, 1]), refLabels: null, selfIndex: null, maxOutputs: 1000,
    ...extra,
  };
}

const ROWS: [kernel: 'marginSoftmax' | 'mine', what: string, plan: () => Record<string, unknown>, code: Code][] = [
  // Memory safety: the glue.
  ['marginSoftmax', 'targets one short', () => marginPlan({ targets: new Int32Array([0, 1]) }), SHAPE],
  ['marginSoftmax', 'a target past the classes', () => marginPlan({ targets: new Int32Array([0, 2, 0]) }), LABEL],
  ['marginSoftmax', 'marginType 4', () => marginPlan({ marginType: 4 }), OPTION],
  ['marginSoftmax', 'scale as a string', () => marginPlan({ scale: '16' }), INVALID],
  ['mine', 'selfIndex without a reference set', () => minePlan({ selfIndex: new Int32Array(4) }), INVALID],
  ['mine', 'maxOutputs NaN', () => minePlan({ maxOutputs: NaN }), OPTION],
  ['mine', 'precision 3', () => minePlan({ precision: 3 }), OPTION],
  // Rules of checkMarginSoftmaxCall / mineCpu, reported with TypeScript's codes.
  ['marginSoftmax', 'scale 0', () => marginPlan({ scale: 0 }), OPTION],
  ['marginSoftmax', 'labelSmoothing 1', () => marginPlan({ labelSmoothing: 1 }), OPTION],
  ['marginSoftmax', 'sphereface m 2.5', () => marginPlan({ marginType: 3, m1: 2.5 }), OPTION],
  ['mine', 'no miner', () => minePlan({ minerType: 0 }), OPTION],
];

describe.skipIf(!backendCases()[1].available)('the addon called directly: each rule in its layer, with its code', () => {
  it('valid plans run', () => {
    expect((addon().marginSoftmax as Raw)(marginPlan())).toHaveProperty('loss');
    expect((addon().mine as Raw)(minePlan())).toHaveProperty('positiveAnchors');
  });

  it.each(ROWS)('%s: %s', async (kernel, _what, plan, code) => {
    const failures = checkError(await catchRaw(() => (addon()[kernel] as Raw)(plan())), code, null, kernel);
    failures.push(...checkError(await catchRaw(() => (addon()[`${kernel}Async`] as Raw)(plan())), code, null, `${kernel}Async`));
    expect(failures).toEqual([]);
  });
});
