// Runtime behaviour of marginSoftmax: async == sync bit for bit, native thread-count independence
// (every output array compared bitwise), concurrency, input buffers detached while a call is in
// flight, worker_threads, and both module systems.  Worker and child-process tests load the built
// package from the repository root (process.cwd()), so they need `node scripts/build-ts.js`.
import { spawnSync } from 'node:child_process';

import { afterAll, describe, expect, it } from 'vitest';

import { backendInfo, marginSoftmax, marginSoftmaxAsync, setThreads, type MarginSoftmaxResult } from './api';
import { backendCases, Rng, runWorkerOnce, testSeed } from './helpers';
import { drawCase, makeCase, marginArgs, type MarginCase, type Spec } from './margin-reference';
import { checkMargin, marginBitwiseDiff } from './margin-checks';

const SEED = testSeed('margin.runtime');
const BACKENDS = backendCases();
const INFO = backendInfo();
const ROOT = process.cwd();
const ORIGINAL_THREADS = INFO.threads;

afterAll(() => {
  if (INFO.native) setThreads(ORIGINAL_THREADS);
});

/** A few problems that exercise every code path (sub-centers, curricular, class subsets, columns). */
function problems(seed: number): { label: string; c: MarginCase }[] {
  const rng = new Rng(seed);
  const specs: Spec[] = [
    { name: 'arcface K 2, smoothing, ignored, rowWeights', N: 37, D: 33, C: 211, K: 2, ignored: 0.2, rowWeights: true, opts: { labelSmoothing: 0.1 } },
    { name: 'combined curricular, classIndices, columns', N: 29, D: 19, C: 150, subset: true, opts: { margin: { type: 'combined' }, curricular: { t: 0.1 }, columns: true } },
    { name: 'cosface filter, feature-norm, sum', N: 41, D: 8, C: 97, rowAdditive: [0.2, 0.4], opts: { margin: { type: 'cosface' }, interclassFilter: 0.3, scaleMode: 'feature-norm', scale: 8, reduction: 'sum' } },
    { name: 'sphereface product-norm, gradients false', N: 13, D: 65, C: 77, K: 3, gradients: false, opts: { margin: { type: 'sphereface', m: 3 }, scale: 1, scaleMode: 'product-norm' } },
  ];
  return specs.map((s) => ({ label: s.name, c: { ...drawCase(rng, s), ...(s.gradients === false ? { gradients: false } : {}) } as MarginCase }));
}

function call(c: MarginCase, backend: string) {
  const extra = (c as { gradients?: boolean }).gradients === false ? { gradients: false } : {};
  return marginArgs(c, backend, extra);
}

describe.each(BACKENDS)('backend $name', ({ name: backend, available }) => {
  it.skipIf(!available)('marginSoftmaxAsync gives the same bits as marginSoftmax', async () => {
    const failures: string[] = [];
    for (const { label, c } of problems(SEED + 1)) {
      const sync = marginSoftmax(call(c, backend));
      const promise = marginSoftmaxAsync(call(c, backend));
      expect(promise).toBeInstanceOf(Promise);
      const async = await promise;
      if (async.backend !== backend) failures.push(`${label}: async ran on ${async.backend}`);
      failures.push(...marginBitwiseDiff(async, sync, label));
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('8 concurrent marginSoftmaxAsync calls each resolve to their sync result', async () => {
    const rng = new Rng(SEED + 2);
    const calls = Array.from({ length: 8 }, (_, i) =>
      drawCase(rng, {
        name: `call ${i}`,
        N: 5 + 7 * i,
        D: [3, 17, 64, 9][i % 4],
        C: [300, 7, 1001, 64][i % 4],
        K: 1 + (i % 3),
        opts: { margin: [{ type: 'arcface' }, { type: 'cosface' }, { type: 'combined' }, { type: 'none' }][i % 4] as MarginCase['margin'], columns: i % 2 === 1 },
      }),
    );
    const sync = calls.map((c) => marginSoftmax(marginArgs(c, backend)));
    const results = await Promise.all(calls.map((c) => marginSoftmaxAsync(marginArgs(c, backend))));
    expect(results.flatMap((r, i) => marginBitwiseDiff(r, sync[i], `call ${i}`))).toEqual([]);
  });

  it.skipIf(!available)('transferring every input buffer right after marginSoftmaxAsync neither crashes nor changes the result', async () => {
    const rng = new Rng(SEED + 3);
    const c = drawCase(rng, { name: 'transfer', N: 64, D: 48, C: 500, K: 2, subset: true, rowWeights: true, rowAngular: [0.3, 0.6], rowAdditive: [0, 0.2], opts: { margin: { type: 'combined' } } });
    const fresh = () => ({
      ...c,
      embeddings: c.embeddings.slice(),
      weights: c.weights.slice(),
      labels: c.labels.slice(),
      classIndices: c.classIndices!.slice(),
      rowWeights: c.rowWeights!.slice(),
      rowAngular: c.rowAngular!.slice(),
      rowAdditive: c.rowAdditive!.slice(),
    });
    const expected = marginSoftmax(marginArgs(c, backend));
    const mine = fresh();
    const args = marginArgs(mine, backend) as unknown as { weights: { data: Float32Array } };
    const promise = marginSoftmaxAsync(args as never);
    const buffers = [mine.embeddings, args.weights.data, mine.labels, mine.classIndices, mine.rowWeights, mine.rowAngular, mine.rowAdditive];
    for (const a of buffers) structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
    expect(mine.embeddings.length).toBe(0); // really detached
    expect(marginBitwiseDiff(await promise, expected, 'transferred')).toEqual([]);
  });

  it.skipIf(!available || backend === 'js')('the same call twice gives the same bits', () => {
    const { c } = problems(SEED + 4)[0];
    expect(marginBitwiseDiff(marginSoftmax(call(c, backend)), marginSoftmax(call(c, backend)), 'twice')).toEqual([]);
  });
});

describe('native CPU thread count', () => {
  // 8 and 16 threads cut the rows into more slices than 1–4 do (makePlan's four tasks per thread).
  it.skipIf(!INFO.native)('setThreads(1..4, 8, 16): identical bits in every output (N 200, D 96, C 5000, K 2)', async () => {
    const rng = new Rng(SEED + 5);
    const base = { N: 200, D: 96, C: 5000 };
    // Checked against the reference too: K = 1 and no filter, so no near-tie can make it ambiguous.
    const checked = makeCase(rng, { name: 'checked', ...base, ignored: 0.1, rowWeights: true, opts: { labelSmoothing: 0.05, scale: 32 } });
    const cases: { label: string; c: MarginCase }[] = [
      { label: 'arcface K 1, smoothing, rowWeights (vs reference)', c: checked.c },
      { label: 'arcface K 2, smoothing, ignored, rowWeights', c: drawCase(rng, { name: 'a', ...base, K: 2, ignored: 0.1, rowWeights: true, opts: { labelSmoothing: 0.1 } }) },
      { label: 'combined K 2, curricular, classIndices, columns', c: drawCase(rng, { name: 'b', ...base, K: 2, subset: true, opts: { margin: { type: 'combined' }, curricular: { t: 0.2 }, columns: true } }) },
      { label: 'cosface K 2, filter, product-norm, sum', c: drawCase(rng, { name: 'c', ...base, K: 2, opts: { margin: { type: 'cosface' }, interclassFilter: 0.2, scale: 4, scaleMode: 'product-norm', reduction: 'sum' } }) },
    ];
    const failures: string[] = [];
    let baseline: MarginSoftmaxResult[] | null = null;
    try {
      for (const threads of [1, 2, 3, 4, 8, 16]) {
        setThreads(threads);
        expect(backendInfo().threads).toBe(threads);
        const sync = cases.map(({ c }) => marginSoftmax(marginArgs(c, 'cpu')));
        const async = await Promise.all(cases.map(({ c }) => marginSoftmaxAsync(marginArgs(c, 'cpu'))));
        if (!baseline) {
          baseline = sync;
          // The baseline itself is right (the first case against the float64 reference).
          failures.push(...checkMargin(sync[0], { ...checked.ref }, checked.c, { gradients: true, backend: 'cpu' }, 'threads=1 vs reference'));
        }
        cases.forEach(({ label }, i) => {
          failures.push(...marginBitwiseDiff(sync[i], baseline![i], `threads=${threads} sync ${label}`));
          failures.push(...marginBitwiseDiff(async[i], baseline![i], `threads=${threads} async ${label}`));
        });
      }
    } finally {
      setThreads(ORIGINAL_THREADS);
    }
    expect(backendInfo().threads).toBe(ORIGINAL_THREADS);
    expect(failures).toEqual([]);
  });
});

describe('worker_threads (built package)', () => {
  const workerCode = `
    const { parentPort, workerData } = require('node:worker_threads');
    const fusedloss = require(workerData.root);
    (async () => {
      const args = workerData.args;
      const sync = fusedloss.marginSoftmax(args);
      const async = await fusedloss.marginSoftmaxAsync(args);
      parentPort.postMessage({ sync, async, native: fusedloss.backendInfo().native });
    })().catch((error) => parentPort.postMessage({ error: String((error && error.stack) || error) }));
  `;

  interface WorkerReply {
    sync?: MarginSoftmaxResult;
    async?: MarginSoftmaxResult;
    native?: boolean;
    error?: string;
  }

  const runWorker = (workerData: Record<string, unknown>) => runWorkerOnce<WorkerReply>(workerCode, workerData);

  it('two workers at once load the package, run sync and async, and match the main thread', async () => {
    const jobs = problems(SEED + 6).slice(0, 2);
    const argsOf = (c: MarginCase) => {
      const { backend: _backend, ...rest } = marginArgs(c, 'auto') as unknown as Record<string, unknown>;
      return rest; // the default backend on both sides
    };
    const replies = await Promise.all(jobs.map(({ c }) => runWorker({ root: ROOT, args: argsOf(c) })));
    const failures: string[] = [];
    replies.forEach((reply, i) => {
      if (reply.error) {
        failures.push(`worker ${i}: ${reply.error}`);
        return;
      }
      const main = marginSoftmax(argsOf(jobs[i].c) as never) as MarginSoftmaxResult;
      if (reply.native !== INFO.native) failures.push(`worker ${i}: native ${reply.native}`);
      failures.push(...marginBitwiseDiff(reply.sync!, main, `worker ${i} sync`));
      failures.push(...marginBitwiseDiff(reply.async!, main, `worker ${i} async`));
    });
    expect(failures).toEqual([]);
  });
});

describe('module systems (child processes on the built package)', () => {
  const args = `{ embeddings: { data: [0.5, -1, 2, 0.25, 1, 1], shape: [3, 2] }, weights: { data: [1, 0, 0, 1, -1, 0.5, 0.3, -0.7], shape: [4, 2] },
                  labels: [1, -1, 3], margin: { type: 'combined' }, scale: 8, curricular: { t: 0.1 } }`;
  const toJson = (r: string) => `{ backend: ${r}.backend, loss: ${r}.loss, losses: Array.from(${r}.losses), grad: Array.from(${r}.gradWeights), t: ${r}.curricularT }`;

  it('require and import of the package name both export marginSoftmax(Async) with one state', () => {
    const code = `
      import { marginSoftmax, marginSoftmaxAsync, backendInfo } from 'fusedloss';
      import { createRequire } from 'node:module';
      const cjs = createRequire(process.cwd() + '/')('fusedloss');
      const args = ${args};
      const esm = marginSoftmax(args);
      const viaCjs = cjs.marginSoftmax(args);
      const async = await marginSoftmaxAsync(args);
      process.stdout.write(JSON.stringify({ esm: ${toJson('esm')}, cjs: ${toJson('viaCjs')}, async: ${toJson('async')}, same: cjs.backendInfo === backendInfo }));
    `;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 30000 });
    expect(out.status, out.stderr).toBe(0);
    const r = JSON.parse(out.stdout);
    expect(r.esm).toEqual(r.cjs);
    expect(r.async).toEqual(r.esm);
    expect(r.same).toBe(true);
    expect(r.esm.backend).toBe(INFO.cuda.available ? 'cuda' : INFO.native ? 'cpu' : 'js');
  });

  it('FUSEDLOSS_BACKEND=js runs the TypeScript backend with the in-process bits', () => {
    const code = `const f = require(process.cwd()); const r = f.marginSoftmax(${args}); process.stdout.write(JSON.stringify(${toJson('r')}));`;
    const out = spawnSync(process.execPath, ['-e', code], { cwd: ROOT, env: { ...process.env, FUSEDLOSS_BACKEND: 'js' }, encoding: 'utf8', timeout: 30000 });
    expect(out.status, out.stderr).toBe(0);
    const r = JSON.parse(out.stdout);
    // eslint-disable-next-line no-new-func
    const inProcess = marginSoftmax({ ...(new Function(`return ${args}`)() as object), backend: 'js' } as never) as MarginSoftmaxResult;
    expect(r.backend).toBe('js');
    expect(r.loss).toBe(inProcess.loss);
    expect(r.losses).toEqual(Array.from(inProcess.losses));
    expect(r.grad).toEqual(Array.from(inProcess.gradWeights!));
    expect(r.t).toBe(inProcess.curricularT);
  });
});

describe('native CPU workMemory', () => {
  // 1 MiB cuts these rows into blocks: 4 blocks of stored cosines at C 2000, D 64 (each block's
  // cosines fit), recomputed cosines at C 5000, D 96 (64 rows' cosines would not fit), where the
  // default call stores them and keeps e^{z − m} in place of them (Plan::logitsInPlace).
  // Everything but gradWeights is the default call's bits (a row's sums never cross a block);
  // gradWeights sums the rows block by block, so it is held to the reference instead, and to itself
  // across thread counts.
  it.skipIf(!INFO.native)('1 MiB: row blocks with stored and recomputed cosines, to the reference and thread-independent', () => {
    const rng = new Rng(SEED + 11);
    const cases = [
      { label: 'stored', ...makeCase(rng, { name: 'stored', N: 200, D: 64, C: 2000, ignored: 0.1, rowWeights: true, opts: { labelSmoothing: 0.05, scale: 32 } }) },
      { label: 'recomputed', ...makeCase(rng, { name: 'recomputed', N: 150, D: 96, C: 5000, ignored: 0.1, opts: { scale: 16 } }) },
    ];
    const failures: string[] = [];
    try {
      for (const { label, c, ref } of cases) {
        setThreads(1);
        const blocked = marginSoftmax(marginArgs(c, 'cpu', { workMemory: 2 ** 20 }));
        const whole = marginSoftmax(marginArgs(c, 'cpu'));
        failures.push(...checkMargin(blocked, { ...ref }, c, { gradients: true, backend: 'cpu' }, `${label} workMemory 1 MiB vs reference`));
        failures.push(...marginBitwiseDiff({ ...blocked, gradWeights: undefined }, { ...whole, gradWeights: undefined }, `${label} 1 MiB vs default`));
        for (const threads of [2, 3]) {
          setThreads(threads);
          failures.push(...marginBitwiseDiff(marginSoftmax(marginArgs(c, 'cpu', { workMemory: 2 ** 20 })), blocked, `${label} 1 MiB threads=${threads}`));
        }
      }
    } finally {
      setThreads(ORIGINAL_THREADS);
    }
    expect(failures).toEqual([]);
  });
});
