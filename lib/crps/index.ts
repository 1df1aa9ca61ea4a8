// crps() / crpsAsync(): CRPS of ensemble forecasts (docs/spec/crps.md), run through the
// one kernel path (lib/dispatch.ts).
import { runKernel, type KernelDescriptor } from '../dispatch';
import type { Exact } from '../exact';
import { crpsFallback } from './fallback';
import { crpsAddonArgs } from './native';
import { CRPS_OUTPUTS, planCrps, type CrpsArgs, type CrpsOutputs, type CrpsPlan, type CrpsResult, type CrpsResultOf } from './plan';
import { CRPS_WASM } from './wasm';


const CRPS: KernelDescriptor<CrpsPlan, CrpsOutputs, CrpsResult> = {
  name: 'crps',
  family: 'crps',
  plan: planCrps,
  outputs: CRPS_OUTPUTS,
  fallback: crpsFallback,
  addonArgs: crpsAddonArgs,
  wasm: CRPS_WASM,
  result: (outputs, _plan, backend) => ({ ...outputs, backend }),
};

/** CRPS scores, weighted mean and (optionally) gradients. See docs/spec/crps.md. */
export function crps<A extends CrpsArgs>(args: Exact<A, CrpsArgs>): CrpsResultOf<A> {
  return runKernel(CRPS, args, { async: false }) as CrpsResultOf<A>;
}

/** crps() off the JavaScript thread (libuv pool). Never throws: invalid arguments reject. */
export function crpsAsync<A extends CrpsArgs>(args: Exact<A, CrpsArgs>): Promise<CrpsResultOf<A>> {
  return runKernel(CRPS, args, { async: true }) as Promise<CrpsResultOf<A>>;
}
