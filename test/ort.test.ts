// onnxruntime-node as a user runs it: a real InferenceSession (an embedding MLP written by
// onnx-model.ts, seeded random weights) embeds real 8×8 digit images (examples/data/digits.csv.gz),
// and its output tensor goes straight into mine / pairLoss / marginSoftmax / crps, labels as an
// int64 tensor.  Checked: the session computes the MLP we wrote (float64 in the test); the
// kernels' answers on the ort tensors against the float64 references and bit for bit against the
// same call on plain arrays; float32 data read in place (no copy); toOrtTensor() results fed back
// through a second session unchanged; tensors that are disposed, on a GPU, float16 or of a wrong
// size are refused with a code naming the argument.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import type * as Ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { crps, marginSoftmax, mine, mineAsync, pairLoss, toOrtTensor } from './api';
import { catchSync, INVALID, LABEL, SHAPE, type Code } from './error-checks';
import { pointScore } from './crps-reference';
import { backendCases, Rng, testSeed } from './helpers';
import { refMarginSoftmax } from './margin-reference';
import { checkLoss, checkMined } from './pairs-cases';
import { refMine, refPairLoss, type PairCase } from './pairs-reference';
import { onnxModel } from './onnx-model';
import { toTensor } from '../lib/tensor';

const ort = createRequire(__filename)('onnxruntime-node') as typeof Ort;
const SEED = testSeed('ort');
const BACKENDS = backendCases();

const PIXELS = 64;
const HIDDEN = 32;
const DIM = 16;
const CLASSES = 10;
const PER_CLASS = 8;

/** `perClass` images of each digit, drawn by rng, scaled to 0..1. */
function loadDigits(rng: Rng, perClass: number): { images: Float32Array; labels: number[] } {
  const rows = gunzipSync(readFileSync(join(process.cwd(), 'examples/data/digits.csv.gz'))).toString('utf8').trim().split('\n');
  const byClass: number[][][] = Array.from({ length: CLASSES }, () => []);
  for (const row of rows) {
    const values = row.split(',').map(Number);
    byClass[values[PIXELS]].push(values.slice(0, PIXELS));
  }
  const images: number[] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < CLASSES; digit++) {
    const pool = byClass[digit];
    for (let k = 0; k < perClass; k++) {
      const [image] = pool.splice(rng.int(pool.length), 1);
      images.push(...image.map((v) => v / 16));
      labels.push(digit);
    }
  }
  return { images: Float32Array.from(images), labels };
}

interface Mlp {
  w1: Float32Array; // [PIXELS, HIDDEN]
  b1: Float32Array;
  w2: Float32Array; // [HIDDEN, DIM]
  b2: Float32Array;
}

function randomMlp(rng: Rng): Mlp {
  const normal = (n: number, sd: number) => Float32Array.from({ length: n }, () => sd * rng.normal());
  return { w1: normal(PIXELS * HIDDEN, Math.sqrt(2 / PIXELS)), b1: normal(HIDDEN, 0.1), w2: normal(HIDDEN * DIM, Math.sqrt(1 / HIDDEN)), b2: normal(DIM, 0.1) };
}

/** embeddings = relu(pixels · w1 + b1) · w2 + b2, as an ONNX graph with a symbolic batch size. */
function mlpModel(mlp: Mlp): Uint8Array {
  return onnxModel({
    nodes: [
      { op: 'MatMul', inputs: ['pixels', 'w1'], outputs: ['h0'] },
      { op: 'Add', inputs: ['h0', 'b1'], outputs: ['h1'] },
      { op: 'Relu', inputs: ['h1'], outputs: ['h2'] },
      { op: 'MatMul', inputs: ['h2', 'w2'], outputs: ['h3'] },
      { op: 'Add', inputs: ['h3', 'b2'], outputs: ['embeddings'] },
    ],
    initializers: [
      { name: 'w1', dims: [PIXELS, HIDDEN], data: mlp.w1 },
      { name: 'b1', dims: [HIDDEN], data: mlp.b1 },
      { name: 'w2', dims: [HIDDEN, DIM], data: mlp.w2 },
      { name: 'b2', dims: [DIM], data: mlp.b2 },
    ],
    inputs: [{ name: 'pixels', type: 'float32', dims: ['batch', PIXELS] }],
    outputs: [{ name: 'embeddings', type: 'float32', dims: ['batch', DIM] }],
  });
}

/** The same MLP in float64. */
function mlpReference(mlp: Mlp, images: Float32Array, n: number): Float64Array {
  const out = new Float64Array(n * DIM);
  const hidden = new Float64Array(HIDDEN);
  for (let i = 0; i < n; i++) {
    for (let h = 0; h < HIDDEN; h++) {
      let s = mlp.b1[h];
      for (let p = 0; p < PIXELS; p++) s += images[i * PIXELS + p] * mlp.w1[p * HIDDEN + h];
      hidden[h] = Math.max(s, 0);
    }
    for (let d = 0; d < DIM; d++) {
      let s = mlp.b2[d];
      for (let h = 0; h < HIDDEN; h++) s += hidden[h] * mlp.w2[h * DIM + d];
      out[i * DIM + d] = s;
    }
  }
  return out;
}

/** A session computing out = x + x (exact doubling), for a given element type. */
async function doublingSession(type: 'float32' | 'int32'): Promise<Ort.InferenceSession> {
  const model = onnxModel({
    nodes: [{ op: 'Add', inputs: ['x', 'x'], outputs: ['out'] }],
    initializers: [],
    inputs: [{ name: 'x', type, dims: ['n'] }],
    outputs: [{ name: 'out', type, dims: ['n'] }],
  });
  return ort.InferenceSession.create(model);
}

function expectCode(fn: () => unknown, code: Code, names: string): void {
  const caught = catchSync(fn);
  expect(caught, 'expected a throw').not.toBeNull();
  const error = caught!.error as Error & { code?: string };
  expect(error.code).toBe(code);
  expect(error.message).toContain(names);
}

describe('onnxruntime-node session outputs, mined and scored', async () => {
  const rng = new Rng(SEED);
  const mlp = randomMlp(rng);
  const { images, labels } = loadDigits(rng, PER_CLASS);
  const N = labels.length;
  const session = await ort.InferenceSession.create(mlpModel(mlp));
  const { embeddings } = await session.run({ pixels: new ort.Tensor('float32', images, [N, PIXELS]) });
  const ortLabels = new ort.Tensor('int64', BigInt64Array.from(labels, BigInt), [N]);
  const plainEmbeddings = Float32Array.from(embeddings.data as Float32Array);
  const plainLabels = Int32Array.from(labels);
  const pairCase = (extra: Partial<PairCase>): PairCase => ({ N, D: DIM, embeddings: plainEmbeddings, labels: plainLabels, ...extra });

  it('the session computes the MLP of the model file', () => {
    expect(embeddings.type).toBe('float32');
    expect(embeddings.dims).toEqual([N, DIM]);
    const want = mlpReference(mlp, images, N);
    const scale = Math.max(...want.map(Math.abs));
    const got = embeddings.data as Float32Array;
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-5 * scale);
  });

  it('float32 tensor data is read in place, not copied', () => {
    // A plain view of the tensor's own memory (same buffer, offset and length), not a copy.
    const data = toTensor(embeddings, 'embeddings').data;
    const own = embeddings.data as Float32Array;
    expect(data.buffer).toBe(own.buffer);
    expect([data.byteOffset, data.length]).toEqual([own.byteOffset, own.length]);
  });

  for (const { name: backend, available } of BACKENDS) {
    describe.skipIf(!available)(`on ${backend}`, () => {
      it('mines the output tensor (int64 labels) as the float64 reference does', async () => {
        const miner = { type: 'multi-similarity' as const, epsilon: 0.1 };
        const mined = mine({ embeddings, labels: ortLabels, miner, backend });
        const { failures } = checkMined(mined, refMine(pairCase({ miner })), backend, 'multi-similarity');
        expect(failures).toEqual([]);
        expect(mined.positives.length).toBeGreaterThan(0);
        const plain = mine({ embeddings: { data: plainEmbeddings, shape: [N, DIM] }, labels: plainLabels, miner, backend });
        expect(mined).toEqual(plain);
        expect(await mineAsync({ embeddings, labels: ortLabels, miner, backend })).toEqual(plain);
      });

      it('scores it with a mined pair loss, gradients included', () => {
        const miner = { type: 'multi-similarity' as const, epsilon: 0.1 };
        const loss = { type: 'multi-similarity' as const };
        const result = pairLoss({ embeddings, labels: ortLabels, miner, loss, backend, gradients: true });
        expect(checkLoss(result, refPairLoss(pairCase({ miner, loss })), { gradients: true, hasRef: false, backend, gradTol: 1e-4 }, 'ms loss')).toEqual([]);
        const plain = pairLoss({ embeddings: { data: plainEmbeddings, shape: [N, DIM] }, labels: plainLabels, miner, loss, backend, gradients: true });
        expect(result).toEqual(plain);
      });

      it('scores it with ArcFace, class weights from toOrtTensor', () => {
        const weights = Float32Array.from({ length: CLASSES * DIM }, () => rng.normal());
        const ortWeights = toOrtTensor(ort, weights, [CLASSES, DIM]);
        const args = { margin: { type: 'arcface' as const, m: 0.5 }, scale: 16, backend, gradients: true as const };
        const result = marginSoftmax({ embeddings, weights: ortWeights, labels: ortLabels, ...args });
        const ref = refMarginSoftmax({ N, D: DIM, C: CLASSES, K: 1, embeddings: plainEmbeddings, weights, labels: plainLabels, margin: args.margin, scale: args.scale });
        expect(Math.abs(result.loss - ref.loss)).toBeLessThanOrEqual(1e-5 * Math.abs(ref.loss));
        const plain = marginSoftmax({ embeddings: { data: plainEmbeddings, shape: [N, DIM] }, weights: { data: weights, shape: [CLASSES, DIM] }, labels: plainLabels, ...args });
        expect(result).toEqual(plain);
      });

      it('scores it as an ensemble with crps (members along the embedding axis)', () => {
        const observations = Float32Array.from({ length: N }, () => rng.normal());
        const result = crps({ ensemble: embeddings, observations: toOrtTensor(ort, observations, [N]), backend });
        const scores = result.scores;
        for (let i = 0; i < N; i++) {
          const want = pointScore(plainEmbeddings.subarray(i * DIM, (i + 1) * DIM), observations[i], 0); // alpha 0: the standard estimator
          expect(Math.abs(scores[i] - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)));
        }
        expect(result).toEqual(crps({ ensemble: { data: plainEmbeddings, shape: [N, DIM] }, observations, backend }));
      });
    });
  }

  it('results go back into a session through toOrtTensor unchanged', async () => {
    const { gradEmbeddings } = pairLoss({ embeddings, labels: ortLabels, loss: { type: 'contrastive' }, gradients: true });
    const floatSession = await doublingSession('float32');
    const doubled = (await floatSession.run({ x: toOrtTensor(ort, gradEmbeddings!) })).out;
    expect(doubled.data).toEqual(gradEmbeddings!.map((v) => 2 * v));

    const { positives } = mine({ embeddings, labels: ortLabels, miner: { type: 'multi-similarity' } });
    const intTensor = toOrtTensor(ort, positives);
    expect(intTensor.type).toBe('int32');
    expect(intTensor.data).toBe(positives); // the tensor views the array
    const intSession = await doublingSession('int32');
    expect((await intSession.run({ x: intTensor })).out.data).toEqual(positives.map((v) => 2 * v));
  });

  it('toOrtTensor maps element types and shapes', () => {
    expect(toOrtTensor(ort, new Float32Array(6), [2, 3]).dims).toEqual([2, 3]);
    expect(toOrtTensor(ort, new Float32Array(1), []).dims).toEqual([]);
    expect(toOrtTensor(ort, new Float64Array(2)).type).toBe('float64');
    expect(toOrtTensor(ort, new BigInt64Array(2)).type).toBe('int64');
    expect(toOrtTensor(ort, new Uint8Array(2)).type).toBe('uint8');
  });

  it('refuses bad toOrtTensor arguments with a code naming them', () => {
    expectCode(() => toOrtTensor(ort, new Float32Array(6), [4, 2]), SHAPE, 'shape');
    expectCode(() => toOrtTensor(ort, new Float32Array(6), [2, 0, 3]), SHAPE, 'shape');
    expectCode(() => toOrtTensor(ort, [1, 2] as unknown as Float32Array), INVALID, 'array');
    expectCode(() => toOrtTensor({} as typeof ort, new Float32Array(2)), INVALID, 'ort');
    const detached = new Float32Array(4);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    expectCode(() => toOrtTensor(ort, detached), INVALID, 'array');
  });

  it('refuses ort tensors that are disposed, on a GPU, float16 or of a wrong kind', () => {
    const valid = { labels: ortLabels, miner: { type: 'multi-similarity' as const } };
    const disposed = new ort.Tensor('float32', Float32Array.from(plainEmbeddings), [N, DIM]);
    disposed.dispose();
    expectCode(() => mine({ embeddings: disposed, ...valid }), INVALID, 'embeddings');
    const onGpu = ort.Tensor.fromGpuBuffer({ size: N * DIM * 4 } as never, { dataType: 'float32', dims: [N, DIM] });
    expectCode(() => mine({ embeddings: onGpu, ...valid }), INVALID, 'embeddings');
    const half = new ort.Tensor('float16', new Uint16Array(N * DIM), [N, DIM]);
    expectCode(() => mine({ embeddings: half, ...valid }), INVALID, 'embeddings');
    expectCode(() => mine({ embeddings: new ort.Tensor('float32', plainEmbeddings, [N, DIM, 1]), ...valid }), SHAPE, 'embeddings');
    const goneLabels = new ort.Tensor('int64', BigInt64Array.from(labels, BigInt), [N]);
    goneLabels.dispose();
    expectCode(() => mine({ embeddings, labels: goneLabels, miner: valid.miner }), INVALID, 'labels');
    // An int64 label beyond int32 is out of range, not "not an integer".
    const hugeLabels = new ort.Tensor('int64', BigInt64Array.from(labels, (v) => BigInt(v) + 2n ** 40n), [N]);
    expectCode(() => mine({ embeddings, labels: hugeLabels, miner: valid.miner }), LABEL, 'labels');
    const negative = new ort.Tensor('int64', BigInt64Array.from(labels, (v) => BigInt(v) - 20n), [N]);
    expectCode(() => marginSoftmax({ embeddings, weights: toOrtTensor(ort, new Float32Array(CLASSES * DIM).fill(1), [CLASSES, DIM]), labels: negative }), LABEL, 'labels');
    // The caller's tensors are untouched by all of this.
    expect(embeddings.data).toEqual(plainEmbeddings);
  });
});
