// Runtime behaviour: async == sync bit for bit, thread-count independence, concurrency, buffers
// detached while a call is in flight, worker_threads, backendInfo(), and the environment
// variables.  Worker and child-process tests load the built package from the repository root
// (process.cwd()), so they need `node scripts/build-ts.js` to have run.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { backendInfo, crps, crpsAsync, setThreads, type CrpsArgs, type CrpsResult } from './api';
import { memberIndex, pairStats, refFinish } from './crps-reference';
import {
  backendCases,
  checkAgainstRef,
  makeEnsemble,
  randomVector,
  resultBitwiseDiff,
  Rng,
  runWorkerOnce,
  testSeed,
  type EnsembleData,
} from './helpers';

const SEED = testSeed('crps.runtime');
const BACKENDS = backendCases();
const INFO = backendInfo();
const ROOT = process.cwd();
const PACKAGE_VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const ORIGINAL_THREADS = INFO.threads;

afterAll(() => {
  if (INFO.native) setThreads(ORIGINAL_THREADS);
});

/** NaNs in ~5% of the members and 1% of the observations, a few all-NaN points. */
function withNaNs(rng: Rng, d: EnsembleData): EnsembleData {
  const ensemble = d.ensemble.slice();
  const observations = d.observations.slice();
  for (let p = 0; p < d.points; p++) {
    const allNaN = rng.next() < 0.01;
    for (let k = 0; k < d.members; k++) if (allNaN || rng.next() < 0.05) ensemble[memberIndex(d, p, k)] = NaN;
    if (rng.next() < 0.01) observations[p] = NaN;
  }
  return { ...d, ensemble, observations };
}

interface Problem {
  label: string;
  data: EnsembleData;
  args: Record<string, unknown>;
}

function problems(seed: number, points: number): Problem[] {
  const rng = new Rng(seed);
  const make = (members: number, ties: boolean) => makeEnsemble(rng, { outer: points, members, inner: 1, ties, memberIsObs: 0.05 });
  const a = withNaNs(rng, make(5, true));
  const b = make(70, false);
  const c = make(1, false);
  const d = make(16, true);
  return [
    { label: `M=5 omit, weights, components`, data: a, args: { nanPolicy: 'omit', estimator: 'fair', weights: randomVector(rng, points, 0, 2), components: true } },
    { label: `M=70 almost-fair`, data: b, args: { estimator: 'almost-fair', alpha: 0.7, components: true } },
    { label: `M=1 standard`, data: c, args: {} },
    { label: `M=16 gradOutput, propagate`, data: d, args: { estimator: 'pwm', gradOutput: randomVector(rng, points, -1, 1) } },
  ];
}

function callArgs(p: Problem, backend: string): CrpsArgs {
  return { ensemble: { data: p.data.ensemble, shape: [p.data.points, p.data.members] }, observations: p.data.observations, gradients: true, ...p.args, backend } as CrpsArgs;
}

describe.each(BACKENDS)('backend $name', ({ name: backend, available }) => {
  it.skipIf(!available)('crpsAsync gives the same bits as crps', async () => {
    const failures: string[] = [];
    for (const p of problems(SEED + 1, 3001)) {
      const sync = crps(callArgs(p, backend));
      const promise = crpsAsync(callArgs(p, backend));
      expect(promise).toBeInstanceOf(Promise);
      const async = await promise;
      if (async.backend !== backend) failures.push(`${p.label}: async ran on ${async.backend}`);
      failures.push(...resultBitwiseDiff(async, sync, p.label));
    }
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('16 concurrent crpsAsync calls each resolve to their sync result', async () => {
    const rng = new Rng(SEED + 2);
    const calls = Array.from({ length: 16 }, (_, i) => {
      const data = makeEnsemble(rng, { outer: backend === 'js' ? 2000 : 20000, members: [2, 5, 8, 17, 51, 66][i % 6], inner: 1, ties: i % 2 === 0 });
      return { label: `call ${i}`, data, args: { estimator: ['standard', 'fair', 'almost-fair'][i % 3], components: i % 4 === 0 } };
    });
    const sync = calls.map((p) => crps(callArgs(p, backend)));
    const results = await Promise.all(calls.map((p) => crpsAsync(callArgs(p, backend))));
    const failures = results.flatMap((r, i) => resultBitwiseDiff(r, sync[i], calls[i].label));
    expect(failures).toEqual([]);
  });

  it.skipIf(!available)('transferring the input buffers right after crpsAsync neither crashes nor changes the result', async () => {
    const rng = new Rng(SEED + 3);
    const data = makeEnsemble(rng, { outer: 4099, members: 9, inner: 1 });
    const ensemble = data.ensemble.slice();
    const observations = data.observations.slice();
    const weights = randomVector(rng, data.points, 0, 2);
    const gradOutput = randomVector(rng, data.points, -1, 1);
    const args = () =>
      ({ ensemble: { data: ensemble, shape: [data.points, 9] }, observations, weights, gradients: true, components: true, backend }) as CrpsArgs;
    const expected = crps(args());
    const expectedVjp = crps({ ...args(), weights: undefined, gradOutput } as CrpsArgs);
    const first = crpsAsync(args());
    const second = crpsAsync({ ...args(), weights: undefined, gradOutput } as CrpsArgs);
    for (const array of [ensemble, observations, weights, gradOutput]) structuredClone(array.buffer, { transfer: [array.buffer as ArrayBuffer] });
    expect(ensemble.length).toBe(0); // really detached
    const failures = resultBitwiseDiff(await first, expected, 'mean gradients');
    failures.push(...resultBitwiseDiff(await second, expectedVjp, 'gradOutput'));
    expect(failures).toEqual([]);
  });

  it.skipIf(!available || backend === 'js')('the same call twice gives the same bits', () => {
    const [p] = problems(SEED + 4, 10000);
    expect(resultBitwiseDiff(crps(callArgs(p, backend)), crps(callArgs(p, backend)), p.label)).toEqual([]);
  });
});

describe('native CPU thread count', () => {
  it.skipIf(!INFO.native)('setThreads(1..4): identical bits for scores, gradients and mean (P = 50,000, several M, NaNs under omit)', async () => {
    const rng = new Rng(SEED + 5);
    const P = 50000;
    const cases = [
      { members: 3, args: { nanPolicy: 'omit', estimator: 'fair', weights: randomVector(rng, P, 0, 2, 0.05) } },
      { members: 2, args: { nanPolicy: 'omit', estimator: 'almost-fair', components: true } },
      { members: 4, args: { nanPolicy: 'zero', estimator: 'standard', weights: randomVector(rng, P, 0, 1) } },
      { members: 51, args: { nanPolicy: 'omit', gradOutput: randomVector(rng, P, -1, 1) } },
      { members: 130, args: { nanPolicy: 'omit', estimator: 'fair', weights: randomVector(rng, P, 0, 1) } },
    ].map((c, i) => ({ label: `M=${c.members} ${c.args.nanPolicy}`, data: withNaNs(rng, makeEnsemble(rng, { outer: P, members: c.members, inner: 1, ties: i % 2 === 0 })), args: c.args }));
    const failures: string[] = [];
    let baseline: CrpsResult[] | null = null;
    for (const threads of [1, 2, 3, 4]) {
      setThreads(threads);
      expect(backendInfo().threads).toBe(threads);
      const sync = cases.map((p) => crps(callArgs(p, 'cpu')));
      const async = await Promise.all(cases.map((p) => crpsAsync(callArgs(p, 'cpu'))));
      if (!baseline) {
        baseline = sync;
        // The baseline itself is right (checked against the reference on the first case).
        const stats = pairStats(cases[0].data);
        failures.push(...checkAgainstRef(sync[0], refFinish(stats, { alpha: 1, nanPolicy: 'omit', weights: cases[0].args.weights as Float32Array }), { gradients: true }, 'threads=1 vs reference'));
      }
      cases.forEach((p, i) => {
        failures.push(...resultBitwiseDiff(sync[i], baseline![i], `threads=${threads} sync ${p.label}`));
        failures.push(...resultBitwiseDiff(async[i], baseline![i], `threads=${threads} async ${p.label}`));
      });
    }
    setThreads(ORIGINAL_THREADS);
    expect(failures).toEqual([]);
  });
});

describe('worker_threads', () => {
  const workerCode = `
    const { parentPort, workerData } = require('node:worker_threads');
    const fusedloss = require(workerData.root);
    (async () => {
      const args = { ensemble: { data: workerData.ensemble, shape: workerData.shape }, observations: workerData.observations,
                     estimator: workerData.estimator, gradients: true, components: true };
      const sync = fusedloss.crps(args);
      const async = await fusedloss.crpsAsync(args);
      parentPort.postMessage({ sync, async, info: fusedloss.backendInfo() });
    })().catch((error) => parentPort.postMessage({ error: String(error && error.stack || error) }));
  `;

  interface WorkerReply {
    sync?: CrpsResult;
    async?: CrpsResult;
    info?: ReturnType<typeof backendInfo>;
    error?: string;
  }

  const runWorker = (workerData: Record<string, unknown>) => runWorkerOnce<WorkerReply>(workerCode, workerData);

  it('two workers at once load the package and match the main thread', async () => {
    const rng = new Rng(SEED + 6);
    const jobs = [
      { data: makeEnsemble(rng, { outer: 5000, members: 17, inner: 1, ties: true }), estimator: 'fair' },
      { data: makeEnsemble(rng, { outer: 3000, members: 66, inner: 1 }), estimator: 'standard' },
    ];
    const replies = await Promise.all(
      jobs.map((j) => runWorker({ root: ROOT, ensemble: j.data.ensemble, observations: j.data.observations, shape: [j.data.points, j.data.members], estimator: j.estimator })),
    );
    const failures: string[] = [];
    replies.forEach((reply, i) => {
      if (reply.error) {
        failures.push(`worker ${i}: ${reply.error}`);
        return;
      }
      const j = jobs[i];
      const main = crps({ ensemble: { data: j.data.ensemble, shape: [j.data.points, j.data.members] }, observations: j.data.observations, estimator: j.estimator, gradients: true, components: true } as CrpsArgs);
      if (reply.sync!.backend !== main.backend) failures.push(`worker ${i} ran on ${reply.sync!.backend}, main thread on ${main.backend}`);
      if (reply.info!.native !== INFO.native) failures.push(`worker ${i}: native ${reply.info!.native}`);
      failures.push(...resultBitwiseDiff(reply.sync!, main, `worker ${i} sync`));
      failures.push(...resultBitwiseDiff(reply.async!, main, `worker ${i} async`));
    });
    expect(failures).toEqual([]);
  });
});

describe('backendInfo()', () => {
  it('has the documented shape', () => {
    const info = backendInfo();
    expect(Object.keys(info).sort()).toEqual(['binary', 'cuda', 'loadError', 'native', 'simd', 'threads', 'version', 'wasm']);
    expect(Object.keys(info.wasm).sort()).toEqual(['available', 'reason', 'simd', 'threads']);
    // 1, or the threaded module's count once a wasm call has started its workers (test/wasm-threads.test.ts).
    expect(Number.isInteger(info.wasm.threads) && info.wasm.threads >= 1).toBe(true);
    expect(info.wasm.simd).toBe(info.wasm.available);
    expect(info.wasm.reason === null).toBe(info.wasm.available);
    expect(typeof info.native).toBe('boolean');
    if (info.native) {
      expect(typeof info.binary).toBe('string');
      expect(fs.existsSync(info.binary!)).toBe(true);
      expect(info.loadError).toBeNull();
      // NEON is baseline on arm64 (no scalar fallback there); x86-64 chooses at load.
      const levels = process.arch === 'arm64' ? ['neon'] : process.arch === 'x64' ? ['avx512', 'avx2', 'scalar'] : ['scalar'];
      expect(levels).toContain(info.simd);
    } else {
      expect(info.binary).toBeNull();
      expect(typeof info.loadError).toBe('string');
      expect(info.loadError!.length).toBeGreaterThan(0);
      expect(info.simd).toBeNull();
    }
    expect(Object.keys(info.cuda).sort()).toEqual(['available', 'devices', 'reason', 'selfTest']);
    expect(Object.keys(info.cuda.selfTest).sort()).toEqual(['crps', 'marginSoftmax', 'pairs']);
    for (const test of Object.values(info.cuda.selfTest)) {
      expect(['untested', 'passed', 'failed']).toContain(test.status);
      expect(test.reason === null).toBe(test.status !== 'failed');
    }
    expect(typeof info.cuda.available).toBe('boolean');
    expect(Array.isArray(info.cuda.devices)).toBe(true);
    if (info.cuda.available) {
      expect(info.cuda.reason).toBeNull();
      expect(info.cuda.devices.length).toBeGreaterThan(0);
      for (const d of info.cuda.devices) {
        expect(Number.isInteger(d.index)).toBe(true);
        expect(typeof d.name).toBe('string');
        expect(d.computeCapability).toMatch(/^\d+\.\d+$/);
        expect(d.totalMemory).toBeGreaterThan(0);
      }
    } else {
      expect(typeof info.cuda.reason).toBe('string');
      expect(info.cuda.reason!.length).toBeGreaterThan(0);
      expect(info.cuda.devices).toEqual([]);
    }
    expect(Number.isInteger(info.threads) && info.threads >= 1).toBe(true);
    expect(info.version).toBe(PACKAGE_VERSION);
  });

  it("'auto' picks cuda, else cpu, else js", () => {
    const expected = INFO.cuda.available ? 'cuda' : INFO.native ? 'cpu' : 'js';
    const r = crps({ ensemble: { data: [1, 2, 3, 4], shape: [2, 2] }, observations: [1, 2] });
    expect(r.backend).toBe(expected);
  });
});

describe('environment variables (child processes on the built package)', () => {
  const script = `
    const f = require(process.cwd());
    const r = f.crps({ ensemble: { data: [0.5, 1.25, -2, 3, 0.75, 0.75], shape: [2, 3] }, observations: [1, 0.75], gradients: true });
    process.stdout.write(JSON.stringify({ backend: r.backend, scores: Array.from(r.scores), grad: Array.from(r.gradEnsemble), info: f.backendInfo() }));
  `;
  function child(env: Record<string, string>, code = script): { backend: string; scores: number[]; grad: number[]; info: ReturnType<typeof backendInfo> } {
    const out = spawnSync(process.execPath, ['-e', code], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30000 });
    expect(out.status, out.stderr).toBe(0);
    return JSON.parse(out.stdout);
  }
  const inProcess = crps({ ensemble: { data: [0.5, 1.25, -2, 3, 0.75, 0.75], shape: [2, 3] }, observations: [1, 0.75], gradients: true, backend: 'js' });

  it('FUSEDLOSS_BACKEND=js forces the TypeScript backend', () => {
    const r = child({ FUSEDLOSS_BACKEND: 'js' });
    expect(r.backend).toBe('js');
    expect(r.info.native).toBe(false);
    expect(r.info.binary).toBeNull();
    expect(r.info.loadError).toContain('FUSEDLOSS_BACKEND');
    expect(r.info.cuda.available).toBe(false);
    expect(r.scores).toEqual(Array.from(inProcess.scores));
    expect(r.grad).toEqual(Array.from(inProcess.gradEnsemble!));
  });

  it.skipIf(!INFO.native)('FUSEDLOSS_THREADS sets the native thread count', () => {
    const r = child({ FUSEDLOSS_THREADS: '3' });
    expect(r.info.threads).toBe(3);
    expect(r.backend).toBe(INFO.cuda.available ? 'cuda' : 'cpu');
  });

  it('require and import of the package name both work and share one state', () => {
    const code = `
      import { crps, backendInfo } from 'fusedloss';
      import { createRequire } from 'node:module';
      const cjs = createRequire(process.cwd() + '/')('fusedloss');
      const args = { ensemble: { data: [1, 2, 3, 4], shape: [2, 2] }, observations: [1.5, 3] };
      process.stdout.write(JSON.stringify({ esm: Array.from(crps(args).scores), cjs: Array.from(cjs.crps(args).scores), same: cjs.backendInfo === backendInfo }));
    `;
    const out = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 30000 });
    expect(out.status, out.stderr).toBe(0);
    const r = JSON.parse(out.stdout);
    expect(r.esm).toEqual(r.cjs);
    expect(r.esm).toEqual(Array.from(crps({ ensemble: { data: [1, 2, 3, 4], shape: [2, 2] }, observations: [1.5, 3], backend: 'js' }).scores));
    expect(r.same).toBe(true);
  });
});
