// Issue 11, point 5: caller-owned outputs.  Every kernel that accepts `out` (crps, marginSoftmax,
// pairLoss, sync and async, on every backend) writes into the given arrays, returns those very
// objects, and gives the same bits as a call without `out`; the arrays are poisoned first, so an
// element a backend leaves unwritten shows.  Wrong type, length, detached, shared, overlapping,
// unknown or not-returned outputs are refused with their documented codes, on every backend;
// mine() refuses `out` (its arrays are sized by the data).
import { describe, expect, it } from 'vitest';

import { addon } from '../lib/native';
import { crps, crpsAsync, ErrorCode, marginSoftmax, marginSoftmaxAsync, mine, mineAsync, pairLoss, pairLossAsync } from './api';
import { backendCases, Rng, testSeed } from './helpers';

const SEED = testSeed('outputs');
const BACKENDS = backendCases();

type Output = Float32Array | Int32Array;
type Result = Record<string, unknown>;
type Args = Record<string, unknown>;

interface Kernel {
  name: string;
  sync: (args: Args) => Result;
  async: (args: Args) => Promise<Result>;
  /** Fresh arguments (no backend, no out) from `rng`. */
  args: (rng: Rng) => Args;
  /** The result's scalar fields. */
  scalars: string[];
}

const floats = (rng: Rng, n: number, scale = 1) => Float32Array.from({ length: n }, () => scale * rng.normal());
const ints = (rng: Rng, n: number, classes: number) => Int32Array.from({ length: n }, () => rng.int(classes));

const KERNELS: Kernel[] = [
  {
    name: 'crps (gradients, components, a NaN member)',
    sync: (args) => crps(args as never) as unknown as Result,
    async: (args) => crpsAsync(args as never) as unknown as Promise<Result>,
    args: (rng) => {
      const points = 5 + rng.int(40);
      const members = 2 + rng.int(6);
      const ensemble = floats(rng, points * members);
      ensemble[rng.int(ensemble.length)] = NaN;
      return { ensemble: { data: ensemble, shape: [points, members] }, observations: floats(rng, points), estimator: 'fair', nanPolicy: 'omit', gradients: true, components: true };
    },
    scalars: ['mean'],
  },
  {
    name: 'marginSoftmax (an ignored row, Partial FC, sub-centers)',
    sync: (args) => marginSoftmax(args as never) as unknown as Result,
    async: (args) => marginSoftmaxAsync(args as never) as unknown as Promise<Result>,
    args: (rng) => {
      const rows = 3 + rng.int(12);
      const dim = 2 + rng.int(9);
      const classes = 4 + rng.int(8);
      const classIndices = [0, 1, 3];
      const labels = Int32Array.from({ length: rows }, () => classIndices[rng.int(3)]);
      labels[0] = -1;
      return {
        embeddings: { data: floats(rng, rows * dim), shape: [rows, dim] },
        weights: { data: floats(rng, classes * 2 * dim), shape: [classes * 2, dim] },
        labels,
        subCenters: 2,
        classIndices,
        scale: 16,
      };
    },
    scalars: ['loss'],
  },
  {
    name: 'pairLoss (a reference set)',
    sync: (args) => pairLoss(args as never) as unknown as Result,
    async: (args) => pairLossAsync(args as never) as unknown as Promise<Result>,
    args: (rng) => {
      const rows = 4 + rng.int(10);
      const refs = 3 + rng.int(10);
      const dim = 2 + rng.int(7);
      return {
        embeddings: { data: floats(rng, rows * dim), shape: [rows, dim] },
        labels: ints(rng, rows, 3),
        ref: { data: floats(rng, refs * dim), shape: [refs, dim] },
        refLabels: ints(rng, refs, 3),
        loss: { type: 'contrastive', posMargin: 0.2, negMargin: 1.5 },
      };
    },
    scalars: ['loss'],
  },
];

function arraysOf(result: Result): Record<string, Output> {
  return Object.fromEntries(Object.entries(result).filter(([, v]) => v instanceof Float32Array || v instanceof Int32Array)) as Record<string, Output>;
}

/** New arrays like `arrays`, filled with a NaN payload no kernel produces (or a junk integer). */
function poisoned(arrays: Record<string, Output>): Record<string, Output> {
  return Object.fromEntries(
    Object.entries(arrays).map(([name, array]) => {
      const fresh = array instanceof Float32Array ? new Float32Array(array.length) : new Int32Array(array.length);
      new Uint32Array(fresh.buffer).fill(array instanceof Float32Array ? 0x7fa5a5a5 : 0xa5a5a5a5);
      return [name, fresh];
    }),
  );
}

const bytes = (a: Output) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

async function settle(promise: Promise<unknown>): Promise<{ error: unknown } | { value: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

function expectCoded(error: unknown, code: string, message: RegExp): void {
  expect(error, 'expected an error').toBeInstanceOf(Error);
  expect((error as { code?: string }).code).toBe(code);
  expect((error as Error).message).toMatch(message);
}

describe.each(BACKENDS)('backend $name', ({ name: backend, available }) => {
  describe.skipIf(!available).each(KERNELS)('$name', (kernel) => {
    for (const form of ['sync', 'async'] as const) {
      const run = (args: Args): Promise<Result> => (form === 'sync' ? Promise.resolve().then(() => kernel.sync(args)) : kernel.async(args));
      const call = (args: Args) => settle(run({ ...args, backend }));

      it(`${form}: writes into every given array, returns those objects, with the bits of a call without out (5 draws)`, async () => {
        const rng = new Rng(SEED);
        for (let draw = 0; draw < 5; draw++) {
          const args = kernel.args(rng);
          const plain = await run({ ...args, backend });
          const expected = arraysOf(plain);
          expect(Object.keys(expected).length).toBeGreaterThan(1);
          // Every output, and (on odd draws) only the first: the others are then allocated as usual.
          const out = poisoned(draw % 2 === 0 ? expected : { [Object.keys(expected)[0]]: Object.values(expected)[0] });
          const given = { ...out };
          const result = await run({ ...args, backend, out });
          expect(result.backend).toBe(backend);
          for (const [name, array] of Object.entries(expected)) {
            if (name in given) expect(result[name], name).toBe(given[name]);
            expect(result[name]?.constructor, name).toBe(array.constructor);
            expect(bytes(result[name] as Output).equals(bytes(array)), `${name}: bits differ from the call without out`).toBe(true);
          }
          for (const scalar of kernel.scalars) expect(Object.is(result[scalar], plain[scalar]), scalar).toBe(true);
          expect(Object.keys(result).sort()).toEqual(Object.keys(plain).sort());
        }
      });

      it(`${form}: refuses a wrong length, type, detached, shared, overlapping, unknown or not-returned output`, async () => {
        const args = kernel.args(new Rng(SEED + 1));
        const plain = await run({ ...args, backend });
        const [first, second] = Object.entries(arraysOf(plain));
        const [name, model] = first;
        const Type = model.constructor as Float32ArrayConstructor | Int32ArrayConstructor;
        const length = model.length;

        let outcome = await call({ ...args, out: { [name]: new Type(length + 1) } });
        expectCoded('error' in outcome && outcome.error, ErrorCode.SHAPE, new RegExp(`out\\.${name} has ${length + 1} elements, expected ${length}`));
        outcome = await call({ ...args, out: { [name]: new Float64Array(length) } });
        expectCoded('error' in outcome && outcome.error, ErrorCode.INVALID_ARG, new RegExp(`out\\.${name} must be a ${Type.name} of ${length} elements, got Float64Array`));
        outcome = await call({ ...args, out: { [name]: Array.from({ length }, () => 0) } });
        expectCoded('error' in outcome && outcome.error, ErrorCode.INVALID_ARG, new RegExp(`out\\.${name} must be a ${Type.name}`));
        const detached = new Type(length);
        structuredClone(detached.buffer, { transfer: [detached.buffer] });
        outcome = await call({ ...args, out: { [name]: detached } });
        expectCoded('error' in outcome && outcome.error, ErrorCode.INVALID_ARG, new RegExp(`out\\.${name} is backed by a detached ArrayBuffer`));
        outcome = await call({ ...args, out: { [name]: new Type(new SharedArrayBuffer(length * Type.BYTES_PER_ELEMENT) as unknown as ArrayBuffer) } });
        expectCoded('error' in outcome && outcome.error, ErrorCode.INVALID_ARG, new RegExp(`out\\.${name} is backed by a SharedArrayBuffer`));
        // Resizable ArrayBuffers (ES2024) are in Node 20, not yet in this TypeScript lib.
        const ResizableBuffer = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) => ArrayBuffer;
        const resizable = new ResizableBuffer(length * Type.BYTES_PER_ELEMENT, { maxByteLength: 2 * length * Type.BYTES_PER_ELEMENT });
        outcome = await call({ ...args, out: { [name]: new Type(resizable, 0, length) } });
        expectCoded('error' in outcome && outcome.error, ErrorCode.INVALID_ARG, new RegExp(`out\\.${name} is backed by a resizable ArrayBuffer`));
        outcome = await call({ ...args, out: { [name]: new Type(length), bogus: new Float32Array(1) } });
        expectCoded('error' in outcome && outcome.error, ErrorCode.INVALID_ARG, /out: unknown option 'bogus'/);
        outcome = await call({ ...args, out: [new Type(length)] });
        expectCoded('error' in outcome && outcome.error, ErrorCode.INVALID_ARG, /out must be an object/);

        // Two outputs over one buffer, overlapping by one element (when both are 4-byte arrays).
        const [otherName, otherModel] = second;
        const shared = new ArrayBuffer((length + otherModel.length - 1) * 4);
        const overlapping = { [name]: new Type(shared, 0, length), [otherName]: new (otherModel.constructor as Float32ArrayConstructor)(shared, (length - 1) * 4, otherModel.length) };
        outcome = await call({ ...args, out: overlapping });
        expectCoded('error' in outcome && outcome.error, ErrorCode.INVALID_ARG, /shares memory with out\./);
      });

      it(`${form}: an output the call does not return is refused, naming the option that returns it`, async () => {
        const args = kernel.args(new Rng(SEED + 2));
        const withoutGradients = { ...args, backend, ...(kernel.name.startsWith('crps') ? { gradients: false, components: false } : { gradients: false }) };
        const plain = await run(args);
        const [name, model] = Object.entries(arraysOf(plain)).find(([key]) => key.startsWith('grad'))!;
        const outcome = await settle(run({ ...withoutGradients, out: { [name]: new Float32Array(model.length) } }));
        expectCoded('error' in outcome && outcome.error, ErrorCode.INVALID_ARG, new RegExp(`out\\.${name} is given, but this call returns no ${name} \\(it needs .*gradients: true\\)`));
      });
    }

    it('async: an output transferred while the call is pending rejects (ERR_FUSEDLOSS_INVALID_ARG)', async () => {
      const args = kernel.args(new Rng(SEED + 3));
      const plain = await kernel.async({ ...args, backend });
      const [name, model] = Object.entries(arraysOf(plain))[0];
      const out = { [name]: new (model.constructor as Float32ArrayConstructor)(model.length) };
      const pending = settle(kernel.async({ ...args, backend, out }));
      // The memory stays alive with `moved` until the call settles (the documented contract is not
      // to touch it; this checks that a violation is reported, not lost).
      const moved = structuredClone(out[name].buffer, { transfer: [out[name].buffer] });
      const outcome = await pending;
      expect(moved.byteLength).toBe(model.byteLength);
      expectCoded('error' in outcome && outcome.error, ErrorCode.INVALID_ARG, new RegExp(`out\\.${name} was detached while the call`));
    });
  });

  it.skipIf(!available)('mine() refuses out, sync and async, saying why', async () => {
    const rng = new Rng(SEED + 4);
    const args = { embeddings: { data: floats(rng, 12), shape: [6, 2] }, labels: ints(rng, 6, 2), miner: { type: 'batch-hard' }, backend };
    const message = /mine: out is not accepted: how many pairs or triplets a miner finds depends on the data/;
    expectCoded(await settle(Promise.resolve().then(() => mine({ ...args, out: {} } as never))).then((o) => 'error' in o && o.error), ErrorCode.INVALID_ARG, message);
    const outcome = await settle(mineAsync({ ...args, out: { anchors: new Int32Array(6) } } as never));
    expectCoded('error' in outcome && outcome.error, ErrorCode.INVALID_ARG, message);
  });

  it.skipIf(!available)('an output over an input the kernel reads is refused', async () => {
    const rng = new Rng(SEED + 5);
    const ensemble = floats(rng, 40);
    const outcome = await settle(Promise.resolve().then(() => crps({ ensemble: { data: ensemble, shape: [10, 4] }, observations: floats(rng, 10), backend, out: { scores: ensemble.subarray(30) } } as never)));
    expectCoded('error' in outcome && outcome.error, ErrorCode.INVALID_ARG, /out\.scores shares memory with the input ensemble/);
  });
});

describe.skipIf(!BACKENDS[1].available)('the native addon called directly with out', () => {
  const plan = {
    outer: 3, members: 2, inner: 1, alpha: 0, nanPolicy: 0, gradients: false, components: false, device: 0,
    ensemble: new Float32Array([1, 2, 3, 4, 5, 6]), observations: new Float32Array([1, 2, 3]),
  };
  const native = () => addon().crps as (args: unknown) => Result;

  it('writes into a given array and returns it', () => {
    const scores = new Float32Array(3).fill(NaN);
    const result = native()({ ...plan, out: { scores } });
    expect(result.scores).toBe(scores);
    expect(Array.from(scores)).toEqual(Array.from(native()(plan).scores as Float32Array));
  });

  it('refuses, with coded errors, what would be unsafe: another type, another length, a detached array, a non-object', () => {
    const detached = new Float32Array(3);
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    const cases: [unknown, string][] = [
      [{ scores: new Float64Array(3) }, ErrorCode.INVALID_ARG],
      [{ scores: new Float32Array(4) }, ErrorCode.SHAPE],
      [{ scores: detached }, ErrorCode.INVALID_ARG],
      [7, ErrorCode.INVALID_ARG],
    ];
    for (const [out, code] of cases) {
      expect(() => native()({ ...plan, out }), String(out)).toThrow(expect.objectContaining({ code }));
    }
  });
});
