// The CUDA self-test of each kernel family, run once per process at the family's first CUDA use
// (lib/dispatch.ts asks trustedOnCuda): small known-answer problems run through the addon on CUDA and on
// the native CPU kernel, which the test suite checks against float64 references, and compared.
// The CUDA kernels are trusted only after this: they cannot be tested where the package is built.
//
// The problems cover each family's code paths (CRPS: the tiled and the large-ensemble kernels,
// member axis first and last, NaN policies, weights, gradOutput; margins: rows and columns layouts,
// sub-centers, D not a multiple of 4, an ignored row; pairs: every miner kind, a reference set,
// losses with gradients).  Integer-valued embeddings where the pair kernels decide (mining,
// hinge losses): their distances are exact on both devices, so no decision can flip on rounding.
import { planCrpsForAddon } from './crps/native';
import { DEVICE_CODES, enumCodes } from './enum-codes';
import { planMarginSoftmaxForAddon } from './margin/native';
import { recordSelfTest, storedSelfTest, type KernelFamily, type NativeAddon, type SelfTestRecord } from './native';
import { planMineForAddon, planPairLossForAddon } from './pairs/native';
import { platform } from './platform';

/**
 * Per element: |cuda − cpu| ≤ this·max(|cpu|, rms(cpu)).  Float32 rounding in another summation
 * order differs by ~1e-6 of that scale: a thousandfold margin, while a wrong formula, index or
 * unwritten element is off by far more.
 */
const ARRAY_TOLERANCE = 1e-3;
/** Scalars (means and losses, float64 sums of float32 terms): relative. */
const SCALAR_TOLERANCE = 1e-4;

interface Problem {
  label: string;
  /** The addon's synchronous entry point. */
  entry: 'crps' | 'marginSoftmax' | 'mine' | 'pairLoss';
  plan: () => object;
}

/** A fixed stream (mulberry32), so the problems are the same in every process. */
function stream(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function floats(n: number, next: () => number, scale = 1, offset = 0): Float32Array {
  return Float32Array.from({ length: n }, () => offset + scale * (2 * next() - 1));
}

/** Integers in [−r, r]: products and squared differences are exact in float32. */
function integers(n: number, next: () => number, r: number): Float32Array {
  return Float32Array.from({ length: n }, () => Math.floor(next() * (2 * r + 1)) - r);
}

function crpsProblems(): Problem[] {
  const next = stream(11);
  // Tiled kernel: 48 points × 8 members, ties, a member equal to the observation, NaNs under 'omit'.
  const tiled = floats(48 * 8, next, 2);
  for (let i = 0; i < tiled.length; i += 5) tiled[i] = Math.round(tiled[i] * 2) / 2;
  tiled[3] = tiled[9] = tiled[10] = tiled[11] = NaN;
  const observations = floats(48, next, 2);
  observations[4] = tiled[4 * 8 + 2];
  // Large-ensemble kernel: 200 members on the middle axis of [2, 200, 3], a NaN member under 'propagate'.
  const weights = Float32Array.from({ length: 48 }, () => 2 * next());
  const large = floats(2 * 200 * 3, next, 1, 280);
  large[5 * 3 + 1] = NaN;
  const largeObservations = floats(6, next, 1, 280);
  const gradOutput = floats(6, next);
  return [
    {
      label: 'member-last, almost-fair, omit, weights, components',
      entry: 'crps',
      plan: () =>
        planCrpsForAddon({
          ensemble: { data: tiled, shape: [48, 8] },
          observations,
          estimator: 'almost-fair',
          alpha: 0.9,
          nanPolicy: 'omit',
          weights,
          gradients: true,
          components: true,
        }).plan,
    },
    {
      label: '200 members on axis 1, fair, gradOutput',
      entry: 'crps',
      plan: () =>
        planCrpsForAddon({
          ensemble: { data: large, shape: [2, 200, 3] },
          observations: largeObservations,
          memberAxis: 1,
          estimator: 'fair',
          gradients: true,
          gradOutput,
        }).plan,
    },
  ];
}

/** Embeddings near their class's center, so that the predicted class is never a near tie. */
function nearCenters(centers: Float32Array, dim: number, rows: number, pick: (i: number) => number, next: () => number): Float32Array {
  const x = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) for (let d = 0; d < dim; d++) x[i * dim + d] = centers[pick(i) * dim + d] + 0.3 * (2 * next() - 1);
  return x;
}

function transpose(rowMajor: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rowMajor.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = rowMajor[r * cols + c];
  return t;
}

function marginProblems(): Problem[] {
  const next = stream(23);
  const arcW = floats(30 * 24, next);
  const arcLabels = Int32Array.from({ length: 10 }, (_, i) => (i === 6 ? -1 : (i * 7) % 30));
  const arcX = nearCenters(arcW, 24, 10, (i) => (i * 7) % 30, next);
  // 12 classes × 2 sub-centers, D = 13, stored [D, C·K].
  const subW = floats(24 * 13, next);
  const subLabels = Int32Array.from({ length: 9 }, (_, i) => (i * 5) % 12);
  const subX = nearCenters(subW, 13, 9, (i) => 2 * ((i * 5) % 12) + (i % 2), next);
  return [
    {
      label: 'arcface, rows layout, an ignored row',
      entry: 'marginSoftmax',
      plan: () =>
        planMarginSoftmaxForAddon({
          embeddings: { data: arcX, shape: [10, 24] },
          weights: { data: arcW, shape: [30, 24] },
          labels: arcLabels,
          margin: { type: 'arcface', m: 0.5 },
          scale: 32,
        }).plan,
    },
    {
      label: 'cosface, columns layout, 2 sub-centers, D = 13, feature-norm, label smoothing',
      entry: 'marginSoftmax',
      plan: () =>
        planMarginSoftmaxForAddon({
          embeddings: { data: subX, shape: [9, 13] },
          weights: { data: transpose(subW, 24, 13), shape: [13, 24] },
          weightsLayout: 'columns',
          subCenters: 2,
          labels: subLabels,
          margin: { type: 'cosface', m: 0.35 },
          scale: 4,
          scaleMode: 'feature-norm',
          labelSmoothing: 0.1,
        }).plan,
    },
  ];
}

function pairProblems(): Problem[] {
  const next = stream(37);
  const x = integers(16 * 6, next, 2);
  const labels = Int32Array.from({ length: 16 }, (_, i) => i % 4);
  const ref = integers(10 * 6, next, 2);
  const refLabels = Int32Array.from({ length: 10 }, (_, i) => (i * 3) % 4);
  const smooth = floats(12 * 8, next);
  const exact = { embeddings: { data: x, shape: [16, 6] }, labels, normalize: false } as const;
  return [
    {
      label: 'multi-similarity miner, dot',
      entry: 'mine',
      plan: () => planMineForAddon({ ...exact, distance: 'dot', miner: { type: 'multi-similarity', epsilon: 0.5 } }).plan,
    },
    {
      label: 'triplet-margin miner, all triplets, squared-euclidean',
      entry: 'mine',
      plan: () => planMineForAddon({ ...exact, distance: 'squared-euclidean', miner: { type: 'triplet-margin', margin: 1.5 } }).plan,
    },
    {
      label: 'batch-hard miner against a reference set',
      entry: 'mine',
      plan: () =>
        planMineForAddon({ ...exact, ref: { data: ref, shape: [10, 6] }, refLabels, distance: 'squared-euclidean', miner: { type: 'batch-hard' } }).plan,
    },
    {
      label: 'multi-similarity loss, cosine, gradients',
      entry: 'pairLoss',
      plan: () => planPairLossForAddon({ embeddings: { data: smooth, shape: [12, 8] }, labels: labels.subarray(0, 12), loss: { type: 'multi-similarity' } }).plan,
    },
    {
      label: 'triplet-margin loss against a reference set, squared-euclidean, gradients',
      entry: 'pairLoss',
      plan: () =>
        planPairLossForAddon({
          ...exact,
          ref: { data: ref, shape: [10, 6] },
          refLabels,
          distance: 'squared-euclidean',
          loss: { type: 'triplet-margin', margin: 0.5 },
        }).plan,
    },
  ];
}

const PROBLEMS: Record<KernelFamily, () => Problem[]> = { crps: crpsProblems, marginSoftmax: marginProblems, pairs: pairProblems };

function rms(values: Float32Array): number {
  let sum = 0;
  let count = 0;
  for (const v of values) if (Number.isFinite(v)) (sum += v * v), count++;
  return count ? Math.sqrt(sum / count) : 0;
}

/** The first difference between the CUDA and CPU values of one output, or null. */
function outputDifference(name: string, gpu: unknown, cpu: unknown): string | null {
  const shown = (v: number) => (Object.is(v, -0) ? '-0' : String(v));
  if (typeof cpu === 'number') {
    if (typeof gpu !== 'number') return `${name}: cuda gave ${typeof gpu}`;
    const same = Number.isNaN(cpu) ? Number.isNaN(gpu) : Number.isFinite(cpu) ? Math.abs(gpu - cpu) <= SCALAR_TOLERANCE * Math.abs(cpu) + 1e-12 : gpu === cpu;
    return same ? null : `${name}: cuda ${shown(gpu)}, cpu ${shown(cpu)}`;
  }
  if (cpu instanceof Int32Array) {
    if (!(gpu instanceof Int32Array) || gpu.length !== cpu.length) return `${name}: cuda gave ${describe(gpu)}, cpu ${cpu.length} values`;
    const i = cpu.findIndex((v, k) => gpu[k] !== v);
    return i < 0 ? null : `${name}[${i}]: cuda ${gpu[i]}, cpu ${cpu[i]}`;
  }
  if (cpu instanceof Float32Array) {
    if (!(gpu instanceof Float32Array) || gpu.length !== cpu.length) return `${name}: cuda gave ${describe(gpu)}, cpu ${cpu.length} values`;
    const floor = rms(cpu);
    for (let i = 0; i < cpu.length; i++) {
      const a = gpu[i];
      const b = cpu[i];
      const same = Number.isNaN(b) ? Number.isNaN(a) : Number.isFinite(b) ? Math.abs(a - b) <= ARRAY_TOLERANCE * Math.max(Math.abs(b), floor) : a === b;
      if (!same) return `${name}[${i}]: cuda ${shown(a)}, cpu ${shown(b)}`;
    }
    return null;
  }
  return cpu === gpu ? null : `${name}: cuda ${describe(gpu)}, cpu ${describe(cpu)}`;
}

function describe(value: unknown): string {
  if (ArrayBuffer.isView(value)) return `${value.constructor.name}(${(value as Float32Array).length})`;
  return typeof value;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs the family's problems on CUDA and on the CPU through `addon` and compares them: null when
 * every output agrees, else the first problem and output that does not (or what CUDA threw).
 */
export function runCudaSelfTest(family: KernelFamily, addon: NativeAddon): string | null {
  for (const problem of PROBLEMS[family]()) {
    const where = `${problem.entry} (${problem.label})`;
    const run = addon[problem.entry];
    if (typeof run !== 'function') return `${where}: the addon has no ${problem.entry}()`;
    const plan = problem.plan();
    let gpu: Record<string, unknown>;
    let cpu: Record<string, unknown>;
    try {
      gpu = run({ ...plan, ...enumCodes({ device: 'cuda' }, DEVICE_CODES) }) as Record<string, unknown>;
    } catch (error) {
      return `${where}: CUDA failed: ${message(error)}`;
    }
    try {
      cpu = run({ ...plan, ...enumCodes({ device: 'cpu' }, DEVICE_CODES) }) as Record<string, unknown>;
    } catch (error) {
      return `${where}: the CPU reference failed: ${message(error)}`;
    }
    for (const name of new Set([...Object.keys(cpu), ...Object.keys(gpu)])) {
      const difference = outputDifference(name, gpu[name], cpu[name]);
      if (difference) return `${where}: ${difference}`;
    }
  }
  return null;
}

/**
 * The family's self-test record, running the self-test first if no context has yet (CUDA must be
 * available); a failure is recorded and warned about once, and the native CPU backend serves.
 */
export function trustedOnCuda(addon: NativeAddon, family: KernelFamily): SelfTestRecord {
  const known = storedSelfTest(addon, family);
  if (known) return known;
  const failure = runCudaSelfTest(family, addon);
  const record = recordSelfTest(addon, family, { passed: failure === null, reason: failure });
  if (!record.passed) {
    platform.warn(`fusedloss: CUDA is not used for ${family}: ${record.reason}. The native CPU backend serves it.`, 'FUSEDLOSS_CUDA_SELF_TEST_FAILED');
  }
  return record;
}
