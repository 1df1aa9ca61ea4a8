// Fresh random inputs (seed logged; FUSEDLOSS_TEST_SEED reproduces a run) against the float64
// pairwise reference of test/crps-reference.ts, on every backend.  The sizes cross the native kernel's
// internal boundaries: lane blocks of 16 points (P = 15, 16, 17), chunks of 2048 points
// (P = 2049, 5000) and the > 64-member scalar path (M = 65, 100).
import { describe, expect, it } from 'vitest';

import { crps, crpsAsync, type CrpsArgs } from './api';
import {
  memberIndex,
  pairStats,
  pointScore,
  refFinish,
  type PairStats,
  type Policy,
} from './crps-reference';
import {
  backendCases,
  checkAgainstRef,
  checkGradient,
  checkPoints,
  inversePerm,
  makeEnsemble,
  moveAxisPerm,
  permute,
  randomVector,
  resultBitwiseDiff,
  Rng,
  testSeed,
  type EnsembleData,
} from './helpers';

const SEED = testSeed('crps.random');
const BACKENDS = backendCases();
const AVAILABLE = BACKENDS.filter((b) => b.available).map((b) => b.name);

interface Variant {
  estimator: string;
  alpha: number;
  passAlpha: boolean;
}
const VARIANTS: Variant[] = [
  { estimator: 'standard', alpha: 0, passAlpha: false },
  { estimator: 'nrg', alpha: 0, passAlpha: false },
  { estimator: 'ecdf', alpha: 0, passAlpha: false },
  { estimator: 'qd', alpha: 0, passAlpha: false },
  { estimator: 'int', alpha: 0, passAlpha: false },
  { estimator: 'fair', alpha: 1, passAlpha: false },
  { estimator: 'pwm', alpha: 1, passAlpha: false },
  { estimator: 'almost-fair', alpha: 0.95, passAlpha: false }, // the default alpha
  { estimator: 'almost-fair', alpha: 0.3, passAlpha: true },
  { estimator: 'almost-fair', alpha: 0, passAlpha: true }, // = standard, defined for M = 1 too
];
const CORE: Variant[] = [VARIANTS[0], VARIANTS[5], VARIANTS[8]];

function variantArgs(v: Variant): Record<string, unknown> {
  return v.passAlpha ? { estimator: v.estimator, alpha: v.alpha } : { estimator: v.estimator };
}

/** Member axis last ([P, M]) or first ([M, P]). */
function ensembleArg(d: EnsembleData): { data: Float32Array; shape: number[] } {
  return { data: d.ensemble, shape: d.inner === 1 ? [d.points, d.members] : [d.members, d.points] };
}

function memberAxisArg(d: EnsembleData): Record<string, unknown> {
  return d.inner === 1 ? {} : { memberAxis: 0 };
}

// (M, P, member axis first): every M of the brief, every P, and the crossings that matter for the
// native kernel (2- and 4-member shuffled blocks need the member axis last; the sorting-network
// path ends at 128 members, the scalar path starts at 129).
const GRID: [number, number, boolean][] = [
  [1, 1, false], [1, 2049, false], [2, 15, false], [2, 16, false], [2, 2049, true], [3, 17, false],
  [4, 17, false], [4, 5000, false], [4, 2049, true], [5, 16, true], [8, 2049, false], [16, 17, true],
  [16, 5000, false], [17, 2049, false], [51, 1, false], [51, 17, true], [64, 2049, false], [65, 16, false],
  [65, 2049, true], [100, 15, false], [100, 2049, false], [128, 17, false], [129, 2049, false], [129, 17, true],
];

interface GridCase {
  data: EnsembleData;
  stats: PairStats;
  weights: Float32Array;
}
const gridCache = new Map<number, GridCase>();
function gridCase(index: number): GridCase {
  let c = gridCache.get(index);
  if (!c) {
    const [M, P, memberFirst] = GRID[index];
    const rng = new Rng(SEED + index);
    const data = makeEnsemble(rng, {
      outer: memberFirst ? 1 : P,
      members: M,
      inner: memberFirst ? P : 1,
      ties: index % 2 === 1,
      memberIsObs: 0.15,
    });
    const weights = randomVector(rng, P, 0, 2, 0.1);
    c = { data, stats: pairStats(data), weights };
    gridCache.set(index, c);
  }
  return c;
}

/** NaNs in every third lane block of 16 points, so clean and NaN-carrying blocks both occur. */
function injectNaN(rng: Rng, d: EnsembleData): EnsembleData {
  const ensemble = d.ensemble.slice();
  const observations = d.observations.slice();
  for (let p = 0; p < d.points; p++) {
    if ((p >> 4) % 3 !== 0) continue;
    const r = rng.next();
    if (r < 0.1) {
      for (let k = 0; k < d.members; k++) ensemble[memberIndex(d, p, k)] = NaN;
    } else if (r < 0.25) {
      const keep = rng.int(d.members);
      for (let k = 0; k < d.members; k++) if (k !== keep) ensemble[memberIndex(d, p, k)] = NaN;
    } else if (r < 0.6) {
      for (let k = 0; k < d.members; k++) if (rng.next() < 0.3) ensemble[memberIndex(d, p, k)] = NaN;
    }
    if (rng.next() < 0.1) observations[p] = NaN;
  }
  return { ...d, ensemble, observations };
}

/** A copy of `v` living at element `offset` of a larger buffer (a view with byteOffset > 0). */
function offsetView(v: Float32Array, offset: number): Float32Array {
  const big = new Float32Array(v.length + offset + 7).fill(NaN);
  big.set(v, offset);
  return big.subarray(offset, offset + v.length);
}

function expectNoFailures(failures: string[], seed: number): void {
  expect(failures, `seed ${seed}`).toEqual([]);
}

describe.each(BACKENDS)('backend $name', ({ name: backend, available }) => {
  describe('against the pairwise float64 reference', () => {
    it.skipIf(!available).each(GRID.map(([M, P, first], i) => [M, P, first ? 'first' : 'last', i] as const))(
      'M=%i P=%i member axis %s: every estimator and alias, weights, gradients, components',
      (M, P, _axis, index) => {
        const { data, stats, weights } = gridCase(index);
        const failures: string[] = [];
        for (const v of VARIANTS) {
          if (M === 1 && v.alpha > 0) continue;
          const args = {
            ensemble: ensembleArg(data),
            ...memberAxisArg(data),
            observations: data.observations,
            ...variantArgs(v),
            weights,
            gradients: true,
            components: true,
            backend,
          } as CrpsArgs;
          const ref = refFinish(stats, { alpha: v.alpha, weights });
          failures.push(...checkAgainstRef(crps(args), ref, { gradients: true, components: true, backend }, `${v.estimator}(${v.alpha}) M=${M} P=${P}`));
        }
        expectNoFailures(failures, SEED + index);
      },
    );

    it.skipIf(!available)('defaults: standard, unweighted, scores and mean only', () => {
      const { data, stats } = gridCase(10); // M=8 P=2049
      const result = crps({ ensemble: ensembleArg(data), ...memberAxisArg(data), observations: data.observations, backend } as CrpsArgs);
      expect(Object.keys(result).sort()).toEqual(['backend', 'mean', 'scores']);
      expectNoFailures(checkAgainstRef(result, refFinish(stats, { alpha: 0 }), { backend }, 'defaults'), SEED + 10);
    });

    it.skipIf(!available)('gradOutput gives the vector-Jacobian product of the scores; weights only weigh the mean', () => {
      const failures: string[] = [];
      for (const [M, P] of [[2, 33], [4, 2049], [17, 2049], [65, 40], [130, 40]]) {
        const seed = SEED + 100 + M;
        const rng = new Rng(seed);
        const data = makeEnsemble(rng, { outer: P, members: M, inner: 1, ties: M === 17, memberIsObs: 0.1 });
        const stats = pairStats(data);
        const weights = randomVector(rng, P, 0, 3, 0.1);
        const gradOutput = randomVector(rng, P, -2, 2, 0.1);
        for (const v of CORE) {
          const result = crps({ ensemble: ensembleArg(data), observations: data.observations, ...variantArgs(v), weights, gradOutput, gradients: true, backend } as CrpsArgs);
          const ref = refFinish(stats, { alpha: v.alpha, weights, gradOutput });
          failures.push(...checkAgainstRef(result, ref, { gradients: true, backend }, `vjp ${v.estimator} M=${M} P=${P} seed ${seed}`));
        }
      }
      expect(failures).toEqual([]);
    });

    it.skipIf(!available)('gradients match central finite differences of the definition (no ties)', () => {
      const failures: string[] = [];
      const h = 1e-4; // members and observation are >= 1e-3 apart: the score is linear within ±h
      for (const M of [1, 2, 3, 5, 8]) {
        const seed = SEED + 200 + M;
        const rng = new Rng(seed);
        const P = 4;
        let data: EnsembleData;
        // Redraw until every point's members and observation are at least 1e-3 apart.
        for (;;) {
          data = makeEnsemble(rng, { outer: P, members: M, inner: 1 });
          let minGap = Infinity;
          for (let p = 0; p < P; p++) {
            const v = [data.observations[p], ...data.ensemble.subarray(p * M, p * M + M)].sort((a, b) => a - b);
            for (let i = 1; i < v.length; i++) minGap = Math.min(minGap, v[i] - v[i - 1]);
          }
          if (minGap > 1e-3) break;
        }
        const weights = randomVector(rng, P, 0.5, 2);
        const gradOutput = randomVector(rng, P, -2, 2);
        for (const v of CORE) {
          if (M === 1 && v.alpha > 0) continue;
          for (const vjp of [false, true]) {
            const x = Float64Array.from(data.ensemble);
            const y = Float64Array.from(data.observations);
            const objective = () => {
              let num = 0;
              let den = 0;
              for (let p = 0; p < P; p++) {
                const s = pointScore(x.subarray(p * M, p * M + M), y[p], v.alpha);
                num += (vjp ? gradOutput[p] : weights[p]) * s;
                den += weights[p];
              }
              return vjp ? num : num / den;
            };
            const fd = (arr: Float64Array, i: number) => {
              const keep = arr[i];
              arr[i] = keep + h;
              const up = objective();
              arr[i] = keep - h;
              const down = objective();
              arr[i] = keep;
              return (up - down) / (2 * h);
            };
            const result = crps({
              ensemble: ensembleArg(data),
              observations: data.observations,
              ...variantArgs(v),
              weights,
              gradients: true,
              ...(vjp ? { gradOutput } : {}),
              backend,
            } as CrpsArgs);
            const label = `fd ${v.estimator} M=${M} ${vjp ? 'gradOutput' : 'mean'} seed ${seed}`;
            // The quotient's rounding, ~ε·|objective|/h ≈ 1e-11: every true gradient entry is 0 or ≥ ~1e-3
            // (fair M = 2 with each observation between its members has all of them 0: seed 1548409032).
            const fdError = 1e-8;
            failures.push(...checkGradient(result.gradEnsemble, Float64Array.from(x, (_, i) => fd(x, i)), `${label} gradEnsemble`, fdError));
            failures.push(...checkGradient(result.gradObservations, Float64Array.from(y, (_, i) => fd(y, i)), `${label} gradObservations`, fdError));
          }
        }
      }
      expect(failures).toEqual([]);
    });

    it.skipIf(!available)('large common offset (values ~ 280 ± 1, kelvin) keeps the 1e-5 tolerance', () => {
      const failures: string[] = [];
      for (const [M, scale, ties] of [[2, 1, false], [4, 1, true], [51, 1, false], [130, 1, false], [16, 0.01, false], [4, 0.01, false]] as const) {
        const seed = SEED + 300 + M;
        const rng = new Rng(seed);
        const data = makeEnsemble(rng, { outer: 2049, members: M, inner: 1, offset: 280, scale, ties, memberIsObs: 0.05 });
        const stats = pairStats(data);
        for (const v of CORE) {
          const result = crps({ ensemble: ensembleArg(data), observations: data.observations, ...variantArgs(v), gradients: true, components: true, backend } as CrpsArgs);
          failures.push(...checkAgainstRef(result, refFinish(stats, { alpha: v.alpha }), { gradients: true, components: true, backend }, `offset ${v.estimator} M=${M} scale ${scale} seed ${seed}`));
        }
      }
      expect(failures).toEqual([]);
    });

    it.skipIf(!available).each(['propagate', 'omit', 'zero'] as Policy[])('nanPolicy %s with NaN members and observations', (policy) => {
      const failures: string[] = [];
      for (const M of [2, 4, 17, 130]) {
        const seed = SEED + 400 + M;
        const rng = new Rng(seed);
        const data = injectNaN(rng, makeEnsemble(rng, { outer: 2049, members: M, inner: 1, ties: M === 17 }));
        const stats = pairStats(data);
        const weights = randomVector(rng, data.points, 0.1, 2);
        for (const v of CORE) {
          const label = `${policy} ${v.estimator} M=${M} seed ${seed}`;
          const args = { ensemble: ensembleArg(data), observations: data.observations, ...variantArgs(v), weights, nanPolicy: policy, gradients: true, components: true, backend } as CrpsArgs;
          const result = crps(args);
          const ref = refFinish(stats, { alpha: v.alpha, weights, nanPolicy: policy });
          failures.push(...checkAgainstRef(result, ref, { gradients: true, components: true, backend }, label));
          const g = result.gradEnsemble!;
          let weightAll = 0;
          let weightedFinite = 0;
          for (let p = 0; p < data.points; p++) {
            weightAll += weights[p];
            if (!stats.anyNaN[p]) weightedFinite += weights[p] * result.scores[p];
          }
          const nanPoints = [...stats.anyNaN.keys()].filter((p) => stats.anyNaN[p]);
          if (nanPoints.length === 0) failures.push(`${label}: no NaN injected`);
          // The spec's rules, stated directly.
          if (policy === 'propagate') {
            if (!Number.isNaN(result.mean)) failures.push(`${label}: mean ${result.mean} is not NaN`);
            for (const p of nanPoints) {
              if (!Number.isNaN(result.scores[p]) || !Number.isNaN(result.gradObservations![p])) failures.push(`${label}: point ${p} not NaN`);
            }
            // A finite point's gradient is w_p/Σw(all points)·∂s_p, ∂s_p from a one-point call.
            const finite = [...stats.anyNaN.keys()].filter((p) => !stats.anyNaN[p]).slice(0, 3);
            for (const p of finite) {
              const alone = crps({ ensemble: { data: data.ensemble.slice(p * M, p * M + M), shape: [1, M] }, observations: [data.observations[p]], ...variantArgs(v), gradients: true, backend } as CrpsArgs);
              const want = Float64Array.from(alone.gradEnsemble!, (d) => (d * weights[p]) / weightAll);
              failures.push(...checkGradient(g.subarray(p * M, p * M + M), want, `${label} point ${p} gradient (Σw over all points)`));
            }
          } else if (policy === 'omit') {
            for (const p of nanPoints) {
              const excluded = stats.obsNaN[p] === 1 || stats.used[p] < (v.alpha > 0 ? 2 : 1);
              if (excluded !== Number.isNaN(result.scores[p])) failures.push(`${label}: point ${p} score ${result.scores[p]} (excluded ${excluded})`);
              for (let k = 0; k < M; k++) {
                const i = p * M + k;
                if ((excluded || Number.isNaN(data.ensemble[i])) && g[i] !== 0) failures.push(`${label}: dropped member ${i} has gradient ${g[i]}`);
              }
              if (excluded && result.gradObservations![p] !== 0) failures.push(`${label}: excluded point ${p} has gradObservations ${result.gradObservations![p]}`);
              if (v.alpha > 0 && !stats.obsNaN[p] && stats.used[p] === 1 && !Number.isNaN(result.scores[p])) failures.push(`${label}: fair with M_eff = 1 at ${p} is not NaN`);
            }
          } else {
            for (const p of nanPoints) {
              if (result.scores[p] !== 0 || result.skill![p] !== 0 || result.spread![p] !== 0 || result.gradObservations![p] !== 0) failures.push(`${label}: point ${p} not zeroed`);
              for (let k = 0; k < M; k++) if (g[p * M + k] !== 0) failures.push(`${label}: gradEnsemble at point ${p} not zeroed`);
            }
            // Zeroed points stay in the denominator.
            const want = weightedFinite / weightAll;
            if (!(Math.abs(result.mean - want) <= 1e-5 * Math.abs(want))) failures.push(`${label}: mean ${result.mean}, expected Σw·s/Σw(all) = ${want}`);
          }
        }
      }
      expect(failures.slice(0, 20)).toEqual([]);
    });

    // From 16 MiB of gradEnsemble on, the native kernel writes it with non-temporal stores
    // (kStreamGradientBytes in native/kernels/crps_plan.h), whole cache lines only: caller-owned
    // outputs one and three floats past a line boundary put partial lines at both ends of every lane
    // block's run, and NaN points (redone by the scalar path) land inside streamed runs.
    it.skipIf(!available)('a gradEnsemble of 16 MiB and more, into caller-owned outputs at a byte offset', () => {
      const failures: string[] = [];
      const M = 51;
      const P = Math.ceil((16 << 20) / (4 * M)) + 37; // past 16 MiB, and not whole lane blocks
      const seed = SEED + 550;
      const rng = new Rng(seed);
      const data = injectNaN(rng, makeEnsemble(rng, { outer: P, members: M, inner: 1, ties: true, memberIsObs: 0.05 }));
      const stats = pairStats(data);
      const poison = Math.fround(3.25e38); // no gradient of a mean over P points is this large
      for (const [v, offset] of [[CORE[1], 1], [CORE[0], 3]] as const) {
        const view = (length: number) => {
          const buffer = new Float32Array(length + offset + 5).fill(poison);
          return { buffer, array: buffer.subarray(offset, offset + length) };
        };
        const gradEnsemble = view(P * M), gradObservations = view(P), scores = view(P);
        const out = { gradEnsemble: gradEnsemble.array, gradObservations: gradObservations.array, scores: scores.array };
        const label = `P=${P} ${v.estimator} offset ${offset} seed ${seed}`;
        const result = crps({ ensemble: ensembleArg(data), observations: data.observations, ...variantArgs(v), nanPolicy: 'omit', gradients: true, out, backend } as CrpsArgs);
        expect(result.gradEnsemble).toBe(out.gradEnsemble);
        failures.push(...checkAgainstRef(result, refFinish(stats, { alpha: v.alpha, nanPolicy: 'omit' }), { gradients: true, backend }, label));
        for (const { buffer, array } of [gradEnsemble, gradObservations, scores]) {
          const outside = [...buffer.subarray(0, offset), ...buffer.subarray(offset + array.length)];
          if (outside.some((value) => value !== poison)) failures.push(`${label}: an element around an output was written`);
        }
      }
      expect(failures.slice(0, 20)).toEqual([]);
    });

    it.skipIf(!available)('Σw = 0 over counted points gives mean NaN and NaN gradients', () => {
      const rng = new Rng(SEED + 500);
      const data = makeEnsemble(rng, { outer: 40, members: 5, inner: 1 });
      const zero = crps({ ensemble: ensembleArg(data), observations: data.observations, weights: new Float32Array(40), gradients: true, backend } as CrpsArgs);
      expect(Number.isNaN(zero.mean)).toBe(true);
      expect(zero.gradEnsemble!.every(Number.isNaN)).toBe(true);
      expect(zero.gradObservations!.every(Number.isNaN)).toBe(true);
      expectNoFailures(checkPoints(zero.scores, refFinish(pairStats(data), { alpha: 0 }).scores, pairStats(data).skill, 'scores'), SEED + 500);
      // 'omit' with every observation NaN: nothing counted, so the gradients of the undefined mean are NaN too.
      const omitted = crps({ ensemble: ensembleArg(data), observations: new Float32Array(40).fill(NaN), nanPolicy: 'omit', gradients: true, backend } as CrpsArgs);
      expect(Number.isNaN(omitted.mean)).toBe(true);
      expect(omitted.scores.every(Number.isNaN)).toBe(true);
      expect(omitted.gradEnsemble!.every(Number.isNaN)).toBe(true);
      expect(omitted.gradObservations!.every(Number.isNaN)).toBe(true);
    });

    it.skipIf(!available).each([4, 17, 130])('member axis first, middle and last of a 5-D [B,T,M,G,V] tensor, M=%i', (M) => {
      const seed = SEED + 600 + M;
      const rng = new Rng(seed);
      const [B, T, G, V] = [2, 3, 5, 4];
      const base = makeEnsemble(rng, { outer: B * T * G * V, members: M, inner: 1, ties: M === 17, memberIsObs: 0.1 });
      const stats = pairStats(base);
      const weights = randomVector(rng, base.points, 0, 2);
      const lastShape = [B, T, G, V, M];
      const failures: string[] = [];
      for (const axis of [0, 2, 4]) {
        const perm = moveAxisPerm(5, 4, axis);
        const moved = permute(base.ensemble, lastShape, perm);
        for (const memberAxis of [axis, axis - 5]) {
          const result = crps({
            ensemble: moved,
            memberAxis,
            observations: { data: base.observations, shape: [B, T, G, V] },
            weights: { data: weights, shape: [B, T, G, V] },
            estimator: 'almost-fair',
            alpha: 0.5,
            gradients: true,
            components: true,
            backend,
          } as CrpsArgs);
          const back = permute(result.gradEnsemble!, moved.shape, inversePerm(perm));
          const label = `memberAxis ${memberAxis} (shape [${moved.shape}]) seed ${seed}`;
          failures.push(...checkAgainstRef({ ...result, gradEnsemble: back.data }, refFinish(stats, { alpha: 0.5, weights }), { gradients: true, components: true, backend }, label));
        }
      }
      expect(failures).toEqual([]);
    });

    it.skipIf(!available)('input adapters: Float32Array, Float64Array, number[], onnxruntime-like and tfjs-like give the same bits', () => {
      const seed = SEED + 700;
      const rng = new Rng(seed);
      const [A, M, C] = [4, 6, 5]; // member axis 1; points [A, C]
      const d = makeEnsemble(rng, { outer: A, members: M, inner: C, ties: true });
      const weights = randomVector(rng, A * C, 0, 2);
      const gradOutput = randomVector(rng, A * C, -1, 1);
      const shape = [A, M, C];
      const ensembles: [string, unknown][] = [
        ['Float32Array', { data: d.ensemble, shape }],
        ['Float64Array', { data: Float64Array.from(d.ensemble), shape }],
        ['number[]', { data: Array.from(d.ensemble), shape }],
        ['onnxruntime', { data: d.ensemble, dims: shape, type: 'float32' }],
        ['onnxruntime float64', { data: Float64Array.from(d.ensemble), dims: shape, type: 'float64' }],
        ['tfjs', { shape, dtype: 'float32', dataSync: () => d.ensemble.slice() }],
        ['Float32Array view at a byte offset', { data: offsetView(d.ensemble, 3), shape }],
      ];
      const vectors = (v: Float32Array): [string, unknown][] => [
        ['Float32Array', v],
        ['Float64Array', Float64Array.from(v)],
        ['number[]', Array.from(v)],
        ['tensor [P]', { data: v, shape: [A * C] }],
        ['tensor [A, C]', { data: Array.from(v), shape: [A, C] }],
        ['onnxruntime [A, C]', { data: v, dims: [A, C], type: 'float32' }],
        ['tfjs [A, C]', { shape: [A, C], dtype: 'float32', dataSync: () => v.slice() }],
        ['Float32Array view at a byte offset', offsetView(v, 5)],
      ];
      const common = { memberAxis: 1, estimator: 'fair', gradients: true, components: true, backend };
      const baseline = crps({ ensemble: { data: d.ensemble, shape }, observations: d.observations, weights, gradOutput, ...common } as CrpsArgs);
      const failures = checkAgainstRef(baseline, refFinish(pairStats(d), { alpha: 1, weights, gradOutput }), { gradients: true, components: true, backend }, `baseline seed ${seed}`);
      const observationsList = vectors(d.observations);
      const weightsList = vectors(weights);
      const gradOutputList = vectors(gradOutput);
      for (const [en, ensemble] of ensembles) {
        for (let i = 0; i < observationsList.length; i++) {
          const [on, observations] = observationsList[i];
          const [wn, w] = weightsList[(i + 1) % weightsList.length];
          const [gn, g] = gradOutputList[(i + 2) % gradOutputList.length];
          const result = crps({ ensemble, observations, weights: w, gradOutput: g, ...common } as CrpsArgs);
          failures.push(...resultBitwiseDiff(result, baseline, `ensemble ${en}, observations ${on}, weights ${wn}, gradOutput ${gn}`));
        }
      }
      expect(failures).toEqual([]);
    });

    it.skipIf(!available)('inputs are never modified and outputs are fresh arrays', async () => {
      const rng = new Rng(SEED + 800);
      const d = injectNaN(rng, makeEnsemble(rng, { outer: 100, members: 7, inner: 1, ties: true }));
      const weights = randomVector(rng, 100, 0, 2);
      const gradOutput = Array.from(randomVector(rng, 100, -1, 1));
      const observations64 = Float64Array.from(d.observations);
      const before = [d.ensemble.slice(), observations64.slice(), weights.slice(), gradOutput.slice()];
      const args = { ensemble: { data: d.ensemble, shape: [100, 7] }, observations: observations64, weights, gradOutput, gradients: true, components: true, nanPolicy: 'omit', backend } as CrpsArgs;
      const first = crps(args);
      const second = await crpsAsync(args);
      const after = [d.ensemble, observations64, weights, gradOutput];
      after.forEach((a, j) => {
        const b = before[j];
        for (let i = 0; i < b.length; i++) expect(Object.is(a[i], b[i]), `input ${j} element ${i}`).toBe(true);
      });
      const inputs = new Set<ArrayBufferLike>([d.ensemble.buffer, observations64.buffer, weights.buffer]);
      for (const r of [first, second]) {
        for (const key of ['scores', 'gradEnsemble', 'gradObservations', 'skill', 'spread'] as const) {
          expect(inputs.has(r[key]!.buffer), key).toBe(false);
        }
      }
      expect(first.scores).not.toBe(second.scores);
      expect(first.gradEnsemble!.buffer).not.toBe(second.gradEnsemble!.buffer);
    });
  });
});

describe('backends agree with each other', () => {
  it.skipIf(AVAILABLE.length < 2)(`${AVAILABLE.join(', ')} on the same inputs (ties, NaNs under omit, weights)`, () => {
    const failures: string[] = [];
    for (const [M, P] of [[2, 2049], [4, 2049], [16, 1000], [51, 300], [140, 100]]) {
      const seed = SEED + 900 + M;
      const rng = new Rng(seed);
      const d = injectNaN(rng, makeEnsemble(rng, { outer: P, members: M, inner: 1, ties: true, memberIsObs: 0.1 }));
      const weights = randomVector(rng, P, 0, 2);
      const stats = pairStats(d);
      for (const v of CORE) {
        const bound = refFinish(stats, { alpha: v.alpha, nanPolicy: 'omit' }).skill;
        const results = AVAILABLE.map((backend) =>
          crps({ ensemble: { data: d.ensemble, shape: [P, M] }, observations: d.observations, ...variantArgs(v), weights, nanPolicy: 'omit', gradients: true, components: true, backend } as CrpsArgs),
        );
        const [first, ...rest] = results;
        rest.forEach((r, i) => {
          const label = `${AVAILABLE[0]} vs ${AVAILABLE[i + 1]} ${v.estimator} M=${M} seed ${seed}`;
          failures.push(...checkPoints(r.scores, first.scores, bound, `${label} scores`));
          failures.push(...checkPoints(r.skill, first.skill!, bound, `${label} skill`));
          failures.push(...checkPoints(r.spread, first.spread!, bound, `${label} spread`));
          failures.push(...checkGradient(r.gradEnsemble, first.gradEnsemble!, `${label} gradEnsemble`));
          failures.push(...checkGradient(r.gradObservations, first.gradObservations!, `${label} gradObservations`));
          if (!(Math.abs(r.mean - first.mean) <= 1e-5 * Math.abs(first.mean))) failures.push(`${label} mean ${r.mean} vs ${first.mean}`);
        });
      }
    }
    expect(failures).toEqual([]);
  });
});
