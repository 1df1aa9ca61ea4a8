// The CRPS rows of the NaN/Inf contract, on every backend: each row puts its condition on three
// points of an otherwise finite ensemble (one in each 16-point lane block and one in the scalar
// tail), for every estimator × nanPolicy × gradients/weights/gradOutput variant × M ∈ {1, 2, 4,
// 16, 51, 130} × member axis last (2 and 4 members take the shuffle path), first and in the middle
// (strided), and every output is held against the limit reference (crps-limit-reference.ts).
// The row's documented score (docs/spec/nan-inf.md) is checked against that reference too.
import { describe, expect, it } from 'vitest';

import { crps, type CrpsResult } from './api';
import { LIMIT_LAYOUTS, LIMIT_POINTS, limitCallArgs, limitOfPoint, limitReference, type LimitRef } from './crps-limit-reference';
import { memberIndex, pairStats, type PairStats, type Policy } from './crps-reference';
import { backendCases, Rng, testSeed } from './helpers';

const SEED = testSeed('crps.nan-inf');
const BACKENDS = backendCases();
const ESTIMATORS = [
  { name: 'standard', alpha: 0, args: { estimator: 'standard' } },
  { name: 'almost-fair', alpha: 0.5, args: { estimator: 'almost-fair', alpha: 0.5 } },
  { name: 'fair', alpha: 1, args: { estimator: 'fair' } },
] as const;
const POLICIES: Policy[] = ['propagate', 'omit', 'zero'];
const MEMBER_COUNTS = [1, 2, 4, 16, 51, 130]; // 130: past the sorting network (scalar path; CUDA block-per-point kernel)
const P = LIMIT_POINTS;
const FLT_TINY = 2 ** -149;

type Kind = 'finite' | 'inf' | 'nan';

interface Row {
  name: string;
  /** Fewest members the row needs. */
  minMembers: number;
  /** Puts the row's condition on one point: changes its members x in place, returns the observation. */
  apply(rng: Rng, x: number[], y: number): number;
  /** The documented score (docs/spec/nan-inf.md) when no NaN is involved, by M and α. */
  score?: (m: number, alpha: number) => Kind;
}

/** k distinct member indices out of m. */
function pick(rng: Rng, m: number, k: number): number[] {
  const all = [...Array(m).keys()];
  for (let i = 0; i < k; i++) {
    const j = i + rng.int(m - i);
    [all[i], all[j]] = [all[j], all[i]];
  }
  return all.slice(0, k);
}

const setSome = (rng: Rng, x: number[], k: number, v: number) => pick(rng, x.length, k).forEach((i) => (x[i] = v));
const fairFinite = (alpha: number): Kind => (alpha === 1 ? 'finite' : 'inf');
const EXTREMES = [3.4e38, -3.4e38, 1e38, -1e38, 2e30, -2e30, 0.5].map(Math.fround);
const TINY = [1e-45, -1e-45, 3e-42, -3e-42, 1e-38, -1e-38, 0].map(Math.fround);

const ROWS: Row[] = [
  { name: 'observation +Inf, members finite', minMembers: 1, apply: () => Infinity, score: () => 'inf' },
  { name: 'observation -Inf, members finite', minMembers: 1, apply: () => -Infinity, score: () => 'inf' },
  { name: 'one member +Inf, observation finite', minMembers: 1, apply: (r, x, y) => (setSome(r, x, 1, Infinity), y), score: (_m, a) => fairFinite(a) },
  { name: 'one member -Inf, observation finite', minMembers: 1, apply: (r, x, y) => (setSome(r, x, 1, -Infinity), y), score: (_m, a) => fairFinite(a) },
  {
    name: 'one member +Inf and one -Inf, observation finite',
    minMembers: 2,
    apply: (r, x, y) => {
      const [i, j] = pick(r, x.length, 2);
      x[i] = Infinity;
      x[j] = -Infinity;
      return y;
    },
    score: (_m, a) => fairFinite(a),
  },
  { name: 'two members +Inf, observation finite', minMembers: 2, apply: (r, x, y) => (setSome(r, x, 2, Infinity), y), score: () => 'inf' },
  { name: 'every member +Inf, observation finite', minMembers: 1, apply: (_r, x, y) => (x.fill(Infinity), y), score: () => 'inf' },
  {
    name: 'observation +Inf and one member +Inf',
    minMembers: 1,
    apply: (r, x) => (setSome(r, x, 1, Infinity), Infinity),
    score: (m, a) => (m === 1 || (m === 2 && a === 1) ? 'nan' : 'inf'),
  },
  {
    name: 'observation -Inf and one member -Inf',
    minMembers: 1,
    apply: (r, x) => (setSome(r, x, 1, -Infinity), -Infinity),
    score: (m, a) => (m === 1 || (m === 2 && a === 1) ? 'nan' : 'inf'),
  },
  {
    name: 'observation +Inf and every member but one +Inf',
    minMembers: 2,
    apply: (r, x) => (setSome(r, x, x.length - 1, Infinity), Infinity),
    score: (_m, a) => (a === 1 ? 'nan' : 'inf'),
  },
  { name: 'observation +Inf and every member +Inf', minMembers: 1, apply: (_r, x) => (x.fill(Infinity), Infinity), score: () => 'nan' },
  { name: 'observation +Inf and every member -Inf', minMembers: 1, apply: (_r, x) => (x.fill(-Infinity), Infinity), score: () => 'inf' },
  { name: 'observation -Inf and one member +Inf', minMembers: 1, apply: (r, x) => (setSome(r, x, 1, Infinity), -Infinity), score: () => 'inf' },
  { name: 'one member NaN', minMembers: 1, apply: (r, x, y) => (setSome(r, x, 1, NaN), y) },
  { name: 'observation NaN', minMembers: 1, apply: () => NaN },
  { name: 'every member NaN', minMembers: 1, apply: (_r, x, y) => (x.fill(NaN), y) },
  {
    name: 'one member NaN and one +Inf, observation finite',
    minMembers: 2,
    apply: (r, x, y) => {
      const [i, j] = pick(r, x.length, 2);
      x[i] = NaN;
      x[j] = Infinity;
      return y;
    },
  },
  { name: 'observation NaN and one member -Inf', minMembers: 1, apply: (r, x) => (setSome(r, x, 1, -Infinity), NaN) },
  {
    name: 'finite values up to ±3.4e38 (differences beyond float32)',
    minMembers: 1,
    apply: (r, x) => {
      for (let i = 0; i < x.length; i++) x[i] = EXTREMES[r.int(EXTREMES.length)];
      return EXTREMES[r.int(EXTREMES.length)];
    },
  },
  {
    name: 'members ±3.4e38, observation 0',
    minMembers: 2,
    apply: (r, x) => {
      for (let i = 0; i < x.length; i++) x[i] = i % 2 ? EXTREMES[0] : EXTREMES[1];
      if (r.next() < 0.5) x.reverse();
      return 0;
    },
    score: () => 'finite',
  },
  {
    // The fair score is O(1) while S ~ 1e30: S − c·H in float64 kept no digit of it.
    name: 'one member far out (±1e30), observation among the others',
    minMembers: 2,
    apply: (r, x) => {
      x[r.int(x.length)] = r.next() < 0.5 ? 1e30 : -1e30;
      return r.normal();
    },
    score: () => 'finite',
  },
  {
    name: 'subnormal and tiny values',
    minMembers: 1,
    apply: (r, x) => {
      for (let i = 0; i < x.length; i++) x[i] = TINY[r.int(TINY.length)];
      return TINY[r.int(TINY.length)];
    },
    score: () => 'finite',
  },
];

interface Variant {
  name: string;
  gradients: boolean;
  components: boolean;
  weights?: (rng: Rng, special: number[]) => Float32Array;
  gradOutput?: (rng: Rng, special: number[]) => Float32Array;
}

const VARIANTS: Variant[] = [
  { name: 'no gradients, components', gradients: false, components: true },
  { name: 'gradients, weights', gradients: true, components: true, weights: (r) => Float32Array.from({ length: P }, () => r.uniform(0.5, 2)) },
  {
    name: 'gradients, weight 0 on the row points',
    gradients: true,
    components: false,
    weights: (r, special) => Float32Array.from({ length: P }, (_, p) => (special.includes(p) ? 0 : r.uniform(0.5, 2))),
  },
  {
    name: 'gradOutput, 0 on one row point',
    gradients: true,
    components: false,
    gradOutput: (r, special) => Float32Array.from({ length: P }, (_, p) => (p === special[0] ? 0 : r.uniform(-1, 1))),
  },
  {
    name: 'gradOutput near ±3.4e38, weights near 3.4e38',
    gradients: true,
    components: false,
    weights: (r) => Float32Array.from({ length: P }, () => r.uniform(1e38, 3.4e38)),
    gradOutput: (r) => Float32Array.from({ length: P }, () => (r.next() < 0.5 ? -1 : 1) * r.uniform(1e38, 3.4e38)),
  },
];

interface Case {
  ensemble: Float32Array;
  observations: Float32Array;
  stats: PairStats;
  special: number[];
  members: number;
  outer: number;
  inner: number;
}

function makeCase(rng: Rng, row: Row, m: number, layout: (typeof LIMIT_LAYOUTS)[number]): Case {
  const { outer, inner } = layout;
  const ensemble = new Float32Array(outer * m * inner);
  const observations = new Float32Array(P);
  for (let i = 0; i < ensemble.length; i++) ensemble[i] = rng.normal();
  for (let p = 0; p < P; p++) observations[p] = rng.normal();
  const special = [rng.int(16), 16 + rng.int(16), 32 + rng.int(P - 32)];
  const dims = { members: m, inner };
  for (const p of special) {
    const x = Array.from({ length: m }, (_, k) => ensemble[memberIndex(dims, p, k)]);
    observations[p] = row.apply(rng, x, observations[p]);
    x.forEach((v, k) => (ensemble[memberIndex(dims, p, k)] = v));
  }
  const stats = pairStats({ ensemble, observations, outer, members: m, inner });
  return { ensemble, observations, stats, special, members: m, outer, inner };
}

function kindOf(v: number): Kind {
  return Number.isNaN(v) ? 'nan' : Number.isFinite(v) ? 'finite' : 'inf';
}

/** A float32 output against the float64 reference: NaN where NaN, the rounded infinity where the value leaves float32, else relative. */
function checkValue(a: number, r: number, bound: number, label: string, index: number, failures: string[]): void {
  if (Number.isNaN(r)) {
    if (!Number.isNaN(a)) failures.push(`${label}[${index}] = ${a}, expected NaN`);
    return;
  }
  const rounded = Math.fround(r);
  if (!Number.isFinite(rounded)) {
    if (a !== rounded) failures.push(`${label}[${index}] = ${a}, expected ${rounded} (${r})`);
    return;
  }
  const tolerance = 1e-5 * Math.max(Math.abs(r), Number.isFinite(bound) ? bound : 0) + 8 * FLT_TINY;
  if (!(Math.abs(a - r) <= tolerance)) failures.push(`${label}[${index}] = ${a}, expected ${r} (tolerance ${tolerance})`);
}

function checkGradient(actual: Float32Array | undefined, ref: Float64Array, label: string, failures: string[]): void {
  if (!actual) {
    failures.push(`${label}: missing`);
    return;
  }
  let refMax = 0;
  for (const r of ref) if (Number.isFinite(Math.fround(r))) refMax = Math.max(refMax, Math.abs(r));
  for (let i = 0; i < ref.length; i++) checkValue(actual[i], ref[i], Math.abs(ref[i]) + refMax, label, i, failures);
}

function checkResult(result: CrpsResult, ref: LimitRef, want: { gradients: boolean; components: boolean }, label: string): string[] {
  const failures: string[] = [];
  for (let p = 0; p < ref.scores.length; p++) checkValue(result.scores[p], ref.scores[p], ref.scoreBound[p], `${label} scores`, p, failures);
  if (Number.isNaN(ref.mean) || !Number.isFinite(ref.mean)) {
    if (!Object.is(result.mean, ref.mean) && !(Number.isNaN(ref.mean) && Number.isNaN(result.mean))) failures.push(`${label} mean = ${result.mean}, expected ${ref.mean}`);
  } else {
    const tolerance = 1e-5 * Math.max(Math.abs(ref.mean), ref.meanScale);
    if (!(Math.abs(result.mean - ref.mean) <= tolerance)) failures.push(`${label} mean = ${result.mean}, expected ${ref.mean}`);
  }
  if (want.components) {
    for (let p = 0; p < ref.scores.length; p++) {
      checkValue(result.skill![p], ref.skill[p], ref.bound[p], `${label} skill`, p, failures);
      checkValue(result.spread![p], ref.spread[p], ref.bound[p], `${label} spread`, p, failures);
    }
  }
  if (want.gradients) {
    checkGradient(result.gradEnsemble, ref.gradEnsemble, `${label} gradEnsemble`, failures);
    checkGradient(result.gradObservations, ref.gradObservations, `${label} gradObservations`, failures);
  } else if (result.gradEnsemble !== undefined) {
    failures.push(`${label}: gradients without gradients: true`);
  }
  return failures.slice(0, 12);
}

describe.each(BACKENDS)('backend $name', ({ name: backend, available }) => {
  it.skipIf(!available).each(ROWS.map((row, i) => [row.name, i] as const))('%s: every estimator, nanPolicy, variant, M and layout', (_name, rowIndex) => {
    const row = ROWS[rowIndex];
    const failures: string[] = [];
    for (const m of MEMBER_COUNTS) {
      if (m < row.minMembers) continue;
      for (const layout of LIMIT_LAYOUTS) {
        const seed = SEED + rowIndex * 1000 + m * 10 + LIMIT_LAYOUTS.indexOf(layout);
        const rng = new Rng(seed);
        const c = makeCase(rng, row, m, layout);
        for (const est of ESTIMATORS) {
          if (m === 1 && est.alpha > 0) continue;
          if (row.score) {
            // The documented row against the limit reference.
            for (const p of c.special) {
              const xs = Array.from({ length: m }, (_, k) => c.ensemble[memberIndex(c, p, k)]);
              const kind = kindOf(limitOfPoint(xs, c.observations[p], est.alpha).score);
              const want = row.score(m, est.alpha);
              if (kind !== want) failures.push(`table row '${row.name}' M=${m} ${est.name}: reference gives ${kind}, table says ${want}`);
            }
          }
          for (const nanPolicy of POLICIES) {
            for (const variant of VARIANTS) {
              const weights = variant.weights?.(rng, c.special);
              const gradOutput = variant.gradOutput?.(rng, c.special);
              const ref = limitReference(c, { alpha: est.alpha, nanPolicy, weights, gradOutput }, c.stats);
              const args = limitCallArgs(c, layout, est.args, { nanPolicy, gradients: variant.gradients, components: variant.components, weights, gradOutput }, backend);
              const label = `M=${m} ${layout.name} ${est.name} ${nanPolicy} ${variant.name} points ${c.special} seed ${seed}`;
              failures.push(...checkResult(crps(args), ref, variant, label));
            }
          }
        }
      }
    }
    expect(failures.slice(0, 20)).toEqual([]);
  });
});
