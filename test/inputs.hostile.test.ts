// Hostile objects at the API boundary (issue 10, point 6), on every backend, sync and async:
// options inherited only from Object.prototype are ignored at every depth of every family, while
// class instances (getters and dataSync on their own prototypes) keep working; every property of
// the arguments is read at most once; look-alikes of typed arrays (a Proxy, a subclass that lies
// about its length), tensors whose dataSync changes between reads, toOrtTensor of odd objects,
// int64 labels beyond int32 (point 10), sizes that overflow and empty inputs give coded errors.
import { createRequire } from 'node:module';

import type * as TF from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';

import { backendInfo, toOrtTensor } from './api';
import { backendCases, Rng, testSeed } from './helpers';
import { asyncOutcomeOf, describeOutcome, ENTRY, errorCode, familyArgs, outcomeOf, sameOutcome, sameResult, SIZE, type Family, type Outcome } from './inputs-cases';
import { marginSoftmaxLoss } from '../lib/tfjs';

const SEED = testSeed('inputs.hostile');
const BACKENDS = backendCases();
const FAMILIES: Family[] = ['crps', 'marginSoftmax', 'mine', 'pairLoss'];
const { points, rows, dim, classes, subset } = SIZE;

type Args = Record<string, unknown>;
const makers = () => familyArgs(new Rng(SEED));

function tfOrNull(): typeof TF | null {
  try {
    return createRequire(__filename)('@tensorflow/tfjs') as typeof TF;
  } catch {
    return null;
  }
}

const polluted: string[] = [];
afterEach(() => {
  for (const key of polluted.splice(0)) delete (Object.prototype as Record<string, unknown>)[key];
});

/** Runs `call` with Object.prototype[key] = value (as a careless library would set it), then removes it. */
function pollute<T>(key: string, value: unknown, call: () => T): T {
  polluted.push(key);
  (Object.prototype as Record<string, unknown>)[key] = value;
  try {
    return call();
  } finally {
    delete (Object.prototype as Record<string, unknown>)[key];
  }
}

async function outcomeIn(form: 'sync' | 'async', family: Family, args: Args, around: <T>(call: () => T) => T = (c) => c()): Promise<Outcome> {
  if (form === 'sync') return around(() => outcomeOf(() => ENTRY[family].sync(args)));
  // Only the call itself runs inside `around`: the async forms read their arguments before returning.
  const promise = around(() => ENTRY[family].async(args));
  return asyncOutcomeOf(() => promise);
}

interface Pollution {
  family: Family;
  /** Edits the call first (removes the key being polluted, or a nested one). */
  edit?: (args: Args) => void;
  key: string;
  value: () => unknown;
}

const ones = (n: number, v = 1) => new Float32Array(n).fill(v);
const plainTensorPollutions = (family: Family): Pollution[] => [
  { family, key: 'dataSync', value: () => () => new Float32Array(4096) },
  { family, key: 'dims', value: () => [1, 1] },
];
const POLLUTIONS: Pollution[] = [
  { family: 'crps', edit: (a) => delete a.weights, key: 'weights', value: () => Float32Array.from({ length: points }, (_, p) => p) },
  { family: 'crps', edit: (a) => delete a.estimator, key: 'estimator', value: () => 'fair' },
  { family: 'crps', key: 'memberAxis', value: () => 0 },
  { family: 'crps', key: 'alpha', value: () => 0.5 },
  { family: 'crps', key: 'components', value: () => true },
  { family: 'crps', key: 'gradOutput', value: () => ones(points, 3) },
  { family: 'crps', edit: (a) => delete a.gradients, key: 'gradients', value: () => true },
  ...plainTensorPollutions('crps'),
  { family: 'marginSoftmax', edit: (a) => delete a.classIndices, key: 'classIndices', value: () => Int32Array.from({ length: subset + 1 }, (_, j) => j) },
  { family: 'marginSoftmax', edit: (a) => delete a.rowWeights, key: 'rowWeights', value: () => ones(rows, 2) },
  { family: 'marginSoftmax', edit: (a) => delete a.margin, key: 'margin', value: () => ({ type: 'cosface' }) },
  { family: 'marginSoftmax', edit: (a) => (a.margin = { type: 'arcface' }), key: 'm', value: () => 0.1 },
  { family: 'marginSoftmax', edit: (a) => (a.margin = { m: 0.3 }), key: 'type', value: () => 'arcface' },
  { family: 'marginSoftmax', key: 'gradient', value: () => 'straight-through' },
  { family: 'marginSoftmax', edit: (a) => delete a.scale, key: 'scale', value: () => 3 },
  { family: 'marginSoftmax', key: 'scaleMode', value: () => 'feature-norm' },
  { family: 'marginSoftmax', key: 'subCenters', value: () => 2 },
  { family: 'marginSoftmax', key: 'labelSmoothing', value: () => 0.2 },
  { family: 'marginSoftmax', key: 'interclassFilter', value: () => 0.1 },
  { family: 'marginSoftmax', key: 'curricular', value: () => ({ t: 0.3 }) },
  { family: 'marginSoftmax', edit: (a) => (a.curricular = { t: 0.1 }), key: 'momentum', value: () => 0.9 },
  { family: 'marginSoftmax', key: 'rowMargins', value: () => ({ additive: ones(rows, 0.1) }) },
  { family: 'marginSoftmax', edit: (a) => (a.rowMargins = {}), key: 'angular', value: () => ones(rows, 0.2) },
  { family: 'marginSoftmax', key: 'reduction', value: () => 'sum' },
  { family: 'marginSoftmax', key: 'gradients', value: () => false },
  { family: 'marginSoftmax', key: 'weightsLayout', value: () => 'columns' },
  ...plainTensorPollutions('marginSoftmax'),
  { family: 'mine', edit: (a) => delete a.selfIndex, key: 'selfIndex', value: () => Int32Array.from({ length: rows }, (_, i) => i) },
  { family: 'mine', key: 'distance', value: () => 'dot' },
  { family: 'mine', key: 'normalize', value: () => false },
  { family: 'mine', key: 'maxOutputs', value: () => 1 },
  { family: 'mine', edit: (a) => (a.miner = { type: 'multi-similarity' }), key: 'epsilon', value: () => 1 },
  { family: 'mine', edit: (a) => delete a.miner, key: 'miner', value: () => ({ type: 'batch-hard' }) },
  ...plainTensorPollutions('mine'),
  { family: 'pairLoss', edit: (a) => delete a.miner, key: 'miner', value: () => ({ type: 'batch-hard' }) },
  { family: 'pairLoss', edit: (a) => delete a.loss, key: 'loss', value: () => ({ type: 'contrastive' }) },
  { family: 'pairLoss', edit: (a) => (a.loss = { type: 'contrastive' }), key: 'negMargin', value: () => 3 },
  { family: 'pairLoss', key: 'gradients', value: () => false },
  { family: 'pairLoss', edit: (a) => (a.loss = { type: 'multi-similarity' }), key: 'beta', value: () => 2 },
  ...plainTensorPollutions('pairLoss'),
];

/** Proxies that count [[Get]] of every string key on every object and array of a call (typed arrays left as they are). */
function counted(value: unknown, path: string, counts: Map<string, number>): unknown {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  const inner = Array.isArray(value) ? value.map((v, i) => counted(v, `${path}[${i}]`, counts)) : Object.fromEntries(Object.entries(value).map(([k, v]) => [k, counted(v, `${path}.${k}`, counts)]));
  return new Proxy(inner, {
    get(target, key, receiver) {
      if (typeof key === 'string') counts.set(`${path}.${key}`, (counts.get(`${path}.${key}`) ?? 0) + 1);
      return Reflect.get(target, key, receiver);
    },
  });
}

/** The call with the tensor-like at `key` replaced by `wrap(data, shape)`. */
function withTensor(args: Args, key: string, wrap: (data: Float32Array, shape: number[]) => unknown): Args {
  const tensor = args[key] as { data: Float32Array; shape: number[] };
  return { ...args, [key]: wrap(tensor.data, tensor.shape) };
}

const FIRST_TENSOR: Record<Family, string> = { crps: 'ensemble', marginSoftmax: 'embeddings', mine: 'embeddings', pairLoss: 'embeddings' };
const FIRST_INTEGERS: Partial<Record<Family, string>> = { marginSoftmax: 'labels', mine: 'selfIndex', pairLoss: 'selfIndex' };

/** A Float32Array one element longer than its `length` getter says. */
class LyingLength extends Float32Array {
  constructor(values: Float32Array) {
    super(values.length + 1);
    this.set(values);
  }
  override get length(): number {
    return super.length - 1;
  }
}

describe.each(BACKENDS)('backend $name', ({ name: backend, available }) => {
  describe.each(['sync', 'async'] as const)('%s', (form) => {
    it.skipIf(!available)('options that only Object.prototype supplies are ignored, at every depth of every family', async () => {
      const failures: string[] = [];
      for (const { family, edit, key, value } of POLLUTIONS) {
        const make = () => {
          const args = { ...makers()[family](), backend };
          edit?.(args);
          return args;
        };
        const clean = await outcomeIn(form, family, make());
        const dirty = await outcomeIn(form, family, make(), (call) => pollute(key, value(), call));
        failures.push(...sameOutcome(dirty, clean, `${family} with Object.prototype.${key}`));
      }
      expect(failures).toEqual([]);
    });

    it.skipIf(!available)('class instances: getters and dataSync on their own prototypes still work', async () => {
      class GetterTensor {
        readonly #data: Float32Array;
        readonly #shape: number[];
        constructor(data: Float32Array, shape: number[]) {
          this.#data = data;
          this.#shape = shape;
        }
        get data() {
          return this.#data;
        }
        get shape() {
          return this.#shape;
        }
      }
      class TfLike {
        readonly dtype = 'float32';
        constructor(private readonly values: Float32Array, readonly shape: number[]) {}
        dataSync() {
          return this.values;
        }
      }
      class OrtLike {
        readonly type = 'float32';
        constructor(private readonly values: Float32Array, readonly dims: number[]) {}
        get data() {
          return this.values;
        }
        get location() {
          return 'cpu';
        }
      }
      class ArcFace {
        get type() {
          return 'arcface';
        }
        get m() {
          return 0.3;
        }
      }
      const failures: string[] = [];
      for (const family of FAMILIES) {
        const clean = await outcomeIn(form, family, { ...makers()[family](), backend });
        for (const wrap of [(d: Float32Array, s: number[]) => new GetterTensor(d, s), (d: Float32Array, s: number[]) => new TfLike(d, s), (d: Float32Array, s: number[]) => new OrtLike(d, s)]) {
          const args = withTensor({ ...makers()[family](), backend }, FIRST_TENSOR[family], wrap);
          if (family === 'marginSoftmax') args.margin = new ArcFace();
          failures.push(...sameOutcome(await outcomeIn(form, family, args), clean, `${family} ${wrap(new Float32Array(1), [1]).constructor.name}`));
        }
      }
      expect(failures).toEqual([]);
    });

    it.skipIf(!available)('every property of the arguments is read at most once', async () => {
      const failures: string[] = [];
      for (const family of FAMILIES) {
        const counts = new Map<string, number>();
        const args = counted({ ...makers()[family](), backend }, 'args', counts) as Args;
        const outcome = await outcomeIn(form, family, args);
        if ('error' in outcome) failures.push(`${family}: ${describeOutcome(outcome)}`);
        for (const [key, n] of counts) if (n > 1) failures.push(`${family}: ${key} read ${n} times`);
      }
      expect(failures).toEqual([]);
    });

    it.skipIf(!available)('look-alikes of typed arrays and unstable tensors give coded errors, or the result of one read', async () => {
      const failures: string[] = [];
      const expectCode = (outcome: Outcome, code: string, label: string) => {
        if (!('error' in outcome) || errorCode(outcome.error) !== code) failures.push(`${label}: ${describeOutcome(outcome)}, expected ${code}`);
      };
      for (const family of FAMILIES) {
        const tensorKey = FIRST_TENSOR[family];
        const proxied = withTensor({ ...makers()[family](), backend }, tensorKey, (d, shape) => ({ data: new Proxy(d, {}), shape }));
        expectCode(await outcomeIn(form, family, proxied), 'ERR_FUSEDLOSS_INVALID_ARG', `${family} ${tensorKey}.data in a Proxy`);
        const lying = withTensor({ ...makers()[family](), backend }, tensorKey, (d, shape) => ({ data: new LyingLength(d), shape }));
        expectCode(await outcomeIn(form, family, lying), 'ERR_FUSEDLOSS_SHAPE', `${family} ${tensorKey}.data lying about its length`);
        const integers = FIRST_INTEGERS[family];
        if (integers) {
          const args: Args = { ...makers()[family](), backend };
          args[integers] = new Proxy(args[integers] as Int32Array, {});
          expectCode(await outcomeIn(form, family, args), 'ERR_FUSEDLOSS_INVALID_ARG', `${family} ${integers} in a Proxy`);
        }
        // dataSync is a getter that hands out a function once, then something else.
        const clean = await outcomeIn(form, family, { ...makers()[family](), backend });
        const unstable = withTensor({ ...makers()[family](), backend }, tensorKey, (d, shape) => {
          let reads = 0;
          return { shape, dtype: 'float32', get dataSync() { return reads++ === 0 ? () => d : undefined; } };
        });
        failures.push(...sameOutcome(await outcomeIn(form, family, unstable), clean, `${family} ${tensorKey}.dataSync readable once`));
        // dataSync() returns one element fewer on every call.
        const shrinking = withTensor({ ...makers()[family](), backend }, tensorKey, (d, shape) => {
          let calls = 0;
          return { shape, dataSync: () => d.subarray(calls++) };
        });
        failures.push(...sameOutcome(await outcomeIn(form, family, shrinking), clean, `${family} ${tensorKey}.dataSync shrinking`));
      }
      expect(failures).toEqual([]);
    });

    it.skipIf(!available)('int64 labels beyond int32 are out of range (ERR_FUSEDLOSS_LABEL); sizes that overflow, empty and detached inputs are coded', async () => {
      const failures: string[] = [];
      const expectCode = (outcome: Outcome, code: string, label: string) => {
        if (!('error' in outcome) || errorCode(outcome.error) !== code) failures.push(`${label}: ${describeOutcome(outcome)}, expected ${code}`);
      };
      const detached = <T extends ArrayBufferView>(view: T): T => {
        structuredClone(view.buffer, { transfer: [view.buffer as ArrayBuffer] });
        return view;
      };
      for (const family of ['marginSoftmax', 'mine', 'pairLoss'] as const) {
        const base = () => ({ ...makers()[family](), backend }) as Args;
        const labels = () => base().labels as Int32Array;
        const huge = BigInt64Array.from(labels(), (v, i) => (i === 1 ? 2n ** 40n + BigInt(v) : BigInt(v)));
        expectCode(await outcomeIn(form, family, { ...base(), labels: huge }), 'ERR_FUSEDLOSS_LABEL', `${family} BigInt64Array label 2^40`);
        expectCode(await outcomeIn(form, family, { ...base(), labels: { data: huge, dims: [rows], type: 'int64' } }), 'ERR_FUSEDLOSS_LABEL', `${family} int64 tensor label 2^40`);
        expectCode(await outcomeIn(form, family, { ...base(), labels: BigUint64Array.from(labels(), (v) => BigInt(v) + 2n ** 63n) }), 'ERR_FUSEDLOSS_LABEL', `${family} BigUint64Array label 2^63`);
        expectCode(await outcomeIn(form, family, { ...base(), labels: Array.from(labels(), (v, i) => (i === 0 ? 2 ** 31 : v)) }), 'ERR_FUSEDLOSS_LABEL', `${family} number[] label 2^31`);
        expectCode(await outcomeIn(form, family, { ...base(), labels: Array.from(labels(), (v, i) => (i === 0 ? 0.5 : v)) }), 'ERR_FUSEDLOSS_INVALID_ARG', `${family} label 0.5`);
        expectCode(await outcomeIn(form, family, { ...base(), labels: detached(labels()) }), 'ERR_FUSEDLOSS_INVALID_ARG', `${family} detached labels`);
        expectCode(await outcomeIn(form, family, { ...base(), labels: detached(BigInt64Array.from(labels(), BigInt)) }), 'ERR_FUSEDLOSS_INVALID_ARG', `${family} detached BigInt64Array labels`);
        expectCode(await outcomeIn(form, family, { ...base(), labels: new Int32Array(0) }), 'ERR_FUSEDLOSS_SHAPE', `${family} empty labels`);
      }
      for (const family of FAMILIES) {
        const key = FIRST_TENSOR[family];
        const base = () => ({ ...makers()[family](), backend }) as Args;
        expectCode(await outcomeIn(form, family, withTensor(base(), key, (d) => ({ data: d, shape: [2 ** 31, 2 ** 31] }))), 'ERR_FUSEDLOSS_TOO_LARGE', `${family} shape [2^31, 2^31]`);
        expectCode(await outcomeIn(form, family, withTensor(base(), key, (d) => ({ data: d, shape: [2 ** 53, 2 ** 53, 2 ** 53] }))), 'ERR_FUSEDLOSS_TOO_LARGE', `${family} shape [2^53, 2^53, 2^53]`);
        expectCode(await outcomeIn(form, family, withTensor(base(), key, () => ({ data: new Float32Array(0), shape: [0, 4] }))), 'ERR_FUSEDLOSS_SHAPE', `${family} shape [0, 4]`);
        expectCode(await outcomeIn(form, family, withTensor(base(), key, (d, shape) => ({ data: detached(d), shape }))), 'ERR_FUSEDLOSS_INVALID_ARG', `${family} detached Float32Array`);
        expectCode(await outcomeIn(form, family, withTensor(base(), key, (d, shape) => ({ data: detached(Float64Array.from(d)), shape }))), 'ERR_FUSEDLOSS_INVALID_ARG', `${family} detached Float64Array`);
        // A number[] whose element getter throws: the caller's own error comes through unchanged.
        const mine = new Error('the caller\'s getter');
        const throwing = withTensor(base(), key, (d, shape) => {
          const values = Array.from(d);
          Object.defineProperty(values, 1, { get: () => { throw mine; } });
          return { data: values, shape };
        });
        const outcome = await outcomeIn(form, family, throwing);
        if (!('error' in outcome) || outcome.error !== mine) failures.push(`${family}: a throwing element getter gave ${describeOutcome(outcome)}`);
      }
      expect(failures).toEqual([]);
    });
  });

  it.skipIf(!available)("Object.prototype.backend does not choose the backend of a call that names none", () => {
    const chosen = ENTRY.crps.sync(makers().crps()) as { backend: string };
    const other = chosen.backend === 'js' ? (backendInfo().native ? 'cpu' : 'cuda') : 'js';
    for (const family of FAMILIES) {
      const clean = outcomeOf(() => ENTRY[family].sync(makers()[family]()));
      const dirty = pollute('backend', other, () => outcomeOf(() => ENTRY[family].sync(makers()[family]())));
      expect(sameOutcome(dirty, clean, `${family} with Object.prototype.backend = '${other}'`)).toEqual([]);
    }
  });
});

describe('adapters outside the kernels', () => {
  it('toOrtTensor refuses null-prototype objects, Proxies and look-alikes with coded errors', () => {
    class FakeTensor {
      constructor(readonly type: string, readonly data: unknown, readonly dims?: readonly number[]) {}
    }
    const ort = { Tensor: FakeTensor };
    const bad: [string, () => unknown][] = [
      ['Object.create(null)', () => toOrtTensor(ort, Object.create(null))],
      ['a Proxy around a Float32Array', () => toOrtTensor(ort, new Proxy(new Float32Array(4), {}) as never)],
      ['a plain object', () => toOrtTensor(ort, { length: 4 } as never)],
      ['a null-prototype namespace', () => toOrtTensor(Object.create(null), new Float32Array(4))],
      ['a shape in a Proxy that changes', () => toOrtTensor(ort, new Float32Array(4), new Proxy([2, 2], { get: (t, k) => (k === 'length' ? 2 : Reflect.get(t, k)) }))],
    ];
    const failures: string[] = [];
    for (const [label, call] of bad.slice(0, 4)) {
      const outcome = outcomeOf(call);
      if (!('error' in outcome) || errorCode(outcome.error) !== 'ERR_FUSEDLOSS_INVALID_ARG') failures.push(`${label}: ${describeOutcome(outcome)}`);
    }
    expect(failures).toEqual([]);
    // A Proxy array is an array: read once, element by element.
    expect((bad[4][1]() as FakeTensor).dims).toEqual([2, 2]);
    // A shape beyond what can be addressed.
    const tooBig = outcomeOf(() => toOrtTensor(ort, new Float32Array(4), [2 ** 31, 2 ** 31]));
    expect('error' in tooBig ? errorCode(tooBig.error) : describeOutcome(tooBig)).toBe('ERR_FUSEDLOSS_TOO_LARGE');
  });

  it.skipIf(tfOrNull() === null)('marginSoftmaxLoss reads classIndices once: a tensor-like whose dataSync changes between reads', () => {
    const tf = tfOrNull() as typeof TF;
    const rng = new Rng(SEED + 7);
    const x = tf.tensor(Float32Array.from({ length: rows * dim }, () => rng.normal()), [rows, dim]);
    const w = tf.tensor(Float32Array.from({ length: classes * dim }, () => rng.normal()), [classes, dim]);
    const labels = Int32Array.from({ length: rows }, (_, i) => i % subset);
    const first = Int32Array.from({ length: subset }, (_, j) => j);
    const gradOf = (classIndices: unknown) => tf.grads((a: TF.Tensor, b: TF.Tensor) => marginSoftmaxLoss(a, b, labels, { classIndices: classIndices as Int32Array, scale: 8 }))([x, w])[1].dataSync();
    const expected = gradOf(first);
    let calls = 0;
    const shifting = { shape: [subset], dtype: 'int32', dataSync: () => (calls++ === 0 ? first : first.map((j) => j + subset)) };
    const got = gradOf(shifting);
    expect(sameResult({ gradWeights: got }, { gradWeights: expected }, 'gradWeights')).toEqual([]);
  });
});
