// Getters that detach an input's buffer in the middle of reading a call (issue 10, point 3):
// every property and array element of a call in turn becomes a getter that transfers one input
// array away (structuredClone with transfer) and then returns its value.  Through the public API
// the call must give the result of the untouched inputs (the array had already been copied) or
// ERR_FUSEDLOSS_INVALID_ARG (detached), never NaN from an emptied array.  Called directly, the
// native addon must read every property before it takes any data pointer, so a detached array is
// always seen (ERR_FUSEDLOSS_INVALID_ARG), never read after its memory was handed back; and its
// sizes (zero, fractional, unsafe, with products beyond memory) are coded errors.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { describe, expect, it } from 'vitest';

import { backendCases, Rng, testSeed } from './helpers';
import { asyncOutcomeOf, describeOutcome, ENTRY, errorCode, familyArgs, outcomeOf, sameResult, type Family, type Outcome } from './inputs-cases';
import { planCrpsForAddon as planCrps } from '../lib/crps/native';
import { planMarginSoftmaxForAddon as planMarginSoftmax } from '../lib/margin/native';
import { addon } from '../lib/native';
import { planMineForAddon as planMine, planPairLossForAddon as planPairLoss } from '../lib/pairs/native';

const SEED = testSeed('inputs.detach');
const BACKENDS = backendCases();
const FAMILIES: Family[] = ['crps', 'marginSoftmax', 'mine', 'pairLoss'];

// A full collection right after the transfer (for the property read last: each costs
// milliseconds), so that memory read after it is really gone (visible under AddressSanitizer).
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

type Path = (string | number)[];
type Node = Record<string | number, unknown>;

function at(root: unknown, path: Path): unknown {
  return path.reduce<unknown>((node, key) => (node as Node)[key], root);
}

/** Paths of every typed array (victims) and of every property and array element (triggers) under `root`. */
function paths(root: unknown): { victims: Path[]; triggers: Path[] } {
  const victims: Path[] = [];
  const triggers: Path[] = [];
  const walk = (node: unknown, path: Path) => {
    if (ArrayBuffer.isView(node)) {
      victims.push(path);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    for (const key of Object.keys(node)) {
      const child: Path = [...path, Array.isArray(node) ? Number(key) : key];
      triggers.push(child);
      walk((node as Node)[key], child);
    }
  };
  walk(root, []);
  return { victims, triggers };
}

/** Makes the property at `trigger` a getter that first transfers the buffer of the array at `victim` away. */
function armTrigger(root: unknown, trigger: Path, victim: Path, gc: boolean): void {
  const target = at(root, victim) as ArrayBufferView;
  const owner = at(root, trigger.slice(0, -1)) as Node;
  const key = trigger[trigger.length - 1];
  const value = owner[key];
  Object.defineProperty(owner, key, {
    enumerable: true,
    configurable: true,
    get() {
      if (target.buffer.byteLength > 0) {
        structuredClone(target.buffer, { transfer: [target.buffer as ArrayBuffer] });
        if (gc) collect();
      }
      return value;
    },
  });
}

const name = (path: Path) => path.map(String).join('.');

describe.each(BACKENDS)('backend $name', ({ name: backend, available }) => {
  describe.each(FAMILIES)('%s', (family) => {
    for (const form of ['sync', 'async'] as const) {
      it.skipIf(!available)(`${form}: a getter that detaches any input gives the untouched result or ERR_FUSEDLOSS_INVALID_ARG`, async () => {
        const make = () => ({ ...familyArgs(new Rng(SEED))[family](), backend });
        const expected = ENTRY[family].sync(make()) as Record<string, unknown>;
        const { victims, triggers } = paths(make());
        const failures: string[] = [];
        for (const victim of victims) {
          for (const trigger of triggers) {
            const args = make();
            armTrigger(args, trigger, victim, false);
            const outcome: Outcome = form === 'sync' ? outcomeOf(() => ENTRY[family].sync(args)) : await asyncOutcomeOf(() => ENTRY[family].async(args));
            const label = `${name(victim)} detached by ${name(trigger)}`;
            if ('result' in outcome) failures.push(...sameResult(outcome.result, expected, label));
            else if (errorCode(outcome.error) !== 'ERR_FUSEDLOSS_INVALID_ARG') failures.push(`${label}: ${describeOutcome(outcome)}`);
          }
        }
        expect(failures).toEqual([]);
      });
    }
  });
});

const PLANS: Record<Family, (args: unknown) => { plan: object }> = {
  crps: planCrps,
  marginSoftmax: planMarginSoftmax,
  mine: planMine,
  pairLoss: planPairLoss,
};

describe.skipIf(!BACKENDS[1].available)('the native addon called directly', () => {
  describe.each(FAMILIES)('%s', (family) => {
    for (const form of ['sync', 'async'] as const) {
      it(`${form}: a getter on any property that detaches any input array is seen: ERR_FUSEDLOSS_INVALID_ARG`, async () => {
        const native = addon()[form === 'sync' ? family : `${family}Async`] as (args: unknown) => unknown;
        const make = () => ({ ...PLANS[family](familyArgs(new Rng(SEED))[family]()).plan, device: 0 });
        const expected = (await native(make())) as Record<string, unknown>;
        expect(Object.keys(expected).length).toBeGreaterThan(0);
        const plan = make();
        const victims = Object.keys(plan).filter((key) => ArrayBuffer.isView((plan as Node)[key]));
        const failures: string[] = [];
        const keys = Object.keys(plan);
        for (const victim of victims) {
          for (const trigger of keys) {
            const args = make();
            armTrigger(args, [trigger], [victim], trigger === keys[keys.length - 1]);
            const outcome = await asyncOutcomeOf(() => native(args));
            if (!('error' in outcome) || errorCode(outcome.error) !== 'ERR_FUSEDLOSS_INVALID_ARG') {
              failures.push(`${victim} detached by ${trigger}: ${describeOutcome(outcome)}`);
            }
          }
        }
        expect(failures).toEqual([]);
      });
    }
  });
});

const SIZE_FIELDS: Record<Family, string[]> = {
  crps: ['outer', 'members', 'inner'],
  marginSoftmax: ['rows', 'dim', 'classes', 'weightRows'],
  mine: ['rows', 'dim', 'refs'],
  pairLoss: ['rows', 'dim', 'refs'],
};

describe.skipIf(!BACKENDS[1].available)('the native addon called directly: sizes', () => {
  it.each(FAMILIES)('%s: products beyond memory are ERR_FUSEDLOSS_TOO_LARGE or SHAPE, zero and unsafe sizes ERR_FUSEDLOSS_SHAPE', (family) => {
    const native = addon()[family] as (args: unknown) => unknown;
    const make = () => ({ ...PLANS[family](familyArgs(new Rng(SEED))[family]()).plan, device: 0 }) as Record<string, unknown>;
    const failures: string[] = [];
    const [first, second] = SIZE_FIELDS[family];
    const overflow = outcomeOf(() => native({ ...make(), [first]: 2 ** 31, [second]: 2 ** 31 }));
    if (!('error' in overflow) || !['ERR_FUSEDLOSS_TOO_LARGE', 'ERR_FUSEDLOSS_SHAPE'].includes(errorCode(overflow.error))) {
      failures.push(`${first}, ${second} = 2^31: ${describeOutcome(overflow)}`);
    }
    for (const field of SIZE_FIELDS[family]) {
      for (const bad of [0, -1, 0.5, 2 ** 53 + 2, NaN]) {
        const outcome = outcomeOf(() => native({ ...make(), [field]: bad }));
        if (!('error' in outcome) || errorCode(outcome.error) !== 'ERR_FUSEDLOSS_SHAPE') failures.push(`${field} = ${bad}: ${describeOutcome(outcome)}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
