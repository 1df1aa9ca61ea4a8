// Compile-time checks of the public types (npm test runs tsc over test/ before vitest): results
// carry gradients and components exactly when the call asks for them, and TensorFlow.js-style
// objects (shape, dtype, dataSync) are accepted as literals.
import { crps, crpsAsync } from './api';

const data = new Float32Array(8);

export function gradientsArePresentWhenRequested(): Float32Array[] {
  const result = crps({ ensemble: { data, shape: [2, 4] }, observations: [1, 2], gradients: true });
  // @ts-expect-error components were not requested
  const skill: Float32Array = result.skill;
  return [result.gradEnsemble, result.gradObservations, result.scores, skill];
}

export function componentsArePresentWhenRequested(): Float32Array[] {
  const result = crps({ ensemble: { shape: [2, 4], dtype: 'float32', dataSync: () => data }, observations: [1, 2], components: true });
  // @ts-expect-error gradients were not requested
  const grad: Float32Array = result.gradEnsemble;
  return [result.skill, result.spread, grad];
}

export async function asyncResultsAreTypedAlike(): Promise<Float32Array[]> {
  const result = await crpsAsync({ ensemble: { data, dims: [2, 4], type: 'float32' }, observations: [1, 2], gradients: true, components: true });
  return [result.gradEnsemble, result.gradObservations, result.skill, result.spread];
}

// Issue 10, point 10: crps is generic in its argument (so the result type follows the call), and
// a generic parameter alone would accept unknown keys; Exact<A, CrpsArgs> makes them errors.
export function misspelledOptionsAreCompileErrors(): unknown[] {
  const ensemble = { data, shape: [2, 4] };
  const withExtraKey = { ensemble, observations: [1, 2], memberaxis: 0 };
  return [
    // @ts-expect-error estimater is not an option (estimator)
    crps({ ensemble, observations: [1, 2], estimater: 'fair' }),
    // @ts-expect-error gradient is not an option (gradients)
    crpsAsync({ ensemble, observations: [1, 2], gradient: true }),
    // @ts-expect-error unknown keys are errors in a variable too, as at run time
    crps(withExtraKey),
  ];
}
