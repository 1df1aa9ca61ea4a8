// mine() / mineAsync() and pairLoss() / pairLossAsync(): pair and triplet mining and the pair
// losses of metric learning (docs/spec/pairs.md), run through the one kernel
// path (lib/dispatch.ts).
import { runKernel, type KernelDescriptor } from '../dispatch';
import type { Exact } from '../exact';
import { mineFallback, pairLossFallback } from './fallback';
import { pairAddonArgs } from './native';
import { minesTriplets, PAIR_LOSS_OUTPUTS, planMine, planPairLoss } from './plan';
import type {
  MineArgs,
  MinedPairs,
  MinedTriplets,
  MineOutputs,
  MinePlan,
  MineResultOf,
  PairLossArgs,
  PairLossOutputs,
  PairLossPlan,
  PairLossResult,
  PairLossResultOf,
} from './types';
import { MINE_WASM, PAIR_LOSS_WASM } from './wasm';

const MINE: KernelDescriptor<MinePlan, MineOutputs, MinedPairs | MinedTriplets> = {
  name: 'mine',
  family: 'pairs',
  plan: planMine,
  outputs: [], // mined arrays are sized by the data: mine() refuses `out`
  fallback: mineFallback,
  addonArgs: pairAddonArgs,
  wasm: MINE_WASM,
  // Exactly the result fields of the miner's kind, whatever else a backend returned.
  result(outputs, plan, backend) {
    if (minesTriplets(plan.minerType)) {
      const { anchors, positives, negatives } = outputs as Omit<MinedTriplets, 'backend'>;
      return { anchors, positives, negatives, backend };
    }
    const { positiveAnchors, positives, negativeAnchors, negatives } = outputs as Omit<MinedPairs, 'backend'>;
    return { positiveAnchors, positives, negativeAnchors, negatives, backend };
  },
};

const PAIR_LOSS: KernelDescriptor<PairLossPlan, PairLossOutputs, PairLossResult> = {
  name: 'pairLoss',
  family: 'pairs',
  plan: planPairLoss,
  outputs: PAIR_LOSS_OUTPUTS,
  fallback: pairLossFallback,
  addonArgs: pairAddonArgs,
  wasm: PAIR_LOSS_WASM,
  result(outputs, plan, backend) {
    const result: PairLossResult = { loss: outputs.loss, backend };
    if (plan.gradients) {
      result.gradEmbeddings = outputs.gradEmbeddings;
      if (plan.ref) result.gradRef = outputs.gradRef;
    }
    return result;
  },
};

/** Mined pairs or triplets (canonical order). See docs/spec/pairs.md. */
export function mine<A extends MineArgs>(args: Exact<A, MineArgs, 'miner'>): MineResultOf<A> {
  return runKernel(MINE, args, { async: false }) as MineResultOf<A>;
}

/** mine() off the JavaScript thread (libuv pool). Never throws: invalid arguments reject. */
export function mineAsync<A extends MineArgs>(args: Exact<A, MineArgs, 'miner'>): Promise<MineResultOf<A>> {
  return runKernel(MINE, args, { async: true }) as Promise<MineResultOf<A>>;
}

/** A pair loss (over the pairs/triplets `miner` keeps, or all) and its gradients. See docs/spec/pairs.md. */
export function pairLoss<A extends PairLossArgs>(args: Exact<A, PairLossArgs, 'miner' | 'loss'>): PairLossResultOf<A> {
  return runKernel(PAIR_LOSS, args, { async: false }) as PairLossResultOf<A>;
}

/** pairLoss() off the JavaScript thread (libuv pool). Never throws: invalid arguments reject. */
export function pairLossAsync<A extends PairLossArgs>(args: Exact<A, PairLossArgs, 'miner' | 'loss'>): Promise<PairLossResultOf<A>> {
  return runKernel(PAIR_LOSS, args, { async: true }) as Promise<PairLossResultOf<A>>;
}
