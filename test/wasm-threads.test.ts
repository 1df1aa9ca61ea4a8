// The threaded WebAssembly module (lib/wasm/threads.ts), which Node.js gets by default: its
// workers start, the pool and the async service thread run the calls, every family gives the bits
// of the single-threaded module (and of the native CPU kernels, where CRPS's are the same C++
// compiled alike) at every thread count, sync and async, concurrent calls included; a failure on
// the service thread comes back with its code and message; a thread that traps fails its family's
// calls and the next call starts a fresh family; and a process neither hangs on its idle workers
// nor exits under an async call in flight.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { resetWasmForTesting, wasmKernels, wasmThreads } from '../lib/wasm/loader';
import { executeWasmCall } from '../lib/wasm/execute';
import { ThreadedKernels } from '../lib/wasm/threads';
import type { WorkerHandle, WorkerHost } from '../lib/wasm/host-types';
import { embeddedModule } from '../lib/wasm/embedded';
import { CRPS_WASM } from '../lib/crps/wasm';
import { planCrps } from '../lib/crps/plan';
import { backendInfo, crps, crpsAsync, ErrorCode, marginSoftmax, marginSoftmaxAsync, mine, mineAsync, pairLoss, pairLossAsync } from './api';
import { eventLoopTurnsDuring } from './event-loop';
import { Rng, testSeed, wasmRequired } from './helpers';

const seed = testSeed('wasm-threads.test');
const threaded = backendInfo().wasm.available || wasmRequired() ? embeddedModule().threaded !== undefined : false;

afterEach(() => resetWasmForTesting());

type Arrays = Record<string, unknown>;

/** Every family's kernels on fresh random inputs (NaN members in CRPS; sub-centers in margin). */
function workloads(rng: Rng) {
  const normal = (n: number, nanRate = 0) => Float32Array.from({ length: n }, () => (rng.next() < nanRate ? NaN : rng.normal()));
  const [points, members] = [300 + rng.int(3000), [2, 5, 16, 51, 130][rng.int(5)]];
  const crpsArgs = {
    ensemble: { data: normal(points * members, 0.02), shape: [points, members] },
    observations: normal(points),
    estimator: (['standard', 'fair', 'almost-fair'] as const)[rng.int(3)],
    nanPolicy: (['propagate', 'omit', 'zero'] as const)[rng.int(3)],
    gradients: true as const,
    components: true as const,
    backend: 'wasm' as const,
  };
  const [rows, dim, classes, centers] = [1 + rng.int(70), 8 + rng.int(40), 50 + rng.int(600), 1 + rng.int(3)];
  const marginArgs = {
    embeddings: { data: normal(rows * dim), shape: [rows, dim] },
    weights: { data: normal(classes * centers * dim), shape: [classes * centers, dim] },
    labels: Int32Array.from({ length: rows }, () => rng.int(classes)),
    subCenters: centers,
    backend: 'wasm' as const,
  };
  const pairRows = 20 + rng.int(200);
  const pairArgs = {
    embeddings: { data: normal(pairRows * 16), shape: [pairRows, 16] },
    labels: Int32Array.from({ length: pairRows }, () => rng.int(6)),
    backend: 'wasm' as const,
  };
  return [
    { name: 'crps', args: crpsArgs, sync: () => crps(crpsArgs) as unknown as Arrays, async: () => crpsAsync(crpsArgs) as unknown as Promise<Arrays> },
    { name: 'marginSoftmax', sync: () => marginSoftmax(marginArgs) as unknown as Arrays, async: () => marginSoftmaxAsync(marginArgs) as unknown as Promise<Arrays> },
    { name: 'mine', sync: () => mine({ ...pairArgs, miner: { type: 'multi-similarity' } }) as unknown as Arrays, async: () => mineAsync({ ...pairArgs, miner: { type: 'multi-similarity' } }) as unknown as Promise<Arrays> },
    { name: 'pairLoss', sync: () => pairLoss({ ...pairArgs, loss: { type: 'multi-similarity' }, gradients: true }) as unknown as Arrays, async: () => pairLossAsync({ ...pairArgs, loss: { type: 'multi-similarity' }, gradients: true }) as unknown as Promise<Arrays> },
  ];
}

/** Every field as bits: typed arrays as their bytes, numbers with Object.is (NaN equal to NaN). */
function bits(result: Arrays): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(result)) {
    if (ArrayBuffer.isView(value)) out[key] = Array.from(new Uint32Array(value.buffer, value.byteOffset, value.byteLength / 4));
    else if (typeof value === 'number') out[key] = Number.isNaN(value) ? 'NaN' : Object.is(value, -0) ? '-0' : value;
    else out[key] = value;
  }
  return out;
}

async function startedFamily(threads: number): Promise<ThreadedKernels> {
  resetWasmForTesting({ threads });
  const family = wasmThreads();
  if (!family) throw new Error('no threaded family on this host');
  await family.ready;
  return family;
}

describe.skipIf(!threaded)('the threaded module', () => {
  it('starts its workers: backendInfo().wasm.threads is 1, then the thread count once they are ready', async () => {
    resetWasmForTesting({ threads: 3 });
    const family = wasmThreads()!;
    expect(family).not.toBeNull();
    expect(backendInfo().wasm.threads).toBe(1);
    await family.ready;
    expect(backendInfo().wasm).toEqual({ available: true, simd: true, threads: 3, reason: null });
  });

  it('every family: the same bits as the single-threaded module at 1, 2 and 3 threads, sync and async', async () => {
    const rng = new Rng(seed);
    const draws = [workloads(rng), workloads(rng)];
    resetWasmForTesting({ threaded: false });
    const expected = draws.map((draw) => draw.map((kernel) => bits(kernel.sync())));
    for (const threads of [1, 2, 3]) {
      await startedFamily(threads);
      for (const [d, draw] of draws.entries()) {
        for (const [k, kernel] of draw.entries()) {
          expect(bits(kernel.sync()), `${kernel.name}, draw ${d}, ${threads} threads, sync`).toEqual(expected[d][k]);
          expect(bits(await kernel.async()), `${kernel.name}, draw ${d}, ${threads} threads, async`).toEqual(expected[d][k]);
        }
      }
    }
  });

  it.skipIf(!backendInfo().native)('crps: the same bits as the native CPU kernels', async () => {
    await startedFamily(2);
    for (const draw of [workloads(new Rng(seed ^ 0x31)), workloads(new Rng(seed ^ 0x32))]) {
      const [kernel] = draw;
      const native = bits({ ...(crps({ ...kernel.args!, backend: 'cpu' }) as unknown as Arrays), backend: 'wasm' });
      expect(bits(kernel.sync())).toEqual(native);
      expect(bits(await kernel.async())).toEqual(native);
    }
  });

  it('concurrent async calls and sync calls in between each get their own answer', async () => {
    const rng = new Rng(seed ^ 0x77);
    const draw = [...workloads(rng), ...workloads(rng)];
    resetWasmForTesting({ threaded: false });
    const expected = draw.map((kernel) => bits(kernel.sync()));
    await startedFamily(2);
    const pending = draw.map((kernel) => kernel.async());
    const sync = draw.map((kernel) => bits(kernel.sync()));
    const async = (await Promise.all(pending)).map(bits);
    expect(sync).toEqual(expected);
    expect(async).toEqual(expected);
  });

  it('async calls run off the JavaScript thread: the event loop turns while one computes', async () => {
    await startedFamily(2);
    const rng = new Rng(seed ^ 5);
    const args = {
      ensemble: { data: Float32Array.from({ length: 100_000 * 51 }, () => rng.normal()), shape: [100_000, 51] },
      observations: Float32Array.from({ length: 100_000 }, () => rng.normal()),
      estimator: 'fair' as const,
      gradients: true as const,
      backend: 'wasm' as const,
    };
    await crpsAsync(args);
    const turns = await eventLoopTurnsDuring(() => crpsAsync(args));
    expect(turns).toBeGreaterThan(5);
  });

  it('an engine without Atomics.waitAsync (older browsers) polls for the service thread instead', async () => {
    resetWasmForTesting({ threaded: false });
    const [workload] = workloads(new Rng(seed ^ 3));
    const expected = bits(workload.sync());
    await startedFamily(2);
    const atomics = Atomics as unknown as { waitAsync?: unknown };
    const waitAsync = atomics.waitAsync;
    atomics.waitAsync = undefined;
    try {
      expect(bits(await workload.async())).toEqual(expected);
    } finally {
      atomics.waitAsync = waitAsync;
    }
  });

  it('an async call made before the workers are ready waits for them, then runs on the service thread', async () => {
    resetWasmForTesting({ threaded: false });
    const [workload] = workloads(new Rng(seed ^ 9));
    const expected = bits(workload.sync());
    resetWasmForTesting({ threads: 2 });
    const result = workload.async();
    expect(backendInfo().wasm.threads).toBe(1);
    expect(bits(await result)).toEqual(expected);
    expect(backendInfo().wasm.threads).toBe(2);
  });

  it("a kernel failure on the service thread rejects with its code and message; the next call is served", async () => {
    await startedFamily(2);
    const rng = new Rng(seed ^ 13);
    const pairs = { embeddings: { data: Float32Array.from({ length: 30 * 6 }, () => rng.normal()), shape: [30, 6] }, labels: Int32Array.from({ length: 30 }, () => rng.int(3)), backend: 'wasm' as const };
    const failing = mineAsync({ ...pairs, miner: { type: 'multi-similarity' }, maxOutputs: 2 });
    await expect(failing).rejects.toMatchObject({ code: ErrorCode.TOO_LARGE, message: expect.stringMatching(/maxOutputs|more than/) });
    const loss = await pairLossAsync({ ...pairs, loss: { type: 'contrastive' } });
    expect(loss.loss).toBe(pairLoss({ ...pairs, loss: { type: 'contrastive' } }).loss);
  });

  it('1,000 calls, sync and async, failing ones included, leave the shared memory at its settled size', async () => {
    await startedFamily(2);
    const rng = new Rng(seed ^ 0x5a);
    const [crpsKernel, marginKernel] = workloads(rng);
    const pairs = { embeddings: { data: Float32Array.from({ length: 40 * 8 }, () => rng.normal()), shape: [40, 8] }, labels: Int32Array.from({ length: 40 }, () => rng.int(4)), backend: 'wasm' as const };
    const run = async (i: number) => {
      if (i % 4 === 0) return crpsKernel.sync();
      if (i % 4 === 1) return marginKernel.async();
      if (i % 4 === 2) return pairLossAsync({ ...pairs, loss: { type: 'contrastive' } });
      await expect(mineAsync({ ...pairs, miner: { type: 'multi-similarity' }, maxOutputs: 3 })).rejects.toMatchObject({ code: ErrorCode.TOO_LARGE });
      return null;
    };
    for (let i = 0; i < 40; i++) await run(i);
    const settled = wasmKernels().memory.buffer.byteLength;
    for (let i = 0; i < 1000; i++) await run(i);
    expect(wasmKernels().memory.buffer.byteLength).toBe(settled);
  });

  it('without workers (a host that has none) sync calls run on the calling thread and async ones after a yield', async () => {
    resetWasmForTesting({ threads: 0 });
    const [workload] = workloads(new Rng(seed ^ 21));
    const family = wasmThreads()!;
    await family.ready;
    expect(family.threads).toBe(1);
    const expected = bits(workload.sync());
    expect(bits(await workload.async())).toEqual(expected);
  });
});

/**
 * A host whose workers load ('load'), never answer ('silent') or load after 300 ms ('late'), take
 * their threads and never run them; `crash` makes one report a trap.
 */
function idleHost(behaviours: ('load' | 'silent' | 'late')[] = ['load', 'load']) {
  const handles: { post: (reply: object) => void }[] = [];
  const terminated: number[] = [];
  const host: WorkerHost = {
    listen: '',
    threads: behaviours.length,
    start<Reply>(): WorkerHandle<Reply> {
      const index = handles.length;
      const behaviour = behaviours[index];
      let listener: (reply: Reply) => void = () => {};
      const reply = (message: object, delay = 0) => setTimeout(() => listener(message as Reply), delay);
      handles.push({ post: reply });
      if (behaviour !== 'silent') reply({ ready: true });
      return {
        post: (message) => {
          if ((message as { cmd: string }).cmd === 'load') reply({ cmd: 'loaded' }, behaviour === 'late' ? 300 : 0);
        },
        onMessage: (next) => void (listener = next),
        onError: () => {},
        ref: () => {},
        unref: () => {},
        terminate: () => void terminated.push(index),
      };
    },
  };
  return { host, terminated, crash: (k: number) => handles[k].post({ cmd: 'crashed', reason: 'unreachable (a test)' }) };
}

function threadedModule() {
  const generated = embeddedModule().threaded!;
  const WebAssemblyApi = (globalThis as unknown as { WebAssembly: { Module: new (bytes: Uint8Array) => object } }).WebAssembly;
  return { module: new WebAssemblyApi.Module(Buffer.from(generated.wasm, 'base64')), memory: generated.memory, threadStackBytes: generated.threadStackBytes };
}

describe.skipIf(!threaded)('workers that do not load', () => {
  it('ready does not wait past its limit for them; one that loads late is let go', async () => {
    const { host, terminated } = idleHost(['load', 'silent', 'late']);
    const family = new ThreadedKernels(threadedModule(), host, 3, 100);
    await family.ready;
    expect(family.threads).toBe(1); // one loaded in time: the service thread; the pool is the calling thread
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(terminated).toEqual([2]);
    family.close();
    expect(terminated.sort()).toEqual([0, 1, 2]);
  });
});

describe.skipIf(!threaded)('a thread that traps', () => {
  it("fails its family's async calls in flight; sync calls still complete (the calling thread takes every chunk)", async () => {
    const { host, crash } = idleHost();
    const family = new ThreadedKernels(threadedModule(), host, 2);
    await family.ready;
    expect(family.threads).toBe(2); // the service and one pool thread were handed out (and never run)
    const [workload] = workloads(new Rng(seed ^ 41));
    resetWasmForTesting({ threaded: false });
    const expected = workload.sync().scores;
    const call = CRPS_WASM.call(planCrps(workload.args!).plan);
    expect(executeWasmCall(family.kernels, call).outputs.scores).toEqual(expected);
    const inFlight = family.runAsync(call);
    expect(inFlight).not.toBeNull();
    crash(0);
    await expect(inFlight).rejects.toThrow(/trapped: unreachable \(a test\)/);
    expect(family.runAsync(call)).toBeNull();
    family.close();
  });
});

describe.skipIf(!threaded)('the process', () => {
  const entry = path.join(__dirname, '..', 'dist', 'cjs', 'index.js');
  const run = (code: string) => spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, FUSEDLOSS_THREADS: '3' } });

  it('exits when the script ends, its idle workers notwithstanding (built package, dist/)', () => {
    const child = run(`const fl = require(${JSON.stringify(entry)});
const r = fl.crps({ ensemble: { data: [1, 2, 3, 4], shape: [2, 2] }, observations: [1, 2], backend: 'wasm' });
setTimeout(() => console.log(JSON.stringify([fl.backendInfo().wasm.threads, ...r.scores])), 500);`);
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual([3, 0.25, 1.25]);
  });

  it('stays up for an async call in flight, even one made before the workers are ready', () => {
    const child = run(`const fl = require(${JSON.stringify(entry)});
fl.crpsAsync({ ensemble: { data: [1, 2, 3, 4], shape: [2, 2] }, observations: [1, 2], backend: 'wasm' }).then((r) => console.log(JSON.stringify([...r.scores])));`);
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual([0.25, 1.25]);
  });
});

