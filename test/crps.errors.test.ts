// The spec's error table for crps(): every bad input throws the documented class and code,
// synchronously from crps() and as a rejection (never a synchronous throw) from crpsAsync(), on
// every backend name (validation happens before dispatch, so even an unavailable backend reports
// the argument's own error).  Then setThreads() and the raw native addon's backstop checks.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';

import { describe, expect, it } from 'vitest';

import { backendInfo, crps, crpsAsync, setThreads, type CrpsArgs } from './api';
import { BACKEND, catchRaw, catchSync, checkBothForms, checkError, INVALID, OPTION, SHAPE, TOO_LARGE, type Caught, type Code, type ErrorRow } from './error-checks';

/** A Float32Array whose buffer has been transferred away. */
function detached(n: number): Float32Array {
  const array = new Float32Array(n).fill(1);
  structuredClone(array.buffer, { transfer: [array.buffer] });
  return array;
}

// A valid call: 4 points, 3 members, member axis last.
const ens = (data: unknown = new Float32Array(12).map((_, i) => i * 0.5), shape: unknown = [4, 3]) => ({ data, shape });
const obs = () => new Float32Array([0.5, 1, 2, 3]);
const valid = (extra: Record<string, unknown> = {}) => ({ ensemble: ens(), observations: obs(), ...extra });
const oneMember = (extra: Record<string, unknown>) => ({ ensemble: ens(new Float32Array(4), [4, 1]), observations: obs(), ...extra });

const ROWS: ErrorRow[] = [
  // ERR_FUSEDLOSS_INVALID_ARG — TypeError
  { what: 'no args', args: () => undefined, code: INVALID, names: 'args', raw: true },
  { what: 'null args', args: () => null, code: INVALID, names: 'args', raw: true },
  { what: 'a number as args', args: () => 5, code: INVALID, names: 'args', raw: true },
  { what: 'an array as args', args: () => [valid()], code: INVALID, names: 'args', raw: true },
  { what: 'missing ensemble', args: () => ({ observations: obs() }), code: INVALID, names: 'ensemble' },
  { what: 'missing observations', args: () => ({ ensemble: ens() }), code: INVALID, names: 'observations' },
  { what: 'unknown key', args: () => valid({ members: 3 }), code: INVALID, names: 'members' },
  { what: 'misspelt key', args: () => valid({ nanpolicy: 'omit' }), code: INVALID, names: 'nanpolicy' },
  { what: 'ensemble a string', args: () => valid({ ensemble: 'tensor' }), code: INVALID, names: 'ensemble' },
  { what: 'ensemble {}', args: () => valid({ ensemble: {} }), code: INVALID, names: 'ensemble' },
  { what: 'bare Float32Array ensemble', args: () => valid({ ensemble: new Float32Array(12) }), code: INVALID, names: 'ensemble' },
  { what: 'bare number[] ensemble', args: () => valid({ ensemble: new Array(12).fill(1) }), code: INVALID, names: 'ensemble' },
  { what: 'Int32Array ensemble data', args: () => valid({ ensemble: ens(new Int32Array(12)) }), code: INVALID, names: 'ensemble' },
  { what: 'Uint8Array ensemble data', args: () => valid({ ensemble: ens(new Uint8Array(12)) }), code: INVALID, names: 'ensemble' },
  { what: 'string ensemble data', args: () => valid({ ensemble: ens('0,1,2') }), code: INVALID, names: 'ensemble' },
  { what: 'number[] ensemble data with a string', args: () => valid({ ensemble: ens([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, '11']) }), code: INVALID, names: 'ensemble' },
  { what: 'ensemble shape not an array', args: () => valid({ ensemble: ens(undefined, '4,3') }), code: INVALID, names: 'shape' },
  { what: 'onnxruntime int32 tensor', args: () => valid({ ensemble: { data: new Int32Array(12), dims: [4, 3], type: 'int32' } }), code: INVALID, names: 'ensemble' },
  { what: 'tfjs int32 tensor', args: () => valid({ ensemble: { shape: [4, 3], dtype: 'int32', dataSync: () => new Int32Array(12) } }), code: INVALID, names: 'ensemble' },
  { what: 'detached ensemble buffer', args: () => valid({ ensemble: ens(detached(12)) }), code: INVALID, names: 'ensemble' },
  { what: 'Int32Array observations', args: () => valid({ observations: new Int32Array(4) }), code: INVALID, names: 'observations' },
  { what: 'string observations', args: () => valid({ observations: '1,2,3,4' }), code: INVALID, names: 'observations' },
  { what: 'detached observations', args: () => valid({ observations: detached(4) }), code: INVALID, names: 'observations' },
  { what: 'Uint8Array weights', args: () => valid({ weights: new Uint8Array(4) }), code: INVALID, names: 'weights' },
  { what: 'detached weights', args: () => valid({ weights: detached(4) }), code: INVALID, names: 'weights' },
  { what: 'Int16Array gradOutput', args: () => valid({ gradients: true, gradOutput: new Int16Array(4) }), code: INVALID, names: 'gradOutput' },
  { what: 'non-boolean gradients', args: () => valid({ gradients: 1 }), code: INVALID, names: 'gradients' },
  { what: 'non-boolean components', args: () => valid({ components: 'yes' }), code: INVALID, names: 'components' },
  { what: 'non-string estimator', args: () => valid({ estimator: 1 }), code: INVALID, names: 'estimator' },
  { what: 'non-number alpha', args: () => valid({ estimator: 'almost-fair', alpha: '0.5' }), code: INVALID, names: 'alpha' },

  // ERR_FUSEDLOSS_SHAPE — RangeError
  { what: 'shape with 0', args: () => valid({ ensemble: ens(new Float32Array(0), [0, 3]) }), code: SHAPE, names: 'shape' },
  { what: 'negative dimension', args: () => valid({ ensemble: ens(undefined, [-4, -3]) }), code: SHAPE, names: 'shape' },
  { what: 'fractional dimension', args: () => valid({ ensemble: ens(undefined, [8, 1.5]) }), code: SHAPE, names: 'shape' },
  { what: 'string dimension', args: () => valid({ ensemble: ens(undefined, [4, '3']) }), code: SHAPE, names: 'shape' },
  { what: 'NaN dimension', args: () => valid({ ensemble: ens(undefined, [4, NaN]) }), code: SHAPE, names: 'shape' },
  { what: 'empty shape', args: () => valid({ ensemble: ens(new Float32Array(1), []) }), code: SHAPE, names: 'shape' },
  { what: 'data.length below product(shape)', args: () => valid({ ensemble: ens(new Float32Array(11)) }), code: SHAPE, names: 'ensemble' },
  { what: 'data.length above product(shape)', args: () => valid({ ensemble: ens(new Array(13).fill(0)) }), code: SHAPE, names: 'ensemble' },
  { what: 'observations too short', args: () => valid({ observations: new Float32Array(3) }), code: SHAPE, names: 'observations' },
  { what: 'observations too long', args: () => valid({ observations: [1, 2, 3, 4, 5] }), code: SHAPE, names: 'observations' },
  { what: 'observations empty', args: () => valid({ observations: [] }), code: SHAPE, names: 'observations' },
  {
    what: 'observations tensor of the wrong shape',
    args: () => ({ ensemble: ens(new Float32Array(24), [2, 3, 4]), observations: { data: new Float32Array(6), shape: [3, 2] } }),
    code: SHAPE,
    names: 'observations',
  },
  {
    what: 'observations tensor keeping the member axis',
    args: () => ({ ensemble: ens(new Float32Array(24), [2, 3, 4]), memberAxis: 1, observations: { data: new Float32Array(24), shape: [2, 3, 4] } }),
    code: SHAPE,
    names: 'observations',
  },
  { what: 'weights of the wrong length', args: () => valid({ weights: [1, 1, 1] }), code: SHAPE, names: 'weights' },
  { what: 'gradOutput of the wrong length', args: () => valid({ gradients: true, gradOutput: new Float32Array(5) }), code: SHAPE, names: 'gradOutput' },
  { what: 'M = 1 with fair', args: () => oneMember({ estimator: 'fair' }), code: SHAPE, names: 'ensemble' },
  { what: 'M = 1 with pwm', args: () => oneMember({ estimator: 'pwm' }), code: SHAPE, names: 'ensemble' },
  { what: 'M = 1 with almost-fair (default alpha)', args: () => oneMember({ estimator: 'almost-fair' }), code: SHAPE, names: 'ensemble' },
  { what: 'M = 1 with almost-fair alpha 0.5', args: () => oneMember({ estimator: 'almost-fair', alpha: 0.5 }), code: SHAPE, names: 'ensemble' },

  // ERR_FUSEDLOSS_OPTION — RangeError
  { what: 'negative weight', args: () => valid({ weights: [1, -0.5, 1, 1] }), code: OPTION, names: 'weights' },
  { what: 'NaN weight', args: () => valid({ weights: new Float32Array([1, 1, NaN, 1]) }), code: OPTION, names: 'weights' },
  { what: 'Infinity weight', args: () => valid({ weights: new Float64Array([1, 1, 1, Infinity]) }), code: OPTION, names: 'weights' },
  { what: 'unknown estimator', args: () => valid({ estimator: 'crps' }), code: OPTION, names: 'estimator' },
  { what: 'unknown nanPolicy', args: () => valid({ nanPolicy: 'ignore' }), code: OPTION, names: 'nanPolicy' },
  { what: 'unknown backend', args: () => valid({ backend: 'gpu' }), code: OPTION, names: 'backend', ownBackend: true },
  { what: 'alpha below 0', args: () => valid({ estimator: 'almost-fair', alpha: -0.1 }), code: OPTION, names: 'alpha' },
  { what: 'alpha above 1', args: () => valid({ estimator: 'almost-fair', alpha: 1.5 }), code: OPTION, names: 'alpha' },
  { what: 'alpha NaN', args: () => valid({ estimator: 'almost-fair', alpha: NaN }), code: OPTION, names: 'alpha' },
  { what: 'alpha with fair', args: () => valid({ estimator: 'fair', alpha: 1 }), code: OPTION, names: 'alpha' },
  { what: 'alpha with standard', args: () => valid({ estimator: 'standard', alpha: 0 }), code: OPTION, names: 'alpha' },
  { what: 'alpha with the default estimator', args: () => valid({ alpha: 0.5 }), code: OPTION, names: 'alpha' },
  { what: 'memberAxis = rank', args: () => valid({ memberAxis: 2 }), code: OPTION, names: 'memberAxis' },
  { what: 'memberAxis = -rank - 1', args: () => valid({ memberAxis: -3 }), code: OPTION, names: 'memberAxis' },
  { what: 'memberAxis fractional', args: () => valid({ memberAxis: 0.5 }), code: OPTION, names: 'memberAxis' },
  { what: 'gradOutput without gradients', args: () => valid({ gradOutput: new Float32Array(4) }), code: OPTION, names: 'gradOutput' },
  { what: 'gradOutput with gradients: false', args: () => valid({ gradients: false, gradOutput: [1, 1, 1, 1] }), code: OPTION, names: 'gradOutput' },

  // ERR_FUSEDLOSS_TOO_LARGE — RangeError, checked before lengths are compared
  { what: 'shape product 2^90, tiny data', args: () => valid({ ensemble: ens(new Float32Array(2), [2 ** 30, 2 ** 30, 2 ** 30]) }), code: TOO_LARGE, names: 'ensemble' },
  { what: 'shape product 2^54, tiny data', args: () => valid({ ensemble: ens([1, 2], [2 ** 53, 2]) }), code: TOO_LARGE, names: 'ensemble' },
  {
    what: 'observations tensor with a huge shape',
    args: () => valid({ observations: { data: new Float32Array(4), shape: [2 ** 30, 2 ** 30] } }),
    code: TOO_LARGE,
    names: 'observations',
  },
];

const info = backendInfo();

describe.each(['auto', 'js', 'cpu', 'cuda'])('bad arguments with backend %s', (backend) => {
  const argsFor = (row: ErrorRow): unknown => {
    const args = row.args();
    if (row.raw || row.ownBackend) return args;
    return { ...(args as object), backend };
  };

  it.each(ROWS.map((row) => [row.what, row] as const))('%s', async (_what, row) => {
    const failures = await checkBothForms('crps', () => crps(argsFor(row) as CrpsArgs), () => crpsAsync(argsFor(row) as CrpsArgs), row.code, row.names);
    expect(failures).toEqual([]);
  });
});

describe('unavailable backends', () => {
  it.skipIf(info.cuda.available)("backend 'cuda' without a device: ERR_FUSEDLOSS_BACKEND (Error), sync and async", async () => {
    const args = () => valid({ backend: 'cuda' }) as CrpsArgs;
    expect(await checkBothForms('crps', () => crps(args()), () => crpsAsync(args()), BACKEND, 'cuda')).toEqual([]);
  });

  it.skipIf(info.native)("backend 'cpu' without the native addon: ERR_FUSEDLOSS_BACKEND", async () => {
    expect(checkError(catchSync(() => crps(valid({ backend: 'cpu' }) as CrpsArgs)), BACKEND, 'cpu', 'crps')).toEqual([]);
    expect(checkError(await crpsAsync(valid({ backend: 'cpu' }) as CrpsArgs).then(() => null, (error: unknown) => ({ error })), BACKEND, 'cpu', 'crpsAsync')).toEqual([]);
  });

  it('a valid call still succeeds after all of the above (the same arguments minus the fault)', () => {
    const result = crps(valid({ estimator: 'almost-fair', alpha: 0, weights: [1, 2, 3, 4], gradients: true }) as CrpsArgs);
    expect(result.scores.length).toBe(4);
    expect(result.gradEnsemble!.length).toBe(12);
    expect(Number.isFinite(result.mean)).toBe(true);
  });
});

describe('setThreads', () => {
  it.each([
    ['0', 0, OPTION],
    ['1.5', 1.5, OPTION],
    ['-2', -2, OPTION],
    ['NaN', NaN, OPTION],
    ['Infinity', Infinity, OPTION],
    ["'2'", '2', INVALID],
    ['undefined', undefined, INVALID],
  ] as const)('setThreads(%s) throws %s', (_label, value, code) => {
    const before = backendInfo().threads;
    expect(checkError(catchSync(() => setThreads(value as number)), code, 'threads', 'setThreads')).toEqual([]);
    expect(backendInfo().threads).toBe(before);
  });
});

// The addon's own checks: the TypeScript layer validates first, but the addon must never read
// out of bounds or crash when called directly.
const addonPath = path.resolve(__dirname, '..', 'build', 'Release', 'fusedloss.node');
const hasAddon = fs.existsSync(addonPath) && info.native;

describe('raw native addon (build/Release/fusedloss.node)', () => {
  type RawFn = (args?: unknown) => unknown;
  const addon = hasAddon ? (createRequire(__filename)(addonPath) as { crps: RawFn; crpsAsync: RawFn; setThreads: RawFn }) : null;
  const plan = (extra: Record<string, unknown> = {}) => ({
    ensemble: new Float32Array(12).map((_, i) => i),
    outer: 4,
    members: 3,
    inner: 1,
    observations: new Float32Array([1, 4, 7, 10]),
    weights: null,
    gradOutput: null,
    alpha: 0,
    nanPolicy: 0,
    gradients: false,
    components: false,
    device: 0,
    ...extra,
  });
  const rawRows: [string, () => unknown, Code][] = [
    ['no args', () => undefined, INVALID],
    ['a number', () => 5, INVALID],
    ['missing ensemble', () => plan({ ensemble: undefined }), INVALID],
    ['Float64Array ensemble', () => plan({ ensemble: new Float64Array(12) }), INVALID],
    ['number[] ensemble', () => plan({ ensemble: new Array(12).fill(0) }), INVALID],
    ['detached ensemble', () => plan({ ensemble: detached(12) }), INVALID],
    ['ensemble one short', () => plan({ ensemble: new Float32Array(11) }), SHAPE],
    ['ensemble one long', () => plan({ ensemble: new Float32Array(13) }), SHAPE],
    ['observations one short', () => plan({ observations: new Float32Array(3) }), SHAPE],
    ['weights one short', () => plan({ weights: new Float32Array(3) }), SHAPE],
    ['gradOutput one long', () => plan({ gradients: true, gradOutput: new Float32Array(5) }), SHAPE],
    ['outer 0', () => plan({ outer: 0 }), SHAPE],
    ['members -1', () => plan({ members: -1 }), SHAPE],
    ['inner 1.5', () => plan({ inner: 1.5 }), SHAPE],
    ['outer NaN', () => plan({ outer: NaN }), SHAPE],
    ["outer '4'", () => plan({ outer: '4' }), INVALID],
    ['outer·members 2^106', () => plan({ outer: 2 ** 53, members: 2 ** 53 }), TOO_LARGE],
    ['alpha 2', () => plan({ alpha: 2 }), OPTION],
    ['alpha NaN', () => plan({ alpha: NaN }), OPTION],
    ["alpha '0'", () => plan({ alpha: '0' }), INVALID],
    ['nanPolicy 3', () => plan({ nanPolicy: 3 }), OPTION],
    ['device 2', () => plan({ device: 2 }), OPTION],
    ["gradients 'yes'", () => plan({ gradients: 'yes' }), INVALID],
    ['one member with alpha 1', () => plan({ ensemble: new Float32Array(4), members: 1, alpha: 1 }), SHAPE],
    ['gradOutput without gradients', () => plan({ gradOutput: new Float32Array(4) }), OPTION],
  ];

  it.skipIf(!hasAddon)('a valid raw call works', async () => {
    const sync = addon!.crps(plan({ gradients: true })) as { scores: Float32Array; gradEnsemble: Float32Array };
    expect(sync.scores).toBeInstanceOf(Float32Array);
    expect(sync.scores.length).toBe(4);
    expect(sync.gradEnsemble.length).toBe(12);
    const async = (await addon!.crpsAsync(plan({ gradients: true }))) as { scores: Float32Array };
    expect(Array.from(async.scores)).toEqual(Array.from(sync.scores));
  });

  it.skipIf(!hasAddon).each(rawRows)('%s → coded error from crps and crpsAsync', async (_what, args, code) => {
    const failures = checkError(await catchRaw(() => addon!.crps(args())), code, null, 'raw crps');
    failures.push(...checkError(await catchRaw(() => addon!.crpsAsync(args())), code, null, 'raw crpsAsync'));
    expect(failures).toEqual([]);
  });

  it.skipIf(!hasAddon || info.cuda.available)('device 1 without CUDA → ERR_FUSEDLOSS_BACKEND, sync and async', async () => {
    const failures = checkError(await catchRaw(() => addon!.crps(plan({ device: 1 }))), BACKEND, null, 'raw crps');
    failures.push(...checkError(await catchRaw(() => addon!.crpsAsync(plan({ device: 1 }))), BACKEND, null, 'raw crpsAsync'));
    expect(failures).toEqual([]);
  });

  it.skipIf(!hasAddon)('raw setThreads rejects bad counts with coded errors', async () => {
    expect(checkError(await catchRaw(() => addon!.setThreads(0)), OPTION, null, 'setThreads(0)')).toEqual([]);
    expect(checkError(await catchRaw(() => addon!.setThreads('2')), INVALID, null, "setThreads('2')")).toEqual([]);
    expect(checkError(await catchRaw(() => addon!.setThreads()), INVALID, null, 'setThreads()')).toEqual([]);
  });
});
