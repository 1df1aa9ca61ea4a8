// crps on backend 'wasm': the plan as the call of fl_crps (native/wasm/crps_exports.cc, whose
// order these lists follow), and its outputs as crps's.
import { wasmCall, wasmOutputs, type WasmAdapter } from '../wasm/run';
import { crpsAddonArgs } from './native';
import { CRPS_OUTPUTS, type CrpsOutputs, type CrpsPlan } from './plan';

const SCALARS = ['outer', 'members', 'inner', 'alpha', 'nanPolicy', 'gradients', 'components'] as const;
const INPUTS = ['ensemble', 'observations', 'weights', 'gradOutput'] as const;

export const CRPS_WASM: WasmAdapter<CrpsPlan, CrpsOutputs> = {
  call: (plan) => wasmCall('fl_crps', crpsAddonArgs(plan), SCALARS, INPUTS, wasmOutputs(CRPS_OUTPUTS, plan), 1),
  outputs: (executed) => ({ ...executed.outputs, mean: executed.results[0] }) as CrpsOutputs,
};
