// fusedloss/tfjs: the kernels as TensorFlow.js losses.  Each function takes tf tensors and returns
// a tf scalar made with tf.customGrad: the forward pass calls marginSoftmax / pairLoss / crps with
// gradients (the kernels return them with the loss, in one pass), and the backward pass hands those
// gradients back scaled by the upstream dy, so tf.grads, tf.variableGrads and optimizer.minimize
// train through the native kernels.  Tensors are read with dataSync() (no copy on tfjs's cpu
// backend).  The forward pass always computes the gradients (they come with the loss); to only
// evaluate, call marginSoftmax / pairLoss / crps from the main entry, which accept tf tensors too.
//
// @tensorflow/tfjs is an optional peer dependency, loaded on the first call (never by the main
// `fusedloss` entry, nor by importing this module; the browser build imports it with this module,
// lib/tf-module.browser.ts).  For another build of TensorFlow.js
// (@tensorflow/tfjs-core with a backend of your choice, tfjs-node) pass its namespace to withTf().
import type * as tfjs from '@tensorflow/tfjs';

import { crps } from './crps';
import { CRPS_KEYS, type CrpsArgs, type CrpsResult } from './crps/plan';
import { firstLine, invalidArg, shapeError } from './errors';
import { toLabels, type LabelsLike } from './labels';
import { marginSoftmax } from './margin';
import { MARGIN_SOFTMAX_KEYS, type MarginSoftmaxArgs, type MarginSoftmaxResult } from './margin/plan';
import { pairLoss } from './pairs';
import { PAIR_LOSS_KEYS } from './pairs/plan';
import type { PairLossArgs, PairLossResult } from './pairs/types';
import { lookup } from './read-once';
import { loadTfModule } from './tf-module';
import { readOptions } from './validate';

/** The parts of a TensorFlow.js namespace these losses use (`import * as tf from '@tensorflow/tfjs'` has them). */
export interface TfNamespace {
  /** tf.Tensor, to check that inputs are tensors of this TensorFlow.js. */
  Tensor: typeof tfjs.Tensor;
  /** tf.customGrad, which hands the kernels' gradients to tf's autodiff. */
  customGrad: typeof tfjs.customGrad;
  /** tf.tensor, to wrap the gradients. */
  tensor: typeof tfjs.tensor;
  /** tf.scalar, to wrap the loss. */
  scalar: typeof tfjs.scalar;
  /** tf.mul, to scale the gradients by the upstream dy. */
  mul: typeof tfjs.mul;
}

/**
 * Options of {@link marginSoftmaxLoss}: every marginSoftmax() option except the tensors and
 * `gradients`.  Defaults as in marginSoftmax(): margin `{ type: 'arcface', m: 0.5 }` (radians),
 * scale 64, scaleMode 'fixed', weightsLayout 'rows' ([C·K, D]; use 'columns' for a [D, C·K]
 * matrix such as a tf.layers.dense kernel), subCenters 1, labelSmoothing 0, reduction 'mean',
 * backend 'auto'.  Vector options (rowWeights, rowMargins, classIndices) may be tf tensors; they
 * receive no gradient.
 */
export type MarginSoftmaxLossOptions = Omit<MarginSoftmaxArgs, 'embeddings' | 'weights' | 'labels' | 'gradients' | 'out'> & {
  /** Called after each forward pass with the kernel's full result (predictions, per-row losses, curricularT, backend). */
  onResult?: (result: MarginSoftmaxResult) => void;
};

/**
 * Options of {@link pairwiseLoss}: every pairLoss() option except the tensors and `gradients`.
 * `loss` is required (e.g. `{ type: 'multi-similarity' }`, defaults alpha 2, beta 50, base 0.5);
 * `miner` optional (restricts the pairs first); `distance` defaults to the loss's own; `normalize`
 * defaults to true (false for 'dot'); backend 'auto'.
 */
export type PairwiseLossOptions = Omit<PairLossArgs, 'embeddings' | 'labels' | 'ref' | 'gradients' | 'out'> & {
  /** Reference set [M, D] (a memory bank or a second view); receives a gradient. Requires refLabels. Default: the batch itself. */
  ref?: tfjs.Tensor;
  /** Called after each forward pass with the kernel's result. */
  onResult?: (result: PairLossResult) => void;
};

/**
 * Options of {@link crpsLoss}: the crps() options that shape the mean.  Defaults: memberAxis -1,
 * estimator 'standard' ('fair', 'almost-fair' with alpha 0.95), weights all 1 (point weights of
 * the weighted mean, e.g. latitude weights; may be a tf tensor, no gradient), nanPolicy
 * 'propagate', backend 'auto'.
 */
export type CrpsLossOptions = Omit<CrpsArgs, 'ensemble' | 'observations' | 'gradients' | 'gradOutput' | 'components' | 'out'> & {
  /** Called after each forward pass with the kernel's result (per-point scores, backend). */
  onResult?: (result: CrpsResult) => void;
};

/** The three losses bound to one TensorFlow.js namespace. */
export interface TfLosses {
  /** {@link marginSoftmaxLoss} on this namespace. */
  marginSoftmaxLoss: typeof marginSoftmaxLoss;
  /** {@link pairwiseLoss} on this namespace. */
  pairwiseLoss: typeof pairwiseLoss;
  /** {@link crpsLoss} on this namespace. */
  crpsLoss: typeof crpsLoss;
}

let defaultTf: TfNamespace | null = null;

function loadTf(): TfNamespace {
  if (defaultTf) return defaultTf;
  try {
    defaultTf = loadTfModule() as TfNamespace;
  } catch (error) {
    throw Object.assign(
      new Error(`fusedloss/tfjs needs @tensorflow/tfjs (npm install @tensorflow/tfjs), or pass your tf namespace to withTf(tf): ${firstLine(error)}`),
      { code: 'ERR_FUSEDLOSS_BACKEND' },
    );
  }
  return defaultTf;
}

function checkTensor(tf: TfNamespace, value: unknown, name: string): tfjs.Tensor {
  if (!(value instanceof tf.Tensor)) {
    const hint = typeof value === 'object' && value !== null && lookup(value, 'dataSync').found
      ? ' from this TensorFlow.js (a tensor of another copy of tfjs-core? pass that tf to withTf(tf))'
      : '';
    throw invalidArg(`${name} must be a tf.Tensor${hint}`);
  }
  if (value.dtype !== 'float32') throw invalidArg(`${name} must be a float32 tensor, got dtype ${value.dtype}`);
  return value;
}

/**
 * A loss's options read once (readOptions: never from Object.prototype): the kernel's own options
 * except those the loss supplies itself (`supplied`), plus onResult.
 */
function splitOptions<T extends { onResult?: unknown }>(
  options: T | undefined,
  kernelKeys: readonly string[],
  supplied: readonly string[],
): { rest: Omit<T, 'onResult'>; onResult: T['onResult'] } {
  const known = [...kernelKeys.filter((key) => !supplied.includes(key)), 'onResult'];
  const rest = options === undefined ? Object.create(null) : readOptions(checkOptionsObject(options), known, 'options');
  const onResult = rest.onResult;
  delete rest.onResult;
  if (onResult !== undefined && typeof onResult !== 'function') throw invalidArg('options.onResult must be a function');
  // `rest` keeps no prototype: reading an option it lacks gives undefined, whatever Object.prototype holds.
  return { rest, onResult };
}

function checkOptionsObject(options: unknown): Record<string, unknown> {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw invalidArg('options must be an object');
  return options as Record<string, unknown>;
}

/**
 * gradWeights of a Partial FC call hold only the rows of classIndices (K per class, in that
 * order); the tf gradient must have the shape of the whole weights tensor, zero elsewhere.
 */
function scatterClassRows(grad: Float32Array, classIds: Int32Array, subCenters: number, shape: readonly number[], columns: boolean): Float32Array {
  const full = new Float32Array(shape[0] * shape[1]);
  const [centers, dim] = columns ? [shape[1], shape[0]] : [shape[0], shape[1]];
  const subset = classIds.length * subCenters;
  for (let t = 0; t < classIds.length; t++) {
    for (let k = 0; k < subCenters; k++) {
      const from = t * subCenters + k;
      const to = classIds[t] * subCenters + k;
      if (columns) {
        for (let d = 0; d < dim; d++) full[d * centers + to] = grad[d * subset + from];
      } else {
        full.set(grad.subarray(from * dim, (from + 1) * dim), to * dim);
      }
    }
  }
  return full;
}

function marginSoftmaxLossWith(
  tf: TfNamespace,
  embeddings: tfjs.Tensor,
  weights: tfjs.Tensor,
  labels: LabelsLike,
  options?: MarginSoftmaxLossOptions,
): tfjs.Scalar {
  checkTensor(tf, embeddings, 'embeddings');
  checkTensor(tf, weights, 'weights');
  const { rest, onResult } = splitOptions(options, MARGIN_SOFTMAX_KEYS, ['embeddings', 'weights', 'labels', 'gradients', 'out']);
  // Read once: the kernel and the scatter of its gradient below must see the same class ids.
  const classIds = rest.classIndices === undefined ? undefined : toLabels(rest.classIndices, 'classIndices');
  const loss = tf.customGrad((e, w) => {
    const x = e as tfjs.Tensor;
    const W = w as tfjs.Tensor;
    const result = marginSoftmax({ ...rest, classIndices: classIds, embeddings: x, weights: W, labels, gradients: true });
    onResult?.(result);
    let gradWeights = result.gradWeights;
    if (classIds !== undefined) {
      gradWeights = scatterClassRows(gradWeights, classIds, rest.subCenters ?? 1, W.shape, rest.weightsLayout === 'columns');
    }
    return {
      value: tf.scalar(result.loss, 'float32'),
      gradFunc: (dy: tfjs.Tensor) => [
        tf.mul(tf.tensor(result.gradEmbeddings, x.shape, 'float32'), dy),
        tf.mul(tf.tensor(gradWeights, W.shape, 'float32'), dy),
      ],
    };
  });
  return loss(embeddings, weights) as tfjs.Scalar;
}

function pairwiseLossWith(tf: TfNamespace, embeddings: tfjs.Tensor, labels: LabelsLike, options: PairwiseLossOptions): tfjs.Scalar {
  checkTensor(tf, embeddings, 'embeddings');
  if (typeof options !== 'object' || options === null) throw invalidArg('options must be an object with at least { loss }');
  const { rest, onResult } = splitOptions(options, PAIR_LOSS_KEYS, ['embeddings', 'labels', 'gradients', 'out']);
  const { ref, ...args } = rest;
  if (ref !== undefined) checkTensor(tf, ref, 'ref');
  const loss = tf.customGrad((...inputs) => {
    // customGrad passes the inputs, then its save function.
    const x = inputs[0] as tfjs.Tensor;
    const r = ref === undefined ? undefined : (inputs[1] as tfjs.Tensor);
    const result = pairLoss({ ...args, embeddings: x, labels, ...(r ? { ref: r } : {}), gradients: true });
    onResult?.(result);
    const { gradEmbeddings, gradRef } = result;
    if (!gradEmbeddings || (r && !gradRef)) throw shapeError('pairLoss returned no gradients');
    return {
      value: tf.scalar(result.loss, 'float32'),
      gradFunc: (dy: tfjs.Tensor) => {
        const grads = [tf.mul(tf.tensor(gradEmbeddings, x.shape, 'float32'), dy)];
        if (r && gradRef) grads.push(tf.mul(tf.tensor(gradRef, r.shape, 'float32'), dy));
        return grads;
      },
    };
  });
  return (ref === undefined ? loss(embeddings) : loss(embeddings, ref)) as tfjs.Scalar;
}

function crpsLossWith(tf: TfNamespace, ensemble: tfjs.Tensor, observations: tfjs.Tensor, options?: CrpsLossOptions): tfjs.Scalar {
  checkTensor(tf, ensemble, 'ensemble');
  checkTensor(tf, observations, 'observations');
  const { rest, onResult } = splitOptions(options, CRPS_KEYS, ['ensemble', 'observations', 'gradients', 'gradOutput', 'components', 'out']);
  const loss = tf.customGrad((e, o) => {
    const x = e as tfjs.Tensor;
    const y = o as tfjs.Tensor;
    const result = crps({ ...rest, ensemble: x, observations: y, gradients: true });
    onResult?.(result);
    return {
      value: tf.scalar(result.mean, 'float32'),
      gradFunc: (dy: tfjs.Tensor) => [
        tf.mul(tf.tensor(result.gradEnsemble, x.shape, 'float32'), dy),
        // crps checked that observations hold one value per point, flat or point-shaped.
        tf.mul(tf.tensor(result.gradObservations, y.shape, 'float32'), dy),
      ],
    };
  });
  return loss(ensemble, observations) as tfjs.Scalar;
}

/**
 * Margin softmax loss (ArcFace family; marginSoftmax() of the main entry) as a tf scalar with
 * gradients to `embeddings` [N, D] and to `weights` (a tf.Variable of class centers, [C·K, D] or
 * with `weightsLayout: 'columns'` [D, C·K]).  `labels`: class per row (a tf int32 tensor,
 * Int32Array or number[]); −1 ignores a row.  With classIndices (Partial FC) the weights gradient
 * is zero outside those classes.
 *
 * ```ts
 * const W = tf.variable(tf.randomNormal([512, 1000]));      // like a dense kernel: columns
 * optimizer.minimize(() => marginSoftmaxLoss(model.apply(x) as tf.Tensor, W, labels,
 *   { weightsLayout: 'columns', margin: { type: 'arcface', m: 0.5 }, scale: 64 }));
 * ```
 */
export function marginSoftmaxLoss(embeddings: tfjs.Tensor, weights: tfjs.Tensor, labels: LabelsLike, options?: MarginSoftmaxLossOptions): tfjs.Scalar {
  return marginSoftmaxLossWith(loadTf(), embeddings, weights, labels, options);
}

/**
 * A pair loss (pairLoss() of the main entry: multi-similarity, contrastive, triplet-margin,
 * circle, NT-Xent, threshold-consistent; optionally over a miner's pairs) as a tf scalar with
 * gradients to `embeddings` [N, D] (and to `options.ref` [M, D] when given).  `labels`: class per
 * row (tf int32 tensor, Int32Array or number[]).
 */
export function pairwiseLoss(embeddings: tfjs.Tensor, labels: LabelsLike, options: PairwiseLossOptions): tfjs.Scalar {
  return pairwiseLossWith(loadTf(), embeddings, labels, options);
}

/**
 * CRPS of an ensemble (crps() of the main entry): the (weighted) mean over points as a tf scalar,
 * with gradients to `ensemble` (members on `memberAxis`, default the last) and to `observations`
 * (one value per point: flat, or shaped like the ensemble without its member axis).
 */
export function crpsLoss(ensemble: tfjs.Tensor, observations: tfjs.Tensor, options?: CrpsLossOptions): tfjs.Scalar {
  return crpsLossWith(loadTf(), ensemble, observations, options);
}

/**
 * The same losses bound to a given TensorFlow.js namespace, for builds other than the
 * `@tensorflow/tfjs` this package would load (e.g. `@tensorflow/tfjs-core` with the wasm backend).
 */
export function withTf(tf: TfNamespace): TfLosses {
  if (typeof tf !== 'object' || tf === null || typeof tf.customGrad !== 'function' || typeof tf.Tensor !== 'function') {
    throw invalidArg('withTf(tf) needs a TensorFlow.js namespace (import * as tf from "@tensorflow/tfjs")');
  }
  return {
    marginSoftmaxLoss: (embeddings, weights, labels, options) => marginSoftmaxLossWith(tf, embeddings, weights, labels, options),
    pairwiseLoss: (embeddings, labels, options) => pairwiseLossWith(tf, embeddings, labels, options),
    crpsLoss: (ensemble, observations, options) => crpsLossWith(tf, ensemble, observations, options),
  };
}
