// The pair plans as the native addon's arguments (native/napi/pairs_binding.cc): the same
// fields, with each enum name replaced by its integer code.
import { enumCodes } from '../enum-codes';
import { PRECISION_CODES } from '../precision';
import { PAIR_ENUMS } from './codes';
import { planMine, planPairLoss } from './plan';
import type { MinePlan, PairLossPlan } from './types';

export function pairAddonArgs(plan: MinePlan | PairLossPlan): Record<string, unknown> {
  return { ...plan, ...enumCodes(plan, PAIR_ENUMS), ...enumCodes(plan, PRECISION_CODES) };
}

/** For tests that call the addon directly: raw arguments → the addon's arguments, as mine() makes them. */
export function planMineForAddon(args: unknown): { plan: Record<string, unknown> } {
  return { plan: pairAddonArgs(planMine(args).plan) };
}

/** For tests that call the addon directly: raw arguments → the addon's arguments, as pairLoss() makes them. */
export function planPairLossForAddon(args: unknown): { plan: Record<string, unknown> } {
  return { plan: pairAddonArgs(planPairLoss(args).plan) };
}
