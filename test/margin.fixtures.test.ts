// Golden vectors (test/data/margin-softmax.json, copied from shared/fixtures: pytorch-metric-learning
// 2.8.1 and a float64 autograd of the spec's formulas) on every backend, sync and async, with and
// without gradients.  Unavailable backends are reported as skipped.  The in-test float64 reference
// (margin-reference.ts) is held against the same vectors and against central differences of its
// own loss first, so the random tests (margin.random.test.ts) rest on a reference that is checked.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { marginSoftmax, marginSoftmaxAsync, type MarginSpec, type ScaleMode } from './api';
import { backendCases, checkGradientNorm } from './helpers';
import { marginArgs, refFiniteDifferences, refMarginSoftmax, type MarginCase } from './margin-reference';
import { checkMargin, type MarginExpected } from './margin-checks';

// ---------------------------------------------------------------------------------------------
// Fixtures

interface MarginFixture {
  name: string;
  source: string;
  N: number;
  D: number;
  C: number;
  subCenters?: number;
  margin: MarginSpec;
  scale: number;
  scaleMode?: ScaleMode;
  embeddings: number[];
  weights: number[];
  labels: number[];
  labelSmoothing?: number;
  interclassFilter?: number;
  curricular?: { t: number; momentum?: number };
  reduction?: 'mean' | 'sum';
  classIndices?: number[];
  rowWeights?: number[];
  rowMargins?: number[];
  rowAdditiveMargins?: number[];
  weightsLayout?: 'rows' | 'columns';
  loss: number;
  losses: number[];
  gradEmbeddings: number[];
  gradWeights: number[];
  logSumExp?: number[];
  predictions?: number[];
  curricularT?: number;
}

function loadMarginFixtures(): MarginFixture[] {
  const file = path.join(__dirname, 'data', 'margin-softmax.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { cases: MarginFixture[] }).cases;
}

function fixtureCase(f: MarginFixture): MarginCase {
  const floats = (v: number[] | undefined) => (v ? Float32Array.from(v) : undefined);
  return {
    N: f.N,
    D: f.D,
    C: f.C,
    K: f.subCenters ?? 1,
    embeddings: Float32Array.from(f.embeddings),
    weights: Float32Array.from(f.weights),
    labels: Int32Array.from(f.labels),
    margin: f.margin,
    scale: f.scale,
    scaleMode: f.scaleMode,
    labelSmoothing: f.labelSmoothing,
    interclassFilter: f.interclassFilter,
    curricular: f.curricular,
    classIndices: f.classIndices ? Int32Array.from(f.classIndices) : undefined,
    rowWeights: floats(f.rowWeights),
    rowAngular: floats(f.rowMargins),
    rowAdditive: floats(f.rowAdditiveMargins),
    reduction: f.reduction,
    columns: f.weightsLayout === 'columns',
    passSubCenters: f.subCenters !== undefined,
  };
}

const fixtures = loadMarginFixtures();
const named = fixtures.map((f) => [f.name, f] as const);

function expectedOf(f: MarginFixture): MarginExpected {
  return {
    loss: f.loss,
    losses: f.losses,
    logSumExp: f.logSumExp,
    predictions: f.predictions,
    gradEmbeddings: f.gradEmbeddings,
    gradWeights: f.gradWeights,
    curricularT: f.curricularT,
  };
}

describe('margin-softmax.json fixtures', () => {
  it('has the cases the spec asks for', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(20);
    const types = new Set(fixtures.map((f) => f.margin.type));
    expect([...types].sort()).toEqual(['arcface', 'combined', 'cosface', 'none', 'sphereface']);
    const modes = new Set(fixtures.map((f) => f.scaleMode ?? 'fixed'));
    expect([...modes].sort()).toEqual(['feature-norm', 'fixed', 'product-norm']);
    const has = (p: (f: MarginFixture) => unknown) => fixtures.some((f) => Boolean(p(f)));
    expect(has((f) => (f.subCenters ?? 1) > 1)).toBe(true);
    expect(has((f) => f.curricular && f.curricularT !== undefined)).toBe(true);
    expect(has((f) => f.classIndices && (f.subCenters ?? 1) > 1)).toBe(true);
    expect(has((f) => f.weightsLayout === 'columns')).toBe(true);
    expect(has((f) => f.rowMargins)).toBe(true);
    expect(has((f) => f.rowAdditiveMargins)).toBe(true);
    expect(has((f) => f.labelSmoothing)).toBe(true);
    expect(has((f) => f.interclassFilter !== undefined)).toBe(true);
    expect(has((f) => f.reduction === 'sum' && f.rowWeights && f.labels.includes(-1))).toBe(true);
    expect(has((f) => f.labels.every((l) => l === -1))).toBe(true);
    expect(has((f) => 'easyMargin' in f.margin)).toBe(true);
    expect(has((f) => 'gradient' in f.margin)).toBe(true);
  });

  it('every input is exactly representable in float32 (so every backend sees the same numbers)', () => {
    const failures: string[] = [];
    for (const f of fixtures) {
      for (const key of ['embeddings', 'weights', 'rowWeights', 'rowMargins', 'rowAdditiveMargins'] as const) {
        const values = f[key];
        if (values && values.some((v) => Math.fround(v) !== v)) failures.push(`${f.name} ${key}`);
      }
      if (f.embeddings.length !== f.N * f.D || f.weights.length !== f.C * (f.subCenters ?? 1) * f.D) failures.push(`${f.name}: sizes`);
    }
    expect(failures).toEqual([]);
  });

  // The reference every random test relies on reproduces the golden vectors (far inside the
  // spec's tolerances: both are float64).
  it.each(named)('in-test float64 reference reproduces %s', (_name, f) => {
    const c = fixtureCase(f);
    const ref = refMarginSoftmax({ ...c, embeddings: f.embeddings, weights: f.weights });
    const failures = checkMargin(ref, expectedOf(f), { ...c, columns: false }, { gradients: true, gradTol: 1e-9 }, `reference ${f.name}`);
    if (Math.abs(ref.loss - f.loss) > 1e-10 * Math.max(1, Math.abs(f.loss))) failures.push(`reference loss ${ref.loss} vs ${f.loss}`);
    expect(failures).toEqual([]);
  });

  // …and its hand-written gradients are the derivatives of its loss (t held fixed: CurricularFace
  // updates t without a gradient, so momentum 0 here; 'straight-through' is by design not the
  // derivative, so its case is differentiated with the exact gradient).
  it.each(named)('in-test reference gradients = central differences of its loss on %s', (_name, f) => {
    const c = fixtureCase(f);
    const { gradient: _gradient, ...margin } = f.margin as MarginSpec & { gradient?: string };
    const input = {
      ...c,
      embeddings: f.embeddings,
      weights: f.weights,
      margin: margin as MarginSpec,
      curricular: c.curricular && { t: c.curricular.t, momentum: 0 },
    };
    const ref = refMarginSoftmax(input);
    const fd = refFiniteDifferences(input);
    const failures = [
      ...checkGradientNorm(ref.gradEmbeddings, fd.gradEmbeddings, `${f.name} gradEmbeddings vs FD`, 1e-6),
      ...checkGradientNorm(ref.gradWeights, fd.gradWeights, `${f.name} gradWeights vs FD`, 1e-6),
    ];
    expect(failures).toEqual([]);
  });
});

describe.each(backendCases())('margin-softmax.json on backend $name', ({ name, available }) => {
  it.skipIf(!available).each(named)('%s (with gradients)', (_name, f) => {
    const c = fixtureCase(f);
    const result = marginSoftmax(marginArgs(c, name));
    expect(checkMargin(result, expectedOf(f), c, { gradients: true, backend: name }, `${name} ${f.name}`)).toEqual([]);
  });

  it.skipIf(!available).each(named)('%s (gradients: false)', (_name, f) => {
    const c = fixtureCase(f);
    const result = marginSoftmax(marginArgs(c, name, { gradients: false }));
    expect(checkMargin(result, expectedOf(f), c, { gradients: false, backend: name }, `${name} ${f.name} no-grad`)).toEqual([]);
  });

  it.skipIf(!available)('every case through marginSoftmaxAsync', async () => {
    const failures: string[] = [];
    for (const f of fixtures) {
      const c = fixtureCase(f);
      const promise = marginSoftmaxAsync(marginArgs(c, name));
      if (!(promise instanceof Promise)) failures.push(`${f.name}: marginSoftmaxAsync did not return a Promise`);
      failures.push(...checkMargin(await promise, expectedOf(f), c, { gradients: true, backend: name }, `${name} async ${f.name}`));
    }
    expect(failures).toEqual([]);
  });
});
