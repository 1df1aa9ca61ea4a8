// The integer codes lib/ sends the native addon, held against the names the addon exports
// (addon.codes, built from the X-macro lists of native/kernels/*_types.h).  First the source:
// lib/'s code tables (lib/<family>/codes.ts, DEVICE_CODES) must be addon.codes, key for key, name
// for name in code order, so a reordered, added or removed enum member on either side fails here.
// Then the route: every option string a call accepts must arrive as the code whose C++ name is
// that string, and every C++ code must be one that some option string sends.  The plans are captured by a wrapper around the real addon that also claims a CUDA
// device (so the 'cuda' device code is seen without a GPU) and runs every call on the CPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CRPS_ENUMS } from '../lib/crps/codes';
import { DEVICE_CODES, type EnumTable } from '../lib/enum-codes';
import { MARGIN_ENUMS } from '../lib/margin/codes';
import { native, resetNativeForTesting, type NativeAddon } from '../lib/native';
import { PAIR_ENUMS } from '../lib/pairs/codes';
import { PRECISION_CODES, type Precision } from '../lib/precision';
import { crps, marginSoftmax, mine, pairLoss, type MarginSoftmaxArgs, type MinerSpec, type PairLossSpec } from './api';

type Plan = Record<string, unknown>;
const REAL = native().addon;
const ENTRIES = ['crps', 'marginSoftmax', 'mine', 'pairLoss'] as const;
let sent: Plan | null = null;

function recordingAddon(real: NativeAddon): NativeAddon {
  const fake: NativeAddon = {
    ...real,
    cudaInfo: () => ({ built: true, available: true, reason: null, devices: [] }),
    cudaSelfTestRecord: () => ({ passed: true, reason: null }),
  };
  for (const entry of ENTRIES) {
    const kernel = real[entry] as (plan: Plan) => unknown;
    fake[entry] = (plan: Plan) => {
      sent = plan;
      return kernel({ ...plan, device: 0 });
    };
  }
  return fake;
}

/** The code `call` sent in the plan's `field`. */
function sentCode(call: () => unknown, field: string): number {
  sent = null;
  call();
  expect(sent, `no native call was made for ${field}`).not.toBeNull();
  const code = sent![field];
  expect(Number.isInteger(code), `${field} = ${String(code)} is not an integer code`).toBe(true);
  return code as number;
}

type Codes = Readonly<Record<string, readonly string[]>>;
const codes = (REAL?.codes ?? {}) as Codes;

/**
 * Each option of `cases` ([what the caller passes, the C++ name expected, the call, the plan
 * field]) must be sent as codes[key]'s code of that name, and together they must send every code.
 */
function checkEnum(key: string, cases: readonly [option: string, name: string, call: () => unknown, field: string][]): void {
  const names = codes[key];
  expect(Array.isArray(names), `addon.codes.${key} is missing`).toBe(true);
  const seen = new Set<number>();
  for (const [option, name, call, field] of cases) {
    const code = sentCode(call, field);
    expect(names[code], `${key}: '${option}' is sent as ${field} = ${code}`).toBe(name);
    seen.add(code);
  }
  expect([...seen].sort((a, b) => a - b), `${key}: codes no option sends`).toEqual(names.map((_, code) => code));
}

/** The same name on both sides. */
function same(option: string, call: () => unknown, field: string): [string, string, () => unknown, string] {
  return [option, option, call, field];
}

// Small valid inputs: 6 rows of 3 features, labels with positives and negatives for every miner.
const embeddings = { data: Float32Array.from({ length: 18 }, (_, i) => Math.sin(i + 1)), shape: [6, 3] };
const labels = new Int32Array([0, 1, 0, 1, 2, 2]);
const weights = { data: Float32Array.from({ length: 12 }, (_, i) => Math.cos(i + 1)), shape: [4, 3] };
const ensemble = { data: Float32Array.from({ length: 12 }, (_, i) => i % 5), shape: [4, 3] };
const observations = new Float32Array([1, 2, 3, 4]);

const margin = (extra: Partial<MarginSoftmaxArgs>) => () => marginSoftmax({ embeddings, weights, labels: labels.map((l) => l % 4), backend: 'cpu', ...extra });
const mined = (miner: MinerSpec, extra: Record<string, unknown> = {}) => () => mine({ embeddings, labels, miner, backend: 'cpu', ...extra });
const lossOf = (loss: PairLossSpec, extra: Record<string, unknown> = {}) => () => pairLoss({ embeddings, labels, loss, backend: 'cpu', ...extra });

const TABLES: readonly EnumTable[] = [DEVICE_CODES, PRECISION_CODES, CRPS_ENUMS, MARGIN_ENUMS, PAIR_ENUMS];

describe.skipIf(!REAL)("lib/'s code tables against addon.codes", () => {
  it('one table entry per addon.codes key, no key twice, none missing', () => {
    const keys = TABLES.flatMap((table) => Object.keys(table));
    expect(new Set(keys).size, 'a key in two tables').toBe(keys.length);
    expect([...keys].sort()).toEqual(Object.keys(codes).sort());
  });

  it('each entry has the names of addon.codes, in code order (so the same count)', () => {
    for (const table of TABLES) {
      for (const [key, entry] of Object.entries(table)) {
        expect([...entry.names], key).toEqual([...(codes[key] ?? [])]);
        expect(entry.fields.length, `${key} names no plan field`).toBeGreaterThan(0);
      }
    }
  });
});

describe.skipIf(!REAL)('addon.codes against the codes lib/ sends', () => {
  beforeAll(() => resetNativeForTesting({ addon: recordingAddon(REAL!) }));
  afterAll(() => resetNativeForTesting());

  it('is a frozen object of frozen string arrays', () => {
    expect(Object.isFrozen(codes)).toBe(true);
    expect(Object.keys(codes).length).toBeGreaterThan(0);
    for (const [key, names] of Object.entries(codes)) {
      expect(Object.isFrozen(names), key).toBe(true);
      expect(names.every((name) => typeof name === 'string' && name.length > 0), key).toBe(true);
      expect(new Set(names).size, `${key} has a repeated name`).toBe(names.length);
    }
  });

  it('device: every family sends cpu and cuda as their codes', () => {
    for (const call of [
      (backend: 'cpu' | 'cuda') => crps({ ensemble, observations, backend }),
      (backend: 'cpu' | 'cuda') => margin({ backend })(),
      (backend: 'cpu' | 'cuda') => mined({ type: 'multi-similarity' }, { backend })(),
      (backend: 'cpu' | 'cuda') => lossOf({ type: 'contrastive' }, { backend })(),
    ]) {
      checkEnum('device', DEVICE_CODES.device.names.map((backend) => same(backend, () => call(backend), 'device')));
    }
  });

  it('nanPolicy', () => {
    checkEnum('nanPolicy', CRPS_ENUMS.nanPolicy.names.map((nanPolicy) =>
      same(nanPolicy, () => crps({ ensemble, observations, nanPolicy, backend: 'cpu' }), 'nanPolicy')));
  });

  it("marginType ('arcface' is the combined margin)", () => {
    checkEnum('marginType', [
      same('none', margin({ margin: { type: 'none' } }), 'marginType'),
      same('cosface', margin({ margin: { type: 'cosface' } }), 'marginType'),
      ['arcface', 'combined', margin({ margin: { type: 'arcface' } }), 'marginType'],
      same('combined', margin({ margin: { type: 'combined' } }), 'marginType'),
      same('sphereface', margin({ margin: { type: 'sphereface' } }), 'marginType'),
    ]);
  });

  it('scaleMode and reduction', () => {
    checkEnum('scaleMode', MARGIN_ENUMS.scaleMode.names.map((scaleMode) =>
      same(scaleMode, margin({ scaleMode }), 'scaleMode')));
    checkEnum('reduction', MARGIN_ENUMS.reduction.names.map((reduction) => same(reduction, margin({ reduction }), 'reduction')));
  });

  it('precision (marginSoftmax, mine, pairLoss)', () => {
    for (const call of [
      (precision: Precision) => margin({ precision }),
      (precision: Precision) => mined({ type: 'multi-similarity' }, { precision }),
      (precision: Precision) => lossOf({ type: 'contrastive' }, { precision }),
    ]) {
      checkEnum('precision', PRECISION_CODES.precision.names.map((precision) => same(precision, call(precision), 'precision')));
    }
  });

  it("minerType ('none': pairLoss without a miner)", () => {
    checkEnum('minerType', [
      same('none', lossOf({ type: 'contrastive' }), 'minerType'),
      ...(['multi-similarity', 'triplet-margin', 'batch-hard', 'pair-margin'] as const).map((type) =>
        same(type, mined({ type }), 'minerType')),
    ]);
  });

  it('pairDistance, as the miner distance and as the loss distance', () => {
    const distances = PAIR_ENUMS.pairDistance.names;
    checkEnum('pairDistance', distances.map((distance) => same(distance, mined({ type: 'pair-margin' }, { distance }), 'minerDistance')));
    checkEnum('pairDistance', distances.map((distance) => same(distance, lossOf({ type: 'contrastive' }, { distance }), 'lossDistance')));
  });

  it('tripletSelect', () => {
    checkEnum('tripletSelect', PAIR_ENUMS.tripletSelect.names.map((triplets) =>
      same(triplets, mined({ type: 'triplet-margin', triplets }), 'triplets')));
  });

  it('pairLossType', () => {
    const types = PAIR_ENUMS.pairLossType.names;
    checkEnum('pairLossType', types.map((type) => same(type, lossOf({ type }), 'lossType')));
  });
});
