// marginSoftmax on backend 'wasm': the plan as the call of fl_margin_softmax
// (native/wasm/margin_exports.cc, whose order these lists follow), and its outputs as
// marginSoftmax's.
import { wasmCall, wasmOutputs, type WasmAdapter } from '../wasm/run';
import { marginAddonArgs } from './native';
import { MARGIN_SOFTMAX_OUTPUTS, type MarginSoftmaxOutputs, type MarginSoftmaxPlan } from './plan';

const SCALARS = [
  'rows', 'dim', 'classes', 'subCenters', 'weightRows', 'marginType', 'm1', 'm2', 'm3', 'easyMargin', 'straightThrough', 'scale',
  'scaleMode', 'labelSmoothing', 'interclassFilter', 'filterThreshold', 'curricular', 'curricularT', 'curricularMomentum',
  'reduction', 'gradients', 'weightsColumns', 'precision',
] as const;
const INPUTS = ['embeddings', 'weights', 'targets', 'classIds', 'rowWeights', 'rowAngular', 'rowAdditive'] as const;

export const MARGIN_WASM: WasmAdapter<MarginSoftmaxPlan, MarginSoftmaxOutputs> = {
  call: (plan) => wasmCall('fl_margin_softmax', marginAddonArgs(plan), SCALARS, INPUTS, wasmOutputs(MARGIN_SOFTMAX_OUTPUTS, plan), 2),
  outputs: (executed) => ({ ...executed.outputs, loss: executed.results[0], curricularT: executed.results[1] }) as MarginSoftmaxOutputs,
};
