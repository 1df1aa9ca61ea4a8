// fusedloss/tfjs: the kernels as TensorFlow.js losses (lib/tfjs.ts).  On every backend: the tf
// gradients (tf.grads through tf.customGrad) equal the package's own gradients, scale with the
// upstream dy, match central finite differences, and optimizer.minimize trains through them
// without leaking tensors.  Child processes check the package boundary on the built dist/: the
// main entry never loads @tensorflow/tfjs, `fusedloss/tfjs` resolves from require and import and
// loads tfjs only when a loss is called, and a missing tfjs gives a clear error.
// Skips everything that needs tfjs when @tensorflow/tfjs (a dev dependency) is not installed.
import { spawnSync } from 'node:child_process';

import type * as TF from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';

import { crps, marginSoftmax, pairLoss } from './api';
import { backendCases, Rng, testSeed } from './helpers';
import { loadTf } from './load-tf';
import { crpsLoss, marginSoftmaxLoss, pairwiseLoss, withTf } from '../lib/tfjs';

const SEED = testSeed('tfjs');
const ROOT = process.cwd();
const BACKENDS = backendCases();

const tfOrNull = loadTf();
const HAVE_TF = tfOrNull !== null;
const tf = tfOrNull as typeof TF;

function randn(rng: Rng, n: number, sd = 1): Float32Array {
  return Float32Array.from({ length: n }, () => sd * rng.normal());
}

/** Failures where |a − b| > atol + rtol·|b|, at most 5 listed. */
function close(a: ArrayLike<number>, b: ArrayLike<number>, label: string, rtol = 1e-6, atol = 0): string[] {
  if (a.length !== b.length) return [`${label}: length ${a.length} vs ${b.length}`];
  const out: string[] = [];
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= atol + rtol * Math.abs(b[i]))) out.push(`${label}[${i}]: ${a[i]} vs ${b[i]}`);
  }
  return out.length > 5 ? [...out.slice(0, 5), `${label}: ${out.length - 5} more`] : out;
}

function scaled(a: Float32Array, s: number): Float32Array {
  return a.map((v) => Math.fround(v * s));
}

interface FiniteDifferenceOptions {
  count?: number;
  eps?: number;
  /**
   * Where the loss has a kink in coordinate i (CRPS: |x − y| and |x_i − x_j| at every tie): only
   * coordinates farther than 4·eps from all of them are used, so that x ± step stays on one
   * linear piece whatever the seed (a difference across a kink is no derivative at all). CRPS is
   * linear between kinks, so its step can be large (1e-2), which keeps the rounding term small.
   */
  kinks?: (i: number) => readonly number[];
}

/**
 * Central differences of `value` (a float64 loss of the tensors) at `count` random coordinates
 * of input `which`, against `grad` (the tf gradient of that input). The tolerance adds the
 * rounding of the difference itself: each loss is a float64 sum of float32 terms, off by at most
 * ~16 float32 ulps of its magnitude (2^-20·|loss|), and dividing by 2·step magnifies that.
 */
function finiteDifferences(
  rng: Rng,
  inputs: TF.Tensor[],
  which: number,
  grad: Float32Array,
  value: (inputs: TF.Tensor[]) => number,
  label: string,
  { count = 8, eps = 1e-3, kinks }: FiniteDifferenceOptions = {},
): string[] {
  const base = inputs[which].dataSync() as Float32Array;
  const scale = grad.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const smoothAt = (i: number): boolean => !kinks || kinks(i).every((k) => Math.abs(base[i] - k) > 4 * eps);
  const candidates = [...base.keys()].filter(smoothAt);
  // Random data puts a kink within 4·eps of a coordinate with probability ~1e-3; all of them never.
  if (candidates.length < count) return [`${label}: only ${candidates.length} coordinates lie farther than ${4 * eps} from a kink`];
  const failures: string[] = [];
  for (let c = 0; c < count; c++) {
    const i = candidates[rng.int(candidates.length)];
    const at = (delta: number): number => {
      const data = base.slice();
      data[i] += delta;
      const moved = tf.tensor(data, inputs[which].shape, 'float32');
      const v = value(inputs.map((t, j) => (j === which ? moved : t)));
      moved.dispose();
      return v;
    };
    const step = Math.fround(base[i] + eps) - base[i];
    const [up, down] = [at(step), at(-step)];
    const fd = (up - down) / (2 * step);
    const rounding = (2 ** -20 * Math.max(Math.abs(up), Math.abs(down))) / step;
    const tolerance = 2e-3 * scale + 2e-2 * Math.abs(grad[i]) + rounding;
    if (!(Math.abs(fd - grad[i]) <= tolerance)) failures.push(`${label}[${i}]: fd ${fd} vs tf ${grad[i]} (tolerance ${tolerance})`);
  }
  return failures;
}

function gradsOf(f: (...xs: TF.Tensor[]) => TF.Scalar, inputs: TF.Tensor[]): Float32Array[] {
  return tf.tidy(() => tf.grads((...xs: TF.Tensor[]) => f(...xs))(inputs)).map((g) => {
    const data = g.dataSync() as Float32Array;
    g.dispose();
    return data;
  });
}

describe.skipIf(!HAVE_TF).each(BACKENDS)('fusedloss/tfjs, backend $name', ({ name: backend, available, reason }) => {
  if (!available) console.log(`[tfjs] backend ${backend} skipped: ${reason}`);

  it.skipIf(!available)('marginSoftmaxLoss: tf gradients equal marginSoftmax gradients (rows, columns + sub-centers + classIndices)', () => {
    const rng = new Rng(SEED + 1);
    const failures: string[] = [];
    const N = 13;
    const D = 7;
    const C = 11;
    const labelArray = Int32Array.from({ length: N }, (_, i) => (i === 3 ? -1 : rng.int(C)));
    const cases = [
      { label: 'arcface rows', K: 1, options: { margin: { type: 'arcface', m: 0.3 }, scale: 8 } as const },
      { label: 'combined rows K 3 classIndices', K: 3, options: { margin: { type: 'combined' }, scale: 8, subCenters: 3 } as const, subset: true },
      {
        label: 'cosface columns K 2 classIndices',
        K: 2,
        options: { margin: { type: 'cosface' }, scale: 16, weightsLayout: 'columns', subCenters: 2, labelSmoothing: 0.1 } as const,
        subset: true,
      },
    ];
    for (const c of cases) {
      const columns = 'weightsLayout' in c.options;
      const wShape = columns ? [D, C * c.K] : [C * c.K, D];
      const e = tf.tensor(randn(rng, N * D), [N, D]);
      const W = tf.variable(tf.tensor(randn(rng, C * c.K * D), wShape));
      const classIndices = c.subset ? Int32Array.from(new Set([...labelArray.filter((l) => l >= 0), 0, 5])) : undefined;
      const labels = tf.tensor1d(labelArray, 'int32');
      const options = { ...c.options, backend, ...(classIndices ? { classIndices: tf.tensor1d(classIndices, 'int32') } : {}) };
      let seen: string | undefined;
      const [ge, gw] = gradsOf((x, w) => marginSoftmaxLoss(x, w, labels, { ...options, onResult: (r) => (seen = r.backend) }), [e, W]);
      expect(seen).toBe(backend);
      const ref = marginSoftmax({ ...options, embeddings: e, weights: W, labels: labelArray, classIndices });
      failures.push(...close(ge, ref.gradEmbeddings, `${c.label} gradEmbeddings`));
      if (!classIndices) {
        failures.push(...close(gw, ref.gradWeights, `${c.label} gradWeights`));
      } else {
        // The centers of the classes in classIndices, in that order; zero elsewhere.
        const centers = C * c.K;
        const subset = classIndices.length * c.K;
        const expected = new Float32Array(D * centers);
        classIndices.forEach((id, t) => {
          for (let k = 0; k < c.K; k++) {
            for (let d = 0; d < D; d++) {
              if (columns) expected[d * centers + id * c.K + k] = ref.gradWeights[d * subset + t * c.K + k];
              else expected[(id * c.K + k) * D + d] = ref.gradWeights[(t * c.K + k) * D + d];
            }
          }
        });
        if (!expected.some((v) => v !== 0)) failures.push(`${c.label}: the reference gradient is all zero`);
        failures.push(...close(gw, expected, `${c.label} gradWeights (scattered)`));
      }
      // The upstream gradient scales both: d(3·loss) = 3·d(loss).
      const [ge3, gw3] = gradsOf((x, w) => tf.mul(marginSoftmaxLoss(x, w, labels, options), 3) as TF.Scalar, [e, W]);
      failures.push(...close(ge3, scaled(ge, 3), `${c.label} 3·gradEmbeddings`));
      failures.push(...close(gw3, scaled(gw, 3), `${c.label} 3·gradWeights`));
      const value = tf.tidy(() => marginSoftmaxLoss(e, W, labels, options).dataSync()[0]);
      expect(value).toBe(Math.fround(ref.loss));
      tf.dispose([e, W, labels]);
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('marginSoftmaxLoss gradients match finite differences', () => {
    const rng = new Rng(SEED + 2);
    const N = 9;
    const D = 5;
    const C = 6;
    const e = tf.tensor(randn(rng, N * D), [N, D]);
    const W = tf.tensor(randn(rng, C * D), [C, D]);
    const labels = Int32Array.from({ length: N }, () => rng.int(C));
    const options = { margin: { type: 'arcface', m: 0.2 }, scale: 6, backend } as const;
    const grads = gradsOf((x, w) => marginSoftmaxLoss(x, w, labels, options), [e, W]);
    const value = (ts: TF.Tensor[]): number => {
      let loss = NaN;
      tf.tidy(() => marginSoftmaxLoss(ts[0], ts[1], labels, { ...options, onResult: (r) => (loss = r.loss) }));
      return loss;
    };
    const failures = [
      ...finiteDifferences(rng, [e, W], 0, grads[0], value, 'embeddings'),
      ...finiteDifferences(rng, [e, W], 1, grads[1], value, 'weights'),
    ];
    tf.dispose([e, W]);
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('optimizer.minimize trains a tiny ArcFace head through marginSoftmaxLoss without leaking tensors', () => {
    const rng = new Rng(SEED + 3);
    const N = 40;
    const inDim = 6;
    const D = 4;
    const C = 5;
    const centers = randn(rng, C * inDim, 2);
    const labelArray = Int32Array.from({ length: N }, (_, i) => i % C);
    const xs = new Float32Array(N * inDim);
    for (let i = 0; i < N; i++) for (let j = 0; j < inDim; j++) xs[i * inDim + j] = centers[labelArray[i] * inDim + j] + 0.5 * rng.normal();
    const x = tf.tensor(xs, [N, inDim]);
    const labels = tf.tensor1d(labelArray, 'int32');
    const P = tf.variable(tf.tensor(randn(rng, inDim * D, 0.5), [inDim, D]));
    const W = tf.variable(tf.tensor(randn(rng, D * C), [D, C])); // a dense kernel: columns layout
    const W0 = W.dataSync().slice();
    const optimizer = tf.train.sgd(0.2);
    const loss = () => marginSoftmaxLoss(tf.matMul(x, P), W, labels, { weightsLayout: 'columns', margin: { type: 'arcface', m: 0.2 }, scale: 8, backend });
    const losses: number[] = [];
    const tensorsBefore = tf.memory().numTensors;
    for (let step = 0; step < 30; step++) {
      const cost = optimizer.minimize(loss, true, [P, W]);
      losses.push(cost!.dataSync()[0]);
      cost!.dispose();
      if (step === 0) expect(tf.memory().numTensors).toBeLessThanOrEqual(tensorsBefore + 2); // SGD may keep its learning-rate scalar
    }
    const tensorsAfter = tf.memory().numTensors;
    console.log(`[tfjs ${backend}] ArcFace head: loss ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)} in 30 SGD steps`);
    expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]);
    expect(Array.from(W.dataSync()).some((v, i) => v !== W0[i])).toBe(true);
    optimizer.dispose();
    expect(tensorsAfter).toBeLessThanOrEqual(tensorsBefore + 2);
    tf.dispose([x, labels, P, W]);
  });

  it.skipIf(!available)('pairwiseLoss: tf gradients equal pairLoss gradients (batch, ref, miner) and match finite differences', () => {
    const rng = new Rng(SEED + 4);
    const failures: string[] = [];
    const N = 12;
    const M = 15;
    const D = 6;
    const labelArray = Int32Array.from({ length: N }, () => rng.int(3));
    const refLabelArray = Int32Array.from({ length: M }, () => rng.int(3));
    const e = tf.tensor(randn(rng, N * D), [N, D]);
    const r = tf.tensor(randn(rng, M * D), [M, D]);
    const labels = tf.tensor1d(labelArray, 'int32');
    const refLabels = tf.tensor1d(refLabelArray, 'int32');

    const ms = { loss: { type: 'multi-similarity' }, miner: { type: 'multi-similarity' }, backend } as const;
    const [g] = gradsOf((x) => pairwiseLoss(x, labels, ms), [e]);
    const ref = pairLoss({ ...ms, embeddings: e, labels: labelArray });
    failures.push(...close(g, ref.gradEmbeddings, 'multi-similarity gradEmbeddings'));
    const [g3] = gradsOf((x) => tf.mul(pairwiseLoss(x, labels, ms), -2) as TF.Scalar, [e]);
    failures.push(...close(g3, scaled(g, -2), 'multi-similarity −2·gradEmbeddings'));

    const nt = { loss: { type: 'ntxent', temperature: 0.5 }, refLabels, backend } as const;
    const [ge, gr] = gradsOf((x, y) => pairwiseLoss(x, labels, { ...nt, ref: y }), [e, r]);
    const refWith = pairLoss({ ...nt, embeddings: e, labels, ref: r });
    failures.push(...close(ge, refWith.gradEmbeddings, 'ntxent+ref gradEmbeddings'));
    failures.push(...close(gr, refWith.gradRef, 'ntxent+ref gradRef'));
    const value = (ts: TF.Tensor[]): number => {
      let loss = NaN;
      tf.tidy(() => pairwiseLoss(ts[0], labels, { ...nt, ref: ts[1], onResult: (res) => (loss = res.loss) }));
      return loss;
    };
    failures.push(...finiteDifferences(rng, [e, r], 0, ge, value, 'ntxent embeddings'));
    failures.push(...finiteDifferences(rng, [e, r], 1, gr, value, 'ntxent ref'));
    tf.dispose([e, r, labels, refLabels]);
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('optimizer.minimize lowers a multi-similarity loss through pairwiseLoss', () => {
    const rng = new Rng(SEED + 5);
    const N = 24;
    const D = 5;
    const labels = Int32Array.from({ length: N }, (_, i) => i % 3);
    const x = tf.tensor(randn(rng, N * D), [N, D]);
    const P = tf.variable(tf.tensor(randn(rng, D * D, 0.5), [D, D]));
    const B = tf.variable(tf.tensor(randn(rng, 3 * D), [3, D])); // per-class offsets: separable
    const onehot = tf.oneHot(tf.tensor1d(labels, 'int32'), 3).toFloat();
    const optimizer = tf.train.sgd(0.5);
    const losses: number[] = [];
    for (let step = 0; step < 30; step++) {
      const cost = optimizer.minimize(
        () => pairwiseLoss(tf.add(tf.matMul(x, P), tf.matMul(onehot, B)), labels, { loss: { type: 'multi-similarity' }, backend }),
        true,
      );
      losses.push(cost!.dataSync()[0]);
      cost!.dispose();
    }
    console.log(`[tfjs ${backend}] multi-similarity: loss ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)} in 30 SGD steps`);
    expect(losses[losses.length - 1]).toBeLessThan(0.8 * losses[0]);
    optimizer.dispose();
    tf.dispose([x, P, B, onehot]);
  });

  it.skipIf(!available)('crpsLoss: tf gradients equal crps gradients (weights, memberAxis 0, shaped observations) and finite differences', () => {
    const rng = new Rng(SEED + 6);
    const failures: string[] = [];
    const M = 5;
    const shape = [M, 3, 4]; // members first
    const P = 12;
    const ens = tf.tensor(randn(rng, M * P), shape);
    const obs = tf.tensor(randn(rng, P), [3, 4]);
    const weights = tf.tensor(Float32Array.from({ length: P }, () => rng.uniform(0.1, 2)), [3, 4]);
    // Members first: member k of point p is ensemble[k·P + p]. Its kinks are the observation and
    // the point's other members; an observation's kinks are its point's members.
    const ensData = ens.dataSync();
    const obsData = obs.dataSync();
    const membersOf = (p: number): number[] => Array.from({ length: M }, (_, k) => ensData[k * P + p]);
    const memberKinks = (i: number): number[] => [obsData[i % P], ...membersOf(i % P).filter((_, k) => k !== Math.floor(i / P))];
    const observationKinks = (p: number): number[] => membersOf(p);
    for (const estimator of ['standard', 'fair', 'almost-fair'] as const) {
      const options = { memberAxis: 0, estimator, weights, backend };
      const [ge, go] = gradsOf((x, y) => crpsLoss(x, y, options), [ens, obs]);
      const ref = crps({ ...options, ensemble: ens, observations: obs, gradients: true });
      failures.push(...close(ge, ref.gradEnsemble, `${estimator} gradEnsemble`));
      failures.push(...close(go, ref.gradObservations, `${estimator} gradObservations`));
      const [ge3] = gradsOf((x, y) => tf.mul(crpsLoss(x, y, options), 0.25) as TF.Scalar, [ens, obs]);
      failures.push(...close(ge3, scaled(ge, 0.25), `${estimator} 0.25·gradEnsemble`));
      const value = (ts: TF.Tensor[]): number => {
        let mean = NaN;
        tf.tidy(() => crpsLoss(ts[0], ts[1], { ...options, onResult: (res) => (mean = res.mean) }));
        return mean;
      };
      failures.push(...finiteDifferences(rng, [ens, obs], 0, ge, value, `${estimator} ensemble`, { count: 6, eps: 1e-2, kinks: memberKinks }));
      failures.push(...finiteDifferences(rng, [ens, obs], 1, go, value, `${estimator} observations`, { count: 6, eps: 1e-2, kinks: observationKinks }));
      expect(tf.tidy(() => crpsLoss(ens, obs, options).dataSync()[0])).toBe(Math.fround(ref.mean));
    }
    tf.dispose([ens, obs, weights]);
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('optimizer.minimize fits an ensemble (location and spread) through crpsLoss', () => {
    const rng = new Rng(SEED + 7);
    const P = 64;
    const M = 8;
    const truth = tf.tensor(Float32Array.from({ length: P }, () => 3 + rng.normal()), [P]);
    const z = tf.tensor(randn(rng, P * M), [P, M]);
    const mu = tf.variable(tf.scalar(0));
    const logSigma = tf.variable(tf.scalar(-2));
    const optimizer = tf.train.adam(0.1);
    const losses: number[] = [];
    for (let step = 0; step < 60; step++) {
      const cost = optimizer.minimize(() => crpsLoss(tf.add(mu, tf.mul(tf.exp(logSigma), z)), truth, { estimator: 'fair', backend }), true);
      losses.push(cost!.dataSync()[0]);
      cost!.dispose();
    }
    const [m, s] = [mu.dataSync()[0], Math.exp(logSigma.dataSync()[0])];
    console.log(`[tfjs ${backend}] CRPS fit: loss ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)}, mu ${m.toFixed(3)}, sigma ${s.toFixed(3)}`);
    expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]);
    expect(Math.abs(m - 3)).toBeLessThan(0.6);
    expect(s).toBeGreaterThan(0.3);
    optimizer.dispose();
    tf.dispose([truth, z, mu, logSigma]);
  });
});

describe.skipIf(!HAVE_TF)('fusedloss/tfjs argument checks', () => {
  it('rejects non-tensors and non-float32 tensors with ERR_FUSEDLOSS_INVALID_ARG', () => {
    const W = tf.zeros([3, 2]);
    const x = tf.zeros([2, 2]);
    const bad = { data: new Float32Array(4), shape: [2, 2] } as unknown as TF.Tensor;
    expect(() => marginSoftmaxLoss(bad, W, [0, 1])).toThrow(expect.objectContaining({ code: 'ERR_FUSEDLOSS_INVALID_ARG', message: expect.stringContaining('embeddings') }));
    expect(() => marginSoftmaxLoss(tf.zeros([2, 2], 'int32'), W, [0, 1])).toThrow(/embeddings must be a float32 tensor/);
    expect(() => pairwiseLoss(x, [0, 1], undefined as never)).toThrow(/options/);
    expect(() => crpsLoss(x, bad)).toThrow(/observations must be a tf.Tensor/);
    // The kernels' own validation runs inside the forward pass, with their messages and codes.
    expect(() => crpsLoss(tf.zeros([2, 3]), tf.zeros([3]))).toThrow(expect.objectContaining({ code: 'ERR_FUSEDLOSS_SHAPE' }));
    expect(() => withTf({} as never)).toThrow(/withTf/);
    tf.dispose([W, x]);
  });

  it('withTf(tf) gives the same losses bound to a given namespace', () => {
    const bound = withTf(tf);
    const e = tf.tensor([[1, 0], [0, 1], [1, 1]]);
    const o = tf.tensor([0.5, 0.2, 0.1]);
    expect(bound.crpsLoss(e, o).dataSync()[0]).toBe(crpsLoss(e, o).dataSync()[0]);
    tf.dispose([e, o]);
  });
});

// ---------------------------------------------------------------------------------------------
// The package boundary, on the built package (dist/, `npm run build`), in fresh processes.

function node(args: string[], code: string, env: NodeJS.ProcessEnv = process.env) {
  const out = spawnSync(process.execPath, [...args, '-e', code], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
  expect(out.status, out.stderr).toBe(0);
  return JSON.parse(out.stdout.trim().split('\n').pop()!);
}

const TF_LOADED = `Object.keys(require.cache).some((k) => k.includes('@tensorflow'))`;

describe('package boundary (built dist/)', () => {
  it('require of the main entry never loads @tensorflow/tfjs; fusedloss/tfjs loads it only when a loss is called', () => {
    const r = node([], `
      const { createRequire } = require('node:module');
      const req = createRequire(process.cwd() + '/');
      const main = req('fusedloss');
      main.crps({ ensemble: { data: [1, 2], shape: [1, 2] }, observations: [1.5] });
      const afterMain = ${TF_LOADED};
      const sub = req('fusedloss/tfjs');
      const afterImport = ${TF_LOADED};
      let afterCall = null, loss = null;
      try {
        const tf = req('@tensorflow/tfjs');
        loss = sub.crpsLoss(tf.tensor([[1, 2]]), tf.tensor([1.5])).dataSync()[0];
        afterCall = ${TF_LOADED};
      } catch {}
      process.stdout.write(JSON.stringify({ afterMain, afterImport, afterCall, loss, file: req.resolve('fusedloss/tfjs'),
        names: Object.keys(sub).sort() }) + '\\n');`);
    expect(r.afterMain).toBe(false);
    expect(r.afterImport).toBe(false);
    expect(r.file).toMatch(/dist[\\/]cjs[\\/]tfjs\.js$/);
    expect(r.names).toEqual(['crpsLoss', 'marginSoftmaxLoss', 'pairwiseLoss', 'withTf']);
    if (HAVE_TF) {
      expect(r.afterCall).toBe(true);
      expect(r.loss).toBeCloseTo(0.25, 6);
    }
  });

  it('import of the main entry never loads @tensorflow/tfjs; import of fusedloss/tfjs gives the CommonJS functions', () => {
    const r = node(['--input-type=module'], `
      import { createRequire } from 'node:module';
      const req = createRequire(process.cwd() + '/');
      const main = await import('fusedloss');
      const afterMain = Object.keys(req.cache).some((k) => k.includes('@tensorflow'));
      const esm = await import('fusedloss/tfjs');
      const cjs = req('fusedloss/tfjs');
      const same = ['crpsLoss', 'marginSoftmaxLoss', 'pairwiseLoss', 'withTf'].every((n) => esm[n] === cjs[n] && typeof esm[n] === 'function');
      process.stdout.write(JSON.stringify({ afterMain, same, main: typeof main.crps }) + '\\n');`);
    expect(r).toEqual({ afterMain: false, same: true, main: 'function' });
  });

  it('without @tensorflow/tfjs, a loss call throws a clear ERR_FUSEDLOSS_BACKEND error', () => {
    const r = node([], `
      const Module = require('node:module');
      const resolve = Module._resolveFilename;
      Module._resolveFilename = function (request, ...rest) {
        if (request.startsWith('@tensorflow/')) throw Object.assign(new Error("Cannot find module '" + request + "'"), { code: 'MODULE_NOT_FOUND' });
        return resolve.call(this, request, ...rest);
      };
      const sub = Module.createRequire(process.cwd() + '/')('fusedloss/tfjs');
      let error = null;
      try { sub.crpsLoss({}, {}); } catch (e) { error = { code: e.code, message: e.message }; }
      process.stdout.write(JSON.stringify(error) + '\\n');`);
    expect(r.code).toBe('ERR_FUSEDLOSS_BACKEND');
    expect(r.message).toMatch(/npm install @tensorflow\/tfjs/);
  });
});
