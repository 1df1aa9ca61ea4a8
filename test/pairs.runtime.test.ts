// Runtime behaviour of mine() / pairLoss(): async == sync bit for bit, the native CPU backend's
// thread-count independence on sizes that need several row blocks (every output compared
// bitwise, and checked against the float64 reference there), concurrent async calls, input
// buffers transferred while a call is in flight, worker_threads, and `backend` on every result.
// The worker test loads the built package from the repository root (process.cwd()), so it needs
// `node scripts/build-ts.js`.
import { afterAll, describe, expect, it } from 'vitest';

import { backendInfo, mine, mineAsync, pairLoss, pairLossAsync, setThreads, type MinerSpec, type PairLossSpec } from './api';
import { backendCases, bitwiseDiff, Rng, runWorkerOnce, testSeed } from './helpers';
import { checkLoss, drawCase, pairArgs, type DrawSpec } from './pairs-cases';
import type { PairCase } from './pairs-reference';

const SEED = testSeed('pairs.runtime');
const BACKENDS = backendCases();
const INFO = backendInfo();
const ROOT = process.cwd();
const ORIGINAL_THREADS = INFO.threads;

afterAll(() => {
  if (INFO.native) setThreads(ORIGINAL_THREADS);
});

type Result = Record<string, unknown>;
const INT_KEYS = ['positiveAnchors', 'positives', 'negativeAnchors', 'negatives', 'anchors'];
const FLOAT_KEYS = ['gradEmbeddings', 'gradRef'];

/** Every field of two results identical: index lists, gradient bits, loss (Object.is), backend. */
function resultDiff(a: Result, b: Result, label: string): string[] {
  const failures: string[] = [];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    if (INT_KEYS.includes(key)) {
      const x = a[key] as Int32Array | undefined;
      const y = b[key] as Int32Array | undefined;
      if (!(x instanceof Int32Array) || !(y instanceof Int32Array) || x.length !== y.length || x.some((v, k) => v !== y[k])) failures.push(`${label} ${key} differ`);
    } else if (FLOAT_KEYS.includes(key)) {
      failures.push(...bitwiseDiff(a[key] as Float32Array | undefined, b[key] as Float32Array | undefined, `${label} ${key}`));
    } else if (!Object.is(a[key], b[key])) {
      failures.push(`${label} ${key}: ${String(a[key])} vs ${String(b[key])}`);
    }
  }
  return failures;
}

interface Job {
  label: string;
  c: PairCase;
  kind: 'mine' | 'loss';
}

function jobs(seed: number, sizes: { batch: DrawSpec; withRef: DrawSpec }): Job[] {
  const rng = new Rng(seed);
  const draw = (s: DrawSpec, extra: Partial<PairCase>) => drawCase(rng, s, extra);
  const miners: [string, MinerSpec, DrawSpec][] = [
    ['multi-similarity, ref', { type: 'multi-similarity', epsilon: 0.05 }, sizes.withRef],
    ['triplet semihard', { type: 'triplet-margin', triplets: 'semihard', margin: 0.05 }, sizes.batch],
    ['batch-hard, ref', { type: 'batch-hard' }, sizes.withRef],
    ['pair-margin cosine', { type: 'pair-margin', posMargin: 0.2, negMargin: 0.5 }, sizes.batch],
  ];
  const losses: [string, PairLossSpec, DrawSpec, Partial<PairCase>][] = [
    ['multi-similarity, ref', { type: 'multi-similarity' }, sizes.withRef, {}],
    ['contrastive squared-euclidean', { type: 'contrastive', posMargin: 0.2, negMargin: 1.5 }, sizes.batch, { distance: 'squared-euclidean' }],
    ['triplet (all), ref', { type: 'triplet-margin', margin: 0.1 }, sizes.withRef, {}],
    ['circle ← batch-hard (two distances)', { type: 'circle' }, sizes.batch, { miner: { type: 'batch-hard' } }],
    ['ntxent euclidean ← triplet all, ref', { type: 'ntxent', temperature: 0.2 }, sizes.withRef, { distance: 'euclidean', miner: { type: 'triplet-margin', margin: 0.02 } }],
    ['threshold-consistent, ref', { type: 'threshold-consistent', marginPlus: 0.7, marginMinus: 0.1 }, sizes.withRef, {}],
  ];
  return [
    ...miners.map(([label, miner, s]) => ({ label: `mine ${label}`, kind: 'mine' as const, c: draw(s, { miner, ...(label.includes('cosine') ? { distance: 'cosine' as const } : {}) }) })),
    ...losses.map(([label, loss, s, extra]) => ({ label: `loss ${label}`, kind: 'loss' as const, c: draw(s, { loss, ...extra }) })),
  ];
}

const run = (j: Job, backend: string) => (j.kind === 'mine' ? mine(pairArgs(j.c, backend) as never) : pairLoss(pairArgs(j.c, backend) as never)) as unknown as Result;
const runAsync = async (j: Job, backend: string) => (await (j.kind === 'mine' ? mineAsync(pairArgs(j.c, backend) as never) : pairLossAsync(pairArgs(j.c, backend) as never))) as unknown as Result;

const SMALL = { batch: { N: 37, D: 20, classes: 4 }, withRef: { N: 21, M: 45, D: 20, classes: 4, selfIndex: true } };

describe.each(BACKENDS)('backend $name', ({ name: backend, available }) => {
  it.skipIf(!available)('the async forms give the same bits as the sync forms, and every result names its backend', async () => {
    const failures: string[] = [];
    for (const j of jobs(SEED + 1, SMALL)) {
      const sync = run(j, backend);
      if (sync.backend !== backend) failures.push(`${j.label}: ran on ${String(sync.backend)}`);
      failures.push(...resultDiff(await runAsync(j, backend), sync, j.label));
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('8 concurrent async calls each resolve to their sync result', async () => {
    const all = jobs(SEED + 2, { batch: { N: 29, D: 33, classes: 3 }, withRef: { N: 17, M: 60, D: 9, classes: 5 } }).slice(0, 8);
    const sync = all.map((j) => run(j, backend));
    const results = await Promise.all(all.map((j) => runAsync(j, backend)));
    expect(results.flatMap((r, k) => resultDiff(r, sync[k], all[k].label))).toEqual([]);
  });

  it.skipIf(!available)('transferring every input buffer right after the async call neither crashes nor changes the result', async () => {
    const failures: string[] = [];
    for (const j of jobs(SEED + 3, SMALL).filter((k) => k.c.ref)) {
      const expected = run(j, backend);
      const c = j.c;
      const mineCopy: PairCase = { ...c, embeddings: Float32Array.from(c.embeddings), ref: Float32Array.from(c.ref!), labels: c.labels.slice(), refLabels: c.refLabels!.slice(), selfIndex: c.selfIndex?.slice() };
      const promise = runAsync({ ...j, c: mineCopy }, backend);
      for (const a of [mineCopy.embeddings, mineCopy.ref, mineCopy.labels, mineCopy.refLabels, mineCopy.selfIndex] as (Float32Array | Int32Array | undefined)[]) {
        if (a) structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
      }
      if ((mineCopy.embeddings as Float32Array).length !== 0) failures.push('not detached');
      failures.push(...resultDiff(await promise, expected, `${j.label} transferred`));
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available || backend === 'js')('the same call twice gives the same bits', () => {
    const all = jobs(SEED + 4, SMALL);
    expect(all.flatMap((j) => resultDiff(run(j, backend), run(j, backend), `${j.label} twice`))).toEqual([]);
  });
});

describe("backend 'auto'", () => {
  it('runs on CUDA when present, else the native CPU, else js, and says so', () => {
    const [j] = jobs(SEED + 5, SMALL);
    const expected = INFO.cuda.available ? 'cuda' : INFO.native ? 'cpu' : 'js';
    expect((mine(pairArgs(j.c, 'auto') as never) as unknown as Result).backend).toBe(expected);
    const { backend: _b, ...noBackend } = pairArgs({ ...j.c, miner: undefined, loss: { type: 'ntxent' } }, 'auto');
    expect((pairLoss(noBackend as never) as Result).backend).toBe(expected);
  });
});

// ---------------------------------------------------------------------------------------------
// Thread count: sizes whose N×M values exceed the 64 MiB work budget, so the native engine runs
// several row blocks (a reference set of 60,000 rows: blocks of 256 rows, or 128 when the miner's
// and the loss's distances differ; the batch itself at N = 4,200: blocks of 3,840 rows).

interface MultiBlock {
  cases: Job[];
  split: PairCase;
}

function multiBlock(): MultiBlock {
  const rng = new Rng(SEED + 6);
  const ref260 = drawCase(rng, { N: 260, M: 60000, D: 4, classes: 40, selfIndex: true });
  const ref150 = drawCase(rng, { N: 150, M: 60000, D: 4, classes: 40 });
  const batch = drawCase(rng, { N: 4200, D: 4, classes: 40 });
  const split: PairCase = { ...ref260, loss: { type: 'multi-similarity' } };
  const cases: Job[] = [
    { label: 'multi-similarity loss, ref + selfIndex (2 blocks)', kind: 'loss', c: split },
    { label: 'contrastive squared-euclidean, batch (2 blocks)', kind: 'loss', c: { ...batch, loss: { type: 'contrastive', negMargin: 1.5 }, distance: 'squared-euclidean' } },
    { label: 'ntxent ← batch-hard, two distances, ref (2 blocks)', kind: 'loss', c: { ...ref150, loss: { type: 'ntxent' }, miner: { type: 'batch-hard' } } },
    { label: 'triplet ← multi-similarity miner, two distances, ref (2 blocks)', kind: 'loss', c: { ...ref150, loss: { type: 'triplet-margin' }, miner: { type: 'multi-similarity' } } },
    { label: 'batch-hard miner, ref (2 blocks)', kind: 'mine', c: { ...ref260, miner: { type: 'batch-hard' } } },
    { label: 'pair-margin miner cosine, batch (2 blocks)', kind: 'mine', c: { ...batch, miner: { type: 'pair-margin', posMargin: -0.9, negMargin: 0.9995 }, distance: 'cosine' } },
  ];
  return { cases, split };
}

/** The rows [from, to) of a reference-set case (each row's loss terms depend on that row alone). */
function rows(c: PairCase, from: number, to: number): PairCase {
  const D = c.D;
  return { ...c, N: to - from, embeddings: (c.embeddings as Float32Array).subarray(from * D, to * D), labels: c.labels.subarray(from, to), selfIndex: c.selfIndex?.subarray(from, to) };
}

describe('native CPU thread count', () => {
  let data: MultiBlock | null = null;
  const get = () => (data ??= multiBlock());

  it.skipIf(!INFO.native)('setThreads(1..4): identical bits in every output, on sizes that need several row blocks', async () => {
    const { cases } = get();
    const failures: string[] = [];
    let baseline: Result[] | null = null;
    try {
      for (const threads of [1, 2, 3, 4]) {
        setThreads(threads);
        expect(backendInfo().threads).toBe(threads);
        const sync = cases.map((j) => run(j, 'cpu'));
        baseline ??= sync;
        cases.forEach((j, k) => failures.push(...resultDiff(sync[k], baseline![k], `threads=${threads} ${j.label}`)));
        if (threads === 3) {
          const async = await Promise.all(cases.map((j) => runAsync(j, 'cpu')));
          cases.forEach((j, k) => failures.push(...resultDiff(async[k], baseline![k], `threads=3 async ${j.label}`)));
        }
      }
    } finally {
      setThreads(ORIGINAL_THREADS);
    }
    expect(backendInfo().threads).toBe(ORIGINAL_THREADS);
    expect(cases.some((j) => j.kind === 'mine' && ((baseline![cases.indexOf(j)].positives as Int32Array).length ?? 0) > 0)).toBe(true);
    expect(failures).toEqual([]);
    // 25 calls of ~1 s of CPU each: on a 2-core machine shared with the suite's other files that
    // is more than the default minute of wall time.
  }, 300_000);

  // Multi-similarity's loss is the mean of per-row terms that depend on that row alone, so the
  // two-block call must equal the combination of two single-block calls on its halves (the small
  // cases tie single-block results to the float64 reference; this ties the blocked path to them).
  it.skipIf(!INFO.native)('two row blocks give the loss and gradients of the two halves computed apart', () => {
    const { split: c } = get();
    const whole = pairLoss(pairArgs(c, 'cpu') as never) as { loss: number; gradEmbeddings: Float32Array; gradRef: Float32Array };
    const half = c.N / 2;
    const parts = [rows(c, 0, half), rows(c, half, c.N)].map((p) => pairLoss(pairArgs(p, 'cpu') as never) as typeof whole);
    const gradEmbeddings = new Float64Array(c.N * c.D);
    const gradRef = new Float64Array(c.M! * c.D);
    parts.forEach((p, k) => {
      p.gradEmbeddings.forEach((v, q) => (gradEmbeddings[k * half * c.D + q] = v / 2));
      p.gradRef.forEach((v, q) => (gradRef[q] += v / 2));
    });
    const expected = { loss: (parts[0].loss + parts[1].loss) / 2, gradEmbeddings, gradRef };
    expect(checkLoss(whole, expected, { gradients: true, hasRef: true, backend: 'cpu' }, 'two blocks vs halves')).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('worker_threads (built package)', () => {
  const workerCode = `
    const { parentPort, workerData } = require('node:worker_threads');
    const fusedloss = require(workerData.root);
    (async () => {
      const { mineArgs, lossArgs } = workerData;
      const out = {
        mine: fusedloss.mine(mineArgs), mineAsync: await fusedloss.mineAsync(mineArgs),
        loss: fusedloss.pairLoss(lossArgs), lossAsync: await fusedloss.pairLossAsync(lossArgs),
      };
      parentPort.postMessage(out);
    })().catch((error) => parentPort.postMessage({ error: String((error && error.stack) || error) }));
  `;

  it('two workers at once load the package, run sync and async, and match the main thread', async () => {
    const all = jobs(SEED + 7, SMALL);
    const pairsOf = [0, 2].map((k) => ({ m: all[k], l: all[4 + k] }));
    const argsOf = (c: PairCase) => {
      const { backend: _backend, ...rest } = pairArgs(c, 'auto');
      return rest; // the default backend on both sides
    };
    const replies = await Promise.all(pairsOf.map(({ m, l }) => runWorkerOnce<Record<string, Result> & { error?: string }>(workerCode, { root: ROOT, mineArgs: argsOf(m.c), lossArgs: argsOf(l.c) })));
    const failures: string[] = [];
    replies.forEach((reply, k) => {
      if (reply.error) {
        failures.push(`worker ${k}: ${reply.error}`);
        return;
      }
      const mainMine = mine(argsOf(pairsOf[k].m.c) as never) as unknown as Result;
      const mainLoss = pairLoss(argsOf(pairsOf[k].l.c) as never) as unknown as Result;
      failures.push(...resultDiff(reply.mine, mainMine, `worker ${k} mine`), ...resultDiff(reply.mineAsync, mainMine, `worker ${k} mineAsync`));
      failures.push(...resultDiff(reply.loss, mainLoss, `worker ${k} pairLoss`), ...resultDiff(reply.lossAsync, mainLoss, `worker ${k} pairLossAsync`));
    });
    expect(failures).toEqual([]);
  });
});
