// Backend 'wasm' itself (the kernels' answers are held by every suite that iterates
// backendCases()): availability and the backend choice, the executor's memory (every allocation
// freed on success and failure, a call too large for wasm32 refused with TOO_LARGE, a trap
// dropping the instance), and the single-threaded module's async calls off the JavaScript thread
// (its worker), with the main-thread path (no worker) giving the same bits.  The threaded module,
// which Node.js gets by default, is test/wasm-threads.test.ts's.  FUSEDLOSS_REQUIRE_WASM=1 fails these instead of skipping
// them when the module is not built (npm run build:wasm).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CRPS_WASM } from '../lib/crps/wasm';
import { planCrps } from '../lib/crps/plan';
import { resetNativeForTesting, type NativeAddon } from '../lib/native';
import { executeWasmCall, keepInstance, type KernelExports, type WasmCall } from '../lib/wasm/execute';
import { resetWasmForTesting, wasmKernels, wasmMemoryBytes, wasmModule } from '../lib/wasm/loader';
import { setOffThreadRunner, offThreadRunner, WorkerRunner } from '../lib/wasm/off-thread';
import type { WorkerHost } from '../lib/wasm/host-types';
import { backendInfo, crps, crpsAsync, ErrorCode, marginSoftmax, mine, mineAsync, pairLoss, pairLossAsync } from './api';
import { eventLoopTurnsDuring } from './event-loop';
import { Rng, testSeed, wasmRequired } from './helpers';

const seed = testSeed('wasm.test');
const available = backendInfo().wasm.available || wasmRequired();

function randomCrps(rng: Rng, points: number, members: number) {
  const ensemble = Float32Array.from({ length: points * members }, () => rng.normal());
  const observations = Float32Array.from({ length: points }, () => rng.normal());
  return { ensemble: { data: ensemble, shape: [points, members] }, observations, estimator: 'fair' as const, gradients: true as const };
}

function randomPairs(rng: Rng, rows: number, dim: number) {
  const embeddings = { data: Float32Array.from({ length: rows * dim }, () => rng.normal()), shape: [rows, dim] };
  const labels = Int32Array.from({ length: rows }, () => rng.int(4));
  return { embeddings, labels };
}

afterEach(() => {
  resetWasmForTesting();
  resetNativeForTesting();
});

describe('availability and the backend choice', () => {
  it.skipIf(!available)('backendInfo().wasm: available, SIMD128, one thread with the single-threaded module', () => {
    resetWasmForTesting({ threaded: false });
    crps({ ...randomCrps(new Rng(seed), 4, 3), backend: 'wasm' });
    expect(backendInfo().wasm).toEqual({ available: true, simd: true, threads: 1, reason: null });
  });

  it("an explicit 'wasm' where the module is missing throws ERR_FUSEDLOSS_BACKEND with the reason", () => {
    resetWasmForTesting({ module: null, reason: 'not built into this copy (a test)' });
    expect(backendInfo().wasm).toEqual({ available: false, simd: false, threads: 1, reason: 'not built into this copy (a test)' });
    const args = { ...randomCrps(new Rng(seed), 4, 3), backend: 'wasm' as const };
    expect(() => crps(args)).toThrow(expect.objectContaining({ code: ErrorCode.BACKEND, message: expect.stringContaining('not built into this copy (a test)') }));
    return expect(crpsAsync(args)).rejects.toMatchObject({ code: ErrorCode.BACKEND });
  });

  it.skipIf(!available)("'auto' without the addon picks wasm, and js when wasm is missing too", () => {
    const args = randomCrps(new Rng(seed), 4, 3);
    resetNativeForTesting({ root: '/nonexistent-fusedloss-root' });
    expect(crps(args).backend).toBe('wasm');
    resetWasmForTesting({ module: null });
    expect(crps(args).backend).toBe('js');
  });

  it.skipIf(!available)("'auto' with the addon still picks it (cuda → cpu → wasm → js)", () => {
    const args = randomCrps(new Rng(seed), 4, 3);
    resetNativeForTesting({ addon: { cudaInfo: () => ({ built: false, available: false, reason: 'test', devices: [] }) } as unknown as NativeAddon });
    // A stand-in addon without kernels: 'auto' chose it, so the call fails on it, not on wasm.
    expect(() => crps(args)).toThrow(/no crps\(\)/);
  });
});

describe.skipIf(!available || !backendInfo().native)('the same bits as the native CPU backend', () => {
  // Same C++, same chunks in the same order, and CRPS has no product that the native build fuses
  // (docs/spec/README.md, Backends): every output bit for bit, NaN members included.
  it('crps: every estimator, layout and NaN policy, on random ensembles with NaN members', () => {
    const rng = new Rng(seed ^ 0x77);
    for (const members of [1, 2, 4, 5, 16, 51, 130]) {
      for (const estimator of ['standard', 'fair', 'almost-fair'] as const) {
        if (members < 2 && estimator !== 'standard') continue;
        const points = 1 + rng.int(200);
        const ensemble = Float32Array.from({ length: points * members }, () => (rng.next() < 0.03 ? NaN : 4 * rng.normal()));
        const observations = Float32Array.from({ length: points }, () => rng.normal());
        const memberLast = rng.next() < 0.5;
        const args = {
          ensemble: { data: ensemble, shape: memberLast ? [points, members] : [members, points] },
          memberAxis: memberLast ? 1 : 0,
          observations,
          estimator,
          nanPolicy: (['propagate', 'omit', 'zero'] as const)[rng.int(3)],
          gradients: true as const,
          components: true as const,
        };
        const cpu = crps({ ...args, backend: 'cpu' });
        const wasm = crps({ ...args, backend: 'wasm' });
        const label = `M ${members}, ${estimator}, P ${points}, ${args.nanPolicy}, member axis ${args.memberAxis}`;
        expect(Object.is(wasm.mean, cpu.mean), label).toBe(true);
        for (const name of ['scores', 'gradEnsemble', 'gradObservations', 'skill', 'spread'] as const) {
          expect(new Uint32Array(wasm[name].buffer), `${label}: ${name}`).toEqual(new Uint32Array(cpu[name].buffer));
        }
      }
    }
  });
});

describe.skipIf(!available)('memory', () => {
  it('1,000 calls, failing ones included, leave the instance at the size the first ones grew it to', () => {
    const rng = new Rng(seed ^ 0x5a5a);
    const args = randomCrps(rng, 500, 11);
    const pairs = randomPairs(rng, 40, 8);
    const run = (i: number) => {
      if (i % 3 === 0) return crps({ ...args, backend: 'wasm' });
      if (i % 3 === 1) return pairLoss({ ...pairs, loss: { type: 'contrastive' }, backend: 'wasm' });
      // More pairs than maxOutputs: the kernel fails after allocating its work buffers.
      expect(() => mine({ ...pairs, miner: { type: 'multi-similarity' }, maxOutputs: 3, backend: 'wasm' })).toThrow(expect.objectContaining({ code: ErrorCode.TOO_LARGE }));
      return null;
    };
    for (let i = 0; i < 30; i++) run(i);
    const settled = wasmMemoryBytes();
    expect(settled).toBeGreaterThan(0);
    for (let i = 0; i < 1000; i++) run(i);
    expect(wasmMemoryBytes()).toBe(settled);
  });

  it('a call beyond what wasm32 addresses is TOO_LARGE before anything is allocated', () => {
    const kernels = wasmKernels();
    const before = kernels.memory.buffer.byteLength;
    const call: WasmCall = { entry: 'fl_crps', scalars: [1, 2, 2 ** 30, 0, 0, 0, 0], inputs: [null, null, null, null], outputs: [{ name: 'scores', type: 'f32', length: 2 ** 30 }], results: 1, returnedArrays: 0 };
    const executed = executeWasmCall(kernels, call);
    expect(executed.status).toBe(4);
    expect(executed.message).toMatch(/wasm32 addresses at most/);
    expect(kernels.memory.buffer.byteLength).toBe(before);
  });

  it('memory that cannot grow is TOO_LARGE, and the entry point is never called', () => {
    let called = false;
    const refusing = { ...wasmKernels(), fl_alloc: () => 0, fl_crps: () => (called = true) } as unknown as KernelExports;
    const call = CRPS_WASM.call(planCrps(randomCrps(new Rng(seed), 8, 3)).plan);
    const executed = executeWasmCall(refusing, call);
    expect(executed.status).toBe(4);
    expect(executed.message).toMatch(/could not grow/);
    expect(called).toBe(false);
  });

  it('an instance grown past 1 GiB is not kept (linear memory never shrinks)', () => {
    const sized = (bytes: number) => ({ memory: { buffer: { byteLength: bytes } } }) as unknown as KernelExports;
    expect(keepInstance(wasmKernels())).toBe(true);
    expect(keepInstance(sized(2 ** 30))).toBe(true);
    expect(keepInstance(sized(2 ** 30 + 65536))).toBe(false);
  });

  it("a trap propagates, and the call's block is freed", () => {
    const kernels = wasmKernels();
    const freed: number[] = [];
    const trapping = { ...kernels, fl_free: (p: number) => { freed.push(p); kernels.fl_free(p); }, fl_crps: () => { throw new Error('unreachable'); } } as unknown as KernelExports;
    const call = CRPS_WASM.call(planCrps(randomCrps(new Rng(seed), 8, 3)).plan);
    expect(() => executeWasmCall(trapping, call)).toThrow('unreachable');
    expect(freed).toHaveLength(1);
  });
});

describe.skipIf(!available)('async on the single-threaded module', () => {
  beforeEach(() => resetWasmForTesting({ threaded: false }));

  it('runs off the JavaScript thread: the event loop turns while a call computes', async () => {
    expect(offThreadRunner()).not.toBeNull();
    const args = { ...randomCrps(new Rng(seed ^ 7), 100_000, 51), backend: 'wasm' as const };
    await crpsAsync(args); // the worker starts and its code warms up
    const turns = await eventLoopTurnsDuring(() => crpsAsync(args));
    // A blocking call would let the loop turn about once; a call of tens of ms off-thread, many times.
    expect(turns).toBeGreaterThan(5);
  });

  it('worker, calling thread and sync give the same bits; concurrent calls each get their own', async () => {
    const rng = new Rng(seed ^ 11);
    const cases = [randomCrps(rng, 700, 7), randomCrps(rng, 300, 51), randomCrps(rng, 33, 2)].map((args) => ({ ...args, backend: 'wasm' as const }));
    const sync = cases.map((args) => crps(args));
    const offThread = await Promise.all(cases.map((args) => crpsAsync(args)));
    const worker = offThreadRunner();
    setOffThreadRunner(null);
    try {
      const onThread = await Promise.all(cases.map((args) => crpsAsync(args)));
      for (let k = 0; k < cases.length; k++) {
        for (const result of [offThread[k], onThread[k]]) {
          expect(result.backend).toBe('wasm');
          expect(result.mean).toBe(sync[k].mean);
          expect(result.scores).toEqual(sync[k].scores);
          expect(result.gradEnsemble).toEqual(sync[k].gradEnsemble);
        }
      }
    } finally {
      setOffThreadRunner(worker);
    }
  });

  it('a runner that cannot start leaves the call to the calling thread', async () => {
    const worker = offThreadRunner();
    let asked = 0;
    setOffThreadRunner({ run: () => (asked++, null) });
    try {
      const args = { ...randomCrps(new Rng(seed ^ 19), 50, 5), backend: 'wasm' as const };
      const result = await crpsAsync(args);
      expect(asked).toBe(1);
      expect(result.scores).toEqual(crps(args).scores);
    } finally {
      setOffThreadRunner(worker);
    }
  });

  it('a worker that fails to start (a page refusing blob: workers) costs no call: they and later ones run on the calling thread', async () => {
    const worker = offThreadRunner();
    let started = 0;
    let posted = 0;
    const refusing: WorkerHost = {
      listen: '',
      threads: 1,
      start: () => {
        started++;
        let fail: (error: Error) => void = () => {};
        setTimeout(() => fail(new Error('refused by the page')), 5);
        return { post: () => void posted++, onMessage: () => {}, onError: (listener) => void (fail = listener), ref: () => {}, unref: () => {}, terminate: () => {} };
      },
    };
    setOffThreadRunner(new WorkerRunner(refusing));
    try {
      const rng = new Rng(seed ^ 23);
      const cases = [randomCrps(rng, 40, 9), randomCrps(rng, 17, 3)].map((args) => ({ ...args, backend: 'wasm' as const }));
      const first = await Promise.all(cases.map((args) => crpsAsync(args)));
      const later = await crpsAsync(cases[0]);
      for (const [k, result] of [...first.entries(), [0, later] as const]) {
        expect(result.backend).toBe('wasm');
        expect(result.scores).toEqual(crps(cases[k]).scores);
        expect(result.gradEnsemble).toEqual(crps(cases[k]).gradEnsemble);
      }
      expect([started, posted]).toEqual([1, 0]);
    } finally {
      setOffThreadRunner(worker);
    }
  });

  it('a kernel failure in the worker rejects with its code; the worker serves the next call', async () => {
    const pairs = randomPairs(new Rng(seed ^ 13), 30, 6);
    await expect(mineAsync({ ...pairs, miner: { type: 'multi-similarity' }, maxOutputs: 2, backend: 'wasm' })).rejects.toMatchObject({ code: ErrorCode.TOO_LARGE });
    const loss = await pairLossAsync({ ...pairs, loss: { type: 'contrastive' }, backend: 'wasm' });
    expect(loss.loss).toBe(pairLoss({ ...pairs, loss: { type: 'contrastive' }, backend: 'wasm' }).loss);
  });

  it('the worker starts under --input-type=module too (built package, dist/: node scripts/build-ts.js)', () => {
    // The eval'd worker inherits the flag and is then an ES module (no require).
    const entry = path.join(__dirname, '..', 'dist', 'esm', 'index.mjs');
    const code = `import { crpsAsync } from ${JSON.stringify(entry)};
const r = await crpsAsync({ ensemble: { data: [1, 2, 3, 4], shape: [2, 2] }, observations: [1, 2], backend: 'wasm' });
console.log(JSON.stringify([r.backend, ...r.scores]));`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 });
    expect(child.stderr).toBe('');
    // Members {1, 2} and {3, 4}, observations 1 and 2: CRPS = mean|x − y| − mean|x − x'|/2 = 0.5 − 0.25, 1.5 − 0.25.
    expect(JSON.parse(child.stdout)).toEqual(['wasm', 0.25, 1.25]);
  });

  it('marginSoftmax with out: the caller\'s arrays, written in place, sync and async', async () => {
    const rng = new Rng(seed ^ 17);
    const [rows, dim, classes] = [5, 8, 12];
    const args = {
      embeddings: { data: Float32Array.from({ length: rows * dim }, () => rng.normal()), shape: [rows, dim] },
      weights: { data: Float32Array.from({ length: classes * dim }, () => rng.normal()), shape: [classes, dim] },
      labels: Int32Array.from({ length: rows }, () => rng.int(classes)),
      backend: 'wasm' as const,
    };
    const fresh = marginSoftmax(args);
    const losses = new Float32Array(rows).fill(NaN);
    const gradWeights = new Float32Array(classes * dim).fill(NaN);
    const result = marginSoftmax({ ...args, out: { losses, gradWeights } });
    expect(result.losses).toBe(losses);
    expect(result.gradWeights).toBe(gradWeights);
    expect(losses).toEqual(fresh.losses);
    expect(gradWeights).toEqual(fresh.gradWeights);
    expect(wasmModule()).not.toBeNull();
  });
});
