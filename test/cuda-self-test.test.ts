// The CUDA self-test (lib/cuda-self-test.ts) without a GPU: the real addon's CPU kernels behind a
// fake addon that claims a CUDA device, whose 'cuda' path is correct, off by rounding, wrong,
// leaves an element unwritten, or throws.  'auto' must use CUDA for a family only after its
// self-test passed, fall back to the CPU when it failed, and an explicit 'cuda' must then throw
// ERR_FUSEDLOSS_BACKEND with the reason that backendInfo() reports.  Pairs: 'auto' keeps them on
// the CPU even after a passing self-test (until a GPU run has measured their kernels), so their
// self-test runs at the first explicit 'cuda' call.
import { Worker } from 'node:worker_threads';

import { afterAll, beforeEach, describe, expect, it } from 'vitest';

import { native, resetNativeForTesting, type NativeAddon, type SelfTestRecord } from '../lib/native';
import { backendInfo, crps, crpsAsync, ErrorCode, marginSoftmax, marginSoftmaxAsync, mine, pairLoss, pairLossAsync, type KernelFamily } from './api';
import { Rng, testSeed } from './helpers';

const SEED = testSeed('cuda-self-test');
const REAL = native().addon;
const ENTRIES = ['crps', 'marginSoftmax', 'mine', 'pairLoss'] as const;
type Entry = (typeof ENTRIES)[number];
const FAMILY_OF: Record<Entry, KernelFamily> = { crps: 'crps', marginSoftmax: 'marginSoftmax', mine: 'pairs', pairLoss: 'pairs' };

/** What the fake 'cuda' path does with the CPU's answer. */
type Mode = 'correct' | 'rounding' | 'wrong' | 'unwritten' | 'throws';

type Outputs = Record<string, unknown>;
type Kernel = (plan: Record<string, unknown>) => Outputs;

function largestArray(out: Outputs, type: typeof Float32Array | typeof Int32Array): Float32Array | Int32Array | null {
  let best: Float32Array | Int32Array | null = null;
  for (const v of Object.values(out)) if (v instanceof type && v.length > 0 && (!best || v.length > best.length)) best = v;
  return best;
}

function tamper(out: Outputs, mode: Mode, rng: Rng): Outputs {
  if (mode === 'rounding') {
    // What a GPU may differ by: a few float32 ulps on every element and scalar.
    for (const [key, v] of Object.entries(out)) {
      if (v instanceof Float32Array) for (let i = 0; i < v.length; i++) v[i] *= 1 + (rng.next() - 0.5) * 4e-7;
      else if (typeof v === 'number') out[key] = v * (1 + (rng.next() - 0.5) * 2e-9);
    }
  } else if (mode === 'wrong') {
    // One element off by 1 % of its scale, max(|v|, rms) (a real bug is usually worse), or one index.
    const floats = largestArray(out, Float32Array);
    if (floats) {
      let sum = 0;
      let count = 0;
      for (const v of floats) if (Number.isFinite(v)) (sum += v * v), count++;
      const i = Math.floor(rng.next() * floats.length);
      floats[i] = Number.isFinite(floats[i]) ? floats[i] + 0.01 * (Math.max(Math.abs(floats[i]), Math.sqrt(sum / count)) || 1) : 1;
    } else {
      const ints = largestArray(out, Int32Array)!;
      ints[Math.floor(rng.next() * ints.length)] += 1;
    }
  } else if (mode === 'unwritten') {
    // An element the kernel never wrote comes back as the device poison (a NaN), or −1 for indices.
    const floats = largestArray(out, Float32Array);
    if (floats) floats[floats.length - 1] = NaN;
    else largestArray(out, Int32Array)![0] = -1;
  }
  return out;
}

interface Fake {
  addon: NativeAddon;
  /** Calls of each entry on the fake CUDA path (sync and async). */
  cudaCalls: Record<Entry, number>;
  store: Map<string, SelfTestRecord>;
}

/** The real addon, but reporting one CUDA device whose kernels are the CPU's, treated per `modes`. */
function fakeCuda(modes: Partial<Record<KernelFamily, Mode>>, rng = new Rng(SEED)): Fake {
  const real = REAL as NativeAddon;
  const cudaCalls = { crps: 0, marginSoftmax: 0, mine: 0, pairLoss: 0 };
  const store = new Map<string, SelfTestRecord>();
  const addon: NativeAddon = {
    runtimeInfo: () => real.runtimeInfo(),
    setThreads: (n: number) => real.setThreads(n),
    cudaInfo: () => ({ built: true, available: true, reason: null, devices: [{ index: 0, name: 'fake GPU', computeCapability: '9.0', totalMemory: 2 ** 34 }] }),
    cudaSelfTestRecord(family: string, passed?: boolean, reason?: string | null) {
      if (!store.has(family) && passed !== undefined) store.set(family, { passed, reason: passed ? null : (reason ?? '') });
      return store.get(family);
    },
  };
  for (const entry of ENTRIES) {
    const sync = real[entry] as Kernel;
    const mode = modes[FAMILY_OF[entry]] ?? 'correct';
    const onCuda = (plan: Record<string, unknown>): Outputs => {
      cudaCalls[entry]++;
      if (mode === 'throws') throw Object.assign(new Error(`${entry} (CUDA): running the kernels: an illegal memory access was encountered`), { code: ErrorCode.BACKEND });
      return tamper(sync({ ...plan, device: 0 }), mode, rng);
    };
    addon[entry] = (plan: Record<string, unknown>) => (plan.device === 1 ? onCuda(plan) : sync(plan));
    addon[`${entry}Async`] = async (plan: Record<string, unknown>) => (plan.device === 1 ? onCuda(plan) : (real[`${entry}Async`] as (p: unknown) => Promise<Outputs>)(plan));
  }
  return { addon, cudaCalls, store };
}

// One small call of each family, with the backend to ask for.
const CALLS: Record<KernelFamily, (backend: 'auto' | 'cuda') => { backend: string }> = {
  crps: (backend) => crps({ ensemble: { data: [0.5, 1.25, -2, 3, 0.75, 0.75], shape: [2, 3] }, observations: [1, 0.75], gradients: true, backend }),
  marginSoftmax: (backend) =>
    marginSoftmax({ embeddings: { data: [1, 0, 0, 1], shape: [2, 2] }, weights: { data: [1, 0, 0.6, 0.8, -1, 0], shape: [3, 2] }, labels: [0, 1], scale: 8, backend }),
  pairs: (backend) => pairLoss({ embeddings: { data: [1, 0, 0.8, 0.6, 0, 1, -0.6, 0.8], shape: [4, 2] }, labels: [0, 0, 1, 1], loss: { type: 'contrastive' }, backend }),
};
const FAMILIES = Object.keys(CALLS) as KernelFamily[];
/** The families 'auto' puts on CUDA once their self-test passed (lib/dispatch.ts). */
const AUTO_ON_CUDA = new Set<KernelFamily>(['crps', 'marginSoftmax']);
/** The backend asking for CUDA that runs the family's self-test: 'auto', or 'cuda' for pairs. */
const cudaRequest = (family: KernelFamily) => (AUTO_ON_CUDA.has(family) ? 'auto' : 'cuda');

let warnings: Error[] = [];
const onWarning = (warning: Error) => warnings.push(warning);
process.on('warning', onWarning);
const selfTestWarnings = () => warnings.filter((w) => (w as Error & { code?: string }).code === 'FUSEDLOSS_CUDA_SELF_TEST_FAILED');
const tick = () => new Promise((resolve) => setImmediate(resolve));

beforeEach(() => {
  warnings = [];
});
afterAll(() => {
  process.off('warning', onWarning);
  resetNativeForTesting();
});

describe.skipIf(!REAL)('CUDA self-test (fake CUDA device over the CPU kernels)', () => {
  it('a correct CUDA path passes: auto uses it after the self-test, which runs once per family', () => {
    const fake = fakeCuda({});
    resetNativeForTesting({ addon: fake.addon });
    expect(backendInfo().cuda.selfTest).toEqual({
      crps: { status: 'untested', reason: null },
      marginSoftmax: { status: 'untested', reason: null },
      pairs: { status: 'untested', reason: null },
    });
    expect(CALLS.crps('auto').backend).toBe('cuda');
    const afterFirst = fake.cudaCalls.crps;
    expect(afterFirst).toBeGreaterThan(1); // the self-test's problems, then the call itself
    expect(CALLS.crps('auto').backend).toBe('cuda');
    expect(CALLS.crps('cuda').backend).toBe('cuda');
    expect(fake.cudaCalls.crps).toBe(afterFirst + 2);
    expect(fake.cudaCalls.marginSoftmax + fake.cudaCalls.mine + fake.cudaCalls.pairLoss).toBe(0); // per family, on first use
    expect(backendInfo().cuda.selfTest.crps).toEqual({ status: 'passed', reason: null });
    expect(backendInfo().cuda.selfTest.pairs.status).toBe('untested');
    expect(fake.store.get('crps')).toEqual({ passed: true, reason: null });
  });

  it.each(FAMILIES)('%s: differences of float32 rounding pass', (family) => {
    resetNativeForTesting({ addon: fakeCuda({ [family]: 'rounding' }).addon });
    expect(CALLS[family](cudaRequest(family)).backend).toBe('cuda');
    expect(backendInfo().cuda.selfTest[family]).toEqual({ status: 'passed', reason: null });
  });

  const failures: [KernelFamily, Mode, RegExp][] = [];
  for (const family of FAMILIES) {
    failures.push([family, 'wrong', /: cuda .*, cpu /], [family, 'unwritten', /: cuda (NaN|-1), cpu /], [family, 'throws', /CUDA failed: .*illegal memory access/]);
  }
  it.each(failures)('%s, CUDA %s: auto uses the CPU, explicit cuda throws the reason, backendInfo reports it, one warning', async (family, mode, why) => {
    const fake = fakeCuda({ [family]: mode });
    resetNativeForTesting({ addon: fake.addon });
    if (!AUTO_ON_CUDA.has(family)) expect(() => CALLS[family]('cuda')).toThrow(/self-test failed/); // runs the self-test
    const result = CALLS[family]('auto');
    expect(result.backend).toBe('cpu');
    const info = backendInfo().cuda.selfTest[family];
    expect(info.status).toBe('failed');
    expect(info.reason).toMatch(why);
    expect(info.reason).toMatch(family === 'pairs' ? /^(mine|pairLoss) \(/ : new RegExp(`^${family} \\(`));
    let thrown: unknown;
    try {
      CALLS[family]('cuda');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect((thrown as { code?: string }).code).toBe(ErrorCode.BACKEND);
    expect((thrown as Error).message).toContain(`not available for ${family}: its self-test failed: ${info.reason}`);
    const calls = { ...fake.cudaCalls };
    expect(CALLS[family]('auto').backend).toBe('cpu');
    expect(fake.cudaCalls).toEqual(calls); // not tested again, never run on the failed path
    for (const other of FAMILIES.filter((f) => f !== family)) expect(CALLS[other]('auto').backend).toBe(AUTO_ON_CUDA.has(other) ? 'cuda' : 'cpu');
    await tick();
    expect(selfTestWarnings()).toHaveLength(1);
    expect(selfTestWarnings()[0].message).toContain(info.reason!);
  });

  it("pairs: 'auto' stays on the CPU after a passing self-test, an explicit 'cuda' runs them", async () => {
    const fake = fakeCuda({});
    resetNativeForTesting({ addon: fake.addon });
    const embeddings = { data: [1, 0, 0.8, 0.6, 0, 1, -0.6, 0.8], shape: [4, 2] };
    expect(CALLS.pairs('auto').backend).toBe('cpu');
    expect(mine({ embeddings, labels: [0, 0, 1, 1], miner: { type: 'batch-hard' } }).backend).toBe('cpu');
    expect(fake.cudaCalls.mine + fake.cudaCalls.pairLoss).toBe(0); // not even the self-test
    expect(backendInfo().cuda.selfTest.pairs).toEqual({ status: 'untested', reason: null });
    expect(CALLS.pairs('cuda').backend).toBe('cuda');
    expect(backendInfo().cuda.selfTest.pairs).toEqual({ status: 'passed', reason: null });
    const calls = fake.cudaCalls.mine + fake.cudaCalls.pairLoss;
    expect(CALLS.pairs('auto').backend).toBe('cpu');
    expect((await pairLossAsync({ embeddings, labels: [0, 0, 1, 1], loss: { type: 'contrastive' } })).backend).toBe('cpu');
    expect(mine({ embeddings, labels: [0, 0, 1, 1], miner: { type: 'batch-hard' }, backend: 'cuda' }).backend).toBe('cuda');
    expect(fake.cudaCalls.mine + fake.cudaCalls.pairLoss).toBe(calls + 1);
    expect(CALLS.crps('auto').backend).toBe('cuda');
  });

  it('the async entry points fall back and reject the same way', async () => {
    resetNativeForTesting({ addon: fakeCuda({ crps: 'wrong', marginSoftmax: 'throws', pairs: 'unwritten' }).addon });
    const ensemble = { data: [0.5, 1.25, -2, 3, 0.75, 0.75], shape: [2, 3] };
    expect((await crpsAsync({ ensemble, observations: [1, 0.75] })).backend).toBe('cpu');
    await expect(crpsAsync({ ensemble, observations: [1, 0.75], backend: 'cuda' })).rejects.toMatchObject({ code: ErrorCode.BACKEND });
    const margin = { embeddings: { data: [1, 0, 0, 1], shape: [2, 2] }, weights: { data: [1, 0, 0, 1], shape: [2, 2] }, labels: [0, 1] };
    expect((await marginSoftmaxAsync(margin)).backend).toBe('cpu');
    await expect(marginSoftmaxAsync({ ...margin, backend: 'cuda' })).rejects.toThrow(/marginSoftmax: its self-test failed: marginSoftmax \(.*CUDA failed/);
    const pairs = { embeddings: { data: [1, 0, 0.8, 0.6, 0, 1, -0.6, 0.8], shape: [4, 2] }, labels: [0, 0, 1, 1], loss: { type: 'contrastive' } } as const;
    expect((await pairLossAsync(pairs)).backend).toBe('cpu');
    expect(mine({ embeddings: pairs.embeddings, labels: pairs.labels, miner: { type: 'batch-hard' } }).backend).toBe('cpu');
  });

  it("another context's record is used as is: a failure recorded by a worker is not retested", () => {
    const fake = fakeCuda({});
    fake.store.set('marginSoftmax', { passed: false, reason: 'marginSoftmax (recorded elsewhere): losses[0]: cuda 1, cpu 2' });
    resetNativeForTesting({ addon: fake.addon });
    expect(CALLS.marginSoftmax('auto').backend).toBe('cpu');
    expect(fake.cudaCalls.marginSoftmax).toBe(0);
    expect(backendInfo().cuda.selfTest.marginSoftmax).toEqual({ status: 'failed', reason: 'marginSoftmax (recorded elsewhere): losses[0]: cuda 1, cpu 2' });
    expect(CALLS.crps('auto').backend).toBe('cuda');
  });

  it('the addon keeps the records for the whole process: a worker thread reads what this thread recorded, first record wins', async () => {
    resetNativeForTesting();
    const real = native().addon!;
    const binary = native().binary!;
    const family = `test-only-${SEED}`;
    expect(real.cudaSelfTestRecord!(family)).toBeUndefined();
    expect(real.cudaSelfTestRecord!(family, false, 'first')).toEqual({ passed: false, reason: 'first' });
    expect(real.cudaSelfTestRecord!(family, true)).toEqual({ passed: false, reason: 'first' });
    const seen = await new Promise((resolve, reject) => {
      const worker = new Worker(
        `const { parentPort, workerData } = require('node:worker_threads');
         const addon = require(workerData.binary);
         parentPort.postMessage([addon.cudaSelfTestRecord(workerData.family), addon.cudaSelfTestRecord(workerData.family, true)]);`,
        { eval: true, workerData: { binary, family } },
      );
      worker.once('message', (m) => (resolve(m), void worker.terminate()));
      worker.once('error', reject);
    });
    expect(seen).toEqual([{ passed: false, reason: 'first' }, { passed: false, reason: 'first' }]);
  });
});
