// Integer inputs (class ids, labels, self indices) in a SharedArrayBuffer that a worker thread
// keeps rewriting while the main thread calls each kernel, sync and async, on every backend
// (issue 10, point 3).  The writer alternates one valid content with values that are out of range
// everywhere, so an array read once is either the valid content (the call must then give exactly
// the result of a private copy of it) or holds an out-of-range value (the call must then fail
// with ERR_FUSEDLOSS_LABEL).  Reading an array twice (validate, then read again) shows up as a
// crash, a wrong result or a wrong code.  Float data in shared memory must never crash either.
import { Worker } from 'node:worker_threads';

import { afterEach, describe, expect, it } from 'vitest';

import { mine } from './api';
import { backendCases, Rng, testSeed } from './helpers';
import { asyncOutcomeOf, describeOutcome, ENTRY, errorCode, familyArgs, outcomeOf, sameResult, SIZE, type Family, type Outcome } from './inputs-cases';
import { planMarginSoftmaxForAddon as planMarginSoftmax } from '../lib/margin/native';
import { addon } from '../lib/native';
import { planMineForAddon as planMine, planPairLossForAddon as planPairLoss } from '../lib/pairs/native';

const SEED = testSeed('inputs.shared-memory');
const BACKENDS = backendCases();
const CALLS = 400;

// Writes each pattern into the shared array in turn, element by element, holding each one for a
// varying number of spins so that reads land at every phase of the rewrite; stops on control[0].
const WRITER = `
const { parentPort, workerData } = require('node:worker_threads');
const { buffer, byteOffset, length, patterns, control } = workerData;
const view = new (buffer instanceof SharedArrayBuffer && workerData.float ? Float32Array : Int32Array)(buffer, byteOffset, length);
const stop = new Int32Array(control);
parentPort.postMessage('started');
let spin = 1;
while (Atomics.load(stop, 0) === 0) {
  for (const pattern of patterns) {
    for (let i = 0; i < length; i++) view[i] = pattern[i];
    spin = (spin * 1103515245 + 12345) & 0x7fffffff;
    for (let k = spin % 4096; k > 0; k--) Atomics.load(stop, 0);
  }
}
`;

interface Writer {
  stop(): Promise<void>;
}

const writers: Writer[] = [];
afterEach(async () => {
  await Promise.all(writers.splice(0).map((w) => w.stop()));
});

/** A worker that rewrites `view` (SharedArrayBuffer-backed) with `patterns` until stopped. */
async function startWriter(view: Int32Array | Float32Array, patterns: ArrayLike<number>[]): Promise<void> {
  const control = new SharedArrayBuffer(4);
  const worker = new Worker(WRITER, {
    eval: true,
    workerData: { buffer: view.buffer, byteOffset: view.byteOffset, length: view.length, patterns: patterns.map((p) => Array.from(p)), control, float: view instanceof Float32Array },
  });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  writers.push({
    stop: async () => {
      Atomics.store(new Int32Array(control), 0, 1);
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  });
}

function sharedInt32(values: ArrayLike<number>): Int32Array {
  const view = new Int32Array(new SharedArrayBuffer(4 * values.length));
  view.set(values);
  return view;
}

function sharedFloat32(values: ArrayLike<number>): Float32Array {
  const view = new Float32Array(new SharedArrayBuffer(4 * values.length));
  view.set(values);
  return view;
}

/** Out of range for every integer input of every kernel (class ids, labels, self indices). */
const OUT_OF_RANGE = [0x7fffffff, -0x80000000, 1 << 30, -5];

interface RaceCase {
  family: Family;
  /** The integer option that lives in shared memory. */
  key: string;
}

const RACES: RaceCase[] = [
  { family: 'marginSoftmax', key: 'classIndices' },
  { family: 'marginSoftmax', key: 'labels' },
  { family: 'mine', key: 'selfIndex' },
  { family: 'pairLoss', key: 'selfIndex' },
];

/** Failures of one outcome: the private-copy result bit for bit, or ERR_FUSEDLOSS_LABEL. */
function judge(outcome: Outcome, expected: Record<string, unknown>, label: string): string[] {
  if ('result' in outcome) return sameResult(outcome.result, expected, label);
  return errorCode(outcome.error) === 'ERR_FUSEDLOSS_LABEL' ? [] : [`${label}: ${describeOutcome(outcome)}`];
}

/**
 * Starts a writer that alternates `valid` with out-of-range values in `shared`, then makes CALLS
 * calls with it; the failures of their outcomes (judge) and a list of the outcomes seen.
 */
async function race(shared: Int32Array, valid: Int32Array, call: () => Promise<Outcome>, expected: Record<string, unknown>): Promise<{ failures: string[]; seen: string }> {
  const invalid = Array.from({ length: valid.length }, (_, i) => OUT_OF_RANGE[i % OUT_OF_RANGE.length]);
  await startWriter(shared, [valid, valid, invalid]);
  const failures: string[] = [];
  const seen = new Set<string>();
  for (let n = 0; n < CALLS && failures.length < 5; n++) {
    const outcome = await call();
    seen.add(describeOutcome(outcome));
    failures.push(...judge(outcome, expected, `call ${n}`));
  }
  return { failures, seen: `outcomes seen: ${[...seen].join(', ')}` };
}

describe.each(BACKENDS)('backend $name', ({ name: backend, available }) => {
  describe.each(RACES)('$family with $key in shared memory', ({ family, key }) => {
    for (const form of ['sync', 'async'] as const) {
      it.skipIf(!available)(`${form}: the copy's result or ERR_FUSEDLOSS_LABEL, never a crash or another result`, async () => {
        const make = familyArgs(new Rng(SEED))[family];
        const valid = make()[key] as Int32Array;
        const expected = ENTRY[family].sync({ ...make(), backend }) as Record<string, unknown>;
        const shared = sharedInt32(valid);
        const call = () => {
          const args = { ...make(), [key]: shared, backend };
          return form === 'sync' ? Promise.resolve(outcomeOf(() => ENTRY[family].sync(args))) : asyncOutcomeOf(() => ENTRY[family].async(args));
        };
        const { failures, seen } = await race(shared, valid, call, expected);
        expect(failures, seen).toEqual([]);
      });
    }
  });

  it.skipIf(!available)('mine with ref rewritten between two finite contents returns indices in range, never a crash', async () => {
    const make = familyArgs(new Rng(SEED + 1)).mine;
    const base = make();
    const refData = (base.ref as { data: Float32Array }).data;
    const hostile = refData.map((v, i) => (i % 3 === 0 ? -v : 4 * v));
    const shared = sharedFloat32(refData);
    await startWriter(shared, [refData, hostile]);
    const failures: string[] = [];
    for (let call = 0; call < CALLS && failures.length < 5; call++) {
      for (const miner of [{ type: 'triplet-margin', triplets: 'hard', margin: 0.1 }, { type: 'multi-similarity' }]) {
        const outcome = outcomeOf(() => mine({ ...make(), ref: { data: shared, shape: [SIZE.rows, SIZE.dim] }, miner, normalize: false, distance: 'euclidean', backend } as never));
        if ('error' in outcome) {
          failures.push(`call ${call} ${miner.type}: ${describeOutcome(outcome)}`);
          continue;
        }
        const lists = Object.entries(outcome.result).filter(([, v]) => v instanceof Int32Array) as [string, Int32Array][];
        for (const [name, list] of lists) {
          if (list.some((j) => j < 0 || j >= SIZE.rows)) failures.push(`call ${call} ${miner.type}: ${name} holds an index outside [0, ${SIZE.rows})`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});

// The addon called directly (the TypeScript layer copies integer inputs before they reach it):
// its own copy-then-validate is what keeps the kernel in bounds.
const RAW_RACES: { family: Family; key: string; plan: (args: unknown) => { plan: object } }[] = [
  { family: 'marginSoftmax', key: 'classIds', plan: planMarginSoftmax },
  { family: 'marginSoftmax', key: 'targets', plan: planMarginSoftmax },
  { family: 'mine', key: 'selfIndex', plan: planMine },
  { family: 'pairLoss', key: 'selfIndex', plan: planPairLoss },
];

describe.skipIf(!BACKENDS[1].available).each(RAW_RACES)('the native addon called directly: $family with $key in shared memory', ({ family, key, plan }) => {
  for (const form of ['sync', 'async'] as const) {
    it(`${form}: the copy's result or ERR_FUSEDLOSS_LABEL`, async () => {
      const native = addon()[form === 'sync' ? family : `${family}Async`] as (args: unknown) => unknown;
      const make = () => ({ ...plan(familyArgs(new Rng(SEED + 2))[family]()).plan, device: 0 }) as Record<string, unknown>;
      const valid = make()[key] as Int32Array;
      const expected = (await native(make())) as Record<string, unknown>;
      const shared = sharedInt32(valid);
      const { failures, seen } = await race(shared, valid, () => asyncOutcomeOf(() => native({ ...make(), [key]: shared })), expected);
      expect(failures, seen).toEqual([]);
    });
  }
});
