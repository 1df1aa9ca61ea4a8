// Per-row margin helpers (lib/row-margins.ts) against float64 re-derivations written here from the
// official code: ElasticFace (fdbtrs/ElasticFace utils/losses.py), AdaFace (mk-minchul/AdaFace
// head.py), MagFace (IrvingMeng/MagFace models/magface.py).  Random inputs are seeded
// (FUSEDLOSS_TEST_SEED reproduces a run); the ElasticFace statistics use fixed seeds.
import { describe, expect, it } from 'vitest';

import { adaFaceMargins, elasticFaceMargins, magFaceMargins, marginSoftmax, targetCosines, type AdaFaceState } from './api';
import { Rng, testSeed } from './helpers';

const SEED = testSeed('row-margins');

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, 'expected a throw').toBeInstanceOf(Error);
  expect((error as { code?: string }).code).toBe(code);
  expect(error).toBeInstanceOf(code === 'ERR_FUSEDLOSS_INVALID_ARG' ? TypeError : RangeError);
  if (message) expect((error as Error).message).toMatch(message);
}

function randomMatrix(rng: Rng, rows: number, dim: number, scale = 1): Float32Array {
  return Float32Array.from({ length: rows * dim }, () => scale * rng.normal());
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (Number.isNaN(expected[i])) expect(actual[i], `[${i}]`).toBeNaN();
    else expect(Math.abs(actual[i] - expected[i]), `[${i}] ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(expected[i])));
  }
}

// ---- ElasticFace ----------------------------------------------------------------------------

/** The documented generator, re-derived: mulberry32 uniforms, Box–Muller cos branch, u1 then u2. */
function referenceNormals(seed: number, count: number): number[] {
  let state = seed >>> 0;
  const uniform = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: count }, () => {
    const u1 = uniform();
    const u2 = uniform();
    return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  });
}

const labelsOf = (n: number) => Int32Array.from({ length: n }, (_, i) => i % 7);

describe('elasticFaceMargins', () => {
  it('draws the documented mulberry32 + Box–Muller stream, reproducibly, and continues it through nextSeed', () => {
    const a = elasticFaceMargins({ labels: labelsOf(50), seed: 1234 });
    const b = elasticFaceMargins({ labels: labelsOf(50), seed: 1234 });
    expect(Array.from(a.margins)).toEqual(Array.from(b.margins));
    expect(a.nextSeed).toBe(b.nextSeed);
    expect(a.rowMargins).toEqual({ angular: a.margins });
    const z = referenceNormals(1234, 100);
    expect(Array.from(a.margins)).toEqual(z.slice(0, 50).map((v) => Math.fround(0.5 + 0.05 * v)));
    const next = elasticFaceMargins({ labels: labelsOf(50), seed: a.nextSeed });
    expect(Array.from(next.margins)).toEqual(z.slice(50).map((v) => Math.fround(0.5 + 0.05 * v)));
    const other = elasticFaceMargins({ labels: labelsOf(50), seed: 1235 });
    expect(Array.from(other.margins)).not.toEqual(Array.from(a.margins));
  });

  it.each([
    ['arc', 0.5, 0.05, 11],
    ['cos', 0.35, 0.05, 12],
    ['arc', 0.2, 0.3, 13],
  ] as const)('%s: mean %f, std %f over 20000 draws (seed %i)', (variant, mean, std, seed) => {
    const n = 20000;
    const custom = mean === 0.2 ? { mean, std } : {};
    const { margins, rowMargins } = elasticFaceMargins({ labels: labelsOf(n), seed, variant, ...custom });
    expect(Object.keys(rowMargins)).toEqual([variant === 'arc' ? 'angular' : 'additive']);
    const m = margins.reduce((s, v) => s + v, 0) / n;
    const sd = Math.sqrt(margins.reduce((s, v) => s + (v - m) ** 2, 0) / (n - 1));
    // 5 standard errors: fails for a wrong mean or std (e.g. variance for std), passes by chance ~always.
    expect(Math.abs(m - mean)).toBeLessThan((5 * std) / Math.sqrt(n));
    expect(Math.abs(sd - std)).toBeLessThan((5 * std) / Math.sqrt(2 * n));
    const withinOneSigma = margins.filter((v) => Math.abs(v - mean) <= std).length / n;
    expect(Math.abs(withinOneSigma - 0.6827)).toBeLessThan(0.02);
  });

  it('gives ignored rows the mean and draws only for the others', () => {
    const labels = Int32Array.from([3, -1, 2, -1, 0]);
    const withIgnored = elasticFaceMargins({ labels, seed: 99 });
    const compact = elasticFaceMargins({ labels: [3, 2, 0], seed: 99 });
    expect(withIgnored.margins[1]).toBe(Math.fround(0.5));
    expect(withIgnored.margins[3]).toBe(Math.fround(0.5));
    expect([withIgnored.margins[0], withIgnored.margins[2], withIgnored.margins[4]]).toEqual(Array.from(compact.margins));
    expect(withIgnored.nextSeed).toBe(compact.nextSeed);
  });

  it('ElasticFace+: the same draws, sorted, assigned smallest margin to the highest target cosine', () => {
    const rng = new Rng(SEED);
    const n = 64;
    const labels = Int32Array.from({ length: n }, (_, i) => (i % 9 === 4 ? -1 : i % 5));
    const cosines = Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
    cosines[10] = cosines[20]; // a tie: the lower row comes first
    const plain = elasticFaceMargins({ labels, seed: 7, std: 0.0175 });
    const plus = elasticFaceMargins({ labels, seed: 7, targetCosines: cosines });
    expect(plus.nextSeed).toBe(plain.nextSeed);
    const active = Array.from({ length: n }, (_, i) => i).filter((i) => labels[i] !== -1);
    const sortedPlain = active.map((i) => plain.margins[i]).sort((a, b) => a - b);
    const byCosine = [...active].sort((a, b) => cosines[b] - cosines[a] || a - b);
    expect(byCosine.map((i) => plus.margins[i])).toEqual(sortedPlain);
    for (let i = 0; i < n; i++) if (labels[i] === -1) expect(plus.margins[i]).toBe(Math.fround(0.5));
    expect(plus.margins[10]).toBeLessThanOrEqual(plus.margins[20]);
    const cos = elasticFaceMargins({ labels, seed: 7, targetCosines: cosines, variant: 'cos' });
    const cosPlain = elasticFaceMargins({ labels, seed: 7, variant: 'cos', std: 0.02 });
    expect(active.map((i) => cos.margins[i]).sort((a, b) => a - b)).toEqual(active.map((i) => cosPlain.margins[i]).sort((a, b) => a - b));
  });

  it('ElasticFace+: a NaN target cosine gives that row a NaN margin', () => {
    const plus = elasticFaceMargins({ labels: [0, 1, 2], seed: 5, targetCosines: [0.2, NaN, 0.9] });
    expect(plus.margins[1]).toBeNaN();
    expect(plus.margins[2]).toBeLessThanOrEqual(plus.margins[0]);
  });
});

// ---- targetCosines --------------------------------------------------------------------------

describe('targetCosines', () => {
  it('matches a float64 reference in both layouts, with sub-centers and ignored rows', () => {
    const rng = new Rng(SEED + 1);
    const [n, d, c, k] = [9, 6, 4, 3];
    const x = randomMatrix(rng, n, d, 3);
    const w = randomMatrix(rng, c * k, d);
    const labels = Int32Array.from({ length: n }, (_, i) => (i === 4 ? -1 : rng.int(c)));
    const expected = Array.from({ length: n }, (_, i) => {
      if (labels[i] === -1) return NaN;
      let best = -Infinity;
      for (let s = 0; s < k; s++) {
        const row = labels[i] * k + s;
        let dot = 0, xx = 0, ww = 0;
        for (let j = 0; j < d; j++) {
          dot += x[i * d + j] * w[row * d + j];
          xx += x[i * d + j] ** 2;
          ww += w[row * d + j] ** 2;
        }
        best = Math.max(best, dot / Math.sqrt(xx * ww));
      }
      return best;
    });
    const rows = targetCosines({ embeddings: { data: x, shape: [n, d] }, weights: { data: w, shape: [c * k, d] }, labels, subCenters: k });
    expectClose(rows, expected, 1e-6);
    const wt = Float32Array.from({ length: c * k * d }, (_, idx) => w[(idx % (c * k)) * d + Math.floor(idx / (c * k))]);
    const cols = targetCosines({ embeddings: { data: x, shape: [n, d] }, weights: { data: wt, shape: [d, c * k] }, weightsLayout: 'columns', labels, subCenters: k });
    expect(Array.from(cols)).toEqual(Array.from(rows));
  });
});

// ---- AdaFace --------------------------------------------------------------------------------

/** head.py, re-derived in float64: clip norms, EMA-update the statistics, then scale with the updated ones. */
function referenceAdaFace(norms: number[], state: AdaFaceState, m = 0.4, h = 0.333, alpha = 0.01, eps = 1e-3) {
  const safe = norms.map((v) => Math.min(Math.max(v, 0.001), 100));
  const mean = safe.reduce((s, v) => s + v, 0) / safe.length;
  const std = Math.sqrt(safe.reduce((s, v) => s + (v - mean) ** 2, 0) / (safe.length - 1)); // torch.std: unbiased
  const next = { mean: mean * alpha + (1 - alpha) * state.mean, std: std * alpha + (1 - alpha) * state.std };
  const scaler = safe.map((v) => Math.min(Math.max(((v - next.mean) / (next.std + eps)) * h, -1), 1));
  return { next, batch: { mean, std }, scaler, angular: scaler.map((g) => -m * g), additive: scaler.map((g) => m + m * g) };
}

describe('adaFaceMargins', () => {
  it('matches a hand-computed batch', () => {
    const r = adaFaceMargins({ norms: [10, 30] });
    expect(r.batch.mean).toBeCloseTo(20, 12);
    expect(r.batch.std).toBeCloseTo(Math.SQRT2 * 10, 12);
    expect(r.state.mean).toBeCloseTo(20, 12);
    expect(r.state.std).toBeCloseTo(0.01 * Math.SQRT2 * 10 + 0.99 * 100, 12);
    const g = (0.333 * -10) / (r.state.std + 1e-3);
    expect(r.marginScaler[0]).toBeCloseTo(g, 6);
    expect(r.angular[0]).toBeCloseTo(-0.4 * g, 6);
    expect(r.additive[1]).toBeCloseTo(0.4 - 0.4 * g, 6);
  });

  it('matches the float64 re-derivation over two chained calls (state in, state out)', () => {
    const rng = new Rng(SEED + 2);
    const [n, d] = [33, 8];
    const options = { m: 0.5, h: 0.5, momentum: 0.3 };
    // Norms from ~0 to ~160, so both clip bounds of the norms and of the scaler are reached.
    const batches = [0, 1].map(() => Float32Array.from({ length: n * d }, () => rng.normal() * rng.uniform(0, 55)));
    batches[0].fill(0, 0, d); // a zero row: its norm clips to 0.001
    let state: AdaFaceState = { mean: 20, std: 10 }; // a small σ, so the scaler reaches its ±1 clip
    let stateRef: AdaFaceState = state;
    for (const data of batches) {
      const norms = Array.from({ length: n }, (_, i) => Math.hypot(...data.subarray(i * d, (i + 1) * d)));
      const ref = referenceAdaFace(norms, stateRef, options.m, options.h, options.momentum);
      const got = adaFaceMargins({ embeddings: { data, shape: [n, d] }, state, ...options });
      expectClose(got.marginScaler, ref.scaler, 1e-6);
      expectClose(got.angular, ref.angular, 1e-6);
      expectClose(got.additive, ref.additive, 1e-6);
      expect(got.rowMargins).toEqual({ angular: got.angular, additive: got.additive });
      expect(Math.abs(got.state.mean - ref.next.mean)).toBeLessThan(1e-9 * ref.next.mean);
      expect(Math.abs(got.state.std - ref.next.std)).toBeLessThan(1e-9 * ref.next.std);
      expect(Math.abs(got.batch.std - ref.batch.std)).toBeLessThan(1e-9 * ref.batch.std);
      expect(got.marginScaler.some((g) => g === 1 || g === -1)).toBe(true);
      const fromNorms = adaFaceMargins({ norms, state, ...options });
      expectClose(fromNorms.angular, got.angular, 1e-6);
      state = got.state;
      stateRef = ref.next;
    }
  });
});

describe('ignored rows (label −1) in the batch statistics', () => {
  /** A batch with rows marked ignored holding NaN, ±Inf and a huge norm, and the same batch without them. */
  function batchWithIgnored(rng: Rng, n: number, d: number) {
    const labels = Int32Array.from({ length: n }, (_, i) => (i % 3 === 1 ? -1 : i));
    const data = Float32Array.from({ length: n * d }, () => rng.normal() * rng.uniform(1, 60));
    const poison = [NaN, Infinity, -Infinity, 3e38];
    labels.forEach((l, i) => l === -1 && (data[i * d + rng.int(d)] = poison[i % poison.length]));
    const kept = Array.from(labels.keys()).filter((i) => labels[i] !== -1);
    const keptData = Float32Array.from(kept.flatMap((i) => Array.from(data.subarray(i * d, (i + 1) * d))));
    return { labels, data, kept, keptData };
  }

  it('adaFaceMargins: the statistics and the counted rows’ margins are those of the counted rows alone', () => {
    const rng = new Rng(SEED + 7);
    const [n, d] = [11, 6];
    const { labels, data, kept, keptData } = batchWithIgnored(rng, n, d);
    const got = adaFaceMargins({ embeddings: { data, shape: [n, d] }, labels, state: { mean: 30, std: 20 } });
    const alone = adaFaceMargins({ embeddings: { data: keptData, shape: [kept.length, d] }, state: { mean: 30, std: 20 } });
    expect(got.state).toEqual(alone.state);
    expect(got.batch).toEqual(alone.batch);
    expect(kept.map((i) => got.angular[i])).toEqual(Array.from(alone.angular));
    expect(kept.map((i) => got.additive[i])).toEqual(Array.from(alone.additive));
    // Without labels the NaN row poisons every row's margins: what labels are for.
    expect(Number.isNaN(adaFaceMargins({ embeddings: { data, shape: [n, d] } }).state.mean)).toBe(true);
  });

  it('magFaceMargins: lossG over the counted rows, zero gradient rows for the ignored ones', () => {
    const rng = new Rng(SEED + 8);
    const [n, d] = [10, 4];
    const { labels, data, kept, keptData } = batchWithIgnored(rng, n, d);
    const got = magFaceMargins({ embeddings: { data, shape: [n, d] }, labels });
    const alone = magFaceMargins({ embeddings: { data: keptData, shape: [kept.length, d] } });
    expect(got.lossG).toBe(alone.lossG);
    expect(got.regularizer).toBe(alone.regularizer);
    kept.forEach((i, k) => {
      expect(got.angular[i]).toBe(alone.angular[k]);
      expect(Array.from(got.gradEmbeddings!.subarray(i * d, (i + 1) * d))).toEqual(Array.from(alone.gradEmbeddings!.subarray(k * d, (k + 1) * d)));
    });
    labels.forEach((l, i) => l === -1 && expect(Array.from(got.gradEmbeddings!.subarray(i * d, (i + 1) * d))).toEqual(new Array(d).fill(0)));
    // Every row ignored: nothing to average, lossG 0 (marginSoftmax's mean loss is 0 too).
    expect(magFaceMargins({ embeddings: { data, shape: [n, d] }, labels: new Int32Array(n).fill(-1) }).lossG).toBe(0);
  });

  it('labels of the wrong length or below −1 are refused', () => {
    const x = { data: new Float32Array(12).fill(1), shape: [4, 3] };
    expectCode(() => adaFaceMargins({ embeddings: x, labels: [0, 1, 2] }), 'ERR_FUSEDLOSS_SHAPE', /labels/);
    expectCode(() => magFaceMargins({ embeddings: x, labels: [0, -2, 1, 1] }), 'ERR_FUSEDLOSS_LABEL', /labels\[1\]/);
    expectCode(() => adaFaceMargins({ embeddings: x, labels: [0, -1, -1, -1] }), 'ERR_FUSEDLOSS_SHAPE', /2 counted rows/);
  });
});

// ---- MagFace --------------------------------------------------------------------------------

const MAG = { la: 10, ua: 110, lm: 0.45, um: 0.8, lambda: 35 };

/** magface.py, re-derived in float64: λ_g·mean g(clamp(‖x‖)) and the margins of the clamped norms. */
function referenceMagFace(x: ArrayLike<number>, n: number, d: number) {
  const norms = Array.from({ length: n }, (_, i) => Math.hypot(...Array.from({ length: d }, (_, k) => x[i * d + k])));
  const a = norms.map((v) => Math.min(Math.max(v, MAG.la), MAG.ua));
  const margins = a.map((v) => ((MAG.um - MAG.lm) / (MAG.ua - MAG.la)) * (v - MAG.la) + MAG.lm);
  const g = a.reduce((s, v) => s + v / MAG.ua ** 2 + 1 / v, 0) / n;
  return { norms, margins, regularizer: MAG.lambda * g };
}

describe('magFaceMargins', () => {
  it('margins, regularizer and gradient match float64 and central finite differences', () => {
    const rng = new Rng(SEED + 3);
    const [n, d] = [12, 5];
    const x = Float32Array.from({ length: n * d }, () => rng.normal());
    // Target norms from 2 to 150: rows below l_a, inside, above u_a.
    for (let i = 0; i < n; i++) {
      const target = i === 0 ? 5 : i === 1 ? 140 : rng.uniform(12, 105);
      const norm = Math.hypot(...x.subarray(i * d, (i + 1) * d));
      for (let k = 0; k < d; k++) x[i * d + k] = Math.fround((x[i * d + k] * target) / norm);
    }
    const got = magFaceMargins({ embeddings: { data: x, shape: [n, d] } });
    const ref = referenceMagFace(x, n, d);
    expectClose(got.angular, ref.margins, 1e-6);
    expect(got.angular[0]).toBe(Math.fround(0.45));
    expect(got.angular[1]).toBe(Math.fround(0.8));
    expect(Math.abs(got.regularizer - ref.regularizer)).toBeLessThan(1e-6 * ref.regularizer);
    expect(got.lossG * 35).toBeCloseTo(got.regularizer, 12);
    const x64 = Float64Array.from(x);
    const step = 1e-4;
    const fd = x64.map((_, idx) => {
      const plus = Float64Array.from(x64), minus = Float64Array.from(x64);
      plus[idx] += step;
      minus[idx] -= step;
      return (referenceMagFace(plus, n, d).regularizer - referenceMagFace(minus, n, d).regularizer) / (2 * step);
    });
    const grad = got.gradEmbeddings!;
    expect(Array.from(grad.subarray(0, 2 * d)).every((v) => v === 0)).toBe(true); // clamped rows
    let diff = 0, norm = 0;
    for (let i = 0; i < fd.length; i++) {
      diff += (grad[i] - fd[i]) ** 2;
      norm += fd[i] ** 2;
    }
    expect(Math.sqrt(diff / norm)).toBeLessThan(1e-4);
  });

  it("reduction 'sum' scales by N; gradients: false omits the gradient", () => {
    const x = { data: Float32Array.from([30, 0, 0, 40, 50, 60]), shape: [2, 3] };
    const mean = magFaceMargins({ embeddings: x, lambdaG: 2 });
    const sum = magFaceMargins({ embeddings: x, lambdaG: 2, reduction: 'sum', gradients: false });
    expect(sum.regularizer).toBeCloseTo(2 * mean.regularizer, 10);
    expect(sum.gradEmbeddings).toBeUndefined();
    expect(mean.gradEmbeddings![0]).toBeCloseTo((2 / 2) * (1 / 110 ** 2 - 1 / 900), 7);
  });
});

// ---- Errors ---------------------------------------------------------------------------------

describe('invalid inputs', () => {
  const INVALID = 'ERR_FUSEDLOSS_INVALID_ARG', SHAPE = 'ERR_FUSEDLOSS_SHAPE', OPTION = 'ERR_FUSEDLOSS_OPTION', LABEL = 'ERR_FUSEDLOSS_LABEL';
  const x = { data: new Float32Array(12).fill(1), shape: [4, 3] };
  const call = <T>(fn: (a: T) => unknown, a: unknown) => () => fn(a as T);

  it('elasticFaceMargins', () => {
    expectCode(call(elasticFaceMargins, { labels: [0, 1] }), INVALID, /seed/);
    expectCode(call(elasticFaceMargins, { seed: 1 }), INVALID, /labels/);
    expectCode(call(elasticFaceMargins, { labels: [0], seed: '1' }), INVALID, /seed/);
    for (const seed of [-1, 1.5, 2 ** 32]) expectCode(call(elasticFaceMargins, { labels: [0], seed }), OPTION, /seed/);
    expectCode(call(elasticFaceMargins, { labels: [0], seed: 1, sigma: 0.1 }), INVALID, /sigma/);
    expectCode(call(elasticFaceMargins, { labels: [0], seed: 1, std: -0.1 }), OPTION, /std/);
    expectCode(call(elasticFaceMargins, { labels: [0], seed: 1, mean: NaN }), OPTION, /mean/);
    expectCode(call(elasticFaceMargins, { labels: [0], seed: 1, variant: 'sphere' }), OPTION, /variant/);
    expectCode(call(elasticFaceMargins, { labels: [0], seed: 1, mean: 28.6 }), OPTION, /mean = 28.6 .*radians/); // degrees
    expect(elasticFaceMargins({ labels: [0], seed: 1, variant: 'cos', mean: 28.6 }).margins[0]).toBeGreaterThan(20); // cosine units: no angle rule
    expectCode(call(elasticFaceMargins, { labels: [0, 1], seed: 1, targetCosines: [0.5] }), SHAPE, /targetCosines/);
    expectCode(call(elasticFaceMargins, { labels: [0, -2], seed: 1 }), LABEL, /labels\[1\]/);
    expectCode(call(elasticFaceMargins, { labels: [0.5], seed: 1 }), INVALID, /labels/);
    expectCode(call(elasticFaceMargins, null), INVALID);
  });

  it('adaFaceMargins', () => {
    expectCode(call(adaFaceMargins, {}), INVALID, /embeddings or norms/);
    expectCode(call(adaFaceMargins, { embeddings: x, norms: [1, 2, 3, 4] }), OPTION, /not both/);
    expectCode(call(adaFaceMargins, { embeddings: { data: new Float32Array(4), shape: [4] } }), SHAPE, /embeddings/);
    expectCode(call(adaFaceMargins, { norms: [3] }), SHAPE, /at least 2/);
    expectCode(call(adaFaceMargins, { norms: [1, 2], state: { mean: 1 } }), INVALID, /std/);
    expectCode(call(adaFaceMargins, { norms: [1, 2], state: { mean: 1, std: 2, t: 0 } }), INVALID, /'t'/);
    expectCode(call(adaFaceMargins, { norms: [1, 2], state: { mean: 1, std: -2 } }), OPTION, /state\.std/);
    expectCode(call(adaFaceMargins, { norms: [1, 2], momentum: 1.5 }), OPTION, /momentum/);
    expectCode(call(adaFaceMargins, { norms: [1, 2], h: 0 }), OPTION, /\bh\b/);
    expectCode(call(adaFaceMargins, { norms: [1, 2], m: 22.9 }), OPTION, /m = 22.9 .*radians/);
    expectCode(call(adaFaceMargins, { norms: [1, 2], t_alpha: 0.1 }), INVALID, /t_alpha/);
    expectCode(call(adaFaceMargins, { norms: new Int32Array(2) }), INVALID, /norms/);
  });

  it('magFaceMargins and targetCosines', () => {
    expectCode(call(magFaceMargins, {}), INVALID, /embeddings/);
    expectCode(call(magFaceMargins, { embeddings: x, lowerNorm: 50, upperNorm: 40 }), OPTION, /upperNorm/);
    expectCode(call(magFaceMargins, { embeddings: x, lowerNorm: 0 }), OPTION, /lowerNorm/);
    expectCode(call(magFaceMargins, { embeddings: x, lambdaG: -1 }), OPTION, /lambdaG/);
    expectCode(call(magFaceMargins, { embeddings: x, reduction: 'none' }), OPTION, /reduction/);
    expectCode(call(magFaceMargins, { embeddings: x, gradients: 1 }), INVALID, /gradients/);
    expectCode(call(magFaceMargins, { embeddings: x, l_a: 1 }), INVALID, /l_a/);
    expectCode(call(magFaceMargins, { embeddings: x, upperMargin: 45.8 }), OPTION, /upperMargin = 45.8 .*radians/);
    expectCode(call(magFaceMargins, { embeddings: x, lowerMargin: -4 }), OPTION, /lowerMargin/);
    const w = { data: new Float32Array(6).fill(1), shape: [2, 3] };
    expectCode(call(targetCosines, { embeddings: x, weights: w, labels: [0, 1, 2, 0] }), LABEL, /labels\[2\]/);
    expectCode(call(targetCosines, { embeddings: x, weights: w, labels: [0, 1] }), SHAPE, /labels/);
    expectCode(call(targetCosines, { embeddings: x, weights: { data: new Float32Array(8), shape: [2, 4] }, labels: [0, 0, 0, 0] }), SHAPE, /weights/);
    expectCode(call(targetCosines, { embeddings: x, weights: { data: new Float32Array(6), shape: [3, 2] }, labels: [0, 0, 0, 0] }), SHAPE, /weightsLayout: 'columns'/);
    expectCode(call(targetCosines, { embeddings: x, weights: w, labels: [0, 0, 0, 0], subCenters: 4 }), SHAPE, /subCenters/);
    expectCode(call(targetCosines, { embeddings: x, weights: w, labels: [0, 0, 0, 0], weightsLayout: 'cols' }), OPTION, /weightsLayout/);
  });
});

// ---- End to end: the helpers' vectors as marginSoftmax rowMargins ------------------------------

/**
 * Mean cross-entropy in float64 with ψ on the target: cos(θ + m2_i) − m3_i, or past π (θ + m2_i > π)
 * the references' linear continuation cos θ − m2_i·sin m2_i − m3_i (random rows reach it: MagFace
 * margins up to 0.8 rad; seed 1009940273 did).
 */
function referenceLoss(x: Float32Array, w: Float32Array, labels: Int32Array, d: number, s: number, angular: ArrayLike<number> | null, additive: ArrayLike<number> | null): number {
  const n = labels.length, c = w.length / d;
  const unit = (v: Float32Array, r: number) => {
    const row = Array.from(v.subarray(r * d, (r + 1) * d));
    const norm = Math.hypot(...row);
    return row.map((e) => e / norm);
  };
  let total = 0;
  for (let i = 0; i < n; i++) {
    const xi = unit(x, i);
    const z = Array.from({ length: c }, (_, j) => unit(w, j).reduce((acc, e, k) => acc + e * xi[k], 0));
    const theta = Math.acos(z[labels[i]]);
    const m2 = angular ? angular[i] : 0;
    const m3 = additive ? additive[i] : 0;
    z[labels[i]] = theta + m2 <= Math.PI ? Math.cos(theta + m2) - m3 : z[labels[i]] - m2 * Math.sin(m2) - m3;
    const logits = z.map((v) => s * v);
    const max = Math.max(...logits);
    total += max + Math.log(logits.reduce((acc, v) => acc + Math.exp(v - max), 0)) - logits[labels[i]];
  }
  return total / n;
}

describe('end to end with marginSoftmax (js backend)', () => {
  const rng = new Rng(SEED + 4);
  const [n, d, c] = [16, 12, 10];
  const x = randomMatrix(rng, n, d, 4);
  const w = randomMatrix(rng, c, d);
  const labels = Int32Array.from({ length: n }, () => rng.int(c));
  const base = { embeddings: { data: x, shape: [n, d] }, weights: { data: w, shape: [c, d] }, labels, scale: 16, backend: 'js' as const };
  const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

  it('AdaFace: arcface with rowMargins { angular, additive }', () => {
    const ada = adaFaceMargins({ embeddings: base.embeddings, state: { mean: 12, std: 3 } });
    const result = marginSoftmax({ ...base, margin: { type: 'arcface' }, rowMargins: ada.rowMargins });
    expect(relative(result.loss, referenceLoss(x, w, labels, d, 16, ada.angular, ada.additive))).toBeLessThan(1e-5);
  });

  it('ElasticFace-Cos: cosface with rowMargins.additive; ElasticFace-Arc+: arcface with rowMargins.angular', () => {
    const cos = elasticFaceMargins({ labels, seed: SEED, variant: 'cos' });
    const cosResult = marginSoftmax({ ...base, margin: { type: 'cosface' }, rowMargins: cos.rowMargins });
    expect(relative(cosResult.loss, referenceLoss(x, w, labels, d, 16, null, cos.margins))).toBeLessThan(1e-5);
    const cosines = targetCosines({ embeddings: base.embeddings, weights: base.weights, labels });
    const arc = elasticFaceMargins({ labels, seed: cos.nextSeed, targetCosines: cosines });
    const arcResult = marginSoftmax({ ...base, margin: { type: 'arcface' }, rowMargins: arc.rowMargins });
    expect(relative(arcResult.loss, referenceLoss(x, w, labels, d, 16, arc.margins, null))).toBeLessThan(1e-5);
  });

  it('MagFace: arcface with rowMargins.angular, plus the regularizer gradient', () => {
    const mag = magFaceMargins({ embeddings: base.embeddings, lowerNorm: 1, upperNorm: 30 });
    const result = marginSoftmax({ ...base, margin: { type: 'arcface' }, rowMargins: mag.rowMargins });
    expect(relative(result.loss, referenceLoss(x, w, labels, d, 16, mag.angular, null))).toBeLessThan(1e-5);
    const total = result.gradEmbeddings.map((g, i) => g + mag.gradEmbeddings![i]);
    expect(total.length).toBe(n * d);
  });
});
