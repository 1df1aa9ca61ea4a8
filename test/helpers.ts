// Shared test helpers: a seeded PRNG, the list of backends, and comparisons that implement the
// spec's tolerances and report every failure (the CRPS reference itself is in crps-reference.ts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import { backendInfo, type CrpsResult } from './api';
import { memberIndex, type Policy, type RefResult } from './crps-reference';

// ---------------------------------------------------------------------------------------------
// Randomness

/** The seed of a test file: FUSEDLOSS_TEST_SEED when set, else fresh; always logged. */
export function testSeed(file: string): number {
  const fromEnv = process.env.FUSEDLOSS_TEST_SEED;
  const seed = fromEnv !== undefined && fromEnv !== '' ? Number(fromEnv) >>> 0 : (Date.now() ^ (process.pid << 16)) >>> 0;
  console.log(`[${file}] random seed ${seed} (rerun with FUSEDLOSS_TEST_SEED=${seed} to reproduce)`);
  return seed;
}

/** mulberry32: small, fast, good enough for test data. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
}

// ---------------------------------------------------------------------------------------------
// Backends

export type BackendName = 'js' | 'cpu' | 'wasm' | 'cuda';
export interface BackendCase {
  name: BackendName;
  available: boolean;
  reason: string;
}

/** Whether the WebAssembly kernels must be there (CI builds them): their tests then fail, not skip. */
export function wasmRequired(): boolean {
  return process.env.FUSEDLOSS_REQUIRE_WASM === '1';
}

/**
 * Every backend, with whether this machine has it (unavailable ones are reported as skipped).
 * FUSEDLOSS_TEST_BACKENDS=cpu,cuda (npm run test:sanitize: only the addon is instrumented) keeps
 * the cases of the listed backends and skips the others.
 */
export function backendCases(): BackendCase[] {
  const info = backendInfo();
  const all: BackendCase[] = [
    { name: 'js', available: true, reason: '' },
    { name: 'cpu', available: info.native, reason: info.loadError ?? '' },
    // FUSEDLOSS_REQUIRE_WASM=1 (CI): a missing module fails every wasm test with its reason instead of skipping it.
    { name: 'wasm', available: info.wasm.available || wasmRequired(), reason: info.wasm.reason ?? '' },
    { name: 'cuda', available: info.cuda.available, reason: info.cuda.reason ?? '' },
  ];
  const selected = (process.env.FUSEDLOSS_TEST_BACKENDS ?? '').split(',').filter((name) => name !== '');
  if (selected.length === 0) return all;
  return all.map((b) => (selected.includes(b.name) ? b : { ...b, available: false, reason: `not in FUSEDLOSS_TEST_BACKENDS=${selected.join(',')}` }));
}

// ---------------------------------------------------------------------------------------------
// Comparisons (spec tolerances)

export const TOL = 1e-5;
const MAX_REPORTED = 8;

function sameNaN(a: number, b: number): boolean {
  return Number.isNaN(a) === Number.isNaN(b);
}

function capped(failures: string[], label: string): string[] {
  if (failures.length <= MAX_REPORTED) return failures;
  return [...failures.slice(0, MAX_REPORTED), `${label}: … and ${failures.length - MAX_REPORTED} more`];
}

/**
 * Per point |a − r| ≤ 1e-5·max(|r|, bound) (bound = S_ref), NaN exactly where the reference is
 * NaN, every element compared.
 */
export function checkPoints(actual: ArrayLike<number> | undefined, ref: ArrayLike<number>, bound: ArrayLike<number>, label: string): string[] {
  if (!actual) return [`${label}: missing`];
  if (actual.length !== ref.length) return [`${label}: length ${actual.length}, expected ${ref.length}`];
  const failures: string[] = [];
  for (let i = 0; i < ref.length; i++) {
    const a = actual[i];
    const r = ref[i];
    if (!sameNaN(a, r)) {
      failures.push(`${label}[${i}] = ${a}, expected ${r}`);
      continue;
    }
    if (Number.isNaN(r)) continue;
    const scale = Math.max(Math.abs(r), Number.isNaN(bound[i]) ? 0 : Math.abs(bound[i]));
    if (!(Math.abs(a - r) <= TOL * scale)) failures.push(`${label}[${i}] = ${a}, expected ${r} (tolerance ${TOL * scale})`);
  }
  return capped(failures, label);
}

/**
 * A gradient against its reference: NaN positions must match exactly, ‖a − r‖ ≤ TOL·‖r‖ over the
 * rest (the spec), and element by element |a_i − r_i| ≤ TOL·(|r_i| + max|r|), so that no element
 * may be left at 0 (or garbage) where the reference is not, while float32 arithmetic (errors ~1e-7
 * of the gradient's scale where sign/M and c·(L − G) cancel) still passes.  `absolute` is the
 * reference's own error (a finite-difference quotient's rounding).
 */
export function checkGradient(actual: ArrayLike<number> | undefined, ref: ArrayLike<number>, label: string, absolute = 1e-30): string[] {
  if (!actual) return [`${label}: missing`];
  if (actual.length !== ref.length) return [`${label}: length ${actual.length}, expected ${ref.length}`];
  const failures: string[] = [];
  let diff2 = 0;
  let ref2 = 0;
  let refMax = 0;
  for (let i = 0; i < ref.length; i++) if (!Number.isNaN(ref[i])) refMax = Math.max(refMax, Math.abs(ref[i]));
  for (let i = 0; i < ref.length; i++) {
    const a = actual[i];
    const r = ref[i];
    if (!sameNaN(a, r)) {
      failures.push(`${label}[${i}] = ${a}, expected ${r}`);
      continue;
    }
    if (Number.isNaN(r)) continue;
    diff2 += (a - r) * (a - r);
    ref2 += r * r;
    if (!(Math.abs(a - r) <= TOL * (Math.abs(r) + refMax) + absolute)) failures.push(`${label}[${i}] = ${a}, expected ${r}`);
  }
  if (!(Math.sqrt(diff2) <= TOL * Math.sqrt(ref2) + absolute * Math.sqrt(ref.length))) {
    failures.unshift(`${label}: relative error ${Math.sqrt(diff2 / ref2)} over ${TOL}`);
  }
  return capped(failures, label);
}

export function checkMean(actual: number, ref: number, scale: number, label: string): string[] {
  if (typeof actual !== 'number') return [`${label}: ${String(actual)} is not a number`];
  if (Number.isNaN(ref)) return Number.isNaN(actual) ? [] : [`${label} = ${actual}, expected NaN`];
  const tolerance = TOL * Math.max(Math.abs(ref), Number.isFinite(scale) ? Math.abs(scale) : 0);
  return Math.abs(actual - ref) <= tolerance ? [] : [`${label} = ${actual}, expected ${ref} (tolerance ${tolerance})`];
}

/** A result of crps() or of the reference (whose backend is 'ref'). */
export type KernelResult = Omit<CrpsResult, 'backend'> & { backend: string };

/** Everything the call returned against the reference; [] when it all matches. */
export function checkAgainstRef(
  result: KernelResult,
  ref: RefResult,
  want: { gradients?: boolean; components?: boolean; backend?: string },
  label: string,
): string[] {
  const failures: string[] = [];
  if (want.backend && result.backend !== want.backend) failures.push(`${label}: ran on ${result.backend}, asked ${want.backend}`);
  if (!(result.scores instanceof Float32Array)) failures.push(`${label}: scores is not a Float32Array`);
  const bound = ref.skill;
  failures.push(...checkPoints(result.scores, ref.scores, bound, `${label} scores`));
  failures.push(...checkMean(result.mean, ref.mean, ref.meanScale, `${label} mean`));
  if (want.gradients) {
    if (!(result.gradEnsemble instanceof Float32Array)) failures.push(`${label}: gradEnsemble is not a Float32Array`);
    failures.push(...checkGradient(result.gradEnsemble, ref.gradEnsemble, `${label} gradEnsemble`));
    failures.push(...checkGradient(result.gradObservations, ref.gradObservations, `${label} gradObservations`));
  } else if (result.gradEnsemble !== undefined || result.gradObservations !== undefined) {
    failures.push(`${label}: gradients returned without gradients: true`);
  }
  if (want.components) {
    failures.push(...checkPoints(result.skill, ref.skill, bound, `${label} skill`));
    failures.push(...checkPoints(result.spread, ref.spread, bound, `${label} spread`));
  } else if (result.skill !== undefined || result.spread !== undefined) {
    failures.push(`${label}: components returned without components: true`);
  }
  return failures;
}

/** Bitwise equality of two float arrays (NaN equals NaN), reported by index. */
export function bitwiseDiff(a: Float32Array | undefined, b: Float32Array | undefined, label: string): string[] {
  if (a === undefined && b === undefined) return [];
  if (!a || !b) return [`${label}: present in only one result`];
  if (a.length !== b.length) return [`${label}: lengths ${a.length} and ${b.length}`];
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  const failures: string[] = [];
  for (let i = 0; i < a.length; i++) {
    if (ua[i] !== ub[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]))) failures.push(`${label}[${i}]: ${a[i]} vs ${b[i]}`);
  }
  return capped(failures, label);
}

export function resultBitwiseDiff(a: KernelResult, b: KernelResult, label: string): string[] {
  const failures: string[] = [];
  for (const key of ['scores', 'gradEnsemble', 'gradObservations', 'skill', 'spread'] as const) {
    failures.push(...bitwiseDiff(a[key], b[key], `${label} ${key}`));
  }
  if (!Object.is(a.mean, b.mean) && !(Number.isNaN(a.mean) && Number.isNaN(b.mean))) failures.push(`${label} mean: ${a.mean} vs ${b.mean}`);
  return failures;
}

// ---------------------------------------------------------------------------------------------
// Data

export interface EnsembleOptions {
  outer: number;
  members: number;
  inner: number;
  offset?: number;
  scale?: number;
  /** Round values to multiples of 0.25 (ties between members and with the observation). */
  ties?: boolean;
  /** Fraction of points where one member is set equal to the observation. */
  memberIsObs?: number;
}

export interface EnsembleData {
  ensemble: Float32Array;
  observations: Float32Array;
  outer: number;
  members: number;
  inner: number;
  points: number;
}

export function makeEnsemble(rng: Rng, o: EnsembleOptions): EnsembleData {
  const offset = o.offset ?? 0;
  const scale = o.scale ?? 1;
  const value = () => {
    const z = rng.normal() * scale;
    return Math.fround(offset + (o.ties ? Math.round(z * 4) / 4 : z));
  };
  const points = o.outer * o.inner;
  const ensemble = new Float32Array(o.outer * o.members * o.inner);
  const observations = new Float32Array(points);
  for (let i = 0; i < ensemble.length; i++) ensemble[i] = value();
  for (let p = 0; p < points; p++) {
    observations[p] = value();
    if (o.memberIsObs && rng.next() < o.memberIsObs) {
      ensemble[memberIndex(o, p, rng.int(o.members))] = observations[p];
    }
  }
  return { ensemble, observations, outer: o.outer, members: o.members, inner: o.inner, points };
}

export function randomVector(rng: Rng, n: number, lo: number, hi: number, zeros = 0): Float32Array {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.next() < zeros ? 0 : Math.fround(rng.uniform(lo, hi));
  return v;
}

/** data of `shape` (row-major) permuted so that output axis a is input axis perm[a]. */
export function permute(data: Float32Array, shape: number[], perm: number[]): { data: Float32Array; shape: number[] } {
  const rank = shape.length;
  const outShape = perm.map((a) => shape[a]);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let a = rank - 1; a >= 0; a--) {
    inStrides[a] = s;
    s *= shape[a];
  }
  const out = new Float32Array(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < data.length; i++) {
    let src = 0;
    for (let a = 0; a < rank; a++) src += idx[a] * inStrides[perm[a]];
    out[i] = data[src];
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a] < outShape[a]) break;
      idx[a] = 0;
    }
  }
  return { data: out, shape: outShape };
}

/** The permutation that moves axis `from` to position `to`. */
export function moveAxisPerm(rank: number, from: number, to: number): number[] {
  const rest = [...Array(rank).keys()].filter((a) => a !== from);
  rest.splice(to, 0, from);
  return rest;
}

export function inversePerm(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((a, i) => (inv[a] = i));
  return inv;
}

// ---------------------------------------------------------------------------------------------
// Fixtures

export interface CrpsFixture {
  name: string;
  source: string;
  estimator: string;
  P: number;
  M: number;
  ensemble: (number | null)[];
  observations: (number | null)[];
  alpha?: number;
  weights?: number[];
  nanPolicy?: Policy;
  components?: boolean;
  gradOutput?: number[];
  memberAxis?: number;
  shape?: number[];
  memberAxisArg?: number;
  observationsShape?: number[];
  scores: (number | null)[];
  mean?: number | null;
  weightedMean?: number | null;
  gradEnsemble: (number | null)[];
  gradObservations: (number | null)[];
  skill: (number | null)[];
  spread?: (number | null)[];
}

export function loadCrpsFixtures(): CrpsFixture[] {
  const file = path.join(__dirname, 'data', 'crps.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { cases: CrpsFixture[] }).cases;
}

/** JSON null → NaN. */
export function nums(values: readonly (number | null)[]): Float64Array {
  return Float64Array.from(values, (v) => (v === null ? NaN : v));
}

// ---------------------------------------------------------------------------------------------
// Generic comparisons and layout helpers (used by the margin softmax tests)

/** a [rows, cols] row-major → [cols, rows]. */
export function transpose(a: ArrayLike<number>, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/** |a − r| ≤ 1e-5·max(1, |r|) + slack[i] for every element (the margin softmax's per-row outputs). */
export function checkValues(actual: ArrayLike<number> | undefined, ref: ArrayLike<number>, label: string, slack?: ArrayLike<number>): string[] {
  if (!actual) return [`${label}: missing`];
  if (actual.length !== ref.length) return [`${label}: length ${actual.length}, expected ${ref.length}`];
  const failures: string[] = [];
  for (let i = 0; i < ref.length; i++) {
    const tolerance = 1e-5 * Math.max(1, Math.abs(ref[i])) + (slack ? slack[i] : 0);
    if (!(Math.abs(actual[i] - ref[i]) <= tolerance)) failures.push(`${label}[${i}] = ${actual[i]}, expected ${ref[i]} (tolerance ${tolerance})`);
  }
  return capped(failures, label);
}

/**
 * ‖g − r‖ ≤ tol·‖r‖ (docs/spec/margin.md: 1e-4), and element by element |g_k − r_k| ≤ tol·(|r_k| + max|r|) so no
 * element may be garbage or NaN; an all-zero reference (‖r‖ ≤ 1e-12) needs ‖g‖ ≤ 1e-6.
 */
export function checkGradientNorm(actual: ArrayLike<number> | undefined, ref: ArrayLike<number>, label: string, tol = 1e-4): string[] {
  if (!actual) return [`${label}: missing`];
  if (actual.length !== ref.length) return [`${label}: length ${actual.length}, expected ${ref.length}`];
  let diff2 = 0;
  let ref2 = 0;
  let act2 = 0;
  let refMax = 0;
  for (let k = 0; k < ref.length; k++) refMax = Math.max(refMax, Math.abs(ref[k]));
  const failures: string[] = [];
  for (let k = 0; k < ref.length; k++) {
    const a = actual[k];
    const r = ref[k];
    diff2 += (a - r) * (a - r);
    ref2 += r * r;
    act2 += a * a;
    if (!Number.isFinite(a)) failures.push(`${label}[${k}] = ${a}, expected ${r}`);
    else if (refMax > 1e-12 && !(Math.abs(a - r) <= tol * (Math.abs(r) + refMax))) failures.push(`${label}[${k}] = ${a}, expected ${r}`);
  }
  // A reference that is zero up to float64 rounding (e.g. C = 1, where every p = 1) is zero.
  if (Math.sqrt(ref2) <= 1e-12) {
    if (!(Math.sqrt(act2) <= 1e-6)) failures.unshift(`${label}: norm ${Math.sqrt(act2)}, expected all zero`);
  } else if (!(Math.sqrt(diff2) <= tol * Math.sqrt(ref2))) {
    failures.unshift(`${label}: relative error ${Math.sqrt(diff2 / ref2)} over ${tol}`);
  }
  return capped(failures, label);
}

/** Runs `code` (CommonJS source) in a fresh worker thread with `workerData`; resolves with its first message. */
export function runWorkerOnce<Reply>(code: string, workerData: Record<string, unknown>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData });
    worker.once('message', (message: Reply) => {
      resolve(message);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (exitCode) => (exitCode !== 0 && exitCode !== 1 ? reject(new Error(`worker exited with ${exitCode}`)) : undefined));
  });
}

/** The Euclidean norm of a vector. */
export function norm(v: ArrayLike<number>): number {
  let sum = 0;
  for (let k = 0; k < v.length; k++) sum += v[k] * v[k];
  return Math.sqrt(sum);
}

/** ‖got − want‖ ≤ allowed (an absolute bound: the precision tests' derived ones), with every element finite; [] when it holds. */
export function checkNormwise(got: ArrayLike<number> | undefined, want: ArrayLike<number>, allowed: number, label: string): string[] {
  if (!got || got.length !== want.length) return [`${label}: length ${got?.length}, expected ${want.length}`];
  for (let k = 0; k < got.length; k++) if (!Number.isFinite(got[k])) return [`${label}[${k}] = ${got[k]}`];
  let diff = 0;
  for (let k = 0; k < got.length; k++) diff += (got[k] - want[k]) ** 2;
  diff = Math.sqrt(diff);
  return diff <= allowed ? [] : [`${label}: ‖error‖ ${diff.toExponential(3)} over the bound ${allowed.toExponential(3)} (‖ref‖ ${norm(want).toExponential(3)})`];
}
