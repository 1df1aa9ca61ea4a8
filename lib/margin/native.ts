// The margin plan as the native addon's arguments (native/napi/margin_binding.cc): the
// same fields, with each enum name replaced by its integer code.
import { enumCodes } from '../enum-codes';
import { PRECISION_CODES } from '../precision';
import { MARGIN_ENUMS } from './codes';
import { planMarginSoftmax, type MarginSoftmaxPlan } from './plan';

export function marginAddonArgs(plan: MarginSoftmaxPlan): Record<string, unknown> {
  return { ...plan, ...enumCodes(plan, MARGIN_ENUMS), ...enumCodes(plan, PRECISION_CODES) };
}

/** For tests that call the addon directly: raw arguments → the addon's arguments, as marginSoftmax() makes them. */
export function planMarginSoftmaxForAddon(args: unknown): { plan: Record<string, unknown> } {
  return { plan: marginAddonArgs(planMarginSoftmax(args).plan) };
}
