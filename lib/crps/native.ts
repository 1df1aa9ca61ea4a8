// The CRPS plan as the native addon's arguments (native/napi/crps_binding.cc): the same fields,
// with each enum name replaced by its integer code.
import { enumCodes } from '../enum-codes';
import { CRPS_ENUMS } from './codes';
import { planCrps, type CrpsPlan } from './plan';

export function crpsAddonArgs(plan: CrpsPlan): Record<string, unknown> {
  return { ...plan, ...enumCodes(plan, CRPS_ENUMS) };
}

/** For tests that call the addon directly: raw arguments → the addon's arguments, as crps() makes them. */
export function planCrpsForAddon(args: unknown): { plan: Record<string, unknown> } {
  return { plan: crpsAddonArgs(planCrps(args).plan) };
}
