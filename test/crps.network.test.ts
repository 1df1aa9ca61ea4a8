// The native CPU kernel sorts 33–64 members by a different route from the other member counts:
// padded with +inf to 64 and sorted in register-sized pieces (native/kernels/crps_network.h).
// Fresh random inputs (seed logged; FUSEDLOSS_TEST_SEED reproduces a run) at the boundaries of
// that route (32 | 33 … 64 | 65), both member axes, with ties, NaN members under every policy,
// all-equal members and signed zeros, against the float64 pairwise reference of test/crps-reference.ts;
// and the native CPU's outputs against the TypeScript backend's on the same inputs.
import { describe, expect, it } from 'vitest';

import { crps, type CrpsArgs } from './api';
import { memberIndex, pairStats, refFinish, type Policy } from './crps-reference';
import {
  backendCases,
  checkAgainstRef,
  checkGradient,
  checkPoints,
  makeEnsemble,
  randomVector,
  Rng,
  testSeed,
  type EnsembleData,
} from './helpers';

const SEED = testSeed('crps.network');
const BACKENDS = backendCases();
const CPU_AVAILABLE = BACKENDS.some((b) => b.name === 'cpu' && b.available);

// 32 and 65 take the run-time network, 33 … 64 the padded sort; 48 and 49 straddle the last
// 16-member group; 64 has no padding.
const MEMBERS = [32, 33, 34, 47, 48, 49, 51, 63, 64, 65];
// 2 × 16-point blocks sorted together, a lone block, and a tail of single points.
const POINTS = 16 * 5 + 3;

const POISON = 1234.5;

const ESTIMATORS = [
  { estimator: 'standard', alpha: 0 },
  { estimator: 'fair', alpha: 1 },
  { estimator: 'almost-fair', alpha: 0.95 },
] as const;

/** Points whose members are all equal (every third block's first point), some equal to y. */
function withSpecialPoints(rng: Rng, d: EnsembleData): EnsembleData {
  const ensemble = d.ensemble.slice();
  const observations = d.observations.slice();
  for (let p = 0; p < d.points; p += 16 * 3) {
    const v = Math.fround(rng.normal());
    for (let k = 0; k < d.members; k++) ensemble[memberIndex(d, p, k)] = v;
    if (rng.next() < 0.5) observations[p] = v;
  }
  // Signed zeros: a point with half its members -0 and half +0, the observation 0.
  const z = Math.min(5, d.points - 1);
  for (let k = 0; k < d.members; k++) ensemble[memberIndex(d, z, k)] = k % 2 ? -0 : 0;
  observations[z] = 0;
  return { ...d, ensemble, observations };
}

/** NaN members in some points of the second block (one, several, all but one). */
function withNaNMembers(rng: Rng, d: EnsembleData): EnsembleData {
  const ensemble = d.ensemble.slice();
  for (let p = 16; p < 32 && p < d.points; p += 3) {
    const kind = rng.int(3);
    const keep = rng.int(d.members);
    for (let k = 0; k < d.members; k++) {
      const drop = kind === 0 ? k === keep : kind === 1 ? rng.next() < 0.3 : k !== keep;
      if (drop) ensemble[memberIndex(d, p, k)] = NaN;
    }
  }
  return { ...d, ensemble };
}

function ensembleArg(d: EnsembleData): Record<string, unknown> {
  return d.inner === 1
    ? { ensemble: { data: d.ensemble, shape: [d.points, d.members] } }
    : { ensemble: { data: d.ensemble, shape: [d.members, d.points] }, memberAxis: 0 };
}

function makeCase(M: number, memberFirst: boolean, salt: number): { data: EnsembleData; weights: Float32Array; seed: number } {
  const seed = SEED + 100 * M + salt + (memberFirst ? 1 : 0);
  const rng = new Rng(seed);
  const [outer, inner] = memberFirst ? [1, POINTS] : [POINTS, 1];
  const data = withSpecialPoints(rng, makeEnsemble(rng, { outer, members: M, inner, ties: salt % 2 === 1, memberIsObs: 0.2 }));
  return { data, weights: randomVector(rng, POINTS, 0, 2, 0.1), seed };
}

describe.skipIf(!CPU_AVAILABLE)('native CPU at 33–64 members (the padded sort) and its neighbours', () => {
  it.each(MEMBERS.flatMap((M) => [[M, 'last'], [M, 'first']] as const))(
    'M=%i member axis %s: scores, components and gradients against the float64 reference, with and without ties',
    (M, axis) => {
      const failures: string[] = [];
      for (const salt of [0, 1]) {
        const { data, weights, seed } = makeCase(M, axis === 'first', salt);
        const stats = pairStats(data);
        for (const v of ESTIMATORS) {
          // Caller-owned outputs poisoned first: every entry must be written (the lanes redone on the
          // scalar path included).
          const out = {
            scores: new Float32Array(POINTS).fill(POISON),
            skill: new Float32Array(POINTS).fill(POISON),
            spread: new Float32Array(POINTS).fill(POISON),
            gradEnsemble: new Float32Array(POINTS * M).fill(POISON),
            gradObservations: new Float32Array(POINTS).fill(POISON),
          };
          const args = { ...ensembleArg(data), observations: data.observations, estimator: v.estimator, weights, gradients: true, components: true, backend: 'cpu', out } as CrpsArgs;
          const ref = refFinish(stats, { alpha: v.alpha, weights });
          failures.push(...checkAgainstRef(crps(args), ref, { gradients: true, components: true, backend: 'cpu' }, `${v.estimator} M=${M} ${axis} ties=${salt === 1} seed ${seed}`));
        }
      }
      expect(failures).toEqual([]);
    },
  );

  it.each(['propagate', 'omit', 'zero'] as Policy[])('nanPolicy %s: NaN members in lane blocks, both member axes', (policy) => {
    const failures: string[] = [];
    for (const M of [33, 51, 64]) {
      for (const memberFirst of [false, true]) {
        const { data: clean, seed } = makeCase(M, memberFirst, 1);
        const rng = new Rng(seed + 7);
        const data = withNaNMembers(rng, clean);
        // No zero weights here: under 'propagate' a weight-0 point's gradient is 0, not the NaN the
        // reference gives every NaN point (crps.random.test.ts draws these weights alike).
        const weights = randomVector(rng, POINTS, 0.1, 2);
        const stats = pairStats(data);
        for (const v of ESTIMATORS) {
          const args = { ...ensembleArg(data), observations: data.observations, estimator: v.estimator, weights, nanPolicy: policy, gradients: true, components: true, backend: 'cpu' } as CrpsArgs;
          const ref = refFinish(stats, { alpha: v.alpha, weights, nanPolicy: policy });
          failures.push(...checkAgainstRef(crps(args), ref, { gradients: true, components: true, backend: 'cpu' }, `${policy} ${v.estimator} M=${M} first=${memberFirst} seed ${seed}`));
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('the TypeScript backend gives the same outputs on the same inputs (ties, NaN members under omit)', () => {
    const failures: string[] = [];
    for (const M of MEMBERS) {
      const { data: clean, weights, seed } = makeCase(M, false, 1);
      const data = withNaNMembers(new Rng(seed + 11), clean);
      const bound = refFinish(pairStats(data), { alpha: 1, nanPolicy: 'omit' }).skill;
      const run = (backend: string) =>
        crps({ ...ensembleArg(data), observations: data.observations, estimator: 'fair', weights, nanPolicy: 'omit', gradients: true, components: true, backend } as CrpsArgs);
      const cpu = run('cpu');
      const js = run('js');
      const label = `cpu vs js M=${M} seed ${seed}`;
      failures.push(...checkPoints(cpu.scores, js.scores, bound, `${label} scores`));
      failures.push(...checkPoints(cpu.skill, js.skill!, bound, `${label} skill`));
      failures.push(...checkPoints(cpu.spread, js.spread!, bound, `${label} spread`));
      failures.push(...checkGradient(cpu.gradEnsemble, js.gradEnsemble!, `${label} gradEnsemble`));
      failures.push(...checkGradient(cpu.gradObservations, js.gradObservations!, `${label} gradObservations`));
    }
    expect(failures).toEqual([]);
  });
});
