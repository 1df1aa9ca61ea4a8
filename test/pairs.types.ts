// Compile-time checks of mine() / pairLoss()'s public types (npm test runs tsc over test/ before
// vitest): pair miners give pairs and triplet miners triplets (a generic miner either); pairLoss
// types gradEmbeddings present by default and with gradients: true, gradRef exactly with ref, and
// neither with gradients: false; the async forms are typed alike; every documented option is
// accepted as a literal and wrong ones are rejected.
import { mine, mineAsync, pairLoss, pairLossAsync, type MineArgs, type MinedPairs, type MinedTriplets, type MinerSpec, type PairLossArgs, type PairLossResult } from './api';

const embeddings = { data: new Float32Array(6), shape: [2, 3] };
const ref = { data: new Float32Array(9), shape: [3, 3] };
const labels = new Int32Array([0, 1]);

export function pairMinersGivePairs(): Int32Array[] {
  const ms = mine({ embeddings, labels, miner: { type: 'multi-similarity', epsilon: 0.1 } });
  const pm = mine({ embeddings, labels, miner: { type: 'pair-margin', posMargin: 0.2, negMargin: 0.8 } });
  // @ts-expect-error pairs have no anchors list
  const anchors: Int32Array = ms.anchors;
  return [ms.positiveAnchors, ms.positives, ms.negativeAnchors, ms.negatives, pm.positiveAnchors, anchors];
}

export function tripletMinersGiveTriplets(): Int32Array[] {
  const tm = mine({ embeddings, labels, miner: { type: 'triplet-margin', margin: 0.2, triplets: 'semihard' } });
  const bh = mine({ embeddings, labels, ref, refLabels: [0, 1, 1], miner: { type: 'batch-hard' } });
  // @ts-expect-error triplets have no positiveAnchors
  const positiveAnchors: Int32Array = bh.positiveAnchors;
  return [tm.anchors, tm.positives, tm.negatives, bh.anchors, positiveAnchors];
}

export function aGenericMinerGivesEither(miner: MinerSpec): MinedPairs | MinedTriplets {
  const result = mine({ embeddings, labels, miner });
  // @ts-expect-error either kind
  const anchors: Int32Array = result.anchors;
  return anchors.length > 0 ? result : result;
}

export function resultsCarryTheirBackend(): string[] {
  const mined = mine({ embeddings, labels, miner: { type: 'batch-hard' }, backend: 'cpu' });
  const loss = pairLoss({ embeddings, labels, loss: { type: 'ntxent' }, backend: 'js' });
  const backends: ('cuda' | 'cpu' | 'wasm' | 'js')[] = [mined.backend, loss.backend];
  return backends;
}

export function gradientsArePresentByDefault(): Float32Array {
  const result = pairLoss({ embeddings, labels, loss: { type: 'multi-similarity' } });
  // @ts-expect-error no ref: no gradRef
  const gradRef: Float32Array = result.gradRef;
  return result.gradEmbeddings.length + result.loss > 0 ? result.gradEmbeddings : gradRef;
}

export function gradRefComesWithRef(): Float32Array[] {
  const result = pairLoss({ embeddings, labels, ref, refLabels: [1, 0, 1], selfIndex: [0, -1], loss: { type: 'circle' }, gradients: true });
  return [result.gradEmbeddings, result.gradRef];
}

export function gradientsFalseHasNoGradients(): number {
  const result = pairLoss({ embeddings, labels, ref, refLabels: [1, 0, 1], loss: { type: 'contrastive' }, gradients: false });
  // @ts-expect-error gradients were not requested
  const gradEmbeddings: Float32Array = result.gradEmbeddings;
  // @ts-expect-error gradients were not requested
  const gradRef: Float32Array = result.gradRef;
  return result.loss + gradEmbeddings.length + gradRef.length;
}

export async function asyncResultsAreTypedAlike(): Promise<number> {
  const pairs = await mineAsync({ embeddings, labels, miner: { type: 'multi-similarity' } });
  const triplets = await mineAsync({ embeddings, labels, miner: { type: 'triplet-margin' } });
  const withRef = await pairLossAsync({ embeddings, labels, ref, refLabels: [0, 0, 1], loss: { type: 'triplet-margin', margin: 0.1 }, miner: { type: 'batch-hard' } });
  const noGrad = await pairLossAsync({ embeddings, labels, loss: { type: 'ntxent' }, gradients: false });
  // @ts-expect-error gradients were not requested
  const g: Float32Array = noGrad.gradEmbeddings;
  return pairs.negatives.length + triplets.anchors.length + withRef.gradRef.length + withRef.gradEmbeddings.length + g.length + noGrad.loss;
}

export function everyOptionIsAccepted(): unknown[] {
  return [
    mine({
      embeddings: { data: [1, 2, 3, 4, 5, 6], dims: [2, 3], type: 'float32' },
      labels: [0, 1],
      ref: { shape: [3, 3], dtype: 'float32', dataSync: () => new Float32Array(9) },
      refLabels: { data: new Int32Array(3), shape: [3] },
      selfIndex: new Int32Array([2, -1]),
      distance: 'squared-euclidean',
      normalize: false,
      miner: { type: 'triplet-margin', margin: 0.3, triplets: 'easy' },
      maxOutputs: 1000,
      backend: 'auto',
    }),
    pairLoss({
      embeddings: { data: new Float64Array(6), shape: [2, 3] },
      labels,
      distance: 'cosine',
      normalize: true,
      loss: { type: 'threshold-consistent', lambdaPlus: 1, lambdaMinus: 0.5, marginPlus: 0.9, marginMinus: 0.4 },
      miner: { type: 'pair-margin', posMargin: 0.6, negMargin: 0.2 },
      gradients: true,
      backend: 'cpu',
    }),
    pairLoss({ embeddings, labels, loss: { type: 'multi-similarity', alpha: 2, beta: 50, base: 0.5 }, distance: 'dot' }),
    pairLoss({ embeddings, labels, loss: { type: 'contrastive', posMargin: 0, negMargin: 1 }, distance: 'euclidean' }),
    pairLoss({ embeddings, labels, loss: { type: 'circle', m: 0.25, gamma: 256 } }),
    pairLoss({ embeddings, labels, loss: { type: 'ntxent', temperature: 0.1 }, miner: { type: 'multi-similarity', epsilon: 0 } }),
  ];
}

export function wrongOptionsAreRejected(): unknown[] {
  return [
    // @ts-expect-error unknown miner type
    mine({ embeddings, labels, miner: { type: 'hard-negative' } }),
    // @ts-expect-error unknown triplet selection
    mine({ embeddings, labels, miner: { type: 'triplet-margin', triplets: 'medium' } }),
    // @ts-expect-error unknown distance
    mine({ embeddings, labels, miner: { type: 'batch-hard' }, distance: 'manhattan' }),
    // @ts-expect-error the miner is required
    mine({ embeddings, labels }),
    // @ts-expect-error the loss is required
    pairLoss({ embeddings, labels, miner: { type: 'batch-hard' } }),
    // @ts-expect-error unknown loss type
    pairLoss({ embeddings, labels, loss: { type: 'arcface' } }),
    // @ts-expect-error labels are required
    mine({ embeddings, miner: { type: 'batch-hard' } }),
  ];
}

// Issue 10, point 10: misspelled keys are compile errors at the top level and inside miner and
// loss (checked against the member their type names).
export function misspelledOptionsAreCompileErrors(): unknown[] {
  return [
    // @ts-expect-error minr is not an option (miner)
    pairLoss({ embeddings, labels, loss: { type: 'ntxent' }, minr: { type: 'batch-hard' } }),
    // @ts-expect-error refLabel is not an option (refLabels)
    mine({ embeddings, labels, ref, refLabel: [0, 1, 1], miner: { type: 'batch-hard' } }),
    // @ts-expect-error maxOutput is not an option (maxOutputs)
    mineAsync({ embeddings, labels, miner: { type: 'batch-hard' }, maxOutput: 10 }),
    // @ts-expect-error gradient is not an option (gradients)
    pairLossAsync({ embeddings, labels, loss: { type: 'ntxent' }, gradient: false }),
    // @ts-expect-error epsilon belongs to the multi-similarity miner, not to batch-hard
    mine({ embeddings, labels, miner: { type: 'batch-hard', epsilon: 0.1 } }),
    // @ts-expect-error temprature is not an ntxent key (temperature)
    pairLoss({ embeddings, labels, loss: { type: 'ntxent', temprature: 0.1 } }),
  ];
}

/** Generic callers that only know the argument types get the optional-gradient result and either mined kind. */
export function genericCallers(m: MineArgs, l: PairLossArgs): [MinedPairs | MinedTriplets, PairLossResult, Float32Array | undefined] {
  const loss = pairLoss(l);
  return [mine(m), loss, loss.gradEmbeddings];
}
