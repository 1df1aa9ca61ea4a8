// Fresh random inputs (seed logged; FUSEDLOSS_TEST_SEED reproduces a run) against the float64
// reference of margin-reference.ts (itself checked against the golden vectors), on every backend,
// sync and async: every margin, scale mode and option of the spec, on shapes that are no multiple
// of any tile (N 1, 5, 33; D 1, 3, 17, 64, 130; C 1, 7, 300), plus C = 1,000,003; the backends'
// gradients against central differences; and the edge cases (cosines of exactly ±1, θ + m past π,
// N = 1, C = 1, D = 1, every row ignored).
import { describe, expect, it } from 'vitest';

import { marginSoftmax, marginSoftmaxAsync, type MarginSpec } from './api';
import { backendCases, checkGradientNorm, checkValues, Rng, testSeed } from './helpers';
import {
  drawCase,
  makeCase,
  marginArgs,
  refFiniteDifferences,
  refMarginSoftmax,
  type MarginCase,
  type MarginRef,
  type Spec,
} from './margin-reference';
import {
  checkMargin,
  nonFinite,
} from './margin-checks';

const SEED = testSeed('margin.random');
const BACKENDS = backendCases();

const arc = (extra: Record<string, unknown> = {}): MarginSpec => ({ type: 'arcface', ...extra }) as MarginSpec;

const SPECS: Spec[] = [
  { name: 'normface (none), s 20', N: 33, D: 17, C: 300, opts: { margin: { type: 'none' }, scale: 20 } },
  { name: 'cosface default m', N: 5, D: 64, C: 7, opts: { margin: { type: 'cosface' } } },
  { name: 'cosface m 0.4, s 30', N: 33, D: 3, C: 300, opts: { margin: { type: 'cosface', m: 0.4 }, scale: 30 } },
  { name: 'defaults (arcface m 0.5, s 64)', N: 33, D: 130, C: 7, opts: {} },
  { name: 'arcface exact, subCenters 1 passed', N: 5, D: 17, C: 300, opts: { margin: arc({ m: 0.3 }), passSubCenters: true } },
  { name: 'arcface easyMargin', N: 33, D: 64, C: 300, opts: { margin: arc({ easyMargin: true }) } },
  { name: 'arcface straight-through', N: 33, D: 17, C: 7, opts: { margin: arc({ gradient: 'straight-through' }) } },
  { name: 'arcface easyMargin straight-through', N: 5, D: 3, C: 300, opts: { margin: arc({ easyMargin: true, gradient: 'straight-through' }) } },
  { name: 'combined defaults', N: 33, D: 130, C: 300, opts: { margin: { type: 'combined' } } },
  { name: 'combined m1 1.35 (past-π fallback)', N: 33, D: 17, C: 7, opts: { margin: { type: 'combined', m1: 1.35, m2: 0.1, m3: 0.05 } } },
  { name: 'combined easyMargin straight-through', N: 5, D: 64, C: 300, opts: { margin: { type: 'combined', m1: 0.9, m2: 0.4, m3: 0.1, easyMargin: true, gradient: 'straight-through' } } },
  { name: 'sphereface m 1, fixed s 16', N: 33, D: 17, C: 7, opts: { margin: { type: 'sphereface', m: 1 }, scale: 16 } },
  { name: 'sphereface m 2, feature-norm s 1', N: 33, D: 3, C: 300, opts: { margin: { type: 'sphereface', m: 2 }, scale: 1, scaleMode: 'feature-norm' } },
  { name: 'sphereface m 3, product-norm s 1', N: 5, D: 130, C: 7, opts: { margin: { type: 'sphereface', m: 3 }, scale: 1, scaleMode: 'product-norm' } },
  { name: 'sphereface default m 4, feature-norm s 2', N: 33, D: 64, C: 300, opts: { margin: { type: 'sphereface' }, scale: 2, scaleMode: 'feature-norm' } },
  { name: 'arcface feature-norm s 8', N: 33, D: 17, C: 300, opts: { scale: 8, scaleMode: 'feature-norm' } },
  { name: 'cosface product-norm s 4', N: 5, D: 17, C: 300, opts: { margin: { type: 'cosface' }, scale: 4, scaleMode: 'product-norm' } },
  { name: 'arcface subCenters 3', N: 33, D: 64, C: 300, K: 3, opts: {} },
  { name: 'combined subCenters 3, product-norm', N: 33, D: 17, C: 7, K: 3, opts: { margin: { type: 'combined' }, scale: 4, scaleMode: 'product-norm' } },
  { name: 'rowMargins.angular (ElasticFace arc)', N: 33, D: 17, C: 300, rowAngular: [0.3, 0.7], opts: {} },
  { name: 'rowMargins.additive with cosface', N: 33, D: 64, C: 7, rowAdditive: [0.2, 0.5], opts: { margin: { type: 'cosface' } } },
  { name: 'rowMargins.additive with arcface (AdaFace)', N: 5, D: 130, C: 300, rowAdditive: [-0.1, 0.3], opts: { margin: arc({ m: 0.4 }) } },
  { name: 'rowMargins both with combined, subCenters 3', N: 33, D: 17, C: 300, K: 3, rowAngular: [0.2, 0.6], rowAdditive: [0, 0.3], opts: { margin: { type: 'combined' } } },
  { name: 'labelSmoothing 0.1', N: 33, D: 64, C: 300, opts: { labelSmoothing: 0.1, scale: 32 } },
  { name: 'labelSmoothing 0.4, cosface, subCenters 3', N: 5, D: 17, C: 7, K: 3, opts: { margin: { type: 'cosface' }, labelSmoothing: 0.4 } },
  { name: 'interclassFilter 0.2, cosface', N: 33, D: 3, C: 300, opts: { margin: { type: 'cosface' }, interclassFilter: 0.2, scale: 16 } },
  { name: 'interclassFilter -0.5, arcface, subCenters 3', N: 33, D: 17, C: 7, K: 3, opts: { interclassFilter: -0.5 } },
  { name: 'curricular arcface (default momentum)', N: 33, D: 17, C: 300, opts: { curricular: { t: 0.2 } } },
  { name: 'curricular combined momentum 0.5, ignored rows', N: 33, D: 64, C: 7, ignored: 0.3, opts: { margin: { type: 'combined' }, curricular: { t: -0.1, momentum: 0.5 } } },
  { name: 'curricular cosface momentum 1, subCenters 3', N: 5, D: 17, C: 300, K: 3, opts: { margin: { type: 'cosface' }, curricular: { t: 0.5, momentum: 1 } } },
  { name: 'classIndices (shuffled subset)', N: 33, D: 17, C: 300, subset: true, opts: {} },
  { name: 'classIndices, subCenters 3, columns', N: 33, D: 64, C: 300, K: 3, subset: true, opts: { columns: true } },
  { name: "weightsLayout 'columns'", N: 5, D: 130, C: 300, opts: { columns: true } },
  { name: "'columns', product-norm, sphereface", N: 33, D: 17, C: 7, opts: { columns: true, margin: { type: 'sphereface', m: 2 }, scale: 1, scaleMode: 'product-norm' } },
  { name: 'ignored rows, rowWeights, mean', N: 33, D: 17, C: 300, ignored: 0.3, rowWeights: true, opts: {} },
  { name: 'ignored rows, rowWeights, sum', N: 33, D: 64, C: 7, ignored: 0.3, rowWeights: true, opts: { reduction: 'sum', margin: { type: 'cosface' } } },
  { name: "reduction 'sum' (vector–Jacobian product)", N: 5, D: 3, C: 300, rowWeights: true, opts: { reduction: 'sum', margin: { type: 'combined' } } },
  { name: 'explicit mean, gradients false', N: 33, D: 130, C: 300, gradients: false, opts: { reduction: 'mean', margin: arc({ easyMargin: true }) } },
  { name: 'gradients false, subCenters 3, curricular', N: 5, D: 17, C: 300, K: 3, gradients: false, opts: { curricular: { t: 0 } } },
  { name: 'N 1', N: 1, D: 17, C: 300, opts: { margin: { type: 'combined' } } },
  { name: 'C 1', N: 33, D: 17, C: 1, opts: {} },
  // ε = 0.25: 1 − ε and ε/C exact in float32, so the zero gradient of C = 1 is exact there too
  { name: 'C 1, label smoothing, subCenters 3', N: 5, D: 3, C: 1, K: 3, opts: { labelSmoothing: 0.25 } },
  { name: 'D 1, fixed', N: 33, D: 1, C: 7, opts: { margin: { type: 'cosface' } } },
  { name: 'D 1, feature-norm arcface, subCenters 3', N: 33, D: 1, C: 300, K: 3, opts: { scale: 2, scaleMode: 'feature-norm' } },
  { name: 'D 1, product-norm sphereface', N: 5, D: 1, C: 7, opts: { margin: { type: 'sphereface' }, scale: 1, scaleMode: 'product-norm' } },
];

const rng = new Rng(SEED);
const CASES = SPECS.map((s) => ({ s, ...makeCase(rng, s) }));

function expectedOf(ref: MarginRef) {
  return { ...ref };
}

describe.each(BACKENDS)('random inputs on backend $name', ({ name, available }) => {
  it.skipIf(!available).each(CASES.map((k) => [k.s.name, k] as const))('%s', async (_name, { s, c, ref }) => {
    const gradients = s.gradients !== false;
    const extra = gradients ? {} : { gradients: false };
    const want = { gradients, backend: name };
    const label = `${name} ${s.name} [N ${c.N}, D ${c.D}, C ${c.C}, K ${c.K}]`;
    const failures = checkMargin(marginSoftmax(marginArgs(c, name, extra)), expectedOf(ref), c, want, label);
    failures.push(...checkMargin(await marginSoftmaxAsync(marginArgs(c, name, extra)), expectedOf(ref), c, want, `${label} async`));
    expect(failures).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// A million classes (N = 3, D = 4)

let bigCase: { c: MarginCase; ref: MarginRef } | null = null;
const big = () => (bigCase ??= makeCase(new Rng(SEED + 1), { name: 'big', N: 3, D: 4, C: 1000003, opts: { scale: 16, margin: arc({ m: 0.4 }) } }));

describe.each(BACKENDS)('C = 1,000,003 classes on backend $name', ({ name, available }) => {
  it.skipIf(!available)('N 3, D 4, arcface: every output against the reference', () => {
    const { c, ref } = big();
    const result = marginSoftmax(marginArgs(c, name));
    expect(checkMargin(result, expectedOf(ref), c, { gradients: true, backend: name }, `${name} C=1000003`)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Gradients against central differences (N = 4, D = 5, C = 6, small scales)

const FD_SPECS: Spec[] = [
  { name: 'arcface exact s 6', N: 4, D: 5, C: 6, opts: { scale: 6 } },
  { name: 'combined s 8, label smoothing', N: 4, D: 5, C: 6, opts: { margin: { type: 'combined' }, scale: 8, labelSmoothing: 0.2 } },
  { name: 'sphereface m 3 feature-norm s 2', N: 4, D: 5, C: 6, opts: { margin: { type: 'sphereface', m: 3 }, scale: 2, scaleMode: 'feature-norm' } },
  { name: 'cosface product-norm s 3, subCenters 2', N: 4, D: 5, C: 6, K: 2, opts: { margin: { type: 'cosface' }, scale: 3, scaleMode: 'product-norm' } },
  { name: 'curricular (momentum 0) s 5, rowWeights sum', N: 4, D: 5, C: 6, rowWeights: true, opts: { curricular: { t: 0.3, momentum: 0 }, scale: 5, reduction: 'sum' } },
  { name: 'filter 0.1, row margins, classIndices', N: 4, D: 5, C: 6, subset: true, rowAngular: [0.2, 0.6], rowAdditive: [0, 0.2], opts: { interclassFilter: 0.1, scale: 4 } },
];
const fdRng = new Rng(SEED + 2);
const FD_CASES = FD_SPECS.map((s) => {
  // Decisions 0.02 clear of every discontinuity: the float32 differences step by ~3e-3.
  const { c, ref } = makeCase(fdRng, s, 0.02);
  return { s, c, ref, fd: refFiniteDifferences(c) };
});

/** Central differences of a backend's own (float32) loss, step ~3e-3 on the float32 inputs. */
function backendFiniteDifferences(c: MarginCase, backend: string): { gradEmbeddings: Float64Array; gradWeights: Float64Array } {
  const at = (e: Float32Array, w: Float32Array) => marginSoftmax(marginArgs({ ...c, embeddings: e, weights: w, columns: false }, backend, { gradients: false })).loss;
  const diff = (v: Float32Array, k: number, e: Float32Array, w: Float32Array) => {
    const keep = v[k];
    const h = 3e-3 * Math.max(1, Math.abs(keep));
    v[k] = keep + h;
    const up = v[k];
    const fUp = at(e, w);
    v[k] = keep - h;
    const down = v[k];
    const fDown = at(e, w);
    v[k] = keep;
    return (fUp - fDown) / (up - down);
  };
  const e = c.embeddings.slice();
  const w = c.weights.slice();
  const gradEmbeddings = Float64Array.from(e, (_, k) => diff(e, k, e, w));
  const full = Float64Array.from(w, (_, k) => diff(w, k, e, w));
  const ids = c.classIndices ? Array.from(c.classIndices) : Array.from({ length: c.C }, (_, j) => j);
  const len = c.K * c.D;
  const gradWeights = new Float64Array(ids.length * len);
  ids.forEach((id, j) => gradWeights.set(full.subarray(id * len, (id + 1) * len), j * len));
  return { gradEmbeddings, gradWeights };
}

describe.each(BACKENDS)('gradients vs central differences on backend $name', ({ name, available }) => {
  it.skipIf(!available).each(FD_CASES.map((k) => [k.s.name, k] as const))('%s', (_name, { s, c, ref, fd }) => {
    const result = marginSoftmax(marginArgs(c, name));
    const failures = [
      // the float64 reference's own derivative (h = 1e-6) against its hand-written gradient…
      ...checkGradientNorm(ref.gradEmbeddings, fd.gradEmbeddings, `${s.name} reference gradEmbeddings vs FD`, 1e-6),
      // …and the backend against central differences of the float64 loss (the spec's 1e-4)
      ...checkGradientNorm(result.gradEmbeddings, fd.gradEmbeddings, `${name} ${s.name} gradEmbeddings vs FD(reference)`),
      ...checkGradientNorm(result.gradWeights, fd.gradWeights, `${name} ${s.name} gradWeights vs FD(reference)`),
    ];
    // and against central differences of its own float32 loss (coarse: 1e-2)
    const own = backendFiniteDifferences(c, name);
    failures.push(...checkGradientNorm(result.gradEmbeddings, own.gradEmbeddings, `${name} ${s.name} gradEmbeddings vs FD(own loss)`, 1e-2));
    failures.push(...checkGradientNorm(result.gradWeights, own.gradWeights, `${name} ${s.name} gradWeights vs FD(own loss)`, 1e-2));
    expect(failures).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// Edge cases

const EDGE_MARGINS: [string, Partial<MarginCase>][] = [
  ['arcface exact', { margin: arc() }],
  ['arcface easyMargin', { margin: arc({ easyMargin: true }) }],
  ['arcface straight-through', { margin: arc({ gradient: 'straight-through' }) }],
  ['combined', { margin: { type: 'combined', m1: 1.2, m2: 0.3, m3: 0.2 } }],
  ['sphereface m 4 feature-norm', { margin: { type: 'sphereface', m: 4 }, scale: 1, scaleMode: 'feature-norm' }],
  ['cosface', { margin: { type: 'cosface' } }],
  ['none', { margin: { type: 'none' } }],
  ['curricular arcface', { margin: arc(), curricular: { t: 0.1, momentum: 0.3 } }],
];

/**
 * Rows on the coordinate axes: 2·e_k, −3·e_k, and centers ±e_k, so cosines of exactly ±1 and 0 are
 * exact in float32 too (θ = 0 and θ = π, where θ + m passes π); the other centers random.
 */
function axisCase(rng: Rng, opts: Partial<MarginCase>): MarginCase {
  const N = 6;
  const D = 8;
  const C = 5;
  const weights = new Float32Array(C * D);
  for (let j = 0; j < C; j++) {
    if (j < 3) weights[j * D + j] = j === 1 ? -1.5 : 1; // centers 0..2 on axes 0..2
    else for (let d = 0; d < D; d++) weights[j * D + d] = Math.fround(rng.normal());
  }
  const embeddings = new Float32Array(N * D);
  const labels = Int32Array.from([0, 1, 2, 0, 1, 3]);
  const axis = [0, 1, 2, 0, 1, 5];
  const value = [2, 2, -3, -0.5, -4, 1]; // rows 0, 1 on / opposite their centers, …
  axis.forEach((a, i) => (embeddings[i * D + a] = value[i]));
  return { N, D, C, K: 1, embeddings, weights, labels, scale: 8, ...opts };
}

/** Rows that equal (or are the negative of) their class center exactly, in general position. */
function identicalCase(rng: Rng, opts: Partial<MarginCase>): MarginCase {
  const N = 6;
  const D = 17;
  const C = 7;
  const weights = Float32Array.from({ length: C * D }, () => Math.fround(rng.normal()));
  const labels = Int32Array.from({ length: N }, () => rng.int(C));
  const embeddings = new Float32Array(N * D);
  for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) embeddings[i * D + d] = (i % 2 === 0 ? 1 : -1) * weights[labels[i] * D + d];
  return { N, D, C, K: 1, embeddings, weights, labels, scale: 16, ...opts };
}

describe.each(BACKENDS)('edge cases on backend $name', ({ name, available }) => {
  const edgeRng = new Rng(SEED + 3);
  const axisCases = EDGE_MARGINS.map(([label, opts]) => [label, axisCase(edgeRng, opts)] as const);
  const identicalCases = EDGE_MARGINS.map(([label, opts]) => [label, identicalCase(edgeRng, opts)] as const);

  it.skipIf(!available).each(axisCases)('cosines exactly ±1 and 0 on the axes, θ + m past π: %s', async (label, c) => {
    const ref = refMarginSoftmax(c);
    const result = marginSoftmax(marginArgs(c, name));
    const failures = [...nonFinite(result, `${name} ${label}`), ...checkMargin(result, expectedOf(ref), c, { gradients: true, backend: name }, `${name} ${label}`)];
    failures.push(...checkMargin(await marginSoftmaxAsync(marginArgs(c, name)), expectedOf(ref), c, { gradients: true, backend: name }, `${name} ${label} async`));
    expect(failures).toEqual([]);
  });

  // c = ±1 up to rounding: θ = acos(c) is ill-conditioned there (√ of the rounding error), so
  // the losses get an absolute tolerance of 2e-2 (s = 16) and the gradients must be finite.
  it.skipIf(!available).each(identicalCases)('embedding rows identical / opposite to their centers: %s', (label, c) => {
    const ref = refMarginSoftmax(c);
    const result = marginSoftmax(marginArgs(c, name));
    const failures = nonFinite(result, `${name} ${label}`);
    for (let i = 0; i < c.N; i++) {
      if (!(Math.abs(result.losses[i] - ref.losses[i]) <= 2e-2)) failures.push(`${name} ${label}: losses[${i}] = ${result.losses[i]}, expected ${ref.losses[i]}`);
    }
    failures.push(...checkValues(result.predictions, ref.predictions, `${name} ${label} predictions`));
    if (result.gradEmbeddings?.length !== c.N * c.D || result.gradWeights?.length !== c.C * c.D) failures.push(`${name} ${label}: gradient lengths`);
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('every row ignored: loss 0, zero losses and gradients, plain logSumExp, t unchanged', async () => {
    const c = drawCase(new Rng(SEED + 4), { name: 'ignored', N: 5, D: 17, C: 7, K: 2 });
    c.labels.fill(-1);
    c.curricular = { t: 0.25, momentum: 0.5 };
    for (const reduction of ['mean', 'sum'] as const) {
      const ref = refMarginSoftmax({ ...c, reduction });
      for (const result of [marginSoftmax(marginArgs({ ...c, reduction }, name)), await marginSoftmaxAsync(marginArgs({ ...c, reduction }, name))]) {
        expect(result.loss).toBe(0);
        expect(Array.from(result.losses)).toEqual(new Array(c.N).fill(0));
        expect(Array.from(result.gradEmbeddings).every((v) => v === 0)).toBe(true);
        expect(Array.from(result.gradWeights).every((v) => v === 0)).toBe(true);
        expect(result.gradWeights.length).toBe(c.C * c.K * c.D);
        expect(result.curricularT).toBe(0.25);
        expect(checkMargin(result, expectedOf(ref), c, { gradients: true, backend: name }, `${name} all ignored ${reduction}`)).toEqual([]);
      }
    }
  });

  // Every row confidently right, as fresh random batches sometimes are: loss_i = LSE_i − z_iy ~ 1e-8
  // and p_iy − 1 ~ −1e-8, which a float32 kernel must not compute by cancellation
  // (log1p(Σ_{j≠y} e^{z_j − z_y}) and −Σ_{j≠y} p_j keep them); the spec's relative tolerances hold.
  it.skipIf(!available)('every row confidently right (loss 1e-11…1e-5): loss and gradients to the spec’s relative tolerances', () => {
    const r = new Rng(SEED + 6);
    const N = 6;
    const D = 64;
    const C = 10;
    const settings = [[{ type: 'cosface' }, 40], [{ type: 'none' }, 24], [{ type: 'arcface' }, 32]] as [MarginSpec, number][];
    const draw = () => {
      const weights = Float32Array.from({ length: C * D }, () => Math.fround(r.normal() / 8));
      const labels = Int32Array.from({ length: N }, () => r.int(C));
      const embeddings = new Float32Array(N * D);
      for (let i = 0; i < N; i++) for (let d = 0; d < D; d++) embeddings[i * D + d] = Math.fround(weights[labels[i] * D + d] + r.normal() / 40);
      return settings.map(([margin, scale]) => {
        const c: MarginCase = { N, D, C, K: 1, embeddings, weights, labels, margin, scale };
        return { c, ref: refMarginSoftmax(c) };
      });
    };
    // Two close class centres can leave a draw outside the regime this test is about (seed
    // 487577460 did): draw again until every setting's float64 loss is in it.
    const inRegime = (cases: ReturnType<typeof draw>) => cases.every(({ ref }) => ref.loss > 1e-11 && ref.loss < 1e-5);
    let cases = draw();
    for (let attempt = 0; attempt < 100 && !inRegime(cases); attempt++) cases = draw();
    expect(inRegime(cases)).toBe(true);
    for (const { c, ref } of cases) {
      expect(checkMargin(marginSoftmax(marginArgs(c, name)), expectedOf(ref), c, { gradients: true, backend: name }, `${name} confident ${c.margin?.type}`)).toEqual([]);
    }
  });

  it.skipIf(!available)('C = 1: loss 0 and zero gradients (with and without label smoothing)', () => {
    const c = drawCase(new Rng(SEED + 5), { name: 'C1', N: 4, D: 6, C: 1 });
    for (const labelSmoothing of [0, 0.25]) {
      const result = marginSoftmax(marginArgs({ ...c, labelSmoothing }, name));
      expect(Math.abs(result.loss)).toBeLessThanOrEqual(1e-6);
      expect(checkMargin(result, expectedOf(refMarginSoftmax({ ...c, labelSmoothing })), c, { gradients: true, backend: name }, `${name} C=1`)).toEqual([]);
      expect(Array.from(result.predictions)).toEqual([0, 0, 0, 0]);
    }
  });
});
