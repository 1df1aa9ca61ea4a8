// mine and pairLoss on backend 'wasm': the plans as the calls of fl_mine and fl_pair_loss
// (native/wasm/pairs_exports.cc, whose order these lists follow), and their outputs as the
// kernels'.
import { wasmCall, wasmOutputs, type WasmAdapter } from '../wasm/run';
import { pairAddonArgs } from './native';
import { minesTriplets, PAIR_LOSS_OUTPUTS } from './plan';
import type { MineOutputs, MinePlan, PairLossOutputs, PairLossPlan } from './types';

const PAIR_SCALARS = [
  'rows', 'dim', 'refs', 'normalize', 'minerType', 'minerDistance', 'epsilon', 'minerMargin', 'triplets', 'minerPosMargin', 'minerNegMargin', 'precision',
] as const;
const PAIR_INPUTS = ['embeddings', 'ref', 'labels', 'refLabels', 'selfIndex'] as const;
const LOSS_SCALARS = [
  'lossType', 'lossDistance', 'alpha', 'beta', 'base', 'posMargin', 'negMargin', 'margin', 'circleM', 'gamma', 'temperature',
  'lambdaPlus', 'lambdaMinus', 'marginPlus', 'marginMinus', 'gradients',
] as const;
const MINED_ARRAYS = 4;

export const MINE_WASM: WasmAdapter<MinePlan, MineOutputs> = {
  call: (plan) => wasmCall('fl_mine', pairAddonArgs(plan), [...PAIR_SCALARS, 'maxOutputs'], PAIR_INPUTS, [], 2 * MINED_ARRAYS, MINED_ARRAYS),
  outputs(executed, plan) {
    const [first, second, third, fourth] = executed.returned;
    if (minesTriplets(plan.minerType)) return { anchors: first, positives: second, negatives: third };
    return { positiveAnchors: first, positives: second, negativeAnchors: third, negatives: fourth };
  },
};

export const PAIR_LOSS_WASM: WasmAdapter<PairLossPlan, PairLossOutputs> = {
  call: (plan) =>
    wasmCall('fl_pair_loss', pairAddonArgs(plan), [...PAIR_SCALARS, ...LOSS_SCALARS], PAIR_INPUTS, wasmOutputs(PAIR_LOSS_OUTPUTS, plan), 1),
  outputs: (executed) => ({ ...executed.outputs, loss: executed.results[0] }) as PairLossOutputs,
};
