// Compile-time checks of marginSoftmax's public types (npm test runs tsc over test/ before vitest):
// gradEmbeddings / gradWeights are typed present by default and with gradients: true, absent with
// gradients: false; curricularT is present exactly when curricular is given; the async form is
// typed alike; every documented option is accepted as a literal.
import { marginSoftmax, marginSoftmaxAsync, type MarginSoftmaxArgs, type MarginSoftmaxResult } from './api';

const embeddings = { data: new Float32Array(6), shape: [2, 3] };
const weights = { data: new Float32Array(12), shape: [4, 3] };
const labels = new Int32Array([0, 3]);

export function gradientsArePresentByDefault(): Float32Array[] {
  const result = marginSoftmax({ embeddings, weights, labels });
  // @ts-expect-error curricular was not given
  const t: number = result.curricularT;
  return [result.gradEmbeddings, result.gradWeights, result.losses, result.logSumExp, new Float32Array([t])];
}

export function gradientsTrueIsLikeTheDefault(): Float32Array[] {
  const result = marginSoftmax({ embeddings, weights, labels, gradients: true, margin: { type: 'cosface', m: 0.35 } });
  return [result.gradEmbeddings, result.gradWeights];
}

export function gradientsFalseHasNoGradients(): [Float32Array, Float32Array, Int32Array] {
  const result = marginSoftmax({ embeddings, weights, labels, gradients: false });
  // @ts-expect-error gradients were not requested
  const gradEmbeddings: Float32Array = result.gradEmbeddings;
  // @ts-expect-error gradients were not requested
  const gradWeights: Float32Array = result.gradWeights;
  return [gradEmbeddings, gradWeights, result.predictions];
}

export function curricularTIsPresentWithCurricular(): number {
  const result = marginSoftmax({ embeddings, weights, labels, curricular: { t: 0, momentum: 0.01 } });
  const grads: Float32Array[] = [result.gradEmbeddings, result.gradWeights];
  return result.curricularT + grads.length;
}

export async function asyncResultsAreTypedAlike(): Promise<number> {
  const withAll = await marginSoftmaxAsync({ embeddings, weights, labels, curricular: { t: 0.1 } });
  const noGrad = await marginSoftmaxAsync({ embeddings, weights, labels, gradients: false });
  // @ts-expect-error gradients were not requested
  const g: Float32Array = noGrad.gradWeights;
  // @ts-expect-error curricular was not given
  const t: number = noGrad.curricularT;
  return withAll.curricularT + withAll.gradEmbeddings.length + withAll.gradWeights.length + g.length + t + noGrad.loss;
}

export function everyOptionIsAccepted(): MarginSoftmaxResult {
  return marginSoftmax({
    embeddings: { data: [1, 2, 3, 4, 5, 6], dims: [2, 3], type: 'float32' },
    weights: { shape: [3, 4], dtype: 'float32', dataSync: () => new Float32Array(12) },
    weightsLayout: 'columns',
    labels: [0, -1],
    margin: { type: 'combined', m1: 1, m2: 0.3, m3: 0.2, easyMargin: true, gradient: 'straight-through' },
    rowMargins: { angular: new Float64Array(2), additive: [0.1, 0.2] },
    scale: 32,
    scaleMode: 'product-norm',
    subCenters: 2,
    labelSmoothing: 0.1,
    interclassFilter: 0.5,
    curricular: { t: 0 },
    classIndices: [1, 0],
    rowWeights: new Float32Array(2),
    reduction: 'sum',
    gradients: true,
    backend: 'auto',
  });
}

export function wrongOptionsAreRejected(): unknown[] {
  return [
    // @ts-expect-error unknown margin type
    marginSoftmax({ embeddings, weights, labels, margin: { type: 'magface' } }),
    // @ts-expect-error unknown scaleMode
    marginSoftmax({ embeddings, weights, labels, scaleMode: 'norm' }),
    // @ts-expect-error labels are required
    marginSoftmax({ embeddings, weights }),
  ];
}

// Issue 10, point 10: misspelled keys are compile errors at the top level and inside the margin,
// rowMargins and curricular objects (a margin key is checked against the member its type names).
export function misspelledOptionsAreCompileErrors(): unknown[] {
  return [
    // @ts-expect-error weightLayout is not an option (weightsLayout)
    marginSoftmax({ embeddings, weights, labels, weightLayout: 'columns' }),
    // @ts-expect-error scaleModes is not an option (scaleMode)
    marginSoftmaxAsync({ embeddings, weights, labels, scaleModes: 'fixed' }),
    // @ts-expect-error margin is not a margin key (m)
    marginSoftmax({ embeddings, weights, labels, margin: { type: 'arcface', margin: 0.5 } }),
    // @ts-expect-error m1 belongs to the combined margin, not to arcface
    marginSoftmax({ embeddings, weights, labels, margin: { type: 'arcface', m1: 1 } }),
    // @ts-expect-error momentun is not a curricular key (momentum)
    marginSoftmax({ embeddings, weights, labels, curricular: { t: 0, momentun: 0.1 } }),
    // @ts-expect-error angle is not a rowMargins key (angular)
    marginSoftmax({ embeddings, weights, labels, rowMargins: { angle: [0.1, 0.2] } }),
  ];
}

export function correctNestedOptionsStillInferTheResult(): number {
  const result = marginSoftmax({ embeddings, weights, labels, margin: { type: 'combined', m1: 1, m2: 0.3 }, curricular: { t: 0, momentum: 0.1 }, rowMargins: { angular: [0.1, 0.2] } });
  return result.curricularT + result.gradWeights.length;
}

/** A generic caller that only knows MarginSoftmaxArgs gets the optional-gradient result type. */
export function genericCaller(args: MarginSoftmaxArgs): Float32Array | undefined {
  return marginSoftmax(args).gradEmbeddings;
}
