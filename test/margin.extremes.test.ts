// Numeric extremes of marginSoftmax(): every margin type × scale mode × backend over per-row losses
// from 1e-8 to 1e5 against the float64 reference (margin-reference.ts), loss and gradients.
//
// Each call is one row built to a target loss L: with x̂ = e₀ in a random orthonormal basis, the
// target center sits at cosine c_y (so ψ(c_y) is known) and every other center at ψ(c_y) + g
// (plus a little jitter), where g solves log(1 + (C − 1)·e^{S·g}) = L for the row's logit scale S.
// Large L needs a large S (an L of 1e5 is S·g with g ≤ 2), which is exactly where exp(z − z_y)
// leaves double's range (the kernels returned +Infinity past ~709); small L at a large S is where
// LSE − z_y loses its digits to cancellation.
//
// Tolerances follow from the inputs: a float32 kernel's cosines are off by at most
// δc = (D + 8)·2⁻²⁴ (unit vectors, D products), so a logit by δz_j = S_j·max(1, |ψ'|)·δc + |z_j|·2⁻²²;
// the loss moves by at most Σ_j |∂loss/∂z_j|·δz_j ≤ 2·(1 − p_y)·max δz, its probabilities (hence
// the gradients) by a factor e^{±2·max δz}.  The TypeScript backend is held to the same formulas
// with double's ε, so it must get the digits float32 cannot.
import { describe, expect, it } from 'vitest';

import { marginSoftmax, type MarginSpec, type ScaleMode } from './api';
import { backendCases, Rng, testSeed } from './helpers';
import { makeCase, marginArgs, refMarginSoftmax, resolveMargin, targetValue, type MarginCase, type MarginRef } from './margin-reference';
import { gradWeightsRows } from './margin-checks';

const seed = testSeed('margin.extremes');

const MARGINS: [string, MarginSpec][] = [
  ['none', { type: 'none' }],
  ['cosface 0.35', { type: 'cosface', m: 0.35 }],
  ['arcface 0.5', { type: 'arcface', m: 0.5 }],
  ['arcface 0.5 easyMargin', { type: 'arcface', m: 0.5, easyMargin: true }],
  ['combined 1.1, 0.3, 0.2', { type: 'combined', m1: 1.1, m2: 0.3, m3: 0.2 }],
  ['sphereface 4', { type: 'sphereface', m: 4 }],
];
const MODES: ScaleMode[] = ['fixed', 'feature-norm', 'product-norm'];
/** Target per-row losses: every decade from 1e-8 to 1e5. */
const LOSSES = Array.from({ length: 14 }, (_, k) => 10 ** (k - 8));

const logUniform = (rng: Rng, lo: number, hi: number) => Math.exp(rng.uniform(Math.log(lo), Math.log(hi)));

/** log(e^L − 1) without overflow. */
const logExpm1 = (L: number) => (L > 30 ? L + Math.log1p(-Math.exp(-L)) : Math.log(Math.expm1(L)));

/** D orthonormal vectors (rows of a D×D array), Gram–Schmidt on Gaussian draws. */
function orthonormalBasis(rng: Rng, D: number): Float64Array {
  for (;;) {
    const q = new Float64Array(D * D);
    let ok = true;
    for (let r = 0; r < D && ok; r++) {
      for (let d = 0; d < D; d++) q[r * D + d] = rng.normal();
      for (let p = 0; p < r; p++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[r * D + d] * q[p * D + d];
        for (let d = 0; d < D; d++) q[r * D + d] -= dot * q[p * D + d];
      }
      let norm = 0;
      for (let d = 0; d < D; d++) norm += q[r * D + d] ** 2;
      norm = Math.sqrt(norm);
      ok = norm > 1e-3;
      for (let d = 0; d < D; d++) q[r * D + d] /= norm;
    }
    if (ok) return q;
  }
}

interface Built {
  c: MarginCase;
  ref: MarginRef;
  /** The row's logit scales S_j, ψ(c_y) and ψ'(c_y) (for the tolerances). */
  scales: Float64Array;
  psi: number;
  slope: number;
  /** ‖x‖ and each ‖w_j‖. */
  xNorm: number;
  wNorms: number[];
}

/**
 * One row whose loss is about L under `spec`/`mode`: cosines are placed exactly (in float64, then
 * the data is rounded to float32, and the reference reads the rounded data).
 */
function buildRow(rng: Rng, L: number, spec: MarginSpec, mode: ScaleMode): Built {
  const margin = resolveMargin(spec);
  for (let attempt = 0; attempt < 500; attempt++) {
    const D = [2, 3, 5, 16, 24][rng.int(5)];
    const C = 2 + rng.int(8);
    const y = rng.int(C);
    // Large losses need S ≈ L/g with g ≤ ~1.2.  Small ones alternate by decade between a large S
    // (logits ~1e3 around a loss ~1e-8: where LSE − z_y cancels) and a small one (where float32
    // cosines still resolve the loss to ~1e-4).
    const decade = Math.round(Math.log10(L));
    const S = L >= 8 ? L / rng.uniform(0.4, 1.2) : decade % 2 === 0 ? logUniform(rng, 1000, 4000) : logUniform(rng, 24, 200);
    const cy = rng.uniform(-0.95, 0.95);
    const target = targetValue(cy, margin, margin.m2, margin.m3);
    const g = (logExpm1(L) - Math.log(C - 1)) / S;
    const base = target.psi + g;
    const jitter = Math.min(0.02, 0.5 / S);
    const cosines = Array.from({ length: C }, (_, j) => (j === y ? cy : base + rng.uniform(-jitter, jitter)));
    if (cosines.some((c) => !(Math.abs(c) <= 0.97))) continue;

    const q = orthonormalBasis(rng, D);
    const along = (v: number[]) => Array.from({ length: D }, (_, d) => v.reduce((s, coef, k) => s + coef * q[k * D + d], 0));
    const xNorm = logUniform(rng, 1e-3, 1e3);
    // product-norm: one norm for every center, so the placed cosines keep their order of logits.
    const sharedNorm = logUniform(rng, 0.05, 20);
    const wNorms = Array.from({ length: C }, () => (mode === 'product-norm' ? sharedNorm : logUniform(rng, 1e-3, 1e3)));
    const embeddings = Float32Array.from(along([xNorm]));
    const weights = new Float32Array(C * D);
    for (let j = 0; j < C; j++) {
      // A random unit direction orthogonal to e₀, in basis coordinates 1..D−1.
      const perp = Array.from({ length: D - 1 }, () => rng.normal());
      const pn = Math.hypot(...perp);
      const sine = Math.sqrt(1 - cosines[j] ** 2);
      const coords = [cosines[j], ...perp.map((v) => (v / pn) * sine)];
      weights.set(along(coords.map((v) => v * wNorms[j])), j * D);
    }
    const scale = mode === 'fixed' ? S : mode === 'feature-norm' ? S / xNorm : S / (xNorm * sharedNorm);
    const c: MarginCase = { N: 1, D, C, K: 1, embeddings, weights, labels: Int32Array.of(y), margin: spec, scale, scaleMode: mode };
    const ref = refMarginSoftmax(c);
    if (ref.ambiguous.length > 0 || !Number.isFinite(ref.loss)) continue;
    const scales = Float64Array.from({ length: C }, (_, j) => scale * (mode === 'fixed' ? 1 : xNorm) * (mode === 'product-norm' ? wNorms[j] : 1));
    const exact = targetValue(ref.cosines[y], margin, margin.m2, margin.m3);
    return { c, ref, scales, psi: exact.psi, slope: exact.dpsi, xNorm, wNorms };
  }
  throw new Error(`no feasible row for loss ${L}`);
}

/** Per-backend rounding unit of the cosines and logits. */
const UNIT: Record<string, number> = { js: 2 ** -52, cpu: 2 ** -24, wasm: 2 ** -24, cuda: 2 ** -24 };

function checkRow(result: ReturnType<typeof marginSoftmax>, built: Built, backend: string, label: string): string[] {
  const { c, ref, scales, psi, slope, xNorm, wNorms } = built;
  const u = UNIT[backend];
  const deltaCosine = (c.D + 8) * u;
  let maxDeltaLogit = 0;
  for (let j = 0; j < c.C; j++) {
    // The scale, ψ and their product each round once: 4u relative on |z_j| ≤ S_j·max(1, |ψ|).
    const z = scales[j] * Math.max(1, Math.abs(psi));
    maxDeltaLogit = Math.max(maxDeltaLogit, scales[j] * Math.max(1, Math.abs(slope)) * deltaCosine + 4 * u * z);
  }
  const failures: string[] = [];
  // float32 per-row outputs round to 2⁻²⁴ relative; the loss is a float64 of that row's double.
  const lossTol = (r: number) => 2 ** -22 * Math.abs(r) + 8 * -Math.expm1(-r) * maxDeltaLogit;
  const expectClose = (name: string, actual: number, expected: number, tol: number) => {
    if (!(Math.abs(actual - expected) <= tol)) failures.push(`${label}: ${name} ${actual}, expected ${expected} (tolerance ${tol})`);
  };
  expectClose('loss', result.loss, ref.loss, lossTol(ref.loss));
  expectClose('losses[0]', result.losses[0], ref.losses[0], lossTol(ref.losses[0]));
  expectClose('logSumExp[0]', result.logSumExp[0], ref.logSumExp[0], 2 ** -22 * Math.abs(ref.logSumExp[0]) + 2 * maxDeltaLogit);
  const choices = ref.predictionChoices[0] ?? [ref.predictions[0]];
  if (!choices.includes(result.predictions[0])) failures.push(`${label}: prediction ${result.predictions[0]}, expected one of ${choices.join('/')}`);
  // Probabilities move by a factor e^{±2·max δz}, so each ∂loss/∂z_j = p_j − y_j by up to
  // (e^{2·max δz} − 1)·p_j.  The gradients are sums of those terms times unit vectors (and z_j for
  // the norm-based scales), which may cancel (centers almost parallel), so the bound is absolute:
  // that factor times the sum of the terms' magnitudes, plus float32's own ~D·2⁻²⁴ relative.
  const y = c.labels[0];
  const drift = 8 * Math.expm1(2 * maxDeltaLogit);
  let rowTerms = 0;
  const centerTerms = new Float64Array(c.C);
  for (let j = 0; j < c.C; j++) {
    const v = j === y ? psi : ref.cosines[j];
    const z = scales[j] * v;
    const p = Math.exp(z - ref.logSumExp[0]);
    const dz = p + (j === y ? 1 : 0); // |p_j − y_j| ≤ p_j + y_j
    const terms = dz * (scales[j] * (j === y ? Math.max(1, Math.abs(slope)) : 1) + (c.scaleMode === 'fixed' ? 0 : Math.abs(z)));
    rowTerms += terms;
    centerTerms[j] = terms / wNorms[j];
  }
  const relative = (c.D + 8) * 2 ** -22;
  failures.push(...checkGradientBound(result.gradEmbeddings, ref.gradEmbeddings, relative, drift * (rowTerms / xNorm), `${label} gradEmbeddings`));
  const centerBound = drift * Math.hypot(...centerTerms);
  failures.push(...checkGradientBound(gradWeightsRows(result, c), ref.gradWeights, relative, centerBound, `${label} gradWeights`));
  return failures;
}

/** ‖a − r‖ ≤ relative·‖r‖ + absolute, every entry finite. */
function checkGradientBound(actual: ArrayLike<number> | undefined, ref: ArrayLike<number>, relative: number, absolute: number, label: string): string[] {
  if (!actual || actual.length !== ref.length) return [`${label}: length ${actual?.length}, expected ${ref.length}`];
  let diff2 = 0;
  let ref2 = 0;
  for (let k = 0; k < ref.length; k++) {
    if (!Number.isFinite(actual[k])) return [`${label}[${k}] = ${actual[k]}, expected ${ref[k]}`];
    diff2 += (actual[k] - ref[k]) ** 2;
    ref2 += ref[k] ** 2;
  }
  const bound = relative * Math.sqrt(ref2) + absolute;
  return Math.sqrt(diff2) <= bound ? [] : [`${label}: error ${Math.sqrt(diff2)} over ${bound} (reference norm ${Math.sqrt(ref2)})`];
}

describe.each(backendCases())('per-row losses 1e-8 … 1e5 on backend $name', ({ name, available }) => {
  describe.each(MARGINS)('%s', (marginName, spec) => {
    it.skipIf(!available).each(MODES)('scaleMode %s: loss, per-row outputs and gradients against float64', (mode) => {
      const rng = new Rng(seed ^ (MARGINS.findIndex(([n]) => n === marginName) * 977 + MODES.indexOf(mode) * 131));
      const failures: string[] = [];
      const reached: number[] = [];
      for (const L of LOSSES) {
        const built = buildRow(rng, L, spec, mode);
        reached.push(built.ref.losses[0]);
        const result = marginSoftmax(marginArgs(built.c, name));
        failures.push(...checkRow(result, built, name, `L ≈ ${L.toExponential(0)} (ref ${built.ref.losses[0].toExponential(3)}, D ${built.c.D}, C ${built.c.C}, s ${built.c.scale!.toPrecision(4)})`));
      }
      // The sweep really spans the range it claims.
      expect(Math.min(...reached)).toBeLessThan(1e-7);
      expect(Math.max(...reached)).toBeGreaterThan(3e4);
      expect(failures).toEqual([]);
    });
  });
});

describe.each(backendCases())('the issue’s examples on backend $name', ({ name, available }) => {
  it.skipIf(!available)('embedding [1, 0], weights [[1, 0], [−1, 0]], label 1, no margin, scale 360: loss 720', () => {
    const r = marginSoftmax({
      embeddings: { data: Float32Array.of(1, 0), shape: [1, 2] },
      weights: { data: Float32Array.of(1, 0, -1, 0), shape: [2, 2] },
      labels: Int32Array.of(1), margin: { type: 'none' }, scale: 360, backend: name,
    });
    // LSE − z_y = 360 − (−360) + log(1 + e^−720) = 720 exactly in double.
    expect(r.loss).toBe(720);
    expect(Array.from(r.losses)).toEqual([720]);
    // ∂/∂z = p − onehot = (1, −1); through the normalization (the unit vectors are ±e₀) nothing is left.
    expect(Array.from(r.gradEmbeddings, Math.abs)).toEqual([0, 0]);
  });

  it.skipIf(!available)('SphereFace m 4, feature-norm, features of norm 500: loss 4000', () => {
    // x = 500·e₀ against its class at θ = π: ψ = (−1)^3·cos(4π) − 6 = −7; the other class at θ = 0.
    const r = marginSoftmax({
      embeddings: { data: Float32Array.of(500, 0), shape: [1, 2] },
      weights: { data: Float32Array.of(1, 0, -1, 0), shape: [2, 2] },
      labels: Int32Array.of(1), margin: { type: 'sphereface', m: 4 }, scale: 1, scaleMode: 'feature-norm', backend: name,
    });
    expect(r.loss).toBe(4000);
  });
});

// Row weights up to float32's max.  The backward's per-row coefficients w_i/count live in float32
// and are multiplied by the scale and summed in the GEMMs, so a weight of 3.4e38 overflowed there
// and Inf − Inf made the row's gradEmbeddings NaN on cpu, while js (double) was finite.  Checked
// against the float64 reference with the spec's gradient tolerance (‖g − r‖ ≤ 1e-4·‖r‖) applied to
// each huge row on its own (plus float32's rounding of the row's terms, 1e-5 of their magnitude
// |coef|·S·(1 + S)/‖x‖: a confident row's gradient is a small difference of them), to the other
// rows together, and to gradWeights; an entry beyond float32's range must be ±Inf (within 3 % of
// the boundary it may round either way).
describe.each(backendCases())('rowWeights up to float32’s max on backend $name', ({ name, available }) => {
  const FLOAT32_MAX = 3.4028234663852886e38;
  const HUGE = [3.4e38, 1e38, 2 ** 40, 1e20];

  /** The entries `indices` of a gradient as one vector against the reference. */
  function checkEntries(actual: ArrayLike<number> | undefined, ref: Float64Array, indices: number[], label: string, termScale = 0): string[] {
    if (!actual || actual.length !== ref.length) return [`${label}: length ${actual?.length}, expected ${ref.length}`];
    const failures: string[] = [];
    let diff2 = 0;
    let ref2 = 0;
    for (const k of indices) {
      const r = ref[k];
      const a = actual[k];
      if (Math.abs(r) > 1.03 * FLOAT32_MAX) {
        if (a !== Math.sign(r) * Infinity) failures.push(`${label}[${k}] = ${a}, expected ${Math.sign(r) * Infinity} (reference ${r})`);
      } else if (Math.abs(r) < 0.97 * FLOAT32_MAX) {
        if (!Number.isFinite(a)) failures.push(`${label}[${k}] = ${a}, expected ${r}`);
        else diff2 += (a - r) ** 2, ref2 += r ** 2;
      }
    }
    const bound = 1e-4 * Math.sqrt(ref2) + 1e-5 * termScale;
    if (!(Math.sqrt(diff2) <= bound)) failures.push(`${label}: error ${Math.sqrt(diff2)} over ${bound}, reference norm ${Math.sqrt(ref2)}`);
    return failures.slice(0, 8);
  }

  it.skipIf(!available).each(MODES)('scaleMode %s, mean and sum: gradients against float64', (mode) => {
    const rng = new Rng(seed ^ (0x5eed + MODES.indexOf(mode)));
    const failures: string[] = [];
    let finiteHuge = 0;
    for (const reduction of ['mean', 'sum'] as const) {
      for (const huge of HUGE) {
        const opts: Partial<MarginCase> = { margin: { type: 'arcface', m: 0.5 }, scale: mode === 'fixed' ? 16 : 4, scaleMode: mode, reduction, columns: huge === 1e38 };
        const { c } = makeCase(rng, { name: 'huge rowWeights', N: 6, D: reduction === 'mean' ? 5 : 16, C: 7, opts, rowWeights: true, gradients: true });
        // Row 0 is drawn hard (makeCase), so its gradient is far from 0 and the huge weight shows.
        const hugeRows = [0];
        if (rng.next() < 0.5) hugeRows.push(1 + rng.int(c.N - 1));
        for (const i of hugeRows) c.rowWeights![i] = Math.fround(huge * rng.uniform(0.5, 1));
        const ref = refMarginSoftmax(c);
        const result = marginSoftmax(marginArgs(c, name, { gradients: true }));
        const label = `${reduction}, weight ${huge.toExponential(1)} in rows ${hugeRows.join(',')}`;
        if (!(Math.abs(result.loss - ref.loss) <= 1e-5 * Math.abs(ref.loss))) failures.push(`${label}: loss ${result.loss}, expected ${ref.loss}`);
        const rowEntries = (rows: number[]) => rows.flatMap((i) => Array.from({ length: c.D }, (_, d) => i * c.D + d));
        const norm = (data: Float32Array, row: number) => Math.hypot(...data.subarray(row * c.D, (row + 1) * c.D));
        const maxCenterNorm = Math.max(...Array.from({ length: c.C * c.K }, (_, j) => norm(c.weights, j)));
        const termScale = (i: number) => {
          const xNorm = norm(c.embeddings, i);
          const S = opts.scale! * (mode === 'fixed' ? 1 : xNorm) * (mode === 'product-norm' ? maxCenterNorm : 1);
          return (Math.abs(c.rowWeights![i] / (reduction === 'mean' ? c.N : 1)) * S * (1 + S)) / xNorm;
        };
        for (const i of hugeRows) failures.push(...checkEntries(result.gradEmbeddings, ref.gradEmbeddings, rowEntries([i]), `${label} gradEmbeddings row ${i}`, termScale(i)));
        const others = Array.from({ length: c.N }, (_, i) => i).filter((i) => !hugeRows.includes(i));
        failures.push(...checkEntries(result.gradEmbeddings, ref.gradEmbeddings, rowEntries(others), `${label} gradEmbeddings other rows`, Math.hypot(...others.map(termScale))));
        failures.push(...checkEntries(gradWeightsRows(result, c), ref.gradWeights, Array.from(ref.gradWeights.keys()), `${label} gradWeights`));
        for (const v of ref.gradEmbeddings) if (Math.abs(v) > 1e30 && Math.abs(v) < 0.97 * FLOAT32_MAX) finiteHuge++;
      }
    }
    // The draws reach gradients near float32's max that must stay finite.
    expect(finiteHuge).toBeGreaterThan(0);
    expect(failures).toEqual([]);
  });
});
