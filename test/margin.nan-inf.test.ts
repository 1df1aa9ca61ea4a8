// The NaN/Inf contract of marginSoftmax(), one test per row of its table, on every backend (cuda
// skips without a device).  Each row changes one thing in a fresh random case and states every
// output: what becomes NaN, and that everything else equals the float64 reference of the same
// case without the change (the rows and classes the change cannot reach).
//
//   input                                              → outputs
//   NaN / ±Inf in an embedding of a counted row i      → loss NaN; losses[i], logSumExp[i], gradEmbeddings row i,
//                                                        every gradWeights entry NaN; predictions[i] = the first
//                                                        computed class; other rows as without it
//   NaN / ±Inf / a scale past float32 in an ignored    → nothing changes but its own logSumExp[i] (NaN) and
//   row (label −1), or in its rowWeights/rowMargins       predictions[i]; losses[i] = 0, gradEmbeddings row i = 0
//   NaN / ±Inf in a computed center (any sub-center)   → loss, every losses/logSumExp/gradient entry NaN;
//                                                        predictions: that class never wins
//   NaN / ±Inf in a center outside classIndices        → nothing changes
//   NaN / ±Inf in rowWeights[i] (counted row)          → loss, gradEmbeddings row i, all gradWeights NaN;
//                                                        losses, logSumExp, predictions and other rows unchanged
//   NaN in rowMargins.angular[i]; NaN / ±Inf in        → losses[i], logSumExp[i], loss, gradEmbeddings row i,
//   rowMargins.additive[i] (counted row)                 all gradWeights NaN; other rows unchanged
//   a logit past float32's range (s·(c − m3) with a     → that row as a NaN row (logits are float32 on
//   huge m3, s·ψ with a huge scale)                       every backend)
//   logit scale s·‖x_i‖ (·‖w_j‖) past float32's range  → row i as a NaN row (above); with ‖w_j‖ every row
//   CurricularFace with a NaN counted row              → curricularT NaN; rows with a negative harder than
//                                                        their target NaN, the others unchanged
//   finite entries of any float32 magnitude            → the float64 reference (tested in the last block)
import { describe, expect, it } from 'vitest';

import { marginSoftmax } from './api';
import { backendCases, checkGradientNorm, Rng, testSeed } from './helpers';
import {
  makeCase,
  marginArgs,
  refMarginSoftmax,
  resolveMargin,
  targetValue,
  type MarginCase,
  type MarginRef,
  type Spec,
} from './margin-reference';
import {
  checkMargin,
  gradWeightsRows,
  GRAD_TOL,
} from './margin-checks';

const seed = testSeed('margin.nan-inf');
const BAD_VALUES = [NaN, Infinity, -Infinity];

/** The option sets every row runs under (curricular only where the bad row cannot reach t). */
const VARIANTS: Spec[] = [
  { name: 'arcface, D 16 (weights read in place)', N: 7, D: 16, C: 6, opts: { margin: { type: 'arcface', m: 0.4 }, scale: 16 } },
  { name: 'cosface, feature-norm', N: 7, D: 5, C: 6, opts: { margin: { type: 'cosface', m: 0.2 }, scale: 4, scaleMode: 'feature-norm' } },
  { name: 'sphereface m 2, product-norm', N: 7, D: 6, C: 5, opts: { margin: { type: 'sphereface', m: 2 }, scale: 2, scaleMode: 'product-norm' } },
  { name: 'combined, 2 sub-centers, columns layout', N: 7, D: 5, C: 5, K: 2, opts: { margin: { type: 'combined', m1: 1.1, m2: 0.2, m3: 0.1 }, scale: 16, columns: true } },
  { name: 'arcface, classIndices, smoothing, filter', N: 7, D: 5, C: 9, subset: true, opts: { scale: 16, labelSmoothing: 0.1, interclassFilter: 0.7 } },
  { name: 'arcface, rowWeights and rowMargins', N: 7, D: 5, C: 6, rowWeights: true, rowAngular: [0.2, 0.6], rowAdditive: [0, 0.2], opts: { scale: 16 } },
];
const CURRICULAR: Spec = { name: 'curricular', N: 7, D: 5, C: 6, opts: { scale: 16, curricular: { t: 0.1, momentum: 0.3 } } };

type Result = ReturnType<typeof marginSoftmax>;

const copyCase = (c: MarginCase): MarginCase => ({
  ...c,
  embeddings: c.embeddings.slice(),
  weights: c.weights.slice(),
  labels: c.labels.slice(),
  rowWeights: c.rowWeights?.slice(),
  rowAngular: c.rowAngular?.slice(),
  rowAdditive: c.rowAdditive?.slice(),
});

/** Rows 0..N−1 without the listed ones. */
const otherRows = (N: number, exclude: number[]) => Array.from({ length: N }, (_, i) => i).filter((i) => !exclude.includes(i));

function pick(values: ArrayLike<number>, rows: number[], width: number): Float64Array {
  const out = new Float64Array(rows.length * width);
  rows.forEach((r, k) => {
    for (let d = 0; d < width; d++) out[k * width + d] = values[r * width + d];
  });
  return out;
}

function allNaN(values: ArrayLike<number> | undefined, label: string): string[] {
  if (!values) return [`${label}: missing`];
  for (let k = 0; k < values.length; k++) if (!Number.isNaN(values[k])) return [`${label}[${k}] = ${values[k]}, expected NaN`];
  return [];
}

/** Per-row outputs of `rows` against the reference (the spec's 1e-5·max(1, |r|)), predictions exact or a near-tie. */
function sameRows(result: Result, ref: MarginRef, c: MarginCase, rows: number[], label: string): string[] {
  const failures: string[] = [];
  for (const i of rows) {
    for (const key of ['losses', 'logSumExp'] as const) {
      const [a, r] = [result[key][i], ref[key][i]];
      if (!(Math.abs(a - r) <= 1e-5 * Math.max(1, Math.abs(r)) + ref.lossSlack[i])) failures.push(`${label} ${key}[${i}] = ${a}, expected ${r}`);
    }
    const choices = ref.predictionChoices[i] ?? [ref.predictions[i]];
    if (!choices.includes(result.predictions[i])) failures.push(`${label} predictions[${i}] = ${result.predictions[i]}, expected ${choices.join('/')}`);
  }
  failures.push(...checkGradientNorm(pick(result.gradEmbeddings, rows, c.D), pick(ref.gradEmbeddings, rows, c.D), `${label} gradEmbeddings (rows ${rows.join(',')})`, GRAD_TOL));
  return failures;
}

/** Row i of a NaN row: loss, LSE and its gradient row NaN; the prediction the first computed class. */
function nanRow(result: Result, c: MarginCase, i: number, label: string): string[] {
  const failures = [...allNaN([result.losses[i], result.logSumExp[i]], `${label} losses/logSumExp[${i}]`)];
  failures.push(...allNaN(result.gradEmbeddings.subarray(i * c.D, (i + 1) * c.D), `${label} gradEmbeddings row ${i}`));
  const first = c.classIndices ? c.classIndices[0] : 0;
  if (result.predictions[i] !== first) failures.push(`${label} predictions[${i}] = ${result.predictions[i]}, expected the first class ${first}`);
  return failures;
}

function run(c: MarginCase, backend: string): Result {
  return marginSoftmax(marginArgs(c, backend));
}

/** A random counted row (label ≥ 0) of c. */
function countedRow(rng: Rng, c: MarginCase): number {
  const rows = otherRows(c.N, []).filter((i) => c.labels[i] >= 0);
  return rows[rng.int(rows.length)];
}

describe.each(backendCases())('NaN/Inf table on backend $name', ({ name, available }) => {
  const rng = new Rng(seed ^ name.length * 7919);

  it.skipIf(!available)('NaN/±Inf in a counted row’s embedding: that row, the loss and every gradWeights entry NaN; other rows as without it', () => {
    const failures: string[] = [];
    for (const spec of VARIANTS) {
      for (const bad of BAD_VALUES) {
        const { c, ref } = makeCase(rng, spec);
        const i = countedRow(rng, c);
        const broken = copyCase(c);
        broken.embeddings[i * c.D + rng.int(c.D)] = bad;
        const r = run(broken, name);
        const label = `${spec.name}, ${bad} in row ${i}`;
        if (!Number.isNaN(r.loss)) failures.push(`${label}: loss ${r.loss}`);
        failures.push(...nanRow(r, c, i, label), ...allNaN(r.gradWeights, `${label} gradWeights`));
        failures.push(...sameRows(r, ref, c, otherRows(c.N, [i]), label));
      }
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('anything in an ignored row (NaN, ±Inf, a scale past float32, its rowWeights and rowMargins) changes nothing but its own logSumExp and prediction', () => {
    const failures: string[] = [];
    for (const spec of [...VARIANTS, CURRICULAR]) {
      for (const bad of [...BAD_VALUES, 'huge'] as const) {
        const drawn = makeCase(rng, spec).c;
        const i = 1 + rng.int(drawn.N - 1); // row 0 stays counted
        drawn.labels[i] = -1;
        const ref = refMarginSoftmax(drawn);
        const broken = copyCase(drawn);
        if (bad === 'huge') {
          // ‖x_i‖ ~ 1e37: any norm-based scale passes float32's range (NaN logits for this row).
          for (let d = 0; d < drawn.D; d++) broken.embeddings[i * drawn.D + d] = 1e37 * (d % 2 ? -1 : 1);
        } else {
          broken.embeddings[i * drawn.D + rng.int(drawn.D)] = bad;
          if (broken.rowWeights) broken.rowWeights[i] = bad;
          if (broken.rowAngular) broken.rowAngular[i] = NaN; // ±Inf angles are refused as options
          if (broken.rowAdditive) broken.rowAdditive[i] = bad;
        }
        const r = run(broken, name);
        const label = `${spec.name}, ${bad} in ignored row ${i}`;
        if (bad !== 'huge' && !Number.isNaN(r.logSumExp[i])) failures.push(`${label}: logSumExp[${i}] = ${r.logSumExp[i]}, expected NaN`);
        if (r.losses[i] !== 0) failures.push(`${label}: losses[${i}] = ${r.losses[i]}, expected 0`);
        const zeros = Array.from(r.gradEmbeddings.subarray(i * drawn.D, (i + 1) * drawn.D));
        if (zeros.some((v) => v !== 0)) failures.push(`${label}: gradEmbeddings row ${i} = ${zeros.join(', ')}, expected zeros`);
        // Everything else, the loss and gradWeights included, as the reference without the change.
        const shown = { ...r, logSumExp: r.logSumExp.slice() };
        shown.logSumExp[i] = ref.logSumExp[i];
        failures.push(...checkMargin(shown, ref, drawn, { gradients: true, predictions: false }, label));
        failures.push(...sameRows(r, ref, drawn, otherRows(drawn.N, [i]), label));
      }
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('NaN/±Inf in a computed center: every output NaN; that class never wins a prediction', () => {
    const failures: string[] = [];
    for (const spec of VARIANTS) {
      for (const bad of BAD_VALUES) {
        const { c, ref } = makeCase(rng, spec);
        const ids = c.classIndices ? Array.from(c.classIndices) : Array.from({ length: c.C }, (_, j) => j);
        const position = rng.int(ids.length);
        const center = ids[position] * c.K + rng.int(c.K);
        const broken = copyCase(c);
        broken.weights[center * c.D + rng.int(c.D)] = bad;
        const r = run(broken, name);
        const label = `${spec.name}, ${bad} in center ${center}`;
        if (!Number.isNaN(r.loss)) failures.push(`${label}: loss ${r.loss}`);
        for (const key of ['losses', 'logSumExp', 'gradEmbeddings', 'gradWeights'] as const) failures.push(...allNaN(r[key], `${label} ${key}`));
        for (let i = 0; i < c.N; i++) {
          // The clean reference's cosines without that class; near-ties (1e-5) may go either way.
          const row = Array.from(ref.cosines.subarray(i * ids.length, (i + 1) * ids.length));
          const best = Math.max(...row.filter((_, j) => j !== position));
          const allowed = ids.filter((_, j) => j !== position && best - row[j] < 1e-5);
          if (!allowed.includes(r.predictions[i])) failures.push(`${label}: predictions[${i}] = ${r.predictions[i]}, expected ${allowed.join('/')}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('NaN/±Inf in a center outside classIndices changes nothing', () => {
    const failures: string[] = [];
    for (const bad of BAD_VALUES) {
      let drawn = makeCase(rng, VARIANTS[4]);
      while (drawn.c.classIndices!.length === drawn.c.C) drawn = makeCase(rng, VARIANTS[4]);
      const { c, ref } = drawn;
      const outside = Array.from({ length: c.C }, (_, j) => j).filter((j) => !c.classIndices!.includes(j));
      const broken = copyCase(c);
      broken.weights[outside[rng.int(outside.length)] * c.D + rng.int(c.D)] = bad;
      failures.push(...checkMargin(run(broken, name), ref, c, { gradients: true }, `${bad} outside classIndices`));
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('NaN/±Inf in rowWeights[i]: loss, gradEmbeddings row i and every gradWeights entry NaN; losses, logSumExp, predictions unchanged', () => {
    const failures: string[] = [];
    for (const bad of BAD_VALUES) {
      const { c, ref } = makeCase(rng, VARIANTS[5]);
      const i = countedRow(rng, c);
      const broken = copyCase(c);
      broken.rowWeights![i] = bad;
      const r = run(broken, name);
      const label = `rowWeights[${i}] = ${bad}`;
      if (!Number.isNaN(r.loss)) failures.push(`${label}: loss ${r.loss}`);
      failures.push(...allNaN(r.gradEmbeddings.subarray(i * c.D, (i + 1) * c.D), `${label} gradEmbeddings row ${i}`));
      failures.push(...allNaN(r.gradWeights, `${label} gradWeights`));
      failures.push(...sameRows(r, ref, c, otherRows(c.N, [i]), label));
      for (const key of ['losses', 'logSumExp'] as const) {
        if (!(Math.abs(r[key][i] - ref[key][i]) <= 1e-5 * Math.max(1, Math.abs(ref[key][i])))) failures.push(`${label}: ${key}[${i}] = ${r[key][i]}, expected ${ref[key][i]}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('NaN in rowMargins.angular[i], NaN/±Inf or a target logit past float32 from rowMargins.additive[i]: row i NaN, other rows unchanged', () => {
    const failures: string[] = [];
    // 1e38 is a finite float32 margin whose target logit s·(c − 1e38) = −1.6e39 at s = 16 is not.
    const cases = [['rowAngular', NaN], ['rowAdditive', NaN], ['rowAdditive', Infinity], ['rowAdditive', -Infinity], ['rowAdditive', 1e38]] as const;
    for (const [key, bad] of cases) {
      const { c, ref } = makeCase(rng, VARIANTS[5]);
      const i = countedRow(rng, c);
      const broken = copyCase(c);
      broken[key]![i] = bad;
      const r = run(broken, name);
      const label = `${key}[${i}] = ${bad}`;
      if (!Number.isNaN(r.loss)) failures.push(`${label}: loss ${r.loss}`);
      failures.push(...allNaN([r.losses[i], r.logSumExp[i]], `${label} losses/logSumExp[${i}]`));
      failures.push(...allNaN(r.gradEmbeddings.subarray(i * c.D, (i + 1) * c.D), `${label} gradEmbeddings row ${i}`));
      failures.push(...allNaN(r.gradWeights, `${label} gradWeights`));
      failures.push(...sameRows(r, ref, c, otherRows(c.N, [i]), label));
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('a logit scale past float32 (s·‖x_i‖, s·‖x_i‖·‖w_j‖ > 3.4e38) makes its rows NaN', () => {
    const failures: string[] = [];
    // feature-norm: row i at ‖x‖ ~ 1e37 with s = 64: that row only.
    const feature: Spec = { name: 'feature-norm', N: 6, D: 5, C: 6, opts: { scale: 64, scaleMode: 'feature-norm' } };
    const { c, ref } = makeCase(rng, feature);
    const i = countedRow(rng, c);
    const broken = copyCase(c);
    for (let d = 0; d < c.D; d++) broken.embeddings[i * c.D + d] *= 1e37 / Math.hypot(...c.embeddings.subarray(i * c.D, (i + 1) * c.D));
    const r = run(broken, name);
    if (!Number.isNaN(r.loss)) failures.push(`feature-norm: loss ${r.loss}`);
    failures.push(...nanRow(r, c, i, 'feature-norm').filter((f) => !f.includes('predictions')));
    failures.push(...allNaN(r.gradWeights, 'feature-norm gradWeights'), ...sameRows(r, ref, c, otherRows(c.N, [i]), 'feature-norm'));
    // product-norm: one center at ‖w‖ = 2e38 against rows with s·‖x‖ = 16: every row meets it.
    const product: Spec = { name: 'product-norm', N: 5, D: 4, C: 4, opts: { scale: 8, scaleMode: 'product-norm' } };
    const p = makeCase(rng, product).c;
    for (let i = 0; i < p.N; i++) {
      const norm = Math.hypot(...p.embeddings.subarray(i * p.D, (i + 1) * p.D));
      for (let d = 0; d < p.D; d++) p.embeddings[i * p.D + d] *= 2 / norm; // s·‖x‖ = 16, s·‖x‖·‖w_j‖ = 3.2e39
    }
    const j = rng.int(p.C);
    for (let d = 0; d < p.D; d++) p.weights[j * p.D + d] = 1e38 * (d % 2 ? 1 : -1);
    const q = run(p, name);
    if (!Number.isNaN(q.loss)) failures.push(`product-norm: loss ${q.loss}`);
    for (const key of ['losses', 'logSumExp', 'gradEmbeddings', 'gradWeights'] as const) failures.push(...allNaN(q[key], `product-norm ${key}`));
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('CurricularFace with a NaN counted row: curricularT NaN; rows with a negative harder than their target NaN, the others unchanged', () => {
    const failures: string[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const { c, ref } = makeCase(rng, CURRICULAR);
      const i = countedRow(rng, c);
      const broken = copyCase(c);
      broken.embeddings[i * c.D] = NaN;
      const r = run(broken, name);
      const label = `curricular, NaN in row ${i}`;
      if (!Number.isNaN(r.curricularT!) || !Number.isNaN(r.loss)) failures.push(`${label}: curricularT ${r.curricularT}, loss ${r.loss}`);
      failures.push(...nanRow(r, c, i, label));
      const margin = resolveMargin(c.margin);
      const unchanged: number[] = [];
      for (let k = 0; k < c.N; k++) {
        if (k === i || c.labels[k] < 0) continue;
        // t enters row k only through its hard negatives (cosine above the target's margined cosine).
        const cos = ref.cosines.subarray(k * c.C, (k + 1) * c.C);
        const threshold = targetValue(cos[c.labels[k]], margin, margin.m2, margin.m3).threshold;
        const hard = Array.from(cos).some((v, j) => j !== c.labels[k] && v > threshold);
        if (hard) failures.push(...allNaN([r.losses[k]], `${label} losses[${k}] (a hard negative)`));
        else unchanged.push(k);
      }
      for (const k of unchanged) {
        if (!(Math.abs(r.losses[k] - ref.losses[k]) <= 1e-5 * Math.max(1, ref.losses[k]))) failures.push(`${label}: losses[${k}] = ${r.losses[k]}, expected ${ref.losses[k]}`);
      }
    }
    expect(failures).toEqual([]);
  });
});

describe.each(backendCases())('finite inputs of any float32 magnitude on backend $name', ({ name, available }) => {
  const rng = new Rng(seed ^ 0x5eed ^ name.length);
  const cases: [string, Spec, (c: MarginCase) => void][] = [
    ['embeddings × 1e30', VARIANTS[0], (c) => c.embeddings.forEach((v, k) => (c.embeddings[k] = v * 1e30))],
    ['embeddings × 1e-30', VARIANTS[1], (c) => c.embeddings.forEach((v, k) => (c.embeddings[k] = v * 1e-30))],
    ['weights × 1e30 (in-place layout)', VARIANTS[0], (c) => c.weights.forEach((v, k) => (c.weights[k] = v * 1e30))],
    ['weights × 1e-30 (in-place layout)', VARIANTS[0], (c) => c.weights.forEach((v, k) => (c.weights[k] = v * 1e-30))],
    ['weights × 1e30, columns layout', VARIANTS[3], (c) => c.weights.forEach((v, k) => (c.weights[k] = v * 1e30))],
    ['product-norm, embeddings × 1e30 and weights × 1e-30', VARIANTS[2], (c) => {
      c.embeddings.forEach((v, k) => (c.embeddings[k] = v * 1e30));
      c.weights.forEach((v, k) => (c.weights[k] = v * 1e-30));
    }],
    ['rows of ±3e38 entries (norms past float32)', VARIANTS[0], (c) => {
      for (let d = 0; d < c.D; d++) c.embeddings[d] = 3e38 * (d % 3 ? 1 : -1);
      for (let d = 0; d < c.D; d++) c.weights[c.D + d] = 3.4e38 * (d % 2 ? 1 : -1);
    }],
    ['subnormal entries (1e-41)', VARIANTS[0], (c) => {
      for (let d = 0; d < c.D; d++) c.embeddings[c.D + d] = Math.fround(1e-41 * (d + 1));
      for (let d = 0; d < c.D; d++) c.weights[d] = Math.fround(-1e-41 * (d + 2));
    }],
  ];
  it.skipIf(!available).each(cases)('%s: the float64 reference', (_what, spec, scaleInputs) => {
    const failures: string[] = [];
    for (let draw = 0; draw < 3; draw++) {
      const c = makeCase(rng, spec).c;
      scaleInputs(c);
      const ref = refMarginSoftmax(c);
      if (ref.ambiguous.length > 0) continue;
      const r = run(c, name);
      failures.push(...checkMargin(r, ref, c, { gradients: true }, `draw ${draw}`));
      // Rows of tiny gradients (the huge rows) checked on their own, not hidden in the whole norm.
      for (let i = 0; i < c.N; i++) {
        failures.push(...checkGradientNorm(r.gradEmbeddings.subarray(i * c.D, (i + 1) * c.D), ref.gradEmbeddings.subarray(i * c.D, (i + 1) * c.D), `draw ${draw} gradEmbeddings row ${i}`, 1e-3));
      }
      const rows = gradWeightsRows(r, c)!;
      const width = c.D;
      for (let j = 0; j < rows.length / width; j++) {
        failures.push(...checkGradientNorm(Array.from(rows).slice(j * width, (j + 1) * width), ref.gradWeights.subarray(j * width, (j + 1) * width), `draw ${draw} gradWeights row ${j}`, 1e-3));
      }
    }
    expect(failures).toEqual([]);
  });
});
