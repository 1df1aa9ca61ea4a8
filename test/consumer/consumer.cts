// A typed consumer of the built package, compiled as CommonJS (the "require" condition of
// package.json exports).  consumer.mts is the same code compiled as an ES module.
// consumer.test.ts checks that the two stay identical below this header.

import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import {
  adaFaceMargins,
  backendInfo,
  crps,
  crpsAsync,
  ErrorCode,
  marginSoftmax,
  mine,
  pairLoss,
  setThreads,
  toOrtTensor,
  type BackendInfo,
  type CrpsArgs,
  type FusedLossError,
  type MarginSoftmaxArgs,
  type PairLossArgs,
  type TensorLike,
} from 'fusedloss';
import { crpsLoss, marginSoftmaxLoss, pairwiseLoss, withTf, type MarginSoftmaxLossOptions } from 'fusedloss/tfjs';

const ensemble: TensorLike = { data: new Float32Array(8), shape: [2, 4] };
const args: CrpsArgs = { ensemble, observations: [1, 2], estimator: 'fair', weights: new Float32Array([1, 2]) };

export function crpsTypes(): Float32Array[] {
  const plain = crps(args);
  // @ts-expect-error gradients were not requested literally
  const missing: Float32Array = plain.gradEnsemble;
  const withGrad = crps({ ensemble, observations: [1, 2], gradients: true, memberAxis: -1 });
  // @ts-expect-error the mean is a number
  const wrong: string = withGrad.mean;
  // @ts-expect-error not an estimator
  crps({ ensemble, observations: [1, 2], estimator: 'energy' });
  return [plain.scores, missing, withGrad.gradEnsemble, withGrad.gradObservations, new Float32Array([Number(wrong)])];
}

export async function otherKernels(): Promise<number> {
  const margin: MarginSoftmaxArgs = {
    embeddings: { data: new Float32Array(6), shape: [2, 3] },
    weights: { data: new Float32Array(12), shape: [4, 3] },
    labels: new Int32Array([0, 3]),
    margin: { type: 'arcface', m: 0.5 },
    scale: 64,
  };
  const m = marginSoftmax(margin);
  const grads: Float32Array[] = [m.gradEmbeddings, m.gradWeights];
  const pairArgs: PairLossArgs = { embeddings: margin.embeddings, labels: [0, 1], loss: { type: 'multi-similarity' } };
  const p = pairLoss({ ...pairArgs, ref: margin.embeddings, refLabels: [0, 1] });
  const t = mine({ embeddings: margin.embeddings, labels: [0, 1], miner: { type: 'batch-hard' } });
  const anchors: Int32Array = t.anchors;
  const info: BackendInfo = backendInfo();
  setThreads(1);
  const a = await crpsAsync(args);
  const code: string = ErrorCode.SHAPE;
  const error = null as FusedLossError | null;
  const ada: string = typeof adaFaceMargins;
  return grads.length + p.gradRef.length + anchors.length + Number(info.native) + a.mean + code.length + (error?.code.length ?? 0) + ada.length;
}

export function tfjsTypes(): tf.Scalar[] {
  const x = tf.zeros([2, 3]);
  const W = tf.variable(tf.zeros([4, 3]));
  const labels = tf.tensor1d([0, 3], 'int32');
  const options: MarginSoftmaxLossOptions = { margin: { type: 'cosface', m: 0.35 }, scale: 30, weightsLayout: 'rows', onResult: (r) => r.predictions };
  const optimizer = tf.train.sgd(0.1);
  optimizer.minimize(() => marginSoftmaxLoss(x, W, labels, options), false, [W]);
  const pair: tf.Scalar = pairwiseLoss(x, labels, { loss: { type: 'ntxent', temperature: 0.1 }, ref: x, refLabels: labels });
  const score: tf.Scalar = crpsLoss(tf.zeros([5, 10]), tf.zeros([5]), { estimator: 'almost-fair', alpha: 0.9 });
  // @ts-expect-error observations must be a tf tensor
  crpsLoss(tf.zeros([5, 10]), [1, 2, 3, 4, 5]);
  // @ts-expect-error pairwiseLoss needs options with a loss
  pairwiseLoss(x, labels);
  // @ts-expect-error not a margin type
  marginSoftmaxLoss(x, W, labels, { margin: { type: 'arc' } });
  const bound = withTf(tf);
  return [pair, score, bound.crpsLoss(tf.zeros([1, 2]), tf.zeros([1]))];
}

export async function ortTypes(session: ort.InferenceSession, pixels: Float32Array): Promise<ort.Tensor[]> {
  const { embeddings } = await session.run({ pixels: toOrtTensor(ort, pixels, [pixels.length / 64, 64]) });
  const labels = new ort.Tensor('int64', new BigInt64Array(embeddings.dims[0]), [embeddings.dims[0]]);
  const mined = mine({ embeddings, labels, miner: { type: 'multi-similarity' } });
  const scored = pairLoss({ embeddings, labels, loss: { type: 'contrastive' }, gradients: true });
  const gradient: ort.Tensor = toOrtTensor(ort, scored.gradEmbeddings, embeddings.dims);
  // @ts-expect-error a plain array is not a typed array
  toOrtTensor(ort, [1, 2, 3]);
  return [toOrtTensor(ort, mined.positives), gradient];
}
