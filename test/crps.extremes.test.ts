// CRPS at numeric extremes (issue 10, point 4; docs/nan-inf.md "finite means exact"): ensembles
// with one or two members far out (±1e30, ±3e38, mixed), far observations and mixed magnitudes,
// against the exact reference (crps-limit-reference.ts exactPoint: the pairwise definition in
// integers).  S − c·H cancels there: for members {0, 1, 1e30} and observation 0.5 the fair score is
// 1/6 while S ≈ 3.3e29, and float64 S − c·H gave 0 or ~9e15.  Scores, skill and spread must be
// within one float32 ulp of the exact value (the float64 result rounded once), and bit for bit the
// js backend's (every path adds the same float64 terms in the same order), on every backend,
// every estimator, every M and layout that selects a CPU path: M = 1, 3, 5, 16, 17, 51 (sorting
// network), 2 and 4 member-last (shuffle path), 130 (scalar path); member-last (16×16 tiles),
// member-first (contiguous rows) and member-middle (strided gather); 35 points = two 16-point lane
// blocks and a scalar tail.  Fixed inputs (the same every run) and seeded random ones.
import { describe, expect, it } from 'vitest';

import { crps, type CrpsResult } from './api';
import { exactPoint, LIMIT_LAYOUTS, LIMIT_POINTS, limitCallArgs, limitReference, type LimitRef } from './crps-limit-reference';
import { memberIndex, pairStats } from './crps-reference';
import { backendCases, bitwiseDiff, checkGradient, Rng, testSeed } from './helpers';

const SEED = testSeed('crps.extremes');
const BACKENDS = backendCases();
const MEMBER_COUNTS = [1, 2, 3, 4, 5, 16, 17, 51, 130];
const P = LIMIT_POINTS;
const ESTIMATORS = [
  { name: 'standard', alpha: 0, args: { estimator: 'standard' } },
  { name: 'fair', alpha: 1, args: { estimator: 'fair' } },
  { name: 'almost-fair 0.5', alpha: 0.5, args: { estimator: 'almost-fair', alpha: 0.5 } },
  // g(1) = (1 − α)/M² is tiny: a far member's weight must not come from a difference near 0.
  { name: 'almost-fair 1 − 1e-12', alpha: 1 - 1e-12, args: { estimator: 'almost-fair', alpha: 1 - 1e-12 } },
] as const;
const FAR = [1e30, -1e30, 3e38, -3e38, 3.4028234663852886e38, -3.4028234663852886e38, 2e36, -1e20].map(Math.fround);
const FLT_TINY = 2 ** -149;

/** One point's members and observation. */
interface Point {
  xs: number[];
  y: number;
}

// Scenarios: each turns near members (O(1)) and a near observation into an extreme point.
type Scenario = (xs: number[], y: number, far: (i: number) => number, pick: (n: number) => number) => number;
const SCENARIOS: Scenario[] = [
  (xs, y, far, pick) => ((xs[pick(xs.length)] = far(0)), y), // one far member
  (xs, y, far, pick) => ((xs[pick(xs.length)] = far(0)), (xs[pick(xs.length)] = far(1)), y), // two (maybe one)
  (xs, y, far, pick) => ((xs[pick(xs.length)] = far(0)), (xs[pick(xs.length)] = -far(0)), y), // ±F
  (xs, y, far, pick) => ((xs[pick(xs.length)] = far(0)), (xs[pick(xs.length)] = far(0)), y), // a tied far pair
  (xs, y, far, pick) => ((xs[pick(xs.length)] = far(0)), xs[pick(xs.length)]), // y on a near member
  (xs, _y, far, pick) => ((xs[pick(xs.length)] = far(1)), far(0)), // far observation
  (xs, _y, far) => (xs.forEach((_, i) => (xs[i] = far(i))), far(xs.length)), // everything far
  (xs, y, far, pick) => (xs.forEach((v, i) => (xs[i] = v * 1e-30)), (xs[pick(xs.length)] = far(0)), y * 1e-30), // tiny and far
  (_xs, y) => y, // control: nothing far
];

/** Fixed points, the same every run: members k − M/2 (so ties with y = 0.5 do not occur), far values by index. */
function fixedPoint(p: number, m: number): Point {
  const xs = Array.from({ length: m }, (_, k) => k - Math.floor(m / 2));
  const far = (i: number) => FAR[(p + i) % FAR.length];
  let turn = p;
  const pick = (n: number) => (turn = (turn * 7 + 3) % 101) % n;
  const y = SCENARIOS[p % SCENARIOS.length](xs, 0.5, far, pick);
  return { xs: xs.map(Math.fround), y: Math.fround(y) };
}

function randomPoint(rng: Rng, m: number): Point {
  const xs = Array.from({ length: m }, () => rng.normal() * 2 ** rng.int(8));
  // far(i): the point's i-th far value, drawn once (≤ 3.4e38 in magnitude: still finite in float32).
  const drawn = new Map<number, number>();
  const far = (i: number) => {
    if (!drawn.has(i)) drawn.set(i, FAR[rng.int(FAR.length)] * (rng.next() < 0.5 ? 1 : 0.25 + 0.75 * rng.next()));
    return drawn.get(i)!;
  };
  const y = SCENARIOS[rng.int(SCENARIOS.length)](xs, rng.normal(), far, (n) => rng.int(n));
  return { xs: xs.map(Math.fround), y: Math.fround(y) };
}

interface Case {
  ensemble: Float32Array;
  observations: Float32Array;
  outer: number;
  members: number;
  inner: number;
}

function makeCase(points: Point[], m: number, layout: (typeof LIMIT_LAYOUTS)[number]): Case {
  const c: Case = { ensemble: new Float32Array(P * m), observations: new Float32Array(P), outer: layout.outer, members: m, inner: layout.inner };
  points.forEach((point, p) => {
    point.xs.forEach((v, k) => (c.ensemble[memberIndex(c, p, k)] = v));
    c.observations[p] = point.y;
  });
  return c;
}

interface Variant {
  name: string;
  gradients: boolean;
  components: boolean;
  nanPolicy: 'propagate' | 'omit';
  weights?: (rng: Rng) => Float32Array;
  gradOutput?: (rng: Rng) => Float32Array;
  /** Points whose member 0 becomes NaN ('omit' scores the others: the scalar path with M − 1). */
  nanPoints?: number[];
}

const VARIANTS: Variant[] = [
  { name: 'components', gradients: false, components: true, nanPolicy: 'propagate' },
  { name: 'gradients of the weighted mean', gradients: true, components: false, nanPolicy: 'propagate', weights: (r) => Float32Array.from({ length: P }, () => r.uniform(0.5, 2)) },
  { name: 'gradOutput, components', gradients: true, components: true, nanPolicy: 'propagate', gradOutput: (r) => Float32Array.from({ length: P }, () => r.uniform(-1, 1)) },
  { name: "'omit' with a NaN member", gradients: true, components: true, nanPolicy: 'omit', nanPoints: [3, 20, 33] },
];

/** Within one float32 ulp of the exact value r (one rounding of a float64 result off the exact one). */
function withinUlp(a: number, r: number): boolean {
  if (!Number.isFinite(Math.fround(r))) return a === Math.fround(r);
  const ulp = Math.max(FLT_TINY, 2 ** (Math.floor(Math.log2(Math.abs(r) || FLT_TINY)) - 23));
  return Math.abs(a - r) <= ulp;
}

function check(result: CrpsResult, ref: LimitRef, variant: Variant, weights: Float32Array | undefined, label: string): string[] {
  const failures: string[] = [];
  const points = (name: 'scores' | 'skill' | 'spread', actual: Float32Array | undefined) => {
    for (let p = 0; p < P; p++) {
      const a = actual?.[p] ?? NaN;
      const r = ref[name][p];
      if (Number.isNaN(r) ? !Number.isNaN(a) : !withinUlp(a, r)) failures.push(`${label} ${name}[${p}] = ${a}, exact ${r}`);
    }
  };
  points('scores', result.scores);
  if (variant.components) {
    points('skill', result.skill);
    points('spread', result.spread);
  }
  // The mean: float64 sums of the unrounded scores, to float64 accuracy (relative to Σw|s|/Σw).
  let weighted = 0;
  let weightSum = 0;
  for (let p = 0; p < P; p++) {
    if (Number.isNaN(ref.scores[p])) continue; // excluded by 'omit'
    const w = weights?.[p] ?? 1;
    weighted += w * Math.abs(ref.scores[p]);
    weightSum += w;
  }
  if (!(Math.abs(result.mean - ref.mean) <= 1e-12 * (weighted / weightSum))) failures.push(`${label} mean = ${result.mean}, exact ${ref.mean}`);
  if (variant.gradients) {
    failures.push(...checkGradient(result.gradEnsemble, ref.gradEnsemble, `${label} gradEnsemble`));
    failures.push(...checkGradient(result.gradObservations, ref.gradObservations, `${label} gradObservations`));
  }
  return failures;
}

describe('the exact reference', () => {
  it('gives the hand-derived fair score of {0, 1, 1e30} at 0.5: the far member\'s gap has weight 0, so 1/6', () => {
    // S = (0.5 + 0.5 + (1e30 − 0.5))/3, H = 1 + 1e30 + (1e30 − 1) = 2e30, c = 1/6: S − H/6 = 0.5/3.
    expect(exactPoint([0, 1, Math.fround(1e30)], 0.5, 1).score).toBe(1 / 6);
    // Standard: S − H/9 = (1e30 + 0.5)/3 − 2e30/9 = 1e30/9 + 1/6.
    expect(exactPoint([0, 1, Math.fround(1e30)], 0.5, 0).score).toBe(Math.fround(1e30) / 9 + 1 / 6);
  });
});

describe.each(BACKENDS)('backend $name', ({ name: backend, available }) => {
  for (const inputs of ['fixed', 'seeded random'] as const) {
    it.skipIf(!available)(`${inputs} inputs with far members: scores, skill and spread within one float32 ulp of exact (and the js backend's bits); gradients`, () => {
      const failures: string[] = [];
      for (const m of MEMBER_COUNTS) {
        for (const layout of LIMIT_LAYOUTS) {
          const seed = (SEED + m * 10 + LIMIT_LAYOUTS.indexOf(layout)) >>> 0;
          const rng = new Rng(seed);
          const points = Array.from({ length: P }, (_, p) => (inputs === 'fixed' ? fixedPoint(p, m) : randomPoint(rng, m)));
          for (const est of ESTIMATORS) {
            if (m === 1 && est.alpha > 0) continue;
            for (const variant of VARIANTS) {
              const c = makeCase(points, m, layout);
              for (const p of variant.nanPoints ?? []) c.ensemble[memberIndex(c, p, 0)] = NaN;
              const weights = variant.weights?.(rng);
              const gradOutput = variant.gradOutput?.(rng);
              const ref = limitReference(c, { alpha: est.alpha, nanPolicy: variant.nanPolicy, weights, gradOutput }, pairStats(c));
              const args = limitCallArgs(c, layout, est.args, { nanPolicy: variant.nanPolicy, gradients: variant.gradients, components: variant.components, weights, gradOutput }, backend);
              const label = `M=${m} ${layout.name} ${est.name} ${variant.name} (${inputs}, seed ${seed})`;
              const result = crps(args);
              failures.push(...check(result, ref, variant, weights, label));
              // Every path adds crps_math.h's float64 terms in its order: the js backend's bits (but
              // for CUDA's block-per-point kernel past 128 members, which sums across threads).
              if (backend !== 'js' && !(backend === 'cuda' && m > 128)) {
                const js = crps({ ...args, backend: 'js' });
                for (const key of ['scores', 'skill', 'spread'] as const) failures.push(...bitwiseDiff(result[key], js[key], `${label} ${key} vs js`));
              }
            }
          }
        }
      }
      expect(failures.slice(0, 20)).toEqual([]);
    });
  }
});
