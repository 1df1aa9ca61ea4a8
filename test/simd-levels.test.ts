// The native CPU kernels' builds for the instruction sets below this CPU's (FUSEDLOSS_SIMD=avx2 or
// scalar, native/runtime/simd.h), run here natively in child processes (the level is read once
// per process).  CRPS is the same bits on every build: each lane is one point's, whatever the
// vector width (8 lanes for AVX2, 4 for SSE2, 16 for AVX-512), whichever sort a build runs for 33–64
// members (the AVX2 build the run-time network, the others the register pieces); its outputs are compared bit for
// bit with this process's on fresh random inputs (ties, ±0, NaN and ±Inf members under every NaN
// policy, three layouts, P past one chunk).  marginSoftmax and the pair kernels may differ in the
// last bits across instruction sets (the GEMM's register tile, the scalar GEMM's unfused
// multiply-adds: docs/spec/README.md), so theirs are compared within 1e-5 normwise relative; their float64
// references run at every level through the suite (`FUSEDLOSS_SIMD=avx2 npm test`).
// `npm run test:x86-builds` runs the fixture, NaN/Inf and extremes files at those levels, natively
// and (--emulated) on CPUs emulated without AVX-512 and AVX2.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { backendInfo, crps, marginSoftmax, pairLoss } from './api';
import { backendCases, checkNormwise, norm, resultBitwiseDiff, Rng, testSeed } from './helpers';

const SEED = testSeed('simd-levels');
const CPU_AVAILABLE = backendCases().some((b) => b.name === 'cpu' && b.available);
const ORDER = ['avx512', 'avx2', 'scalar'];
const HERE = CPU_AVAILABLE ? backendInfo().simd : null;
// The x86-64 builds below this CPU's (none on AArch64: one NEON build).
const LOWER = HERE !== null && ORDER.includes(HERE) ? ORDER.slice(ORDER.indexOf(HERE) + 1) : [];
const ROOT = process.cwd();
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'fusedloss-simd-'));
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }));

// Arrays and numbers travel as base64 of their bytes (bit for bit: NaN, ±Inf and -0 included).
// The child's copy of this codec is in CODEC below.
const CODEC = `
  const bytes = (s) => new Uint8Array(Buffer.from(s, 'base64')).buffer;
  const base64 = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
  const encode = (v) => v instanceof Float32Array ? { f32: base64(v) } : v instanceof Int32Array ? { i32: base64(v) }
    : typeof v === 'number' ? { f64: base64(new Float64Array([v])) } : Array.isArray(v) ? v.map(encode)
    : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encode(x)])) : v;
  const decode = (v) => Array.isArray(v) ? v.map(decode) : v === null || typeof v !== 'object' ? v
    : 'f32' in v ? new Float32Array(bytes(v.f32)) : 'i32' in v ? new Int32Array(bytes(v.i32)) : 'f64' in v ? new Float64Array(bytes(v.f64))[0]
    : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));`;
const codec = new Function(`${CODEC}; return { encode, decode };`)() as { encode: (v: unknown) => unknown; decode: (v: unknown) => unknown };

type Call = { kernel: string; args: Record<string, unknown> };

// Runs the calls in a child process at FUSEDLOSS_SIMD=level.
function runAtLevel(level: string, calls: Call[]): { simd: string; results: Record<string, unknown>[] } {
  const input = path.join(TMP, `in-${level}.json`);
  fs.writeFileSync(input, JSON.stringify(codec.encode(calls)));
  const code = `${CODEC}
    const fl = require(${JSON.stringify(ROOT)});
    const calls = decode(JSON.parse(require('node:fs').readFileSync(${JSON.stringify(input)}, 'utf8')));
    process.stdout.write(JSON.stringify({ simd: fl.backendInfo().simd, results: calls.map(({ kernel, args }) => encode(fl[kernel](args))) }));`;
  const out = spawnSync(process.execPath, ['-e', code], {
    cwd: ROOT,
    env: { ...process.env, FUSEDLOSS_SIMD: level },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    timeout: 120000,
  });
  if (out.status !== 0) throw new Error(`child at FUSEDLOSS_SIMD=${level} failed: ${out.stderr}`);
  const parsed = JSON.parse(out.stdout) as { simd: string; results: unknown[] };
  return { simd: parsed.simd, results: parsed.results.map((r) => codec.decode(r) as Record<string, unknown>) };
}

const rng = new Rng(SEED);

// Member values with ties (small integers), signed zeros and a spread of magnitudes; NaN and ±Inf
// members and observations in a few points.
function crpsCases(): Call[] {
  const cases: Call[] = [];
  const points = 2 * 2048 + 16 * 3 + 5;  // past one 2048-point chunk; block pairs, a lone block, a tail; 3 × 1383
  for (const members of [1, 2, 3, 4, 5, 16, 17, 32, 33, 51, 64, 65, 128, 129]) {
    for (const layout of ['last', 'first', 'middle'] as const) {
      const ensemble = new Float32Array(points * members);
      for (let i = 0; i < ensemble.length; i++) {
        const u = rng.next();
        ensemble[i] = u < 0.15 ? rng.int(5) - 2 : u < 0.17 ? (rng.next() < 0.5 ? -0 : 0) : Math.fround(rng.normal() * 10 ** rng.int(4));
      }
      const observations = new Float32Array(points).map(() => Math.fround(rng.normal() * 3));
      for (let s = 0; s < 6; s++) ensemble[rng.int(ensemble.length)] = [NaN, Infinity, -Infinity][s % 3];
      observations[rng.int(points)] = NaN;
      observations[rng.int(points)] = -Infinity;
      const shape = layout === 'last' ? [points, members] : layout === 'first' ? [members, points] : [3, members, points / 3];
      const memberAxis = layout === 'last' ? -1 : layout === 'first' ? 0 : 1;
      const weights = new Float32Array(points).map(() => rng.uniform(0, 2));
      const gradOutput = new Float32Array(points).map(() => rng.normal());
      const estimator = members < 2 ? 'standard' : (['standard', 'fair', 'almost-fair'] as const)[rng.int(3)];
      const base = { ensemble: { data: ensemble, shape }, observations, memberAxis, estimator, backend: 'cpu' };
      cases.push({ kernel: 'crps', args: { ...base, gradients: true, components: true, weights } });
      cases.push({ kernel: 'crps', args: { ...base, gradients: true, gradOutput, nanPolicy: 'omit' } });
      cases.push({ kernel: 'crps', args: { ...base, components: true, nanPolicy: 'zero' } });
    }
  }
  return cases;
}

function normalMatrix(rows: number, columns: number): Float32Array {
  return new Float32Array(rows * columns).map(() => Math.fround(rng.normal()));
}

// The margin epilogues (foldTileStatistics, tileGradient) and the multi-similarity row and
// Euclidean distance lanes are the builds per instruction set besides CRPS.
function otherCases(): Call[] {
  const cases: Call[] = [];
  for (const [rows, classes, dim, subCenters] of [[37, 1500, 64, 1], [64, 2000, 48, 2]]) {
    const labels = new Int32Array(rows).map(() => rng.int(classes));
    labels[1] = -1;
    const embeddings = { data: normalMatrix(rows, dim), shape: [rows, dim] };
    const weights = { data: normalMatrix(classes * subCenters, dim), shape: [classes * subCenters, dim] };
    for (const options of [{ margin: { type: 'arcface' } }, { margin: { type: 'combined' }, interclassFilter: 0.1 }, { margin: { type: 'sphereface' }, scaleMode: 'product-norm' }]) {
      cases.push({ kernel: 'marginSoftmax', args: { embeddings, weights, labels, subCenters, backend: 'cpu', ...options } });
    }
  }
  for (const distance of ['cosine', 'euclidean']) {
    const rows = 150;
    const embeddings = { data: normalMatrix(rows, 32), shape: [rows, 32] };
    const labels = new Int32Array(rows).map(() => rng.int(12));
    cases.push({ kernel: 'pairLoss', args: { embeddings, labels, distance, loss: { type: 'multi-similarity' }, miner: { type: 'multi-similarity' }, backend: 'cpu' } });
    cases.push({ kernel: 'pairLoss', args: { embeddings, labels, distance, loss: { type: 'contrastive' }, backend: 'cpu' } });
  }
  return cases;
}

const KERNELS = { crps, marginSoftmax, pairLoss } as unknown as Record<string, (args: unknown) => Record<string, unknown>>;

describe.skipIf(LOWER.length === 0)(`native CPU builds below this CPU's (${HERE}): ${LOWER.join(', ')}`, () => {
  it.each(LOWER)('FUSEDLOSS_SIMD=%s: CRPS bit for bit, margin and pairs within 1e-5', (level) => {
    const crpsCalls = crpsCases();
    const otherCalls = otherCases();
    const expected = [...crpsCalls, ...otherCalls].map(({ kernel, args }) => KERNELS[kernel](args));
    const { simd, results } = runAtLevel(level, [...crpsCalls, ...otherCalls]);
    expect(simd).toBe(level);  // the child really ran the lower build
    const failures: string[] = [];
    crpsCalls.forEach((call, i) => {
      const label = `${level} crps #${i} shape ${JSON.stringify((call.args.ensemble as { shape: number[] }).shape)}`;
      failures.push(...resultBitwiseDiff(expected[i] as never, results[i] as never, label));
    });
    otherCalls.forEach((call, j) => {
      const i = crpsCalls.length + j;
      const label = `${level} ${call.kernel} #${j}`;
      for (const [key, want] of Object.entries(expected[i])) {
        const got = results[i][key];
        if (want instanceof Float32Array) failures.push(...checkNormwise(got as Float32Array, want, 1e-5 * norm(want), `${label} ${key}`));
        else if (typeof want === 'number') failures.push(...checkNormwise([got as number], [want], 1e-5 * Math.abs(want), `${label} ${key}`));
      }
    });
    expect(failures.slice(0, 20)).toEqual([]);
  }, 180000);
});

describe.skipIf(!CPU_AVAILABLE)('FUSEDLOSS_SIMD values that do not lower the build', () => {
  const simdOf = (value: string | undefined): string => {
    const env: Record<string, string | undefined> = { ...process.env, FUSEDLOSS_SIMD: value };
    if (value === undefined) delete env.FUSEDLOSS_SIMD;
    const out = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(ROOT)}).backendInfo().simd)`], {
      cwd: ROOT,
      env,
      encoding: 'utf8',
      timeout: 30000,
    });
    expect(out.status, out.stderr).toBe(0);
    return out.stdout;
  };
  // The CPU's own build (this process may itself run a lower one under FUSEDLOSS_SIMD).
  let own = '';
  it('without FUSEDLOSS_SIMD', () => {
    own = simdOf(undefined);
    expect(['avx512', 'avx2', 'neon', 'scalar']).toContain(own);
  });
  it.each(['avx512', 'neon', 'AVX2', 'bogus', ''])('%j runs the CPU\'s own build', (value) => {
    expect(simdOf(value)).toBe(own);
  });
});
